"""The canonical request fields, and the helper that gives a provider a rule for each of them.

A provider's ``params`` (chat) and ``embedding_params`` tables name every field of OpenAI's
request: passed as it is (or translated by the provider's format), renamed, dropped with a
warning, or rejected with a 400 that names it. ``tests/providers/test_param_coverage.py``
compares these lists with the installed ``openai`` SDK, so a field the SDK gains fails the
suite until every provider classifies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from portkey.providers.base import ParamAction, ParamRule

#: the fields of ``openai.types.chat.completion_create_params`` (``stream`` included)
OPENAI_CHAT_FIELDS = frozenset(
    {
        *("messages", "model", "stream", "stream_options", "audio", "modalities"),
        *("max_tokens", "max_completion_tokens", "n", "stop", "temperature", "top_p"),
        *("frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs"),
        *("seed", "response_format", "tools", "tool_choice", "parallel_tool_calls"),
        *("functions", "function_call", "reasoning_effort", "verbosity", "prediction"),
        *("user", "safety_identifier", "metadata", "store", "service_tier", "moderation"),
        *("prompt_cache_key", "prompt_cache_options", "prompt_cache_retention"),
        "web_search_options",
    }
)
#: the fields of ``openai.types.embedding_create_params``
OPENAI_EMBEDDING_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})

#: fields every chat API in the registry takes under the same name
BASICS = frozenset({"messages", "model", "stream", "temperature", "top_p"})

#: why a host usually lacks a field, said after its name ("Groq returns no log probabilities")
WHY: Mapping[str, str] = MappingProxyType(
    {
        "audio": "answers in text only",
        "modalities": "answers in text only",
        "functions": "takes no legacy functions: send 'tools'",
        "function_call": "takes no legacy function_call: send 'tool_choice'",
        "web_search_options": "has no web search in this API",
        "tools": "calls no tools",
        "tool_choice": "lets the model decide on tool calls",
        "parallel_tool_calls": "decides on parallel tool calls itself",
        "n": "returns one choice",
        "logprobs": "returns no log probabilities",
        "top_logprobs": "returns no log probabilities",
        "logit_bias": "takes no logit bias",
        "seed": "takes no seed",
        "stop": "takes no stop sequences",
        "frequency_penalty": "takes no frequency penalty",
        "presence_penalty": "takes no presence penalty",
        "user": "takes no end-user id",
        "safety_identifier": "takes no end-user id",
        "metadata": "keeps no OpenAI stored-completion metadata",
        "store": "does not store completions",
        "service_tier": "has no OpenAI service tiers",
        "prediction": "has no predicted outputs",
        "prompt_cache_key": "caches prompts on its own",
        "prompt_cache_options": "caches prompts on its own",
        "prompt_cache_retention": "caches prompts on its own",
        "moderation": "runs no OpenAI moderation",
        "verbosity": "has no verbosity setting",
        "reasoning_effort": "takes no reasoning_effort",
        "dimensions": "returns the model's own number of dimensions",
        "encoding_format": "answers in floats only",
    }
)

_NONE: Mapping[str, str] = MappingProxyType({})


def openai_params(
    host: str,
    passed: Iterable[str],
    *,
    renamed: Mapping[str, str] = _NONE,
    dropped: Iterable[str] = (),
    rejected: Iterable[str] = (),
    notes: Mapping[str, str] = _NONE,
    passed_as: str = "taken by",
) -> dict[str, ParamRule]:
    """A parameter table: each field in exactly one group, each rule with a reason.

    Reasons default to ``"<passed_as> <host>"`` for passed fields, ``"<host> calls it <target>"``
    for renamed ones and ``"<host> <WHY[name]>"`` for dropped and rejected ones; ``notes``
    replaces the default of any field it names.
    """
    groups = (set(passed), set(renamed), set(dropped), set(rejected))
    named: set[str] = set()
    for group in groups:
        if twice := named & group:
            raise ValueError(f"{host}: {sorted(twice)} classified twice")
        named |= group
    if stray := set(notes) - named:
        raise ValueError(f"{host}: notes for unclassified fields {sorted(stray)}")

    def rule(action: ParamAction, name: str, reason: str, target: str | None = None) -> ParamRule:
        return ParamRule(action, target, notes.get(name, reason))

    table = {name: rule(ParamAction.PASS, name, f"{passed_as} {host}") for name in groups[0]}
    for name, target in renamed.items():
        table[name] = rule(ParamAction.RENAME, name, f"{host} calls it {target}", target)
    for action, group in ((ParamAction.DROP, groups[2]), (ParamAction.REJECT, groups[3])):
        for name in group:
            table[name] = rule(action, name, f"{host} {WHY.get(name, 'does not take it')}")
    return dict(sorted(table.items()))


def refuse_all(fields: Iterable[str], reason: str) -> dict[str, ParamRule]:
    """A table that rejects every field: for a route the host lacks though its URL exists."""
    return {name: ParamRule(ParamAction.REJECT, reason=reason) for name in sorted(fields)}
