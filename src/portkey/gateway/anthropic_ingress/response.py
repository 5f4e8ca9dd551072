"""OpenAI chat answers and gateway errors -> Anthropic Messages shapes (pure functions).

* ``choices[0].message`` -> ``content``: a text block for the text (or the refusal), one
  ``tool_use`` block per tool call (arguments parsed into ``input``);
* ``finish_reason`` -> ``stop_reason`` by ``STOP_REASONS``; any tool call makes it ``tool_use``
  (unless cut by length); ``stop_sequence`` is known only when the upstream names the matched
  sequence (vLLM's ``choices[].stop_reason``), else a stop is ``end_turn``;
* ``usage``: Anthropic's ``input_tokens`` excludes cache reads, so it is
  ``prompt_tokens - cached_tokens`` and ``cache_read_input_tokens`` is ``cached_tokens``;
* a tool call's ``extra_content`` (Gemini's thought signature, which Gemini wants back with the
  history) rides inside the ``tool_use`` id after ``EXTRA_MARK``, base64url-encoded: Anthropic
  blocks carry no extra fields, but clients send ids back verbatim (``request`` takes it out);
* errors: Anthropic's ``{"type": "error", "error": {"type", "message"}}``, the status kept and the
  type chosen by status (``ERROR_TYPES``).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson

from portkey.errors import GatewayError, UpstreamBadResponse

Json = dict[str, Any]

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
#: separates a tool call's id from its encoded ``extra_content`` inside a ``tool_use`` id
EXTRA_MARK = "__pkx_"
#: HTTP status -> Anthropic error type (the ``anthropic`` SDK picks its exception by status)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
#: a gateway error type seen in an in-band stream error -> Anthropic error type
STREAM_ERROR_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "rate_limit_error": "rate_limit_error",
    "upstream_timeout": "timeout_error",
    "overloaded_error": "overloaded_error",
}


def to_message(answer: Json, *, model: str = "", stop_sequences: tuple[str, ...] = ()) -> Json:
    """An OpenAI ``chat.completion`` as an Anthropic ``Message``."""
    choices = answer.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    message = choice.get("message") or {}
    content: list[Json] = signed_thinking(message.get("thinking_blocks"))
    text = _text(message.get("content")) or _text(message.get("refusal"))
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls") or ()
    content.extend(tool_use(call) for call in calls)
    reason, sequence = stop_reason(choice.get("finish_reason"), bool(calls))
    matched = choice.get("stop_reason")
    if reason == "end_turn" and isinstance(matched, str) and matched in stop_sequences:
        reason, sequence = "stop_sequence", matched
    return {
        "id": message_id(answer.get("id")),
        "type": "message",
        "role": "assistant",
        "model": answer.get("model") or model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage(answer.get("usage")),
    }


def signed_thinking(blocks: Any) -> list[Json]:
    """Thinking blocks that carry Anthropic's signature (or redacted data), as they came.

    Reasoning text of other providers has no signature Anthropic would accept back, so it
    is not turned into thinking blocks.
    """
    kept: list[Json] = []
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking" and block.get("signature"):
            kept.append(
                {
                    "type": "thinking",
                    "thinking": str(block.get("thinking") or ""),
                    "signature": str(block["signature"]),
                }
            )
        elif block.get("type") == "redacted_thinking" and block.get("data"):
            kept.append({"type": "redacted_thinking", "data": str(block["data"])})
    return kept


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # a few hosts answer with content parts
        return "".join(p.get("text", "") for p in value if isinstance(p, dict))
    return ""


def message_id(upstream_id: Any) -> str:
    if isinstance(upstream_id, str) and upstream_id:
        return upstream_id if upstream_id.startswith("msg_") else f"msg_{upstream_id}"
    return f"msg_{uuid.uuid4().hex}"


def tool_use(call: Json) -> Json:
    function = call.get("function") or {}
    return {
        "type": "tool_use",
        "id": tool_use_id(call),
        "name": function.get("name") or "",
        "input": arguments(function.get("arguments")),
    }


def tool_use_id(call: Json) -> str:
    """The tool call's id, with its ``extra_content`` (if any) encoded after ``EXTRA_MARK``."""
    base = call.get("id") or new_tool_id()
    extra = call.get("extra_content")
    if not isinstance(extra, dict) or not extra:
        return str(base)
    encoded = base64.urlsafe_b64encode(orjson.dumps(extra)).rstrip(b"=").decode()
    return f"{base}{EXTRA_MARK}{encoded}"


def new_tool_id() -> str:
    return f"toolu_{uuid.uuid4().hex[:24]}"


def arguments(raw: Any) -> Json:
    """Tool-call arguments (a JSON string) as the object Anthropic's ``input`` must be."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        parsed = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise UpstreamBadResponse(f"tool call arguments are not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise UpstreamBadResponse("tool call arguments are not a JSON object")
    return parsed


def stop_reason(finish: Any, has_tool_calls: bool) -> tuple[str, str | None]:
    if finish == "length":
        return "max_tokens", None
    if has_tool_calls:
        return "tool_use", None
    reason = STOP_REASONS.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
    return reason, None


def usage(raw: Any) -> Json:
    """OpenAI usage -> Anthropic usage (missing numbers count as 0)."""
    if not isinstance(raw, dict):
        return {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0}
    details = raw.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return {
        "input_tokens": max(_int(raw.get("prompt_tokens")) - cached, 0),
        "output_tokens": _int(raw.get("completion_tokens")),
        "cache_read_input_tokens": cached,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# -- errors ----------------------------------------------------------------------------


def error_type(status: int) -> str:
    known = ERROR_TYPES.get(status)
    if known is not None:
        return known
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(error: GatewayError, request_id: str | None = None) -> bytes:
    """The Anthropic error body for a gateway error answered before any stream began."""
    body: Json = {
        "type": "error",
        "error": {"type": error_type(error.http_status), "message": error.message},
    }
    if request_id:
        body["request_id"] = request_id
    return orjson.dumps(body)


def stream_error(payload: Any) -> Json:
    """An in-band OpenAI-style stream error (``{"message", "type", ...}``) for Anthropic."""
    err = payload if isinstance(payload, dict) else {"message": str(payload)}
    message = err.get("message") or "the upstream stream failed"
    kind = STREAM_ERROR_TYPES.get(str(err.get("type")), "api_error")
    return {"type": "error", "error": {"type": kind, "message": str(message)}}
