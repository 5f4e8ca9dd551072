"""Anthropic: the Messages API behind an ``x-api-key``, translated to and from OpenAI's shape.

Every OpenAI chat field has a line in ``PARAMS`` below or is translated by
``portkey.formats.anthropic.request`` (which refuses, by name, any field it does not know).
Anthropic has no embeddings API: chat is the only translated route; ``count_tokens`` bodies
from the Anthropic ingress (``/v1/messages/count_tokens``) are native and forwarded as they are.
"""

from __future__ import annotations

from portkey.formats.anthropic import ANTHROPIC_FORMAT, classify_error
from portkey.formats.anthropic.request import DEFAULT_MAX_TOKENS
from portkey.providers.base import (
    CHAT,
    AuthScheme,
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

SPEC = ProviderSpec(
    id="anthropic",
    base_url="https://api.anthropic.com/v1",
    auth=AuthScheme.X_API_KEY,
    extra_headers={"anthropic-version": API_VERSION},
    # the format posts chat to /messages; Anthropic has no embeddings API
    routes={CHAT: "", COUNT_TOKENS: "/messages/count_tokens"},
    format=ANTHROPIC_FORMAT,
    params=PARAMS,
    classify_error=classify_error,
    docs="https://docs.anthropic.com/en/api/messages",
)
