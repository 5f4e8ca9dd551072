"""Bedrock ConverseStream: AWS event-stream frames in, OpenAI chat.completion.chunk events out.

Frames (``application/vnd.amazon.eventstream``) are cut by botocore's ``EventStreamBuffer``,
which keeps partial frames across reads and checks both CRCs. Events: ``messageStart``,
``contentBlockStart`` (a tool call's id and name), ``contentBlockDelta`` (text, or a tool call's
partial JSON input), ``contentBlockStop``, ``messageStop`` (stopReason) and ``metadata`` (usage).
``data: [DONE]`` follows messageStop and metadata, or messageStop alone when the stream then
ends cleanly. An exception frame (``:message-type: exception``) becomes a classified gateway
error: raised at once while nothing was emitted (so the router may retry or fall back), else
after the events decoded before it, so the client gets them and then an in-band error.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

import orjson

from portkey.errors import GatewayError, UpstreamBadResponse, UpstreamError
from portkey.formats.bedrock.request import JSON_TOOL
from portkey.formats.bedrock.response import classify_error, finish_reason, new_id, usage
from portkey.formats.sse_events import sse, wants_usage
from portkey.providers.base import Json

DONE = b"data: [DONE]\n\n"
#: ConverseStream exception events -> that exception's HTTP status in the API reference
EXCEPTION_STATUS = {
    "throttlingException": 429,
    "validationException": 400,
    "modelStreamErrorException": 424,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
}
#: what a frame or event that cannot be read raises, besides botocore's ParserError
UNREADABLE = (struct.error, KeyError, IndexError, TypeError, AttributeError, ValueError)


def stream_exception(name: Any, payload: bytes) -> GatewayError:
    """An exception frame as the error the same exception would be as an HTTP answer."""
    try:
        body = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        body = None
    error = classify_error(
        EXCEPTION_STATUS.get(str(name), 500), body if isinstance(body, dict) else None, None
    )
    if error.code is None and isinstance(name, str):
        error.code = name
    return error


class ConverseStreamDecoder:
    """One streamed answer's decoder (see the module docstring)."""

    def __init__(self, canonical: Json) -> None:
        # imported here, not at module import: the gateway's cold start does not pay for it
        from botocore.eventstream import (  # type: ignore[import-untyped]
            EventStreamBuffer,
            ParserError,
        )

        self._buffer = EventStreamBuffer()
        self._unreadable: tuple[type[Exception], ...] = (ParserError, *UNREADABLE)
        self._include_usage = wants_usage(canonical)
        model = canonical.get("model")
        self._model = model if isinstance(model, str) else ""
        self._id = new_id()
        self._created = int(time.time())
        self._fed = 0  # bytes received
        self._consumed = 0  # bytes of whole frames decoded
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool_calls index
        self._json_blocks: set[int] = set()  # blocks of the response_format tool
        self._emitted = False
        self._stopped = False  # messageStop seen
        self._metadata = False  # metadata seen
        self._done = False  # [DONE] emitted
        self._error: GatewayError | None = None

    def feed(self, data: bytes) -> bytes:
        if self._error is not None:
            raise self._error
        if self._done or not data:
            return b""
        self._fed += len(data)
        self._buffer.add_data(data)
        out: list[bytes] = []
        try:
            for frame in self._buffer:
                self._consumed += frame.prelude.total_length
                out.append(self._frame(frame.headers, frame.payload))
                if self._done:
                    break
        except GatewayError as exc:
            self._error = exc
        except self._unreadable as exc:
            self._error = UpstreamBadResponse(
                f"Bedrock sent a stream frame that cannot be read ({type(exc).__name__}: {exc})",
                code="bad_event_stream",
            )
        events = b"".join(out)
        if self._error is not None and (not self._emitted or not events):
            raise self._error  # nothing of this answer went out yet: the attempt failed whole
        self._emitted = self._emitted or bool(events)
        return events

    def close(self) -> bytes:
        if self._error is not None:
            raise self._error
        if self._done:
            return b""
        if self._fed > self._consumed:
            raise UpstreamBadResponse(
                "Bedrock stream ended inside an event-stream frame", code="truncated_frame"
            )
        if self._stopped:  # complete, only the metadata event (usage) is missing
            self._done = True
            return DONE
        return b""

    # -- frames and events ------------------------------------------------------------------

    def _frame(self, headers: dict[str, Any], payload: bytes) -> bytes:
        kind = headers.get(":message-type", "event")
        if kind == "exception":
            raise stream_exception(headers.get(":exception-type"), payload)
        if kind == "error":
            code = str(headers.get(":error-code") or "error")
            message = str(headers.get(":error-message") or "stream error")
            raise UpstreamError(f"Bedrock stream error {code}: {message}", status=502, code=code)
        handler = HANDLERS.get(headers.get(":event-type")) if kind == "event" else None
        if handler is None:
            return b""  # an event type or message type added later: nothing to show
        try:
            event = orjson.loads(payload) if payload else {}
        except orjson.JSONDecodeError as exc:
            raise UpstreamBadResponse(
                f"Bedrock sent a stream event that is not JSON: {exc}", code="bad_event_stream"
            ) from exc
        if not isinstance(event, dict):
            raise UpstreamBadResponse("Bedrock sent a stream event that is not an object")
        return handler(self, event)

    def _chunk(self, delta: Json, finish: str | None = None) -> bytes:
        return sse(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
                ],
            }
        )

    def _message_start(self, event: Json) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def _block_start(self, event: Json) -> bytes:
        index = event["contentBlockIndex"]
        start = event.get("start") or {}
        use = start.get("toolUse")
        if not isinstance(use, dict):
            return b""
        if use["name"] == JSON_TOOL:
            self._json_blocks.add(index)
            return b""
        position = self._tools[index] = len(self._tools)
        call = {
            "index": position,
            "id": use["toolUseId"],
            "type": "function",
            "function": {"name": use["name"], "arguments": ""},
        }
        return self._chunk({"tool_calls": [call]})

    def _block_delta(self, event: Json) -> bytes:
        index = event["contentBlockIndex"]
        delta = event["delta"]
        if "text" in delta:
            return self._chunk({"content": delta["text"]}) if delta["text"] else b""
        if "toolUse" not in delta:
            return b""  # reasoning, citations...: no OpenAI chat field
        part = delta["toolUse"]["input"]
        if index in self._json_blocks:
            return self._chunk({"content": part}) if part else b""
        if index not in self._tools:
            raise UpstreamBadResponse("Bedrock streamed tool input for a block it never started")
        call = {"index": self._tools[index], "function": {"arguments": part}}
        return self._chunk({"tool_calls": [call]})

    def _block_stop(self, event: Json) -> bytes:
        return b""

    def _message_stop(self, event: Json) -> bytes:
        finish = finish_reason(event.get("stopReason"))
        if finish == "tool_calls" and not self._tools:
            finish = "stop"  # only the JSON tool was used: that is the answer
        self._stopped = True
        return self._chunk({}, finish) + self._finish()

    def _metadata_event(self, event: Json) -> bytes:
        self._metadata = True
        out = b""
        if self._include_usage:
            out = sse(
                {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                    "choices": [],
                    "usage": usage(event.get("usage")),
                }
            )
        return out + self._finish()

    def _finish(self) -> bytes:
        if self._stopped and self._metadata:
            self._done = True
            return DONE
        return b""


HANDLERS: dict[Any, Callable[[ConverseStreamDecoder, Json], bytes]] = {
    "messageStart": ConverseStreamDecoder._message_start,
    "contentBlockStart": ConverseStreamDecoder._block_start,
    "contentBlockDelta": ConverseStreamDecoder._block_delta,
    "contentBlockStop": ConverseStreamDecoder._block_stop,
    "messageStop": ConverseStreamDecoder._message_stop,
    "metadata": ConverseStreamDecoder._metadata_event,
}
