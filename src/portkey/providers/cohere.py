"""Cohere: the v2 chat and embed API behind a bearer key, translated to and from OpenAI's shape."""

from __future__ import annotations

from portkey.errors import (
    AuthFailed,
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from portkey.formats.cohere import COHERE_FORMAT
from portkey.providers.base import CHAT, EMBEDDINGS, Json, ProviderSpec, drop

#: Cohere's error statuses (https://docs.cohere.com/reference/errors): 498 is an invalid token
AUTH_STATUSES = frozenset({401, 403, 498})
#: phrases of Cohere's 400 messages when the prompt does not fit the model
TOO_LONG = ("too many tokens", "context length", "context window", "prompt is too long")
BLOCKED = ("blocked", "toxic")


def classify_error(status: int, body: Json | None, retry_after: float | None) -> GatewayError:
    """Cohere errors are ``{"id"?, "message": "..."}``; the status and wording tell the kind."""
    raw = body.get("message") if isinstance(body, dict) else None
    message = str(raw or f"cohere answered {status}")
    lowered = message.lower()
    if status == 429:
        return RateLimited(message, retry_after=retry_after, status=429)
    if status in AUTH_STATUSES:
        return AuthFailed(message, status=status)
    if status in (408, 504) and "timeout" in lowered:
        return UpstreamTimeout(message, status=status)
    if status < 500 and any(phrase in lowered for phrase in TOO_LONG):
        return ContextWindowExceeded(message, status=400)
    if status < 500 and any(phrase in lowered for phrase in BLOCKED):
        return ContentFiltered(message, status=400)
    return UpstreamError(message, status=status)


SPEC = ProviderSpec(
    id="cohere",
    base_url="https://api.cohere.com",
    routes={CHAT: "", EMBEDDINGS: ""},  # the format picks /v2/chat or /v2/embed
    format=COHERE_FORMAT,
    # https://docs.cohere.com/v2/reference/chat: no logit bias, user ids or parallel-call switch
    params={
        "logit_bias": drop("Cohere does not support logit_bias"),
        "logprobs": drop("not translated for Cohere"),
        "top_logprobs": drop("not translated for Cohere"),
        "user": drop("Cohere does not accept user"),
        "parallel_tool_calls": drop("Cohere decides parallel tool calls itself"),
        "store": drop("Cohere does not store completions"),
        "metadata": drop("Cohere does not accept metadata"),
        "service_tier": drop("Cohere has no service tiers"),
        "reasoning_effort": drop("use Cohere's 'thinking' field instead"),
    },
    classify_error=classify_error,
    docs="https://docs.cohere.com/v2/reference/chat",
)
