"""Every provider has an explicit rule for every field of OpenAI's chat and embeddings requests.

The field lists come from the installed ``openai`` SDK, so a field it gains fails these tests
until each provider says whether it passes, renames, drops or rejects it.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from openai.types import embedding_create_params
from openai.types.chat import completion_create_params

from portkey.formats.anthropic.request import CHAT_FIELDS as ANTHROPIC_FIELDS
from portkey.formats.bedrock.request import CHAT_FIELDS as BEDROCK_FIELDS
from portkey.formats.bedrock.request import EMBEDDING_FIELDS as BEDROCK_EMBED_FIELDS
from portkey.formats.cohere.request import CHAT_FIELDS as COHERE_FIELDS
from portkey.formats.cohere.request import EMBED_FIELDS as COHERE_EMBED_FIELDS
from portkey.formats.cortex_complete import FIELDS as CORTEX_FIELDS
from portkey.formats.cortex_embed import FIELDS as CORTEX_EMBED_FIELDS
from portkey.formats.gemini.request import CHAT_FIELDS as GEMINI_FIELDS
from portkey.formats.gemini.request import EMBED_FIELDS as GEMINI_EMBED_FIELDS
from portkey.providers import registry
from portkey.providers._params import OPENAI_CHAT_FIELDS, OPENAI_EMBEDDING_FIELDS, openai_params
from portkey.providers.base import EMBEDDINGS, ParamAction, ParamRule

#: per-call options of the SDK's ``create`` that travel as headers, query or client settings,
#: never as body fields; none is a TypedDict key today, listed so one never counts as a field
TRANSPORT = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})


def sdk_fields(*typed_dicts: type) -> frozenset[str]:
    return frozenset().union(*(t.__annotations__ for t in typed_dicts)) - TRANSPORT


#: ``stream`` lives on the streaming/non-streaming subclasses of the base
SDK_CHAT = sdk_fields(
    completion_create_params.CompletionCreateParamsBase,
    completion_create_params.CompletionCreateParamsStreaming,
)
SDK_EMBEDDINGS = sdk_fields(embedding_create_params.EmbeddingCreateParams)
PROVIDERS = registry.provider_ids()
SPECS = {p: spec for p in PROVIDERS if (spec := registry.get(p)) is not None}
EMBEDDING_PROVIDERS = [p for p, spec in SPECS.items() if spec.supports(EMBEDDINGS)]
TRANSLATING = [p for p, spec in SPECS.items() if not spec.format.passthrough]

#: fields each translating format reads, by format name: (chat, embeddings)
FORMAT_FIELDS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "anthropic-messages": (ANTHROPIC_FIELDS, frozenset()),
    "bedrock-converse": (BEDROCK_FIELDS, BEDROCK_EMBED_FIELDS),
    "cohere-v2": (frozenset(COHERE_FIELDS), frozenset(COHERE_EMBED_FIELDS)),
    "cortex-rest": (frozenset(CORTEX_FIELDS), frozenset(CORTEX_EMBED_FIELDS)),
    "gemini": (GEMINI_FIELDS, GEMINI_EMBED_FIELDS),
    "gemini-vertex": (GEMINI_FIELDS, GEMINI_EMBED_FIELDS),
}


def tables(provider: str) -> tuple[Mapping[str, ParamRule], Mapping[str, ParamRule]]:
    return SPECS[provider].params, SPECS[provider].embedding_params


def test_the_gateway_lists_the_same_fields_as_the_sdk() -> None:
    assert OPENAI_CHAT_FIELDS == SDK_CHAT
    assert OPENAI_EMBEDDING_FIELDS == SDK_EMBEDDINGS


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_chat_field_has_a_rule(provider: str) -> None:
    chat, _ = tables(provider)
    assert sorted(SDK_CHAT - set(chat)) == [], f"{provider} leaves these chat fields unclassified"


@pytest.mark.parametrize("provider", EMBEDDING_PROVIDERS)
def test_every_embeddings_field_has_a_rule(provider: str) -> None:
    _, embeddings = tables(provider)
    unclassified = sorted(SDK_EMBEDDINGS - set(embeddings))
    assert unclassified == [], f"{provider} leaves these embeddings fields unclassified"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_rule_says_why_and_renames_to_a_field_that_is_kept(provider: str) -> None:
    for table in tables(provider):
        for name, rule in table.items():
            where = (provider, name)
            assert rule.reason, where
            assert (rule.action is ParamAction.RENAME) == (rule.target is not None), where
            if rule.target is not None:
                kept = table.get(rule.target, ParamRule(ParamAction.PASS))
                assert rule.target != name and kept.action is ParamAction.PASS, where


@pytest.mark.parametrize("provider", TRANSLATING)
def test_fields_said_to_be_translated_are_read_by_the_format(provider: str) -> None:
    spec = SPECS[provider]
    chat_fields, embed_fields = FORMAT_FIELDS[spec.format.name]
    for table, read in ((spec.params, chat_fields), (spec.embedding_params, embed_fields)):
        passed = {name for name, rule in table.items() if rule.action is ParamAction.PASS}
        assert sorted(passed - read) == [], f"{provider}: said translated, not read by the format"


def test_a_table_refuses_a_field_in_two_groups() -> None:
    with pytest.raises(ValueError, match="classified twice"):
        openai_params("Acme", {"model", "seed"}, dropped={"seed"})
    with pytest.raises(ValueError, match="unclassified"):
        openai_params("Acme", {"model"}, notes={"seed": "why"})
