"""``POST /v1/prompts/{id}/render`` and ``/v1/prompts/{id}/completions`` (Portkey's shapes).

The body is ``{"variables": {...}, ...overrides}`` (``stream``, ``temperature``,
``max_tokens``... as the ``portkey-ai`` SDK sends them; ``null`` ones are ignored). Render
answers ``{"success": true, "data": <the chat completion body>}``; completions sends that
body through the gateway's own ``/v1/chat/completions`` path, so routing, guardrails, cache,
limits and logs apply as to any request. The served prompt, version and label go out in
``x-portkey-prompt-*`` headers and into the request's metadata (hence its log record).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson

from portkey.errors import GatewayError, InvalidRequest, NotFound, StoreUnavailable
from portkey.gateway import ingress
from portkey.gateway.ingress import Call, json_object, parse_metadata
from portkey.gateway.responses import Receive, Scope, Send, send_error, send_json
from portkey.prompts.registry import Resolved
from portkey.providers.base import CHAT

if TYPE_CHECKING:
    from portkey.gateway.app import GatewayApp

ACTIONS = ("render", "completions")
ROUTE_HEADERS = (b"x-portkey-config", b"x-portkey-provider", b"x-portkey-virtual-key")


def _target(path: str) -> tuple[str, str]:
    parts = path.split("/")  # ["", "v1", "prompts", id, action]
    if len(parts) != 5 or parts[4] not in ACTIONS or not parts[3]:
        raise NotFound(f"no route for POST {path}", code="unknown_url")
    return unquote(parts[3]), parts[4]


def authenticate(app: GatewayApp, scope: Scope) -> None:
    """The caller's API key, checked as for any /v1 call (401 when keys are required)."""
    if app.control is None:
        return
    call = Call(CHAT, scope["path"], {}, time.perf_counter())
    ingress.read_headers(scope["headers"], call.headers)
    ingress.apply_headers(call, scope["headers"])
    app.control.gate.authenticate(call)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _prompt_headers(resolved: Resolved) -> list[tuple[bytes, bytes]]:
    version = resolved.version
    out = [(b"x-portkey-prompt-id", version.prompt_id.encode()),
           (b"x-portkey-prompt-version", str(version.version).encode())]  # fmt: skip
    if resolved.label:
        out.append((b"x-portkey-prompt-label", resolved.label.encode()))
    return out


def prepare(
    app: GatewayApp, ref: str, raw: bytes, metadata: Mapping[str, str]
) -> tuple[Resolved, dict[str, Any]]:
    """The version served and the chat body it renders to (with the request's overrides)."""
    service = app.prompts
    if service is None:
        raise StoreUnavailable("the prompt registry is not started yet")
    body = json_object(raw or b"{}", "the request body", None)
    variables = body.pop("variables", None) or {}
    if not isinstance(variables, dict):
        raise InvalidRequest("'variables' must be an object", param="variables")
    registry = service.registry
    resolved = registry.resolve(ref, metadata)
    rendered = resolved.version.body(variables, registry.partials)
    rendered.update({k: v for k, v in body.items() if v is not None and k != "config"})
    return resolved, rendered


async def handle(app: GatewayApp, scope: Scope, receive: Receive, send: Send) -> None:
    from portkey.gateway.app import read_body

    try:
        ref, action = _target(scope["path"])
        if action == "render":  # completions are checked on the chat path, as any call
            authenticate(app, scope)
        meta_text = _header(scope, b"x-portkey-metadata")
        metadata = parse_metadata(meta_text) if meta_text else {}
        raw = await read_body(scope, receive, app.holder.current.file.server.max_body_bytes)
        resolved, rendered = prepare(app, ref, raw, metadata)
    except GatewayError as exc:
        await send_error(send, exc)
        return
    if action == "render":
        await send_json(send, 200, orjson.dumps({"success": True, "data": rendered}),
                        _prompt_headers(resolved))  # fmt: skip
        return
    await _complete(app, scope, receive, send, resolved, rendered, metadata)


async def _complete(
    app: GatewayApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    resolved: Resolved,
    rendered: dict[str, Any],
    metadata: Mapping[str, str],
) -> None:
    version = resolved.version
    tags = {**metadata, "prompt_id": version.prompt_id, "prompt_version": str(version.version)}
    if resolved.label:
        tags["prompt_label"] = resolved.label
    dropped = (b"x-portkey-metadata", b"content-length")
    headers = [(k, v) for k, v in scope["headers"] if k not in dropped]
    headers.append((b"x-portkey-metadata", orjson.dumps(tags)))
    spec = app.prompts.file.prompts.get(version.prompt_id) if app.prompts else None
    if spec is not None and spec.config and not any(k in ROUTE_HEADERS for k, _ in headers):
        headers.append((b"x-portkey-config", spec.config.encode()))
    inner = {**scope, "path": "/v1/chat/completions", "headers": headers}
    body = orjson.dumps(rendered)
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    extra = _prompt_headers(resolved)

    async def tagged(message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    await app.proxy(CHAT, inner, replay, tagged)
