"""Cohere v2 chat streams: its typed SSE events become OpenAI chat.completion.chunk events.

``message-start`` opens the answer, ``content-*`` carry text, ``tool-call-*`` carry calls and
their arguments, ``message-end`` carries the finish reason and usage; ``data: [DONE]`` is
written only after ``message-end``, so a stream cut before it never looks finished.
Plans, citations, debug and unknown event types add nothing to an OpenAI answer: skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from portkey.formats.cohere.response import finish_reason, usage
from portkey.formats.sse_events import SSEParser, chunk_base, sse, wants_usage
from portkey.providers.base import Json

DONE = b"data: [DONE]\n\n"


class CohereStreamDecoder:
    """One per streamed request; feed upstream bytes, get OpenAI SSE bytes."""

    def __init__(self, canonical: Json) -> None:
        self._sse = SSEParser()
        self._want_usage = wants_usage(canonical)
        self._base: Json = chunk_base(canonical)
        self._tool_index: dict[Any, int] = {}  # Cohere's tool-call index -> OpenAI's
        self._started = False
        self._done = False

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for _name, payload in self._sse.feed(data):
            if self._done or payload == "[DONE]":
                continue
            event = orjson.loads(payload)
            if not isinstance(event, dict):
                raise TypeError(f"cohere sent a stream event that is not an object: {payload!r}")
            kind = event.get("type")
            handler = HANDLERS.get(kind) if isinstance(kind, str) else None
            if handler is not None:
                handler(self, event, out)
        return b"".join(out)

    def close(self) -> bytes:
        return b""  # [DONE] comes from message-end only: a cut stream stays unfinished

    # -- event handlers -------------------------------------------------------------

    def _chunk(self, delta: Json, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**self._base, "choices": [choice]})

    def _open(self, out: list[bytes]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))

    def _message_start(self, event: Json, out: list[bytes]) -> None:
        if event.get("id"):
            self._base["id"] = event["id"]
        self._open(out)

    def _content(self, event: Json, out: list[bytes]) -> None:
        self._open(out)
        content = _message(event).get("content") or {}
        if content.get("text"):
            out.append(self._chunk({"content": content["text"]}))
        elif content.get("thinking"):
            out.append(self._chunk({"reasoning_content": content["thinking"]}))

    def _tool_start(self, event: Json, out: list[bytes]) -> None:
        self._open(out)
        call = _message(event)["tool_calls"]
        index = self._tool_index.setdefault(event.get("index"), len(self._tool_index))
        fn = call.get("function") or {}
        delta = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": fn["name"], "arguments": fn.get("arguments") or ""},
        }
        out.append(self._chunk({"tool_calls": [delta]}))

    def _tool_delta(self, event: Json, out: list[bytes]) -> None:
        fn = _message(event)["tool_calls"].get("function") or {}
        if not fn.get("arguments"):
            return
        index = self._tool_index.get(event.get("index"), max(len(self._tool_index) - 1, 0))
        delta = {"index": index, "function": {"arguments": fn["arguments"]}}
        out.append(self._chunk({"tool_calls": [delta]}))

    def _message_end(self, event: Json, out: list[bytes]) -> None:
        end = event.get("delta") or {}
        finish = finish_reason(end.get("finish_reason"), end.get("error"))
        self._open(out)
        out.append(self._chunk({}, finish))
        if self._want_usage:
            out.append(sse({**self._base, "choices": [], "usage": usage(end.get("usage"))}))
        out.append(DONE)
        self._done = True


def _message(event: Json) -> Json:
    message = (event.get("delta") or {}).get("message")
    if not isinstance(message, dict):
        raise TypeError(f"cohere {event.get('type')} event without delta.message")
    return message


Handler = Callable[[CohereStreamDecoder, Json, list[bytes]], None]
HANDLERS: dict[str, Handler] = {
    "message-start": CohereStreamDecoder._message_start,
    "content-start": CohereStreamDecoder._content,
    "content-delta": CohereStreamDecoder._content,
    "tool-call-start": CohereStreamDecoder._tool_start,
    "tool-call-delta": CohereStreamDecoder._tool_delta,
    "message-end": CohereStreamDecoder._message_end,
}
#: no OpenAI counterpart: content-end, tool-plan-delta, tool-call-end, citation-start,
#: citation-end, debug (and types added later) are read and skipped.
