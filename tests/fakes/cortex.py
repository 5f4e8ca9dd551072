"""A fake Snowflake Cortex: both chat APIs (the conformance contract) and the REST embed API.

* ``/api/v2/cortex/v1/chat/completions``: the OpenAI-compatible API (the OpenAI fake's rules);
* ``/api/v2/cortex/inference:complete``: the Cortex REST format (``content_list`` items,
  ``tool_spec`` tools, ``{"type": "json", "schema"}``), streaming by default, its SSE chunks
  ending with the body (no end event), usage in the last chunk;
* ``/api/v2/cortex/inference:embed``: ``{"model", "text": [...]}`` in, one vector per text out,
  each wrapped in a list of one (``"embedding": [[...]]``), usage as ``total_tokens`` only.
  Models have their documented sizes (``EMBED_DIMENSIONS``); another name is a 400.

Both want ``Authorization: Bearer`` plus ``X-Snowflake-Authorization-Token-Type``; errors are
Snowflake's ``{"message", "code", "request_id"}``. Every request is kept in ``app[REQUESTS]``
so a test can check the JWT a key-pair target sent.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.contract import (
    FLAKY,
    FLAKY_STATE,
    TOOL_ARGS,
    TOOL_ARGS_JSON,
    TOOL_NAME,
    Reply,
    Transcript,
    api_key,
    decide,
    error_kind,
    new_app,
    pieces,
    record,
)
from tests.fakes.openai_contract import respond
from tests.providers.conformance import USAGE

JSON = dict[str, Any]
TOKEN_TYPES = frozenset({"PROGRAMMATIC_ACCESS_TOKEN", "KEYPAIR_JWT", "OAUTH"})
CHAT_PATH = "/api/v2/cortex/v1/chat/completions"
COMPLETE_PATH = "/api/v2/cortex/inference:complete"
EMBED_PATH = "/api/v2/cortex/inference:embed"
#: the embedding models of Cortex's REST embed API and their sizes (its model table)
EMBED_DIMENSIONS = {
    "snowflake-arctic-embed-m-v1.5": 768,
    "snowflake-arctic-embed-m": 768,
    "e5-base-v2": 768,
    "snowflake-arctic-embed-l-v2.0": 1024,
    "nv-embed-qa-4": 1024,
    "multilingual-e5-large": 1024,
    "voyage-multilingual-2": 1024,
}
TOOL_USE_ID = "tooluse_fake0001"


def _error(message: str, code: str) -> JSON:
    return {"message": message, "code": code, "request_id": "01b2c3d4-fake"}


#: Snowflake's error body for each contract error kind
ERRORS: dict[str, tuple[int, JSON, dict[str, str]]] = {
    "rate_limited": (
        429,
        _error("Too many requests. Please retry after some time.", "390429"),
        {"retry-after": "1"},
    ),
    "auth": (401, _error("Programmatic access token is invalid.", "390303"), {}),
    "context_length": (
        400,
        _error(
            "max tokens of 128000 exceeded: the prompt is too long for the model's context window.",
            "399504",
        ),
        {},
    ),
    "content_filter": (400, _error("Response filtered by Cortex Guard.", "399505"), {}),
    "server": (500, _error("Internal error. Please retry.", "390500"), {}),
}


def _refusal(request: web.Request) -> web.Response | None:
    auth = request.headers.get("Authorization", "")
    kind = request.headers.get("X-Snowflake-Authorization-Token-Type")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        return web.json_response(_error("Authorization header is missing.", "390101"), status=401)
    if kind not in TOKEN_TYPES:
        message = f"Unsupported authorization token type {kind!r}."
        return web.json_response(_error(message, "390102"), status=401)
    return None


def _failure(request: web.Request, model: str) -> web.Response | None:
    kind = error_kind(model)
    if kind is None and request.app[FLAKY_STATE].trips(model, api_key(request)):
        kind = "rate_limited"
    if kind is None:
        return None
    status, body, headers = ERRORS[kind]
    return web.json_response(body, status=status, headers=headers)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await record(request)
    refused = _refusal(request)
    if refused is not None:
        return refused
    return await respond(request, body, ERRORS)


# -- the REST complete format ------------------------------------------------------------


def _items_text(message: JSON) -> str:
    items = message.get("content_list") or ()
    texts = [i.get("text", "") for i in items if i.get("type") == "text"]
    return "".join(texts) if texts else message.get("content") or ""


def transcript(body: JSON) -> Transcript:
    seen = Transcript()
    for message in body.get("messages") or ():
        role = message.get("role", "user")
        if role == "system":
            seen.system = message.get("content") or ""
            continue
        seen.turns += 1
        for item in message.get("content_list") or ():
            if item.get("type") == "tool_results":
                result = item["tool_results"]["content"]
                seen.tool_result = "".join(c.get("text", "") for c in result)
            elif item.get("type") == "image" and seen.image_type is None:
                seen.image_type = item["details"].get("content_type") or "none"
        if role == "user":
            seen.last_user = _items_text(message)
    seen.offers_tool = any(
        (t.get("tool_spec") or {}).get("name") == TOOL_NAME for t in body.get("tools") or ()
    )
    fmt = body.get("response_format") or {}
    seen.wants_json = fmt.get("type") == "json" and isinstance(fmt.get("schema"), dict)
    return seen


def complete_body(model: str, reply: Reply) -> JSON:
    if reply.tool_call:
        use = {"tool_use_id": TOOL_USE_ID, "name": TOOL_NAME, "input": TOOL_ARGS}
        message = {"content": "", "content_list": [{"type": "tool_use", "tool_use": use}]}
    else:
        text = reply.text or ""
        message = {"content": text, "content_list": [{"type": "text", "text": text}]}
    return {
        "id": "cortex-fake-0001",
        "created": int(time.time()),
        "model": model,
        "choices": [{"message": message}],
        "usage": dict(USAGE),
    }


def complete_chunks(model: str, reply: Reply) -> list[JSON]:
    base = {"id": "cortex-fake-0001", "created": int(time.time()), "model": model}
    deltas: list[JSON] = []
    if reply.tool_call:
        first = {"tool_use_id": TOOL_USE_ID, "name": TOOL_NAME, "input": ""}
        deltas.append({"type": "tool_use", **first, "content_list": [first], "text": ""})
        for part in pieces(TOOL_ARGS_JSON):
            item = {"input": part}
            deltas.append({"type": "tool_use", **item, "content_list": [item], "text": ""})
    else:
        for part in pieces(reply.text or ""):
            item = {"type": "text", "text": part}
            deltas.append({"type": "text", "content": part, "content_list": [item], "text": part})
    out = [{**base, "choices": [{"delta": d}], "usage": {}} for d in deltas]
    out.append({**base, "choices": [{"delta": {"content": "", "text": ""}}], "usage": dict(USAGE)})
    return out


async def complete(request: web.Request) -> web.StreamResponse:
    body = await record(request)
    refused = _refusal(request)
    if refused is not None:
        return refused
    if not isinstance(body, dict) or not body.get("model") or not body.get("messages"):
        return web.json_response(_error("model and messages are required.", "399400"), status=400)
    model = str(body["model"])
    failed = _failure(request, model)
    if failed is not None:
        return failed
    reply = decide(model, transcript(body))
    if body.get("stream") is False:
        return web.json_response(complete_body(model, reply))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for chunk in complete_chunks(model, reply):
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await asyncio.sleep(0)
    await response.write_eof()
    return response


# -- the REST embed API ------------------------------------------------------------------


def embed_vector(text: str, size: int) -> list[float]:
    """A vector that depends on the text; every value is exact in float32."""
    return [float(len(text))] + [((i % 7) - 3) / 4 for i in range(size - 1)]


def embed_tokens(texts: list[str]) -> int:
    return sum(len(text.split()) + 2 for text in texts)


async def embed(request: web.Request) -> web.Response:
    body = await record(request)
    refused = _refusal(request)
    if refused is not None:
        return refused
    texts = body.get("text") if isinstance(body, dict) else None
    if (
        not isinstance(texts, list)
        or not isinstance(body.get("model"), str)
        or not texts
        or not all(isinstance(text, str) for text in texts)
    ):
        message = "model and text (a non-empty list of strings) are required."
        return web.json_response(_error(message, "399400"), status=400)
    model = body["model"]
    failed = _failure(request, model)
    if failed is not None:
        return failed
    size = EMBED_DIMENSIONS.get(model, 768 if model == FLAKY else 0)
    if not size:
        return web.json_response(_error(f"unknown model '{model}'", "399400"), status=400)
    data = [
        {"object": "embedding", "index": i, "embedding": [embed_vector(text, size)]}
        for i, text in enumerate(texts)
    ]
    usage = {"total_tokens": embed_tokens(texts)}
    return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})


def make_app() -> web.Application:
    app = new_app()
    app.router.add_post(CHAT_PATH, chat_completions)
    app.router.add_post(COMPLETE_PATH, complete)
    app.router.add_post(EMBED_PATH, embed)
    return app
