"""Server-sent events: framing, first-event checks, the pump, idle watchdog, in-band errors.

Bytes stay bytes: complete events are forwarded as one block, untouched, unless the
gateway itself asked upstream for a usage chunk the client did not want. A stream that
stops before ``data: [DONE]`` ends with an in-band error event, never a clean finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from portkey.errors import GatewayError, UpstreamBadResponse, UpstreamTimeout
from portkey.formats.sse_events import SSEFramer
from portkey.transport.http import UpstreamResponse

DONE = b"data: [DONE]"
Write = Callable[[bytes], Awaitable[None]]


def is_done(block: bytes) -> bool:
    return DONE in block[-64:]


def first_event(block: bytes) -> bytes:
    return block.split(b"\n\n", 1)[0]


def event_data(event: bytes) -> bytes | None:
    """The joined ``data:`` lines of one event, or None for comments / empty events."""
    parts = [
        line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
    ]
    return b"\n".join(parts) if parts else None


def error_payload(event: bytes) -> dict[str, Any] | None:
    """The error object if this event is an error event (``data: {"error": ...}``)."""
    data = event_data(event)
    if event.startswith(b"event: error") and data is not None:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return {"message": data.decode("utf-8", "replace")}
        return parsed.get("error", parsed) if isinstance(parsed, dict) else {"message": str(parsed)}
    if data is None or not data.startswith(b"{") or b'"error"' not in data[:16]:
        return None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    err = parsed.get("error") if isinstance(parsed, dict) else None
    return err if isinstance(err, dict) else None


def error_event(error: GatewayError) -> bytes:
    """An OpenAI-style in-band error event (the openai SDK raises APIError on it)."""
    return b"data: " + orjson.dumps(error.to_dict()) + b"\n\n"


class UsageFilter:
    """Captures the usage chunk; drops it when only the gateway asked for it."""

    __slots__ = ("strip", "usage")

    def __init__(self, strip: bool) -> None:
        self.strip = strip
        self.usage: dict[str, Any] | None = None

    def __call__(self, block: bytes) -> bytes:
        if b'"usage":{' not in block and b'"usage": {' not in block:
            return block
        kept = []
        for event in block.split(b"\n\n"):
            if not event:
                continue
            data = event_data(event)
            if data and b'"usage"' in data:
                try:
                    chunk = orjson.loads(data)
                except orjson.JSONDecodeError:
                    chunk = None
                if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
                    self.usage = chunk["usage"]
                    if self.strip and not chunk.get("choices"):
                        continue
            kept.append(event + b"\n\n")
        return b"".join(kept)


class Watchdog:
    """Closes the upstream response when no byte arrived for ``idle`` seconds.

    Costs one timer per stream, not one per chunk: the pump only stamps ``last``.
    """

    __slots__ = ("_handle", "_idle", "_loop", "_response", "fired", "last")

    def __init__(self, response: UpstreamResponse, idle: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._response = response
        self._idle = idle
        self.fired = False
        self.last = self._loop.time()
        self._handle = self._loop.call_later(idle, self._check)

    def _check(self) -> None:
        remaining = self.last + self._idle - self._loop.time()
        if remaining > 0:
            self._handle = self._loop.call_later(remaining, self._check)
            return
        self.fired = True
        self._response.close()

    def cancel(self) -> None:
        self._handle.cancel()


async def read_first_block(chunks: AsyncIterator[bytes], framer: SSEFramer) -> bytes:
    """Read until at least one complete event (or the end of the stream)."""
    async for chunk in chunks:
        block = framer.feed(chunk)
        if block:
            return block
    return framer.rest()


async def pump(
    chunks: AsyncIterator[bytes],
    framer: SSEFramer,
    watchdog: Watchdog,
    filt: UsageFilter,
    write: Write,
    tap: Callable[[bytes], None] | None = None,
) -> GatewayError | None:
    """Forward complete events until upstream ends. Returns why it ended badly, if it did.

    ``tap`` sees every block as it came (before the usage filter): the cache records it.
    """
    loop = asyncio.get_running_loop()
    done = False
    failure: GatewayError | None = None
    try:
        async for chunk in chunks:
            watchdog.last = loop.time()
            block = framer.feed(chunk)
            if not block or done:
                continue
            done = is_done(block)
            if tap is not None:
                tap(block)
            if b'"error"' in block:
                failure = _mid_stream_error(block) or failure
            await write(filt(block) if filt.strip or b'"usage":' in block else block)
        if not done:
            tail = framer.rest()
            if tail:
                done = is_done(tail)
                if tap is not None:
                    tap(tail)
                await write(tail)
    except GatewayError as exc:
        failure = exc
    finally:
        watchdog.cancel()
    if watchdog.fired:
        return UpstreamTimeout("upstream stream was idle too long (stream_idle_timeout)")
    if failure is not None:
        return failure
    if not done:
        return UpstreamBadResponse("upstream stream ended before [DONE]", code="stream_cut")
    return None


def _mid_stream_error(block: bytes) -> GatewayError | None:
    for event in block.split(b"\n\n"):
        err = error_payload(event)
        if err is not None:
            return UpstreamBadResponse(f"upstream stream error: {err.get('message', err)}")
    return None
