"""``GET /v1/models``: the routed provider's model list in OpenAI's shape, or the configured one.

With a route (``x-portkey-config``, ``-provider`` or ``-virtual-key``) the plan's first target
is asked: an OpenAI-shaped provider's answer is passed on as it is; a translating format's
``parse_models`` turns each page into OpenAI's list, and its ``models_next_page`` says how to
ask for the next one (at most ``MAX_PAGES``; past that, x-portkey-warnings says the list was
cut). Without a route the answer lists the ``models`` of the named providers in portkey.yaml,
then the ``override_params.model`` of the named configs, each once, in file order.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from portkey.errors import Attempt, GatewayError, InvalidRequest, UpstreamBadResponse
from portkey.gateway import ingress
from portkey.gateway.ingress import Call
from portkey.gateway.plan import Leaf, leaves
from portkey.gateway.prepare import headers_for
from portkey.gateway.responses import Scope, Send, json_body, send_error, send_json
from portkey.gateway.router import check_json_answer, classify
from portkey.gateway.runtime import Runtime
from portkey.providers.base import MODELS, SignRequest
from portkey.transport.http import Transport, UpstreamResponse

if TYPE_CHECKING:
    from portkey.gateway.app import GatewayApp

#: pages followed at most (each up to 1,000 models where the provider allows it)
MAX_PAGES = 20
#: seconds one page may take, unless the target's request_timeout is shorter
PAGE_TIMEOUT_S = 30.0
ROUTING_HEADERS = ("x-portkey-config", "x-portkey-provider", "x-portkey-virtual-key")
#: the portkey.yaml provider entry a listed model comes from (extra field: SDKs keep it)
ENTRY_FIELD = "portkey_provider"


async def handle(app: GatewayApp, scope: Scope, send: Send) -> None:
    """Serve one ``GET /v1/models``."""
    from portkey.gateway.app import answer_headers, base_headers, failure_headers

    call = Call(MODELS, scope["path"], {}, time.perf_counter())
    ingress.read_headers(scope["headers"], call.headers)
    call.trace_id = call.headers.get("x-portkey-trace-id") or call.trace_id
    runtime = app.holder.current
    try:
        ingress.apply_headers(call, scope["headers"])
        key = app.control.gate.authenticate(call) if app.control is not None else None
        if app.transport is None or not any(h in call.headers for h in ROUTING_HEADERS):
            listed = configured_models(runtime)
            allowed = key.scopes.models if key is not None else None
            if allowed is not None:  # a caller key sees the models it may use
                listed["data"] = [m for m in listed["data"] if m["id"] in allowed]
            await send_json(send, 200, json_body(listed), base_headers(call))
            return
        leaf = leaves(ingress.select_plan(runtime, call.headers).root)[0]
        body, response = await upstream_models(app.transport, leaf, call)
        await send_json(send, 200, body, answer_headers(call, leaf, response))
    except GatewayError as exc:
        await send_error(send, exc, failure_headers(call))


def configured_models(runtime: Runtime) -> dict[str, Any]:
    """The models portkey.yaml names: provider entries' ``models``, then configs' models."""
    seen: dict[str, dict[str, Any]] = {}
    for name, entry in runtime.file.providers.items():
        for model in entry.models or ():
            seen.setdefault(model, _entry(model, str(entry.provider), name))
    for plan in runtime.named.values():
        for leaf in leaves(plan.root):
            pinned = (leaf.override_params or {}).get("model")
            if isinstance(pinned, str):
                seen.setdefault(pinned, _entry(pinned, leaf.spec.id, leaf.virtual_key))
    return {"object": "list", "data": list(seen.values())}


def _entry(model: str, provider: str, entry_name: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": model, "object": "model", "created": 0, "owned_by": provider}
    if entry_name is not None:
        item[ENTRY_FIELD] = entry_name
    return item


async def upstream_models(
    transport: Transport, leaf: Leaf, call: Call
) -> tuple[bytes, UpstreamResponse]:
    """The leaf's provider's list as an OpenAI body, and the last upstream response."""
    url = leaf.urls.get(MODELS)
    fmt = leaf.spec.format
    if url is None or (fmt.parse_models is None and not fmt.passthrough):
        raise InvalidRequest(f"provider {leaf.spec.id} does not list models", param="provider")
    started = time.perf_counter()
    try:
        if fmt.parse_models is None:  # OpenAI's shape already
            body, response = await _get(transport, leaf, call, url)
            check_json_answer(body)
            return body, response
        return await _pages(transport, leaf, call, url)
    except GatewayError as exc:  # noted, so the error's headers name the provider and target
        elapsed = (time.perf_counter() - started) * 1000
        call.attempts.append(
            Attempt(leaf.path, leaf.spec.id, exc.http_status, exc.type, exc.message, elapsed)
        )
        raise


async def _pages(
    transport: Transport, leaf: Leaf, call: Call, url: str
) -> tuple[bytes, UpstreamResponse]:
    """Every page (up to ``MAX_PAGES``) of a translating format's list, as one OpenAI list."""
    next_page = leaf.spec.format.models_next_page
    data: list[dict[str, Any]] = []
    page_url: str | None = url
    pages = 0
    while page_url is not None and pages < MAX_PAGES:
        body, response = await _get(transport, leaf, call, page_url)
        wire = _json_object(leaf, body)
        data.extend(_translated(leaf, wire))
        pages += 1
        following = next_page(wire) if next_page is not None else None
        page_url = with_query(url, following) if following else None
    if page_url is not None:
        call.warnings.append(f"model list of {leaf.spec.id} cut after {MAX_PAGES} pages")
    return orjson.dumps({"object": "list", "data": _unique(data)}), response


async def _get(
    transport: Transport, leaf: Leaf, call: Call, url: str
) -> tuple[bytes, UpstreamResponse]:
    """One GET; an upstream error status is classified by the provider."""
    headers = headers_for(leaf, call)
    if leaf.spec.sign is not None:
        request = SignRequest("GET", url, headers, b"", leaf.api_key or call.bearer, leaf.options)
        headers.extend(await leaf.spec.sign(request))
    started = time.perf_counter()
    timeout = call.timeout_override or min(leaf.timeout_s, PAGE_TIMEOUT_S)
    try:
        response = await transport.send("GET", url, headers, None, timeout)
        body = await response.read()
    finally:
        call.upstream_s += time.perf_counter() - started
    if not 200 <= response.status < 300:
        raise classify(leaf, response.status, body, response)
    return body, response


def _json_object(leaf: Leaf, body: bytes) -> dict[str, Any]:
    try:
        wire = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamBadResponse(f"{leaf.spec.id} sent a model list that is not JSON") from exc
    if not isinstance(wire, dict):
        raise UpstreamBadResponse(f"{leaf.spec.id} sent a model list that is not a JSON object")
    return wire


def _translated(leaf: Leaf, wire: dict[str, Any]) -> list[dict[str, Any]]:
    parse = leaf.spec.format.parse_models
    assert parse is not None, "only called for formats that parse model lists"
    try:
        data: list[dict[str, Any]] = parse(wire)["data"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UpstreamBadResponse(
            f"{leaf.spec.id} sent a model list that cannot be read: {type(exc).__name__}: {exc}"
        ) from exc
    return data


def _unique(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each model once (pages may overlap when the list changes while it is read)."""
    seen: set[str] = set()
    out = []
    for item in data:
        if item["id"] not in seen:
            seen.add(item["id"])
            out.append(item)
    return out


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` set in its query (replacing any of the same name)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))
