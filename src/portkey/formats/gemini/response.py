"""Gemini answers -> OpenAI shapes: generateContent, embeddings, and Google's error bodies.

The finish-reason, usage and part helpers here are shared with the stream decoder.
Docs: https://ai.google.dev/api/generate-content#v1beta.GenerateContentResponse,
https://cloud.google.com/apis/design/errors (the ``{"error": {code, message, status}}`` shape)
"""

from __future__ import annotations

import os
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
from portkey.providers.base import EMBEDDINGS, Json

#: Candidate.finishReason -> OpenAI finish_reason; any other reason (OTHER, LANGUAGE,
#: MALFORMED_FUNCTION_CALL, ...) has no OpenAI counterpart and reads as "stop"
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
#: google.rpc.Code names -> how the gateway treats them (401/403 auth, 429 rate limit...)
AUTH_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})
#: ErrorInfo reasons that mean a bad key even when the status says INVALID_ARGUMENT (400)
AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "ACCESS_TOKEN_EXPIRED"})
#: INVALID_ARGUMENT messages that mean the prompt does not fit the model's context window
CONTEXT_MARKERS = (
    "exceeds the maximum number of tokens",
    "input token count",
    "token count exceeds",
    "too many tokens",
    "context window",
)
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


# -- shared with the stream decoder ------------------------------------------------------


def finish_reason(native: Any, has_calls: bool) -> str:
    mapped = FINISH_REASONS.get(native, "stop") if isinstance(native, str) else "stop"
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def usage(meta: Any) -> Json:
    """usageMetadata -> OpenAI usage; thinking tokens count as completion (reasoning) tokens."""
    meta = meta if isinstance(meta, dict) else {}
    prompt = int(meta.get("promptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def tool_call(part: Json) -> Json:
    """A functionCall part -> an OpenAI tool call; its thought signature rides along."""
    call = part["functionCall"]
    name = call.get("name")
    if not isinstance(name, str) or not name:
        raise UpstreamBadResponse("Gemini sent a functionCall without a name")
    args = call.get("args")
    out: Json = {
        "id": call["id"] if isinstance(call.get("id"), str) and call["id"] else new_id("call_"),
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(args or {}).decode()},
    }
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        # Google's own OpenAI-compatible field; clients send it back with the history
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


def candidate_parts(candidate: Json) -> list[Json]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def blocked(wire: Json) -> bool:
    feedback = wire.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


# -- answers -----------------------------------------------------------------------------


def parse_response(route: str, wire: Json) -> Json:
    if isinstance(wire.get("error"), dict):
        error = classify_error(int(wire["error"].get("code") or 502), wire, None)
        raise UpstreamBadResponse(f"Gemini answered 200 with an error: {error.message}")
    if route == EMBEDDINGS:
        return parse_embeddings(wire)
    return parse_chat(wire)


def parse_chat(wire: Json) -> Json:
    candidates = wire.get("candidates")
    if isinstance(candidates, list) and candidates:
        choices = [_choice(c, n) for n, c in enumerate(candidates) if isinstance(c, dict)]
    elif blocked(wire):  # the prompt itself was blocked: no candidate at all
        message = {"role": "assistant", "content": ""}
        choices = [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"}
        ]
    else:
        raise UpstreamBadResponse("Gemini answered without candidates")
    return {
        "id": "chatcmpl-" + str(wire.get("responseId") or new_id("")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(wire.get("modelVersion") or ""),
        "choices": choices,
        "usage": usage(wire.get("usageMetadata")),
    }


def _choice(candidate: Json, position: int) -> Json:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[Json] = []
    for part in candidate_parts(candidate):
        if "functionCall" in part:
            calls.append(tool_call(part))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
    message: Json = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    index = candidate.get("index")
    return {
        "index": index if isinstance(index, int) else position,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(candidate.get("finishReason"), bool(calls)),
    }


def parse_embeddings(wire: Json) -> Json:
    """batchEmbedContents (``embeddings[].values``) or Vertex predict (``predictions[]``)."""
    vectors: list[Any] = []
    tokens = 0
    if isinstance(wire.get("embeddings"), list):
        vectors = [e.get("values") for e in wire["embeddings"] if isinstance(e, dict)]
    elif isinstance(wire.get("predictions"), list):
        for prediction in wire["predictions"]:
            embedding = prediction.get("embeddings") if isinstance(prediction, dict) else None
            if not isinstance(embedding, dict):
                raise UpstreamBadResponse("a Vertex AI prediction carries no embeddings")
            vectors.append(embedding.get("values"))
            tokens += int((embedding.get("statistics") or {}).get("token_count") or 0)
    if not vectors or not all(isinstance(v, list) for v in vectors):
        raise UpstreamBadResponse("Gemini answered an embedding request without vectors")
    data = [{"object": "embedding", "index": n, "embedding": v} for n, v in enumerate(vectors)]
    return {
        "object": "list",
        "data": data,
        "model": "",  # neither answer names the model
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# -- errors ------------------------------------------------------------------------------


def classify_error(status: int, body: Json | None, retry_after: float | None) -> GatewayError:
    """Google's ``{"error": {code, message, status, details}}`` onto the taxonomy."""
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    message = str(err.get("message") or f"Gemini answered {status}")
    name = str(err.get("status") or "")
    details = [d for d in err.get("details") or () if isinstance(d, dict)]
    reasons = {d.get("reason") for d in details if d.get("@type") == ERROR_INFO}
    code = name.lower() or None
    if status == 429 or name == "RESOURCE_EXHAUSTED":
        wait = retry_after if retry_after is not None else _retry_delay(details)
        return RateLimited(message, retry_after=wait, status=429, code=code)
    if status in (401, 403) or name in AUTH_STATUSES or reasons & AUTH_REASONS:
        return AuthFailed(message, status=403 if status == 403 else 401, code=code)
    if status == 504 or name == "DEADLINE_EXCEEDED":
        return UpstreamTimeout(message, status=504, code=code)
    lowered = message.lower()
    if name == "INVALID_ARGUMENT" and any(m in lowered for m in CONTEXT_MARKERS):
        return ContextWindowExceeded(message, status=400, code="context_length_exceeded")
    return UpstreamError(message, status=status, code=code)


def _retry_delay(details: list[Json]) -> float | None:
    """google.rpc.RetryInfo's ``retryDelay`` ("26s", "1.5s"), in seconds."""
    for detail in details:
        delay = detail.get("retryDelay") if detail.get("@type") == RETRY_INFO else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None
