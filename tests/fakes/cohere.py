"""A fake Cohere v2 API (``/v2/chat``, ``/v2/embed``) speaking the conformance contract.

Native shapes throughout: ``message.content[{type: text}]``, ``tool_calls`` with a
``tool_plan``, ``finish_reason`` COMPLETE / TOOL_CALL / ERROR_TOXIC, usage in ``billed_units``
(what the gateway reports) and ``tokens`` (raw, larger: the chat template counts), typed SSE
events ``message-start`` ... ``message-end``, and ``{"id", "message"}`` error bodies.

``GET /v1/models`` lists ``CATALOG`` paged by ``page_size`` / ``page_token`` with
``next_page_token`` (absent on the last page), at most ``PAGE_CAP`` models a page so paging
is always exercised; an api key holding ``revoked`` gets a 401, one holding ``bad-list`` an
answer that is not JSON.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.contract import (
    FLAKY_STATE,
    REQUESTS,
    TOOL_ARGS_JSON,
    TOOL_NAME,
    Reply,
    Transcript,
    api_key,
    decide,
    error_kind,
    media_type,
    new_app,
    pieces,
    record,
)
from tests.providers.conformance import USAGE

JSON = dict[str, Any]
CALL_ID = "get_weather_fake0001"
TOOL_PLAN = "I will look up the weather in Paris."
TEMPLATE_TOKENS = 200  # Cohere's raw token count includes its prompt template


def _error(message: str) -> JSON:
    return {"id": "0f1e2d3c-fake", "message": message}


#: Cohere's error answers (https://docs.cohere.com/reference/errors)
ERRORS: dict[str, tuple[int, JSON, dict[str, str]]] = {
    "rate_limited": (
        429,
        _error(
            "You are using a Trial key, which is limited to 20 API calls / minute. You can "
            "continue to use the Trial key for free or upgrade to a Production key."
        ),
        {"retry-after": "1"},
    ),
    "auth": (401, _error("invalid api token"), {}),
    "context_length": (
        400,
        _error(
            "too many tokens: total number of tokens in the prompt cannot exceed 128000 - "
            "received 130217. Try using a shorter prompt, or enabling prompt truncating. See "
            "https://docs.cohere.com/reference/chat for more details."
        ),
        {},
    ),
    "server": (
        500,
        _error("internal server error, this has been reported to our developers. id 7f3a"),
        {},
    ),
}


def _usage() -> JSON:
    return {
        "billed_units": {
            "input_tokens": USAGE["prompt_tokens"],
            "output_tokens": USAGE["completion_tokens"],
        },
        "tokens": {
            "input_tokens": USAGE["prompt_tokens"] + TEMPLATE_TOKENS,
            "output_tokens": USAGE["completion_tokens"],
        },
    }


def _text(content: Any) -> str:
    """Text of a string or of text / document blocks (a tool result may be either)."""
    if not isinstance(content, list):
        return content or ""
    out = []
    for part in content:
        if part.get("type") == "document":
            out.append(orjson.dumps((part.get("document") or {}).get("data")).decode())
        else:
            out.append(part.get("text", ""))
    return "".join(out)


def transcript(body: JSON) -> Transcript:
    seen = Transcript()
    for message in body.get("messages") or ():
        role, content = message.get("role"), message.get("content")
        if role == "system":
            seen.system = _text(content)
            continue
        seen.turns += 1
        if role == "user":
            seen.last_user = _text(
                [p for p in content if p.get("type") == "text"]
                if isinstance(content, list)
                else content
            )
            for part in content if isinstance(content, list) else ():
                if part.get("type") == "image_url" and seen.image_type is None:
                    seen.image_type = media_type(part["image_url"]["url"])
        elif role == "tool":
            seen.tool_result = _text(content)
    names = {(t.get("function") or {}).get("name") for t in body.get("tools") or ()}
    seen.offers_tool = TOOL_NAME in names
    fmt = body.get("response_format") or {}
    schema = fmt.get("json_schema")
    seen.wants_json = fmt.get("type") == "json_object" and (
        schema is None or "properties" in schema
    )
    return seen


def _answer(body: JSON, kind: str | None) -> tuple[Reply, str]:
    if kind == "content_filter":  # Cohere refuses in the answer, not with an error status
        return Reply(""), "ERROR_TOXIC"
    reply = decide(str(body.get("model") or ""), transcript(body))
    return reply, "TOOL_CALL" if reply.tool_call else "COMPLETE"


def chat_body(reply: Reply, finish: str) -> JSON:
    message: JSON = {"role": "assistant"}
    if reply.tool_call:
        message["tool_plan"] = TOOL_PLAN
        message["tool_calls"] = [
            {
                "id": CALL_ID,
                "type": "function",
                "function": {"name": TOOL_NAME, "arguments": TOOL_ARGS_JSON},
            }
        ]
    else:
        message["content"] = [{"type": "text", "text": reply.text or ""}]
    return {"id": "c0ffee00-fake", "finish_reason": finish, "message": message, "usage": _usage()}


def events(reply: Reply, finish: str) -> list[JSON]:
    start = {
        "type": "message-start",
        "id": "c0ffee00-fake",
        "delta": {
            "message": {
                "role": "assistant",
                "content": [],
                "tool_plan": "",
                "tool_calls": [],
                "citations": [],
            }
        },
    }
    out: list[JSON] = [start]
    if reply.tool_call:
        out += [
            {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": p}}}
            for p in pieces(TOOL_PLAN, 2)
        ]
        call = {"id": CALL_ID, "type": "function", "function": {"name": TOOL_NAME, "arguments": ""}}
        out.append(
            {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call}}}
        )
        for part in pieces(TOOL_ARGS_JSON):
            fn = {"function": {"arguments": part}}
            out.append(
                {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": fn}}}
            )
        out.append({"type": "tool-call-end", "index": 0})
    elif reply.text:
        first = {"message": {"content": {"type": "text", "text": ""}}}
        out.append({"type": "content-start", "index": 0, "delta": first})
        for part in pieces(reply.text):
            delta = {"message": {"content": {"text": part}}}
            out.append({"type": "content-delta", "index": 0, "delta": delta, "logprobs": None})
        out.append({"type": "content-end", "index": 0})
    end = {"finish_reason": finish, "usage": _usage()}
    out.append({"type": "message-end", "id": "c0ffee00-fake", "delta": end})
    return out


async def _stream(request: web.Request, reply: Reply, finish: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in events(reply, finish):
        await response.write(
            f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n"
        )
        await asyncio.sleep(0)
    await response.write_eof()
    return response


def _refusal(request: web.Request, body: Any) -> web.Response | None:
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        return web.json_response(_error("no api key supplied"), status=401)
    if not isinstance(body, dict) or not body.get("model"):
        return web.json_response(_error("invalid request: model must be specified"), status=400)
    return None


async def chat(request: web.Request) -> web.StreamResponse:
    body = await record(request)
    refused = _refusal(request, body)
    if refused is not None:
        return refused
    model = str(body["model"])
    kind = error_kind(model)
    if kind is None and request.app[FLAKY_STATE].trips(model, api_key(request)):
        kind = "rate_limited"
    if kind in ERRORS:
        status, error, headers = ERRORS[kind]
        return web.json_response(error, status=status, headers=headers)
    reply, finish = _answer(body, kind)
    if body.get("stream"):
        return await _stream(request, reply, finish)
    return web.json_response(chat_body(reply, finish))


def vector(text: str) -> list[float]:
    return [float(len(text)), 0.5, -0.25]


async def embed(request: web.Request) -> web.Response:
    body = await record(request)
    refused = _refusal(request, body)
    if refused is not None:
        return refused
    if not body.get("input_type"):
        message = f"invalid request: input_type is required for {body['model']}"
        return web.json_response(_error(message), status=400)
    texts = body.get("texts") or []
    embeddings: JSON = {}
    for kind in body.get("embedding_types") or ["float"]:
        if kind == "float":
            embeddings["float"] = [vector(t) for t in texts]
        elif kind == "base64":
            embeddings["base64"] = [
                base64.b64encode(struct.pack("<3f", *vector(t))).decode() for t in texts
            ]
    meta = {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 3 * len(texts)}}
    return web.json_response(
        {
            "id": "e1b2c3-fake",
            "embeddings": embeddings,
            "texts": texts,
            "meta": meta,
            "response_type": "embeddings_by_type",
        }
    )


def _model(name: str, endpoints: list[str], context: int) -> JSON:
    return {
        "name": name,
        "endpoints": endpoints,
        "finetuned": False,
        "context_length": context,
        "tokenizer_url": f"https://storage.googleapis.com/cohere-public/tokenizers/{name}.json",
        "default_endpoints": [],
        "features": ["tools", "strict_tools"] if "chat" in endpoints else None,
    }


#: what ``GET /v1/models`` lists, in Cohere's shape
CATALOG: list[JSON] = [
    _model("command-a-03-2025", ["generate", "chat", "summarize"], 256000),
    _model("command-r-plus-08-2024", ["generate", "chat", "summarize"], 128000),
    _model("command-r7b-12-2024", ["generate", "chat", "summarize"], 128000),
    _model("embed-v4.0", ["embed"], 128000),
    _model("rerank-v3.5", ["rerank"], 4096),
]
PAGE_CAP = 2


async def list_models(request: web.Request) -> web.Response:
    request.app[REQUESTS].append((request.path_qs, dict(request.headers), None))
    key = api_key(request)
    if not key or "revoked" in key:
        status, error, _ = ERRORS["auth"]
        return web.json_response(error, status=status)
    try:
        size = int(float(request.query.get("page_size", "20")))
        start = int(request.query.get("page_token", "0"))
    except ValueError:
        return web.json_response(_error("invalid request: bad page_token"), status=400)
    if not 1 <= size <= 1000:
        return web.json_response(_error("invalid request: page_size out of range"), status=400)
    if "bad-list" in key:
        return web.Response(text="<html>upstream proxy error</html>", content_type="text/html")
    page = CATALOG[start : start + min(size, PAGE_CAP)]
    body: JSON = {"models": page}
    if start + len(page) < len(CATALOG):
        body["next_page_token"] = str(start + len(page))
    return web.json_response(body)


def make_app() -> web.Application:
    app = new_app()
    app.router.add_post("/v2/chat", chat)
    app.router.add_post("/v2/embed", embed)
    app.router.add_get("/v1/models", list_models)
    return app
