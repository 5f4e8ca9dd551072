"""A contract-speaking fake of OpenAI's Chat Completions wire format: the conformance reference.

Serves ``POST <prefix>/chat/completions`` with ``Authorization: Bearer`` (OpenAI, and hosts that
speak its format such as Groq, under any prefix) and Azure's
``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` with ``api-key``.
JSON answers and SSE streams as OpenAI writes them: json_schema honoured, tool calls, image
parts, usage (streamed only with ``stream_options.include_usage``), native error bodies.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.contract import (
    FLAKY_STATE,
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
ErrorSpec = tuple[int, JSON, Mapping[str, str]]
AZURE_PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")
CALL_ID = "call_fake_weather_0001"


def _error(message: str, kind: str | None, code: str | None, param: str | None = None) -> JSON:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


#: OpenAI's own error bodies (https://platform.openai.com/docs/guides/error-codes)
OPENAI_ERRORS: dict[str, ErrorSpec] = {
    "rate_limited": (
        429,
        _error(
            "Rate limit reached for gpt-4o in organization org-fake on requests per min "
            "(RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.",
            "requests",
            "rate_limit_exceeded",
        ),
        {"retry-after": "1", "x-ratelimit-limit-requests": "3"},
    ),
    "auth": (
        401,
        _error(
            "Incorrect API key provided: sk-fake. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        {},
    ),
    "context_length": (
        400,
        _error(
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 130017 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
        {},
    ),
    "content_filter": (
        400,
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure "
                "OpenAI's content management policy.",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {"violence": {"filtered": True, "severity": "high"}},
                },
            }
        },
        {},
    ),
    "server": (
        500,
        _error(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        {},
    ),
}
#: Azure answers some errors in its own envelope
AZURE_ERRORS: dict[str, ErrorSpec] = {
    **OPENAI_ERRORS,
    "rate_limited": (
        429,
        {
            "error": {
                "code": "429",
                "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI "
                "API version 2024-10-21 have exceeded token rate limit of your current "
                "OpenAI S0 pricing tier. Please retry after 1 second.",
            }
        },
        {"retry-after": "1"},
    ),
    "auth": (
        401,
        {
            "error": {
                "code": "401",
                "message": "Access denied due to invalid subscription key or wrong API "
                "endpoint. Make sure to provide a valid key for an active subscription and use "
                "a correct regional API endpoint for your resource.",
            }
        },
        {},
    ),
}


def text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return content or ""


def transcript(body: JSON) -> Transcript:
    seen = Transcript()
    for message in body.get("messages") or ():
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            seen.system = text_of(content)
            continue
        seen.turns += 1
        if role == "user":
            seen.last_user = text_of(content)
            for part in content if isinstance(content, list) else ():
                if part.get("type") == "image_url" and seen.image_type is None:
                    seen.image_type = media_type(part["image_url"]["url"])
        elif role == "tool":
            seen.tool_result = text_of(content)
    names = {(t.get("function") or {}).get("name") for t in body.get("tools") or ()}
    seen.offers_tool = TOOL_NAME in names
    seen.wants_json = _wants_json(body.get("response_format"))
    return seen


def _wants_json(fmt: Any) -> bool:
    if not isinstance(fmt, dict):
        return False
    if fmt.get("type") == "json_object":
        return True
    schema = fmt.get("json_schema") or {}
    return fmt.get("type") == "json_schema" and bool(schema.get("name")) and "schema" in schema


def _usage() -> JSON:
    return {
        **USAGE,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def completion(model: str, reply: Reply) -> JSON:
    message: JSON = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_call:
        message["tool_calls"] = [
            {
                "id": CALL_ID,
                "type": "function",
                "function": {"name": TOOL_NAME, "arguments": TOOL_ARGS_JSON},
            }
        ]
    return {
        "id": "chatcmpl-fake0001",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish}
        ],
        "usage": _usage(),
    }


def chunks(model: str, reply: Reply, include_usage: bool) -> list[JSON]:
    base = {
        "id": "chatcmpl-fake0001",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
    }
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: JSON, finish: str | None = None) -> JSON:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice], **extra}

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    if reply.tool_call:
        start = {"index": 0, "id": CALL_ID, "type": "function"}
        out.append(
            chunk({"tool_calls": [{**start, "function": {"name": TOOL_NAME, "arguments": ""}}]})
        )
        for part in pieces(TOOL_ARGS_JSON):
            out.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
    else:
        out.extend(chunk({"content": part}) for part in pieces(reply.text or ""))
    out.append(chunk({}, reply.finish))
    if include_usage:
        out.append({**base, "choices": [], "usage": _usage()})
    return out


def error_response(spec: ErrorSpec) -> web.Response:
    status, body, headers = spec
    return web.json_response(body, status=status, headers=dict(headers))


async def respond(
    request: web.Request, body: JSON, errors: Mapping[str, ErrorSpec]
) -> web.StreamResponse:
    """Answer one OpenAI-format chat request by the contract; ``errors`` are the host's own."""
    model = str(body.get("model") or "")
    kind = error_kind(model)
    if kind is None and request.app[FLAKY_STATE].trips(model, api_key(request)):
        kind = "rate_limited"
    if kind is not None:
        return error_response(errors[kind])
    reply = decide(model, transcript(body))
    if not body.get("stream"):
        return web.json_response(completion(model, reply))
    options = body.get("stream_options") or {}
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    for chunk in chunks(model, reply, bool(options.get("include_usage"))):
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await asyncio.sleep(0)
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def handle(request: web.Request) -> web.StreamResponse:
    azure = AZURE_PATH.match(request.path)
    if azure is not None:
        if "api-version" not in request.query:
            return web.json_response(
                {"error": {"code": "404", "message": "Resource not found"}}, status=404
            )
        if not request.headers.get("api-key"):
            return error_response(AZURE_ERRORS["auth"])
        errors = AZURE_ERRORS
    elif request.path.endswith("/chat/completions"):
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return error_response(OPENAI_ERRORS["auth"])
        errors = OPENAI_ERRORS
    else:
        message = f"Invalid URL (POST {request.path})"
        return web.json_response(_error(message, "invalid_request_error", None), status=404)
    try:
        body = await record(request)
    except ValueError:
        return web.json_response(
            _error(
                "We could not parse the JSON body of your request.", "invalid_request_error", None
            ),
            status=400,
        )
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        message = "Missing required parameter: 'messages'."
        return web.json_response(
            _error(message, "invalid_request_error", "missing_required_parameter", "messages"),
            status=400,
        )
    return await respond(request, body, errors)


def make_app() -> web.Application:
    app = new_app()
    app.router.add_post("/{tail:.*}", handle)
    return app
