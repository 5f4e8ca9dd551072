"""ASGI response helpers: JSON answers, OpenAI-style errors, the x-portkey-* headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from portkey.errors import GatewayError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

JSON_TYPE = (b"content-type", b"application/json")
SSE_HEADERS: RawHeaders = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
#: upstream headers passed back to the client (rate limits, request ids, processing time)
PASSED_PREFIXES = ("x-ratelimit-", "openai-", "anthropic-", "x-request-id", "retry-after")


async def send_json(
    send: Send, status: int, body: bytes, headers: RawHeaders | None = None
) -> None:
    out = [JSON_TYPE, (b"content-length", str(len(body)).encode())]
    if headers:
        out.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: GatewayError, headers: RawHeaders | None = None) -> None:
    extra = list(headers or ())
    if error.retry_after is not None and error.http_status == 429:
        extra.append((b"retry-after", str(max(1, round(error.retry_after))).encode()))
    await send_json(send, error.http_status, error.body(), extra)


def passed_upstream_headers(upstream: list[tuple[str, str]]) -> RawHeaders:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in upstream
        if name.lower().startswith(PASSED_PREFIXES)
    ]


def json_body(data: Any) -> bytes:
    return orjson.dumps(data)
