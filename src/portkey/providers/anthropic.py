"""Anthropic: the Messages API behind an ``x-api-key``, translated to and from OpenAI's shape.

Every OpenAI chat field has a line in ``PARAMS`` below or is translated by
``portkey.formats.anthropic.request`` (which refuses, by name, any field it does not know).
Anthropic has no embeddings API: chat is the only translated route; ``count_tokens`` bodies
from the Anthropic ingress (``/v1/messages/count_tokens``) are native and forwarded as they are.
"""

from __future__ import annotations

from portkey.formats.anthropic import ANTHROPIC_FORMAT, classify_error
from portkey.formats.anthropic.models import MODELS_ROUTE
from portkey.formats.anthropic.request import DEFAULT_MAX_TOKENS
from portkey.providers.base import (
    CHAT,
    MODELS,
    PREFILL,
    REASONING,
    AuthScheme,
    ModelFamily,
    ParamAction,
    ParamRule,
    ProviderSpec,
    drop,
    reject,
)

API_VERSION = "2023-06-01"
#: the Anthropic ingress's route kind: its count_tokens bodies are forwarded here as they are
COUNT_TOKENS = "count_tokens"


def translated(how: str) -> ParamRule:
    """A field the format translates (documented here so the table names every field)."""
    return ParamRule(ParamAction.PASS, reason=how)


#: https://docs.anthropic.com/en/api/messages and /en/api/openai-sdk (what Anthropic ignores)
PARAMS = {
    "model": translated("passed as it is"),
    "messages": translated("system and developer turns -> system; the rest -> content blocks"),
    "stream": translated("passed; the event stream is translated back"),
    "stream_options": translated("include_usage: usage in a last chunk, as OpenAI sends it"),
    "modalities": translated("['text'] only; audio output is a 400"),
    "max_tokens": translated(f"required upstream: {DEFAULT_MAX_TOKENS} when absent"),
    "max_completion_tokens": translated("sent as max_tokens (wins over max_tokens)"),
    "temperature": translated("0 to 1 on Anthropic; above 1 is a 400, never clamped"),
    "top_p": translated("passed"),
    "top_k": translated("passed"),
    "stop": translated("sent as stop_sequences"),
    "n": translated("1 only; more is a 400 (one choice per answer)"),
    "tools": translated("sent as {name, description, input_schema}"),
    "tool_choice": translated("auto, none, required -> any, a function -> tool"),
    "parallel_tool_calls": translated("false -> tool_choice.disable_parallel_tool_use"),
    "response_format": translated("a forced tool whose input is the answer's JSON"),
    "reasoning_effort": translated("thinking.budget_tokens by THINKING_BUDGET"),
    "thinking": translated("Anthropic's own field, passed as given"),
    "user": translated("sent as metadata.user_id"),
    "safety_identifier": translated("sent as metadata.user_id when 'user' is absent"),
    "logprobs": drop("Anthropic returns no log probabilities"),
    "top_logprobs": drop("Anthropic returns no log probabilities"),
    "logit_bias": drop("Anthropic has no logit bias"),
    "presence_penalty": drop("Anthropic has no presence penalty"),
    "frequency_penalty": drop("Anthropic has no frequency penalty"),
    "seed": drop("Anthropic takes no seed"),
    "metadata": drop("OpenAI's stored-completion metadata; Anthropic's takes user_id only"),
    "store": drop("Anthropic does not store completions"),
    "service_tier": drop("OpenAI service tiers do not apply to Anthropic"),
    "prompt_cache_key": drop("Anthropic caches by cache_control markers, not by key"),
    "prompt_cache_retention": drop("Anthropic sets cache lifetimes in cache_control markers"),
    "prompt_cache_options": drop("Anthropic caches by cache_control markers"),
    "moderation": drop("OpenAI's moderation settings do not apply to Anthropic"),
    "prediction": drop("Anthropic has no predicted outputs"),
    "verbosity": drop("Anthropic has no verbosity setting"),
    "functions": reject("use 'tools'"),
    "function_call": reject("use 'tool_choice'"),
    "audio": reject("Anthropic answers in text only"),
    "web_search_options": reject("not translated: use Anthropic's web search tool natively"),
}

#: first match wins. Extended thinking (reasoning_effort, thinking): Claude 3.7 Sonnet and the
#: Claude 4 models only (https://platform.claude.com/docs/en/about-claude/models/extended-thinking-models);
#: the Claude 4.6 models answer a trailing assistant message (a prefill) with a 400
#: (https://platform.claude.com/docs/en/about-claude/models/migration-guide).
FAMILIES = (
    ModelFamily(
        "claude-4.6",
        prefixes=("claude-opus-4-6", "claude-sonnet-4-6"),
        unsupported=frozenset({PREFILL}),
        docs="https://platform.claude.com/docs/en/about-claude/models/migration-guide",
    ),
    ModelFamily("claude-3.7", prefixes=("claude-3-7",)),  # thinks, unlike the Claude 3 below
    ModelFamily(
        "claude-3",
        prefixes=("claude-3-", "claude-2", "claude-instant"),
        unsupported=frozenset({REASONING}),
        docs="https://platform.claude.com/docs/en/about-claude/models/extended-thinking-models",
    ),
)

SPEC = ProviderSpec(
    id="anthropic",
    base_url="https://api.anthropic.com/v1",
    auth=AuthScheme.X_API_KEY,
    extra_headers={"anthropic-version": API_VERSION},
    # the format posts chat to /messages; Anthropic has no embeddings API
    routes={CHAT: "", COUNT_TOKENS: "/messages/count_tokens", MODELS: MODELS_ROUTE},
    format=ANTHROPIC_FORMAT,
    params=PARAMS,
    families=FAMILIES,
    classify_error=classify_error,
    docs="https://docs.anthropic.com/en/api/messages",
)
