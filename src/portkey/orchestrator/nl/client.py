"""The orchestrator's LLM access: our own gateway, called in-process through its ASGI door.

A synthetic HTTP scope (``POST /v1/chat/completions`` with ``x-portkey-config: <config id>``)
goes to the running ``GatewayApp`` itself, so routing, retries, fallbacks, cache, budgets,
logs and cost apply exactly as for a client over HTTP, with no socket and no HTTP hop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from portkey.errors import GatewayError

JSON = dict[str, Any]


class AsgiApp(Protocol):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...


@dataclass(slots=True)
class Completion:
    """One chat completion as the gateway answered it."""

    status: int
    body: JSON
    headers: dict[str, str]
    #: the assistant message's text ("" when there is none)
    content: str = ""
    usage: JSON = field(default_factory=dict)

    @property
    def cost_usd(self) -> float | None:
        raw = self.headers.get("x-portkey-cost-usd")
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None

    @property
    def trace_id(self) -> str | None:
        return self.headers.get("x-portkey-trace-id")

    @property
    def model(self) -> str | None:
        model = self.body.get("model")
        return model if isinstance(model, str) else None


class GatewayClient:
    """``await client.chat(body)``: one non-streamed chat completion through ``app``."""

    def __init__(self, app: AsgiApp, config: str, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.config = config
        self.headers = {"x-portkey-config": config, **(headers or {})}

    def _scope(self, body: bytes) -> JSON:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        headers += [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 0),
            "server": ("portkey-orchestrator", 0),
        }

    async def chat(self, body: JSON) -> Completion:
        raw = orjson.dumps({**body, "stream": False})
        sent = False
        status = 0
        headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def receive() -> JSON:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: JSON) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for k, v in message.get("headers", ()):
                    headers[bytes(k).decode("latin-1").lower()] = bytes(v).decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        await self.app(self._scope(raw), receive, send)
        return _completion(status, b"".join(chunks), headers)


def _completion(status: int, raw: bytes, headers: dict[str, str]) -> Completion:
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if status >= 400 or status == 0:
        error = body.get("error")
        error = error if isinstance(error, dict) else {}
        text = str(error.get("message") or f"gateway answered {status}")
        raise GatewayError(
            f"the model behind the gateway failed: {text}",
            status=502 if status < 500 else status,
            code=str(error.get("code") or "llm_failed"),
        )
    content = ""
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict):
            content = str(message.get("content") or "")
    usage = body.get("usage")
    return Completion(status, body, headers, content, usage if isinstance(usage, dict) else {})
