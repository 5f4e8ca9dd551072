"""Server-sent events for translating formats: cut upstream bytes into ``(name, data)`` events,
and write the OpenAI chunks a decoder emits."""

from __future__ import annotations

import time
from typing import Any

import orjson

Event = tuple[str, str]
Json = dict[str, Any]


class SSEFramer:
    """Cuts a byte stream into complete events (each ending in a blank line)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> bytes:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return b""
        self._buf = buf[end + 2 :]
        return buf[: end + 2]

    def rest(self) -> bytes:
        rest, self._buf = self._buf, b""
        return rest + b"\n\n" if rest.strip() else b""


class SSEParser:
    """Feed raw bytes as they arrive; get back the events completed so far.

    Several ``data:`` lines join with ``\\n``; comments and ``id:``/``retry:`` fields are
    skipped. Bytes after the last blank line wait for more (framing is ``SSEFramer``'s).
    """

    __slots__ = ("_framer",)

    def __init__(self) -> None:
        self._framer = SSEFramer()

    def feed(self, data: bytes) -> list[Event]:
        block = self._framer.feed(data)
        if not block:
            return []
        return [ev for raw in block[:-2].split(b"\n\n") if (ev := parse_event(raw)) is not None]

    def rest(self) -> bytes:
        """Bytes of an unfinished event (the stream ended mid-frame), emptied."""
        return self._framer.rest().strip()


def parse_event(raw: bytes) -> Event | None:
    """One event's name and joined data; None for comments or an event without data."""
    name = "message"
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data:
        return None
    return name, b"\n".join(data).decode("utf-8")


def sse(chunk: Json) -> bytes:
    """One OpenAI SSE event."""
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def wants_usage(canonical: Json) -> bool:
    """The client asked for the usage chunk (``stream_options.include_usage``)."""
    options = canonical.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def chunk_base(canonical: Json, chunk_id: str | None = None) -> Json:
    """The fields every ``chat.completion.chunk`` of one translated stream shares."""
    return {
        "id": chunk_id or f"chatcmpl-{time.time_ns()}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": str(canonical.get("model") or ""),
    }
