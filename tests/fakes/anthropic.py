"""A fake Anthropic Messages API (``/v1/messages``, ``/count_tokens``) for the conformance suite.

Native shapes throughout: ``x-api-key`` and ``anthropic-version`` required, ``max_tokens``
required, roles must alternate, ``tool_result`` blocks must answer a ``tool_use`` and need
``tools``; answers are ``type: message`` with content blocks, ``stop_reason`` and usage in
``input_tokens``/``output_tokens``; errors are ``{"type": "error", "error": {...}}``; streams are
typed SSE events ``message_start`` ... ``message_stop`` with ``ping`` among them.

Besides the contract's tokens, the model name scripts: ``error-overloaded`` (529),
``think`` (a thinking block first), ``cached`` (8 of the 11 prompt tokens read from cache),
and for streams ``error-first`` (an overloaded ``error`` event right after ``message_start``),
``midstream-error`` (an ``error`` event after the first text delta), ``cut`` (the body ends
before ``message_stop``), ``truncated`` (the body ends inside an event), ``malformed`` (an
event whose data is not JSON) and ``unknown-event`` (an event type added later).

``GET /v1/models`` lists ``CATALOG`` newest first, paged by ``limit`` / ``after_id`` with
``has_more``, ``first_id`` and ``last_id``; it serves at most ``PAGE_CAP`` models a page so
paging is always exercised. An api key holding ``revoked`` gets a 401, one holding
``bad-list`` a page whose models lack their ``id``.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.contract import (
    FLAKY_STATE,
    REQUESTS,
    TOOL_ARGS,
    TOOL_ARGS_JSON,
    TOOL_NAME,
    Reply,
    Transcript,
    decide,
    error_kind,
    media_type,
    new_app,
    pieces,
    record,
    tokens,
)
from tests.providers.conformance import USAGE

JSON = dict[str, Any]
VERSION = "2023-06-01"
THOUGHT = "The user wants a short answer."
REFUSAL = "refusal"


def error_body(kind: str, message: str) -> JSON:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CFake" + secrets.token_hex(6),
    }


#: error-<kind> -> Anthropic's answer (https://docs.anthropic.com/en/api/errors)
ERRORS: dict[str, tuple[int, JSON, dict[str, str]]] = {
    "rate_limited": (
        429,
        error_body(
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit "
            "(https://docs.anthropic.com/en/api/rate-limits); see the response headers for "
            "current usage. Please reduce the prompt length or the maximum tokens requested, "
            "or try again later.",
        ),
        {"retry-after": "1"},
    ),
    "auth": (401, error_body("authentication_error", "invalid x-api-key"), {}),
    "context_length": (
        400,
        error_body("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
        {},
    ),
    "server": (500, error_body("api_error", "Internal server error"), {}),
    "overloaded": (529, error_body("overloaded_error", "Overloaded"), {}),
}


def invalid(message: str) -> web.Response:
    return web.json_response(error_body("invalid_request_error", message), status=400)


# -- reading the native request ------------------------------------------------------------


def _blocks(content: Any) -> list[JSON]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _text(content: Any) -> str:
    return "".join(b.get("text", "") for b in _blocks(content) if b.get("type") == "text")


def check(body: Any) -> str | None:
    """What Anthropic would refuse in this body (None: it is well formed)."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required"
    uses: set[str] = set()
    for i, message in enumerate(messages):
        if i and message.get("role") == messages[i - 1].get("role"):
            return "messages: roles must alternate between 'user' and 'assistant'"
        for block in _blocks(message.get("content")):
            if block.get("type") == "text" and not block.get("text"):
                return f"messages.{i}: text content blocks must be non-empty"
            if block.get("type") == "tool_use":
                uses.add(block["id"])
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in uses:
                return f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks"
    if uses and not body.get("tools"):
        return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    return None


def transcript(body: JSON) -> Transcript:
    seen = Transcript()
    system = body.get("system")
    if system:
        seen.system = system if isinstance(system, str) else "\n".join(b["text"] for b in system)
    for message in body["messages"]:
        blocks = _blocks(message["content"])
        results = [b for b in blocks if b.get("type") == "tool_result"]
        seen.turns += len(results) + (1 if len(results) < len(blocks) else 0)
        for result in results:
            seen.tool_result = _text(result.get("content") or "")
        if message["role"] == "user" and len(results) < len(blocks):
            seen.last_user = _text(blocks)
        for block in blocks:
            if block.get("type") == "image" and seen.image_type is None:
                source = block["source"]
                url = source.get("url", "")
                seen.image_type = source.get("media_type") or media_type(url)
    tools = {t["name"]: t for t in body.get("tools") or ()}
    seen.offers_tool = TOOL_NAME in tools
    seen.wants_json = json_tool(body) is not None
    return seen


def json_tool(body: JSON) -> str | None:
    """The forced tool's name, when it stands for a JSON answer with an ``ok`` field."""
    choice = body.get("tool_choice") or {}
    for tool in body.get("tools") or ():
        forced = choice.get("type") == "tool" and tool["name"] == choice.get("name")
        if forced and "ok" in (tool.get("input_schema") or {}).get("properties", {}):
            return str(tool["name"])
    return None


# -- answers -------------------------------------------------------------------------------


def content_of(model: str, body: JSON) -> tuple[list[JSON], str]:
    """(content blocks, stop_reason) by the contract's model-name tokens."""
    said = tokens(model)
    if "error-content_filter" in said:
        return [], REFUSAL
    seen = transcript(body)
    reply: Reply = decide(model, seen)
    blocks: list[JSON] = []
    if "think" in said:
        blocks.append({"type": "thinking", "thinking": THOUGHT, "signature": "EqQBCgIYAh=="})
    forced = json_tool(body) if "json" in said else None
    if forced is not None:
        use = {"type": "tool_use", "id": "toolu_" + secrets.token_hex(8), "name": forced}
        return [*blocks, {**use, "input": {"ok": True}}], "tool_use"
    if reply.tool_call:
        use = {"type": "tool_use", "id": "toolu_" + secrets.token_hex(8), "name": TOOL_NAME}
        return [*blocks, {**use, "input": dict(TOOL_ARGS)}], "tool_use"
    return [*blocks, {"type": "text", "text": reply.text or ""}], "end_turn"


def usage(said: set[str]) -> JSON:
    cached = 8 if "cached" in said else 0
    return {
        "input_tokens": USAGE["prompt_tokens"] - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": USAGE["completion_tokens"],
    }


def message(model: str, content: list[JSON], stop: str | None, said: set[str]) -> JSON:
    return {
        "id": "msg_01Fake" + secrets.token_hex(8),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage(said),
    }


def events(model: str, content: list[JSON], stop: str, said: set[str]) -> list[JSON]:
    """The SSE events of an answer: text and tool input each in >= 2 deltas."""
    start = message(model, [], None, said)
    start["usage"] = {**start["usage"], "output_tokens": 1}
    out: list[JSON] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(content):
        kind = block["type"]
        if kind == "text":
            opening: JSON = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"])]
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(THOUGHT)]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            opening = {**block, "input": {}}
            arguments = TOOL_ARGS_JSON if block["name"] == TOOL_NAME else '{"ok": true}'
            parts = ["", *pieces(arguments)]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in parts]
        out.append({"type": "content_block_start", "index": index, "content_block": opening})
        out += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        out.append({"type": "content_block_stop", "index": index})
    end = {"stop_reason": stop, "stop_sequence": None}
    out.append(
        {
            "type": "message_delta",
            "delta": end,
            "usage": {"output_tokens": USAGE["completion_tokens"]},
        }
    )
    out.append({"type": "message_stop"})
    return out


def frame(event: JSON) -> bytes:
    return f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n"


def scripted(frames: list[bytes], said: set[str]) -> list[bytes]:
    overloaded = frame(error_body("overloaded_error", "Overloaded"))
    if "error-first" in said:
        return [frames[0], overloaded]
    if "midstream-error" in said:
        first_delta = next(i for i, f in enumerate(frames) if b"_delta" in f and b'"text"' in f)
        return [*frames[: first_delta + 1], overloaded]
    if "cut" in said:
        return frames[:-1]
    if "truncated" in said:
        return [*frames[:-1], frames[-1][:20]]
    if "malformed" in said:
        return [frames[0], b"event: content_block_delta\ndata: {not json\n\n", *frames[1:]]
    if "unknown-event" in said:
        return [frames[0], frame({"type": "future_event", "x": 1}), *frames[1:]]
    return frames


async def stream(request: web.Request, model: str, body: JSON) -> web.StreamResponse:
    said = tokens(model)
    content, stop = content_of(model, body)
    frames = scripted([frame(e) for e in events(model, content, stop, said)], said)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "request-id": "req_fake"}
    )
    await response.prepare(request)
    for data in frames:  # each event in two writes: the decoder must join partial events
        half = len(data) // 2
        await response.write(data[:half])
        await response.write(data[half:])
        await asyncio.sleep(0)
    await response.write_eof()
    return response


async def messages(request: web.Request) -> web.StreamResponse:
    body = await record(request)
    key = request.headers.get("x-api-key", "")
    if not key:
        return web.json_response(
            error_body("authentication_error", "x-api-key header is required"), status=401
        )
    if request.headers.get("anthropic-version") != VERSION:
        return invalid("anthropic-version: header is required")
    problem = check(body)
    if problem is not None:
        return invalid(problem)
    model = body["model"]
    kind = error_kind(model) or ("overloaded" if "error-overloaded" in tokens(model) else None)
    if kind is None and request.app[FLAKY_STATE].trips(model, key):
        kind = "rate_limited"
    if kind in ERRORS:
        status, error, headers = ERRORS[kind]
        return web.json_response(error, status=status, headers=headers)
    if body.get("stream"):
        return await stream(request, model, body)
    content, stop = content_of(model, body)
    return web.json_response(message(model, content, stop, tokens(model)))


async def count_tokens(request: web.Request) -> web.Response:
    body = await record(request)
    if not request.headers.get("x-api-key"):
        return web.json_response(
            error_body("authentication_error", "x-api-key header is required"), status=401
        )
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return invalid("messages: Field required")
    return web.json_response({"input_tokens": USAGE["prompt_tokens"]})


#: what ``GET /v1/models`` lists, newest first, in Anthropic's shape
CATALOG: list[JSON] = [
    {
        "type": "model",
        "id": "claude-opus-4-1-20250805",
        "display_name": "Claude Opus 4.1",
        "created_at": "2025-08-05T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-sonnet-4-20250514",
        "display_name": "Claude Sonnet 4",
        "created_at": "2025-05-22T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-3-7-sonnet-20250219",
        "display_name": "Claude Sonnet 3.7",
        "created_at": "2025-02-24T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-3-5-haiku-20241022",
        "display_name": "Claude Haiku 3.5",
        "created_at": "2024-10-22T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-3-haiku-20240307",
        "display_name": "Claude Haiku 3",
        "created_at": "2024-03-07T00:00:00Z",
    },
]
PAGE_CAP = 2


async def list_models(request: web.Request) -> web.Response:
    request.app[REQUESTS].append((request.path_qs, dict(request.headers), None))
    key = request.headers.get("x-api-key", "")
    if not key or "revoked" in key:
        return web.json_response(ERRORS["auth"][1], status=401)
    if request.headers.get("anthropic-version") != VERSION:
        return invalid("anthropic-version: header is required")
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        return invalid("limit: Input should be a valid integer")
    if not 1 <= limit <= 1000:
        return invalid("limit: Input should be between 1 and 1000")
    ids = [m["id"] for m in CATALOG]
    after = request.query.get("after_id")
    if after is not None and after not in ids:
        return invalid(f"after_id: no model {after!r}")
    start = ids.index(after) + 1 if after is not None else 0
    page = CATALOG[start : start + min(limit, PAGE_CAP)]
    if "bad-list" in key:
        page = [{k: v for k, v in m.items() if k != "id"} for m in page]
    return web.json_response(
        {
            "data": page,
            "has_more": start + len(page) < len(CATALOG),
            "first_id": page[0].get("id") if page else None,
            "last_id": page[-1].get("id") if page else None,
        }
    )


def make_app() -> web.Application:
    app = new_app()
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    app.router.add_get("/v1/models", list_models)
    return app
