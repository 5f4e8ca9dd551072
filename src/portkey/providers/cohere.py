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
from portkey.formats.cohere.models import MODELS_ROUTE
from portkey.formats.cohere.request import CHAT_FIELDS, EMBED_FIELDS
from portkey.providers._params import OPENAI_CHAT_FIELDS, OPENAI_EMBEDDING_FIELDS, openai_params
from portkey.providers.base import CHAT, EMBEDDINGS, MODELS, Json, ProviderSpec

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


#: https://docs.cohere.com/v2/reference/chat and /v2/reference/embed; formats/cohere translates
#: the fields passed here and refuses by name any other
PARAMS = openai_params(
    "Cohere",
    OPENAI_CHAT_FIELDS & set(CHAT_FIELDS),
    passed_as="translated for",
    dropped={"logit_bias", "logprobs", "top_logprobs", "user", "safety_identifier", "store"}
    | {"parallel_tool_calls", "metadata", "service_tier", "reasoning_effort", "prediction"}
    | {"verbosity", "moderation", "prompt_cache_key", "prompt_cache_options"}
    | {"prompt_cache_retention"},
    rejected={"audio", "modalities", "functions", "function_call", "web_search_options"},
    notes={
        "max_completion_tokens": "sent as max_tokens (wins over max_tokens)",
        "top_p": "sent as p",
        "stop": "sent as stop_sequences",
        "n": "1 only; more is a 400 (one choice per answer)",
        "tool_choice": "auto, none or required; a named tool is a 400",
        "response_format": "json_object, or json_schema as Cohere's schema",
        "logprobs": "Cohere scores text spans, not tokens: not translated",
        "top_logprobs": "Cohere returns no alternatives per token",
        "reasoning_effort": "use Cohere's own 'thinking' field instead",
    },
)
EMBEDDING_PARAMS = openai_params(
    "Cohere",
    OPENAI_EMBEDDING_FIELDS & set(EMBED_FIELDS),
    passed_as="translated for",
    dropped={"user"},
    notes={
        "dimensions": "sent as output_dimension",
        "encoding_format": "sent as embedding_types",
    },
)

SPEC = ProviderSpec(
    id="cohere",
    base_url="https://api.cohere.com",
    # the format picks /v2/chat or /v2/embed; the model list is /v1/models
    routes={CHAT: "", EMBEDDINGS: "", MODELS: MODELS_ROUTE},
    format=COHERE_FORMAT,
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    classify_error=classify_error,
    docs="https://docs.cohere.com/v2/reference/chat",
)
