"""The Anthropic Messages ingress: ``POST /v1/messages`` (and ``/count_tokens``) on any provider.

The Anthropic request becomes the canonical OpenAI chat request (``request``), runs through the
same ingress, plan selection and router as ``/v1/chat/completions``, and the answer goes back as
an Anthropic ``Message`` (``response``) or as Anthropic SSE events (``stream``, a byte transform
on the shared ``StreamResponse``). Errors keep their status and take Anthropic's error shape.

The caller's provider key may come as ``Authorization: Bearer`` or as ``x-api-key`` (what the
``anthropic`` SDK sends); when both come, ``Authorization`` wins.

``count_tokens`` answers ``{"input_tokens": N}`` from ``estimate_tokens`` (4 characters a
token, a flat cost per image), unless the first target of the plan declares a ``count_tokens``
route: then the Anthropic body is forwarded there as is (the provider speaks this API natively).
"""

from __future__ import annotations

import math
import time
from typing import Any

import orjson

from portkey.errors import GatewayError, InvalidRequest, UpstreamBadResponse
from portkey.gateway import ingress
from portkey.gateway.anthropic_ingress.request import Translated, to_openai
from portkey.gateway.anthropic_ingress.response import error_body, to_message
from portkey.gateway.anthropic_ingress.stream import AnthropicStream
from portkey.gateway.app import (
    GatewayApp,
    StreamResponse,
    answer_headers,
    base_headers,
    failure_headers,
    read_body,
)
from portkey.gateway.ingress import Call
from portkey.gateway.plan import Leaf, leaves
from portkey.gateway.prepare import headers_for
from portkey.gateway.responses import Receive, Scope, Send, send_json
from portkey.gateway.router import Router, classify
from portkey.gateway.runtime import Runtime
from portkey.providers.base import CHAT

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
#: the route kind a provider declares (in ``ProviderSpec.routes``) to count tokens natively
COUNT_TOKENS = "count_tokens"
#: token estimate for count_tokens: characters of text per token, flat cost of one image
CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1600  # Anthropic's cost of an image at its 1.15 megapixel limit (w*h/750)

__all__ = ["COUNT_TOKENS", "estimate_tokens", "handle"]


async def handle(app: GatewayApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one Anthropic-format request: parse, route, answer in Anthropic's shapes."""
    call = Call(CHAT, scope["path"], {}, time.perf_counter())
    ingress.read_headers(scope["headers"], call.headers)
    call.trace_id = call.headers.get("x-portkey-trace-id") or call.trace_id
    runtime = app.holder.current
    try:
        if app.router is None:
            raise GatewayError("gateway is not started", status=503)
        ingress.apply_headers(call, scope["headers"])
        if call.bearer is None:
            call.bearer = api_key_header(scope["headers"])
        if app.control is not None:
            app.control.gate.identify(call)
        raw = await read_body(scope, receive, runtime.file.server.max_body_bytes)
        body = ingress.json_object(raw, "request body", None)
        if scope["path"] == COUNT_TOKENS_PATH:
            await count_tokens(app, call, runtime, body, send)
        else:
            await messages(app.router, call, runtime, body, receive, send)
    except GatewayError as exc:
        await send_error(send, exc, call)


async def messages(
    router: Router, call: Call, runtime: Runtime, body: dict[str, Any], receive: Receive, send: Send
) -> None:
    translated = to_openai(body)
    apply_dropped(call, translated, router.policy)
    canonical = translated.canonical
    call.body, call.raw = canonical, orjson.dumps(canonical)
    call.stream = canonical.get("stream") is True
    plan = ingress.select_plan(runtime, call.headers)
    ingress.check_model(call, plan)
    model = str(canonical.get("model") or "")
    stops = tuple(canonical.get("stop") or ())
    if call.stream:
        translator = AnthropicStream(model, estimate_tokens(canonical), stops)
        await StreamResponse(router, call, receive, send, translator).run(plan)
        return
    answer = await router.run(plan, call)
    try:
        message = to_message(orjson.loads(answer.body), model=model, stop_sequences=stops)
    except (ValueError, TypeError, AttributeError) as exc:
        raise UpstreamBadResponse(f"cannot translate the answer: {exc}") from exc
    headers = answer_headers(call, answer.leaf, answer.response)
    await send_json(send, 200, orjson.dumps(message), headers)


async def count_tokens(
    app: GatewayApp, call: Call, runtime: Runtime, body: dict[str, Any], send: Send
) -> None:
    translated = to_openai(body, require_max_tokens=False)
    leaf = native_counter(runtime, call)
    if leaf is None or app.transport is None:
        answer = {"input_tokens": estimate_tokens(translated.canonical)}
        await send_json(send, 200, orjson.dumps(answer), base_headers(call))
        return
    model = (leaf.override_params or {}).get("model")
    wire = {**body, "model": model} if model is not None else body
    started = time.perf_counter()
    response = await app.transport.send(
        "POST", leaf.urls[COUNT_TOKENS], headers_for(leaf, call), orjson.dumps(wire), leaf.timeout_s
    )
    data = await response.read()
    call.upstream_s += time.perf_counter() - started
    if not 200 <= response.status < 300:
        raise classify(leaf, response.status, data, response)
    await send_json(send, 200, data, answer_headers(call, leaf, response))


def native_counter(runtime: Runtime, call: Call) -> Leaf | None:
    """The plan's first target when it counts tokens natively (no routing: estimate)."""
    try:
        plan = ingress.select_plan(runtime, call.headers)
    except InvalidRequest as exc:
        if exc.code == "missing_provider":
            return None
        raise
    leaf = leaves(plan.root)[0]
    return leaf if COUNT_TOKENS in leaf.urls and leaf.spec.sign is None else None


def api_key_header(raw: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in raw:
        if name == b"x-api-key":
            return value.decode("latin-1").strip() or None
    return None


def apply_dropped(call: Call, translated: Translated, policy: str) -> None:
    """The ``unsupported_params`` policy over fields the translation left out."""
    for name, reason in translated.dropped:
        if policy == "raise":
            raise InvalidRequest(
                f"'{name}' is not supported by the Anthropic ingress: {reason}", param=name
            )
        if policy == "warn":
            call.warnings.append(f"{name} dropped: {reason}")


async def send_error(send: Send, error: GatewayError, call: Call) -> None:
    headers = failure_headers(call)
    if error.retry_after is not None and error.http_status == 429:
        headers.append((b"retry-after", str(max(1, round(error.retry_after))).encode()))
    await send_json(send, error.http_status, error_body(error, call.trace_id), headers)


def estimate_tokens(canonical: dict[str, Any]) -> int:
    """``ceil(characters of text / CHARS_PER_TOKEN) + IMAGE_TOKENS per image``: an estimate."""
    chars = 0
    images = 0
    for message in canonical.get("messages", ()):
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "image_url":
                    images += 1
                else:
                    chars += len(str(part.get("text", "")))
        for call in message.get("tool_calls") or ():
            function = call["function"]
            chars += len(function["name"]) + len(function["arguments"])
    if canonical.get("tools"):
        chars += len(orjson.dumps(canonical["tools"]))
    return math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS
