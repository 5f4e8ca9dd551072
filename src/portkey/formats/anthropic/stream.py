"""Anthropic streams: Messages SSE events in, OpenAI chat.completion.chunk events out.

Events (https://docs.anthropic.com/en/docs/build-with-claude/streaming): ``message_start``
(id, model, input usage), ``content_block_start`` (a tool call's id and name),
``content_block_delta`` (``text_delta``, ``input_json_delta``, ``thinking_delta``...),
``content_block_stop``, ``message_delta`` (stop reason, output usage), ``message_stop``,
``ping`` and ``error``. Unknown event and delta types are skipped. A ``ping`` after the first
output becomes an SSE comment, so long silent phases (server tools) do not trip the gateway's
idle timeout; before it, nothing (the router still waits for a first real event).

* The role chunk is written with the first output, not at ``message_start``, so an ``error``
  event before any output (Anthropic's ``overloaded_error`` usually comes that way) finds
  nothing sent yet: it is raised at once as a classified error and the router may retry or
  fall back. After output, it is raised once the events decoded before it are returned; the
  gateway then ends the stream with an in-band ``data: {"error": ...}`` event.
* Tool calls are numbered by order of their ``tool_use`` blocks; the forced JSON tool's input
  streams as content. The usage chunk (when ``stream_options.include_usage``) and
  ``data: [DONE]`` follow ``message_stop`` only: a stream cut before it never looks finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from portkey.errors import GatewayError, UpstreamBadResponse
from portkey.formats.anthropic.response import classify_error, finish_reason, is_json_tool, usage
from portkey.formats.sse_events import SSEParser, chunk_base, sse, wants_usage
from portkey.providers.base import Json

DONE = b"data: [DONE]\n\n"
PING = b": ping\n\n"  # an SSE comment: clients skip it
#: an ``error`` event's type -> the HTTP status the same error has as an answer
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def stream_error(event: Json) -> GatewayError:
    """An ``error`` event as the error the same failure is as an HTTP answer."""
    error = event.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    return classify_error(ERROR_STATUS.get(str(kind), 500), event, None)


class AnthropicStreamDecoder:
    """One per streamed request; feed upstream bytes, get OpenAI SSE bytes."""

    def __init__(self, canonical: Json) -> None:
        self._sse = SSEParser()
        self._want_usage = wants_usage(canonical)
        self._base: Json = chunk_base(canonical)
        self._usage: Json = {}  # native usage: message_start's, updated by message_delta's
        self._tools: dict[Any, int] = {}  # content block index -> OpenAI tool_calls index
        self._json_blocks: set[Any] = set()  # blocks of the forced JSON tool
        self._thinking: dict[Any, str] = {}  # thinking text so far, by block index
        self._started = False  # role chunk made
        self._emitted = False  # bytes returned by an earlier feed
        self._finished = False  # finish chunk written
        self._done = False  # message_stop seen, [DONE] written
        self._error: GatewayError | None = None

    def feed(self, data: bytes) -> bytes:
        if self._error is not None:
            raise self._error
        out: list[bytes] = []
        try:
            for name, payload in self._sse.feed(data):
                if not self._done:
                    self._event(name, payload, out)
        except GatewayError as exc:
            self._error = exc
            if not self._emitted or not out:
                raise  # nothing of this answer went out yet (the router may retry), or no flush
        events = b"".join(out)
        self._emitted = self._emitted or bool(events)
        return events

    def close(self) -> bytes:
        if self._error is not None:
            raise self._error
        if self._done:
            return b""
        if self._sse.rest():
            raise UpstreamBadResponse(
                "Anthropic stream ended inside an event", code="truncated_event"
            )
        raise UpstreamBadResponse("Anthropic stream ended before message_stop", code="stream_cut")

    # -- events -----------------------------------------------------------------------------

    def _event(self, name: str, payload: str, out: list[bytes]) -> None:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise UpstreamBadResponse(
                f"Anthropic sent a stream event that is not JSON: {exc}", code="bad_event"
            ) from exc
        if not isinstance(event, dict):
            raise UpstreamBadResponse("Anthropic sent a stream event that is not an object")
        kind = event.get("type", name)
        if kind == "error" or name == "error":
            raise stream_error(event)
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            try:
                handler(self, event, out)
            except (KeyError, TypeError, AttributeError) as exc:
                raise UpstreamBadResponse(
                    f"Anthropic sent a {kind} event that cannot be read ({exc!r})",
                    code="bad_event",
                ) from exc

    def _chunk(self, delta: Json, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**self._base, "choices": [choice]})

    def _emit(self, delta: Json, out: list[bytes]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        out.append(self._chunk(delta))

    def _message_start(self, event: Json, out: list[bytes]) -> None:
        message = event["message"]
        if isinstance(message.get("id"), str) and message["id"]:
            self._base["id"] = message["id"]
        if isinstance(message.get("model"), str) and message["model"]:
            self._base["model"] = message["model"]
        if isinstance(message.get("usage"), dict):
            self._usage.update(message["usage"])

    def _block_start(self, event: Json, out: list[bytes]) -> None:
        index, block = event["index"], event["content_block"]
        kind = block["type"]
        if kind == "text" and block.get("text"):
            self._emit({"content": block["text"]}, out)
        elif kind == "thinking":
            self._thinking[index] = block.get("thinking") or ""
            if block.get("thinking"):
                self._emit({"reasoning_content": block["thinking"]}, out)
        elif kind == "redacted_thinking":
            kept = {"type": "redacted_thinking", "data": block.get("data") or ""}
            self._emit({"thinking_blocks": [kept]}, out)
        elif kind == "tool_use" and is_json_tool(block["name"]):
            self._json_blocks.add(index)
        elif kind == "tool_use":
            position = self._tools[index] = len(self._tools)
            given = block.get("input")
            arguments = orjson.dumps(given).decode() if given else ""
            call = {
                "index": position,
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": arguments},
            }
            self._emit({"tool_calls": [call]}, out)

    def _block_delta(self, event: Json, out: list[bytes]) -> None:
        index, delta = event["index"], event["delta"]
        kind = delta["type"]
        if kind == "text_delta" and delta["text"]:
            self._emit({"content": delta["text"]}, out)
        elif kind == "thinking_delta" and delta["thinking"]:
            self._thinking[index] = self._thinking.get(index, "") + delta["thinking"]
            self._emit({"reasoning_content": delta["thinking"]}, out)
        elif kind == "signature_delta":  # the block is whole: hand it over, signature and all
            kept = {
                "type": "thinking",
                "thinking": self._thinking.pop(index, ""),
                "signature": delta.get("signature") or "",
            }
            self._emit({"thinking_blocks": [kept]}, out)
        elif kind == "input_json_delta" and delta["partial_json"]:
            part = delta["partial_json"]
            if index in self._json_blocks:
                self._emit({"content": part}, out)
            elif index in self._tools:
                call = {"index": self._tools[index], "function": {"arguments": part}}
                self._emit({"tool_calls": [call]}, out)
            else:
                raise UpstreamBadResponse("Anthropic streamed tool input for a block never started")
        # citations_delta and later delta types have no OpenAI chat field

    def _message_delta(self, event: Json, out: list[bytes]) -> None:
        if isinstance(event.get("usage"), dict):
            self._usage.update({k: v for k, v in event["usage"].items() if v is not None})
        reason = (event.get("delta") or {}).get("stop_reason")
        if reason is not None and not self._finished:
            self._finish(reason, out)

    def _ping(self, event: Json, out: list[bytes]) -> None:
        if self._started:  # keeps the gateway's idle watchdog fed through long silent phases
            out.append(PING)

    def _message_stop(self, event: Json, out: list[bytes]) -> None:
        if not self._finished:
            self._finish(None, out)
        if self._want_usage:
            out.append(sse({**self._base, "choices": [], "usage": usage(self._usage)}))
        out.append(DONE)
        self._done = True

    def _finish(self, reason: Any, out: list[bytes]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        self._finished = True
        out.append(self._chunk({}, finish_reason(reason, len(self._tools))))


Handler = Callable[[AnthropicStreamDecoder, Json, list[bytes]], None]
HANDLERS: dict[str, Handler] = {
    "message_start": AnthropicStreamDecoder._message_start,
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
    "ping": AnthropicStreamDecoder._ping,
}
#: no OpenAI counterpart: content_block_stop (and event types added later) are skipped
