"""Bedrock answers: Converse and InvokeModel bodies as OpenAI answers; Bedrock errors classified.

Converse answers carry no id and no model: the id is made here, and the model is left out for
the gateway to fill from the request. A ``toolUse`` of the forced ``JSON_TOOL`` is the answer
to ``response_format``: its input becomes the message's JSON text, finishing with "stop".
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from portkey.errors import (
    AuthFailed,
    ContextWindowExceeded,
    GatewayError,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
)
from portkey.formats.bedrock.request import JSON_TOOL
from portkey.providers.base import EMBEDDINGS, Json

#: Converse ``stopReason`` -> OpenAI ``finish_reason`` (None: the answer is unusable)
FINISH_REASONS: dict[str, str | None] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": None,
    "malformed_tool_use": None,
}

#: words of a 400 ValidationException that mean the prompt does not fit the model
CONTEXT_PHRASES = (
    "too long",
    "too many tokens",
    "too many input tokens",
    "too many total text bytes",
    "context window",
    "context length",
    "context limit",
    "maximum context",
)

#: words of a 403 that mean the credentials themselves are wrong (401), not that they lack a
#: permission (AccessDeniedException, 403): Unrecognized client, expired token, bad signature
CREDENTIAL_PHRASES = (
    "security token included in the request is invalid",
    "security token included in the request is expired",
    "signature we calculated does not match",
    "signature expired",
    "missing authentication token",
)

#: the same, by exception name (``__type``, or the ``x-amzn-ErrorType`` header if passed in)
CREDENTIAL_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)


#: exceptions that mean "a limit was hit", whatever the status they come with
QUOTA_ERRORS = frozenset({"ThrottlingException", "ServiceQuotaExceededException"})


def new_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def finish_reason(stop_reason: Any) -> str:
    """The OpenAI finish reason; a stop reason saying the output is malformed is an error."""
    if not isinstance(stop_reason, str):
        raise UpstreamBadResponse("Bedrock answer has no stopReason")
    finish = FINISH_REASONS.get(stop_reason, "stop")  # reasons added later read as "stop"
    if finish is None:
        raise UpstreamBadResponse(f"Bedrock stopped with {stop_reason}", code=stop_reason)
    return finish


def usage(wire: Any) -> Json:
    """Converse ``usage`` as OpenAI usage; cache reads and writes count as prompt tokens."""
    wire = wire if isinstance(wire, dict) else {}
    cached = int(wire.get("cacheReadInputTokens") or 0)
    written = int(wire.get("cacheWriteInputTokens") or 0)
    prompt = int(wire.get("inputTokens") or 0) + cached + written
    completion = int(wire.get("outputTokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def parse_response(route: str, wire: Json) -> Json:
    if route == EMBEDDINGS:
        return embeddings_answer(wire)
    message = wire["output"]["message"]
    texts: list[str] = []
    calls: list[Json] = []
    json_text: str | None = None
    for block in message["content"]:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            arguments = orjson.dumps(use.get("input", {})).decode()
            if use["name"] == JSON_TOOL:
                json_text = arguments
                continue
            calls.append(
                {
                    "id": use["toolUseId"],
                    "type": "function",
                    "function": {"name": use["name"], "arguments": arguments},
                }
            )
        # reasoningContent, citations and other blocks have no OpenAI chat field: skipped
    finish = finish_reason(wire.get("stopReason"))
    if finish == "tool_calls" and not calls:
        finish = "stop"  # only the JSON tool was used: that is the answer
    content = json_text if json_text is not None else "".join(texts) if texts else None
    answer: Json = {"role": "assistant", "content": content}
    if calls:
        answer["tool_calls"] = calls
    return {
        "id": new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "choices": [{"index": 0, "message": answer, "finish_reason": finish, "logprobs": None}],
        "usage": usage(wire.get("usage")),
    }


def embeddings_answer(wire: Json) -> Json:
    """Titan (``embedding``) or Cohere (``embeddings``) InvokeModel bodies as OpenAI's list."""
    if "embedding" in wire:
        vectors = [wire["embedding"]]
        tokens = int(wire.get("inputTextTokenCount") or 0)
    else:
        found = wire["embeddings"]
        vectors = found["float"] if isinstance(found, dict) else found  # by type when asked
        tokens = 0  # Cohere on Bedrock reports tokens only in a response header
    if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
        raise UpstreamBadResponse("Bedrock embeddings answer holds no vectors")
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": vector}
            for i, vector in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _message(status: int, body: Json | None) -> tuple[str, str | None]:
    """The error's first line (AWS signature errors go on to echo the canonical request, which
    can hold a session token) and its exception name, if the body says it."""
    body = body or {}
    raw = body.get("message") or body.get("Message") or f"Bedrock answered {status}"
    message = str(raw).strip().split("\n", 1)[0][:1000]
    kind = body.get("__type") or body.get("code")
    name = str(kind).rsplit("#", 1)[-1].split(":", 1)[0] if kind else None
    return message, name or None


def classify_error(status: int, body: Json | None, retry_after: float | None) -> GatewayError:
    """Bedrock's ``{"message": ...}`` errors. The exception name comes in the
    ``x-amzn-ErrorType`` header (the router hands it over as ``__type``); without it, the
    status (one per exception, see the API reference) decides."""
    message, name = _message(status, body)
    if name in QUOTA_ERRORS:  # a 400 on the wire, but a limit: fallbacks on 429 should move on
        return RateLimited(message, retry_after=retry_after, status=429, code=name)
    if name == "ModelTimeoutException":
        return UpstreamTimeout(message, status=408)
    if status == 429:  # ThrottlingException, ModelNotReadyException
        return RateLimited(message, retry_after=retry_after, status=429, code=name)
    lowered = message.lower()
    if (
        status == 401
        or name in CREDENTIAL_ERRORS
        or any(phrase in lowered for phrase in CREDENTIAL_PHRASES)
    ):
        return AuthFailed(message, status=401, code=name)
    if status == 403:  # AccessDeniedException: valid credentials without the permission
        return AuthFailed(message, status=403, code=name)
    if status == 408:  # ModelTimeoutException
        return UpstreamTimeout(message, status=408)
    if status == 400 and any(phrase in lowered for phrase in CONTEXT_PHRASES):
        return ContextWindowExceeded(message, status=400, code="context_length_exceeded")
    return UpstreamError(message, status=status, code=name)
