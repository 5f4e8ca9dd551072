"""Canned OpenAI and Anthropic upstreams for the benchmark, on a raw asyncio protocol (uvloop).

It serves ``POST /v1/chat/completions`` on up to three ports:

* ``--json-port``: the canned ``chat.completion`` JSON at once (the fallback when nginx is missing);
* ``--stream-port``: the canned SSE stream (20 ``chat.completion.chunk`` events, then
  ``data: [DONE]``) at once, chunked, one chunk per event (the fallback when nginx is missing);
* ``--slow-port``: the slow upstream for time-to-first-token: response headers at once, the first
  event after ``--delay-ms`` (default 10 ms), then one event every ``--delay-ms``. Without
  ``"stream": true`` in the body it answers the JSON after the same total time;

and Anthropic's ``POST /v1/messages`` on ``--anthropic-port``: the canned Messages API JSON
(``"type": "message"``), or, when the body has ``"stream": true``, the canned Messages SSE stream
(message_start, content_block_start, ping, 20 content_block_delta, content_block_stop,
message_delta, message_stop) at once, chunked, one chunk per event. A request without
``x-api-key: sk-bench`` gets Anthropic's 401 ``authentication_error``.

HTTP/1.1 keep-alive and pipelining; ``GET /health`` answers 200. Listens on 127.0.0.1 by default.

usage: canned_upstream.py [--json-port P] [--stream-port P] [--slow-port P] [--delay-ms 10]
                          [--anthropic-port P]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, cast

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contextlib

import payloads

CHAT_PATH = b"/v1/chat/completions"
MAX_HEAD = 64 * 1024

_JSON_BODY = payloads.completion_json().encode()
_EVENTS = [e.encode() for e in payloads.sse_events()]
_JSON_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nopenai-processing-ms: 1\r\n"
    b"Content-Length: %d\r\n\r\n"
)
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\nopenai-processing-ms: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
)
_JSON_RESPONSE = _JSON_HEAD % len(_JSON_BODY) + _JSON_BODY
_SSE_RESPONSE = _SSE_HEAD + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in _EVENTS) + b"0\r\n\r\n"
_A_PATH = payloads.ANTHROPIC_PATH.encode()
_A_KEY = payloads.ANTHROPIC_KEY.encode()
_A_HEAD = b"request-id: req_01PortkeyBench\r\nanthropic-organization-id: bench\r\n"
_A_JSON_BODY = payloads.anthropic_json().encode()
_A_JSON_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
    % (_A_HEAD, len(_A_JSON_BODY), _A_JSON_BODY)
)
_A_EVENTS = [e.encode() for e in payloads.anthropic_sse_events()]
_A_SSE_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n%sTransfer-Encoding: chunked\r\n\r\n"
    % _A_HEAD
    + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in _A_EVENTS)
    + b"0\r\n\r\n"
)
_A_401_BODY = (
    b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}'
)
_A_401 = (
    b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    b"\r\n%s" % (len(_A_401_BODY), _A_401_BODY)
)
_NOT_FOUND_BODY = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_NOT_FOUND_BODY), _NOT_FOUND_BODY)
)
_HEALTH = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def _chunked_body(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a chunked request body starting at ``start``; None while incomplete."""
    out = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)
            if end < 0:
                return None
            return bytes(out), end + 4
        if len(buf) < eol + 2 + size + 2:
            return None
        out += buf[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


Request = tuple[bytes, bytes, bytes, bool, int, bytes]


def _parse_request(buf: bytearray) -> Request | None:
    """(method, path, body, close, consumed, x-api-key) of the first complete request in ``buf``."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD:
            raise ValueError("request head too large")
        return None
    lines = bytes(buf[:end]).split(b"\r\n")
    method, path, _ = lines[0].split(b" ", 2)
    length = 0
    chunked = close = False
    api_key = b""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif key == b"connection":
            close = value.strip().lower() == b"close"
        elif key == b"x-api-key":
            api_key = value.strip()
    if chunked:
        decoded = _chunked_body(buf, end + 4)
        if decoded is None:
            return None
        return method, path, decoded[0], close, decoded[1], api_key
    if len(buf) < end + 4 + length:
        return None
    body = bytes(buf[end + 4 : end + 4 + length])
    return method, path, body, close, end + 4 + length, api_key


class Upstream(asyncio.Protocol):
    """One client connection; ``role`` is "json", "stream", "slow" or "anthropic"."""

    def __init__(self, role: str, delay: float) -> None:
        self.role = role
        self.delay = delay
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a slow answer is in flight; later pipelined requests wait
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._process()

    def _process(self) -> None:
        while self.transport is not None and not self.busy:
            try:
                req = _parse_request(self.buf)
            except ValueError:
                self.transport.close()
                return
            if req is None:
                return
            method, path, body, close, used, api_key = req
            del self.buf[:used]
            self.close_after = close
            self._answer(method, path.split(b"?", 1)[0], body, api_key)

    def _answer(self, method: bytes, path: bytes, body: bytes, api_key: bytes) -> None:
        if method == b"GET" and path == b"/health":
            self._write(_HEALTH, last=True)
        elif self.role == "anthropic":
            if method != b"POST" or path != _A_PATH:
                self._write(_NOT_FOUND, last=True)
            elif api_key != _A_KEY:
                self._write(_A_401, last=True)
            elif b'"stream":true' in body.replace(b" ", b""):
                self._write(_A_SSE_RESPONSE, last=True)
            else:
                self._write(_A_JSON_RESPONSE, last=True)
        elif method != b"POST" or path != CHAT_PATH:
            self._write(_NOT_FOUND, last=True)
        elif self.role == "json":
            self._write(_JSON_RESPONSE, last=True)
        elif self.role == "stream":
            self._write(_SSE_RESPONSE, last=True)
        else:
            self.busy = True
            loop = asyncio.get_running_loop()
            if b'"stream":true' in body.replace(b" ", b""):
                self._write(_SSE_HEAD, last=False)
                loop.call_later(self.delay, self._slow_event, 0)
            else:
                loop.call_later(self.delay * len(_EVENTS), self._slow_json)

    def _write(self, data: bytes, *, last: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        if last and self.close_after:
            self.transport.close()

    def _slow_event(self, i: int) -> None:
        if self.transport is None:
            return
        ev = _EVENTS[i]
        if i + 1 < len(_EVENTS):
            self._write(b"%x\r\n%s\r\n" % (len(ev), ev), last=False)
            asyncio.get_running_loop().call_later(self.delay, self._slow_event, i + 1)
            return
        self._finish_slow(b"%x\r\n%s\r\n0\r\n\r\n" % (len(ev), ev))

    def _slow_json(self) -> None:
        self._finish_slow(_JSON_RESPONSE)

    def _finish_slow(self, data: bytes) -> None:
        self.busy = False
        self._write(data, last=True)
        self._process()


async def serve(host: str, ports: dict[str, int], delay: float) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for role, port in ports.items():
        if port:
            servers.append(
                await loop.create_server(
                    lambda role=role: Upstream(role, delay),  # type: ignore[misc]
                    host,
                    port,
                    backlog=4096,
                    reuse_address=True,
                )
            )
    served = ", ".join(f"{r}={p}" for r, p in ports.items() if p)
    print(f"canned upstream on {host}: {served} (slow delay {delay * 1000:.1f} ms)", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def event_loop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """uvloop.run when uvloop is installed, else asyncio.run."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return asyncio.run
    return uvloop.run  # type: ignore[no-any-return,unused-ignore]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--json-port", type=int, default=0)
    ap.add_argument("--stream-port", type=int, default=0)
    ap.add_argument("--slow-port", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=10.0)
    ap.add_argument("--anthropic-port", type=int, default=0)
    args = ap.parse_args()
    ports = {
        "json": args.json_port,
        "stream": args.stream_port,
        "slow": args.slow_port,
        "anthropic": args.anthropic_port,
    }
    if not any(ports.values()):
        ap.error("give at least one of --json-port, --stream-port, --slow-port, --anthropic-port")
    with contextlib.suppress(KeyboardInterrupt):
        event_loop_runner()(serve(args.host, ports, args.delay_ms / 1000.0))


if __name__ == "__main__":
    main()
