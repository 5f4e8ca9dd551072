"""Anthropic answers: a Messages response as an OpenAI chat completion; Anthropic errors classified.

* ``text`` blocks join into ``content``; ``tool_use`` blocks become ``tool_calls`` (input as a
  JSON string); ``thinking`` blocks join into ``reasoning_content``; ``redacted_thinking``,
  server-tool and citation blocks have no OpenAI field and are skipped.
* A ``tool_use`` of the forced JSON tool (``JSON_TOOL_PREFIX``) is the answer to
  ``response_format``: its input becomes the JSON text of ``content``, finishing with "stop".
* ``usage``: Anthropic's ``input_tokens`` excludes cache reads and writes; OpenAI's
  ``prompt_tokens`` is their sum, with the reads as ``prompt_tokens_details.cached_tokens``.
* Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}``
  (https://docs.anthropic.com/en/api/errors); the error type, then the status, decide.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from portkey.errors import (
    AuthFailed,
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from portkey.formats.anthropic.request import JSON_TOOL_PREFIX
from portkey.providers.base import Json

#: Anthropic ``stop_reason`` -> OpenAI ``finish_reason``; reasons added later read as "stop"
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # a server tool paused a long turn: the text so far is the answer
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
#: phrases of an ``invalid_request_error`` saying the prompt does not fit the model
CONTEXT_PHRASES = (
    "prompt is too long",
    "exceed context limit",
    "context window",
    "context length",
)


def finish_reason(stop_reason: Any, tool_calls: int) -> str:
    """The OpenAI finish reason; a tool stop with only the JSON tool used is a plain stop."""
    finish = FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    if finish == "tool_calls" and not tool_calls:
        return "stop"
    return finish


def _count(usage: Json, name: str) -> int:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage(wire: Any) -> Json:
    """Anthropic ``usage`` as OpenAI usage (cache reads and writes are prompt tokens)."""
    wire = wire if isinstance(wire, dict) else {}
    cached = _count(wire, "cache_read_input_tokens")
    prompt = _count(wire, "input_tokens") + cached + _count(wire, "cache_creation_input_tokens")
    completion = _count(wire, "output_tokens")
    details = wire.get("output_tokens_details")
    reasoning = _count(details, "thinking_tokens") if isinstance(details, dict) else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def is_json_tool(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(JSON_TOOL_PREFIX)


def tool_call(block: Json) -> Json:
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": orjson.dumps(block["input"]).decode()},
    }


def parse_response(route: str, wire: Json) -> Json:
    """A Messages response (``type: message``) as a ``chat.completion``."""
    if wire.get("type") == "error":
        error = wire.get("error")
        said = error.get("message") if isinstance(error, dict) else error
        raise UpstreamBadResponse(f"Anthropic answered 200 with an error: {said}")
    content = wire["content"]
    if not isinstance(content, list):
        raise UpstreamBadResponse("Anthropic answer has no content list")
    message = assistant_message(content)
    finish = finish_reason(wire.get("stop_reason"), len(message.get("tool_calls", ())))
    return {
        "id": wire.get("id") or f"chatcmpl-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": wire.get("model") or "",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage(wire.get("usage")),
    }


def assistant_message(content: list[Any]) -> Json:
    """The OpenAI assistant message of an answer's content blocks."""
    texts: list[str] = []
    thoughts: list[str] = []
    kept: list[Json] = []  # thinking blocks as Anthropic wants them back (signatures intact)
    calls: list[Json] = []
    json_text: str | None = None
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "thinking":
            thoughts.append(block["thinking"])
            kept.append(
                {
                    "type": "thinking",
                    "thinking": block["thinking"],
                    "signature": block.get("signature") or "",
                }
            )
        elif kind == "redacted_thinking":
            kept.append({"type": "redacted_thinking", "data": block.get("data") or ""})
        elif kind == "tool_use" and is_json_tool(block["name"]):
            json_text = orjson.dumps(block["input"]).decode()
        elif kind == "tool_use":
            calls.append(tool_call(block))
    message: Json = {"role": "assistant", "content": None}
    if json_text is not None:
        message["content"] = json_text
    elif texts:
        message["content"] = "".join(texts)
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if kept:
        message["thinking_blocks"] = kept
    if calls:
        message["tool_calls"] = calls
    return message


def classify_error(status: int, body: Json | None, retry_after: float | None) -> GatewayError:
    """Anthropic's error body (or a stream ``error`` event) onto the taxonomy."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or f"Anthropic answered {status}")
    kind = str(error.get("type") or "") or None
    if kind == "rate_limit_error" or status == 429:
        return RateLimited(message, retry_after=retry_after, status=429, code=kind)
    if kind in ("authentication_error", "permission_error") or status in (401, 403):
        return AuthFailed(message, status=status if status in (401, 403) else 401, code=kind)
    if kind == "overloaded_error" or status == 529:
        # Anthropic is busy: a retryable unavailability, its 529 status kept
        return UpstreamUnavailable(message, status=status if status >= 500 else 529, code=kind)
    if kind == "timeout_error" or status in (408, 504):
        return UpstreamTimeout(message, status=status if status in (408, 504) else 504)
    lowered = message.lower()
    if status < 500 and any(phrase in lowered for phrase in CONTEXT_PHRASES):
        return ContextWindowExceeded(message, status=400, code="context_length_exceeded")
    if status < 500 and "output blocked by content filtering" in lowered:
        return ContentFiltered(message, status=400, code="content_filter")
    return UpstreamError(message, status=status, code=kind)
