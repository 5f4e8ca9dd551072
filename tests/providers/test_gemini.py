"""Gemini: the pure translations (request, answer, stream, errors, schema) against examples
shaped like Google's API reference, then the whole path through the gateway with the openai SDK.
Vertex AI's URL and service-account tokens are in test_vertex_ai.py."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai import OpenAI

from portkey.errors import (
    AuthFailed,
    ContextWindowExceeded,
    GatewayError,
    InvalidRequest,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
)
from portkey.formats.gemini.request import build_gemini_request, build_vertex_request
from portkey.formats.gemini.response import classify_error, parse_response
from portkey.formats.gemini.schema import clean_schema
from portkey.formats.gemini.stream import GeminiStreamDecoder
from portkey.providers.base import CHAT, EMBEDDINGS
from tests.fakes import gemini as fake
from tests.fakes.contract import REQUESTS as SEEN
from tests.fakes.runner import AppServer
from tests.support import GatewayServer

USER = {"role": "user", "content": "hi"}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_DECL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "messages": [USER], **fields}


def build(canonical: dict[str, Any]) -> dict[str, Any]:
    return build_gemini_request(CHAT, canonical, {})[1]


def contents(*turns: tuple[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"role": role, "parts": parts} for role, parts in turns]


# -- requests ----------------------------------------------------------------------------

#: canonical -> generateContent pairs, as data (system, turns, media, tools, config...)
REQUESTS = [
    pytest.param(case["canonical"], case["wire"], id=case["id"])
    for case in json.loads((Path(__file__).parent / "gemini" / "chat_requests.json").read_text())
]


@pytest.mark.parametrize(("canonical", "body"), REQUESTS)
def test_chat_request(canonical: dict[str, Any], body: dict[str, Any]) -> None:
    assert build(canonical) == body


@pytest.mark.parametrize(
    ("model", "stream", "path"),
    [
        ("gemini-2.5-flash", False, "/models/gemini-2.5-flash:generateContent"),
        ("models/gemini-2.0-flash-001", False, "/models/gemini-2.0-flash-001:generateContent"),
        ("gemini-2.5-pro", True, "/models/gemini-2.5-pro:streamGenerateContent?alt=sse"),
    ],
)
def test_paths(model: str, stream: bool, path: str) -> None:
    assert build_gemini_request(CHAT, chat(model=model, stream=stream), {})[0] == path
    assert build_vertex_request(CHAT, chat(model=model, stream=stream), {})[0] == path


@pytest.mark.parametrize(
    ("choice", "config", "names"),
    [
        ("auto", {"mode": "AUTO"}, ["get_weather", "now"]),
        ("none", {"mode": "NONE"}, ["get_weather", "now"]),
        (
            {"type": "function", "function": {"name": "now"}},
            {"mode": "ANY", "allowedFunctionNames": ["now"]},
            ["get_weather", "now"],
        ),
        (
            {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [WEATHER]}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
            ["get_weather", "now"],
        ),
        (
            {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [WEATHER]}},
            {"mode": "AUTO"},
            ["get_weather"],
        ),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any], names: list[str]) -> None:
    now = {"type": "function", "function": {"name": "now"}}
    body = build(chat(tools=[WEATHER, now], tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert [d["name"] for d in body["tools"][0]["functionDeclarations"]] == names


@pytest.mark.parametrize(
    ("effort", "budget"),
    [("none", 0), ("minimal", 1024), ("low", 1024), ("medium", 8192), ("high", 24576)],
)
def test_reasoning_effort_table(effort: str, budget: int) -> None:
    config = build(chat(reasoning_effort=effort))["generationConfig"]
    assert config == {"thinkingConfig": {"thinkingBudget": budget}}


@pytest.mark.parametrize(
    ("canonical", "param"),
    [
        (chat(logit_bias={"1": 2}), "logit_bias"),  # the params table drops it before us
        (chat(reasoning_effort="maximal"), "reasoning_effort"),
        (chat(model="../../v1/files"), "model"),
        (chat(model=""), "model"),
        (chat(messages=[]), "messages"),
        (chat(messages=[{"role": "function", "content": "x"}]), "messages"),
        (chat(messages=[{"role": "tool", "tool_call_id": "nope", "content": "x"}]), "messages"),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "https://x.test/img"}}
                        ],
                    }
                ]
            ),
            "messages",
        ),
        (
            chat(
                messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]
            ),
            "messages",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "assistant",
                        "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "[1]"}}],
                    }
                ]
            ),
            "messages",
        ),
        (chat(tools=[{"type": "web_search"}]), "tools"),
        (chat(tool_choice="required"), "tool_choice"),
        (chat(tools=[WEATHER], tool_choice={"type": "custom"}), "tool_choice"),
        (chat(tools=[WEATHER], tool_choice={"type": "function", "function": "x"}), "tool_choice"),
        (
            chat(tools=[WEATHER], tool_choice={"type": "allowed_tools", "allowed_tools": 1}),
            "tool_choice",
        ),
        (chat(tools=[WEATHER], tool_choice=["auto"]), "tool_choice"),
        (chat(response_format={"type": "grammar"}), "response_format"),
        (
            chat(
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": "tree",
                        "schema": {
                            "$defs": {
                                "node": {
                                    "type": "object",
                                    "properties": {
                                        "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}
                                    },
                                }
                            },
                            "$ref": "#/$defs/node",
                        },
                    },
                }
            ),
            "response_format",
        ),
    ],
)
def test_chat_request_rejections_name_the_parameter(canonical: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        build(canonical)
    assert info.value.param == param


SCHEMAS = [
    pytest.param(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"a": {"type": ["string", "null"]}},
        },
        {"type": "object", "properties": {"a": {"type": "string", "nullable": True}}},
        id="type-list-null",
    ),
    pytest.param(
        {
            "type": "object",
            "properties": {"additionalProperties": {"type": "integer", "examples": [1]}},
        },
        {"type": "object", "properties": {"additionalProperties": {"type": "integer"}}},
        id="property-names-are-not-keywords",
    ),
    pytest.param(
        {
            "$defs": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "type": "object",
            "properties": {
                "pet": {"$ref": "#/$defs/Pet"},
                "pets": {"type": "array", "items": {"allOf": [{"$ref": "#/$defs/Pet"}]}},
            },
        },
        {
            "type": "object",
            "properties": {
                "pet": {"type": "object", "properties": {"name": {"type": "string"}}},
                "pets": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
            },
        },
        id="refs-inlined",
    ),
    pytest.param(
        {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}], "const": "x"},
        {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True, "enum": ["x"]},
        id="oneof-nullable-const",
    ),
    pytest.param(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}], "description": "d"},
        {"type": "string", "format": "date", "description": "d", "nullable": True},
        id="optional-collapses",
    ),
]


@pytest.mark.parametrize(("schema", "cleaned"), SCHEMAS)
def test_clean_schema(schema: dict[str, Any], cleaned: dict[str, Any]) -> None:
    assert clean_schema(schema) == cleaned


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/definitions/missing"},
        {"$ref": "https://example.com/schema.json"},
        {"allOf": [{"type": "string"}, {"minLength": 1}]},
    ],
)
def test_schemas_gemini_cannot_take(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        clean_schema(schema)


@pytest.mark.parametrize(
    ("build_request", "path", "body"),
    [
        (
            build_gemini_request,
            "/models/gemini-embedding-001:batchEmbedContents",
            {
                "requests": [
                    {
                        "model": "models/gemini-embedding-001",
                        "outputDimensionality": 8,
                        "content": {"parts": [{"text": t}]},
                    }
                    for t in ("a", "bc")
                ]
            },
        ),
        (
            build_vertex_request,
            "/models/gemini-embedding-001:predict",
            {
                "instances": [{"content": "a"}, {"content": "bc"}],
                "parameters": {"outputDimensionality": 8},
            },
        ),
    ],
)
def test_embedding_requests(build_request: Any, path: str, body: dict[str, Any]) -> None:
    canonical = {
        "model": "gemini-embedding-001",
        "input": ["a", "bc"],
        "dimensions": 8,
        "encoding_format": "base64",
    }
    assert build_request(EMBEDDINGS, canonical, {}) == (path, body)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"input": [1, 2, 3]}, "input"),
        ({"input": []}, "input"),
        ({"dimensions": 0}, "dimensions"),
        ({"encoding_format": "int8"}, "encoding_format"),
        ({"task": "x"}, "task"),
    ],
)
def test_embedding_rejections(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        build_gemini_request(EMBEDDINGS, {"model": "e", "input": "x", **fields}, {})
    assert info.value.param == param


# -- answers -----------------------------------------------------------------------------

TEXT_ANSWER = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "Let me think.", "thought": True},
                    {"text": "1+1 equals "},
                    {"text": "2.", "thoughtSignature": "EjQK"},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 15,
        "candidatesTokenCount": 6,
        "thoughtsTokenCount": 20,
        "cachedContentTokenCount": 4,
        "totalTokenCount": 41,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "Il0taoSYJ5Cez7",
}


def test_text_answer_with_usage() -> None:
    answer = parse_response(CHAT, TEXT_ANSWER)
    assert answer["id"] == "chatcmpl-Il0taoSYJ5Cez7"
    assert answer["object"] == "chat.completion"
    assert isinstance(answer["created"], int)
    assert answer["model"] == "gemini-2.5-flash"
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "1+1 equals 2.",
                "reasoning_content": "Let me think.",
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert answer["usage"] == {
        "prompt_tokens": 15,
        "completion_tokens": 26,
        "total_tokens": 41,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }


def test_function_call_answer() -> None:
    wire = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": "CiQB",
                        },
                        {"functionCall": {"name": "now", "id": "fc-7"}},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    choice = parse_response(CHAT, wire)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    first, second = choice["message"]["tool_calls"]
    assert first["id"].startswith("call_") and len(first["id"]) > 10
    assert first["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert first["extra_content"] == {"google": {"thought_signature": "CiQB"}}
    assert second["id"] == "fc-7"
    assert second["function"] == {"name": "now", "arguments": "{}"}
    assert "extra_content" not in second


@pytest.mark.parametrize(
    ("native", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons(native: str | None, finish: str) -> None:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": "x"}]}}
    if native:
        candidate["finishReason"] = native
    assert (
        parse_response(CHAT, {"candidates": [candidate]})["choices"][0]["finish_reason"] == finish
    )


def test_blocked_prompt_is_an_empty_filtered_answer() -> None:
    wire = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}
    answer = parse_response(CHAT, wire)
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": ""}
    assert answer["choices"][0]["finish_reason"] == "content_filter"
    assert answer["usage"]["prompt_tokens"] == 5


def test_several_candidates() -> None:
    wire = {
        "candidates": [
            {"index": 0, "content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"},
            {"index": 1, "content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS"},
        ]
    }
    choices = parse_response(CHAT, wire)["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "a", "stop"),
        (1, "b", "length"),
    ]


@pytest.mark.parametrize(
    "wire",
    [
        {"candidates": []},
        {"usageMetadata": {}},
        {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}},
        {"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]},
    ],
)
def test_unreadable_answers_are_upstream_bad_responses(wire: dict[str, Any]) -> None:
    with pytest.raises(UpstreamBadResponse):
        parse_response(CHAT, wire)


@pytest.mark.parametrize(
    ("wire", "tokens"),
    [
        ({"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]}, 0),
        (
            {
                "predictions": [
                    {
                        "embeddings": {
                            "values": [0.1, 0.2],
                            "statistics": {"token_count": 3, "truncated": False},
                        }
                    },
                    {"embeddings": {"values": [0.3, 0.4], "statistics": {"token_count": 2.0}}},
                ]
            },
            5,
        ),
    ],
)
def test_embedding_answers(wire: dict[str, Any], tokens: int) -> None:
    answer = parse_response(EMBEDDINGS, wire)
    assert answer["object"] == "list"
    assert [d["embedding"] for d in answer["data"]] == [[0.1, 0.2], [0.3, 0.4]]
    assert [d["index"] for d in answer["data"]] == [0, 1]
    assert answer["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


@pytest.mark.parametrize("wire", [{}, {"embeddings": [{"values": None}]}, {"predictions": [{}]}])
def test_embedding_answer_without_vectors_is_bad(wire: dict[str, Any]) -> None:
    with pytest.raises(UpstreamBadResponse):
        parse_response(EMBEDDINGS, wire)


def google_error(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


@pytest.mark.parametrize(
    ("status", "body", "kind", "http", "retry"),
    [
        (
            429,
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded",
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"},
            ),
            RateLimited,
            429,
            26.0,
        ),
        (
            400,
            google_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
            ),
            AuthFailed,
            401,
            None,
        ),
        (401, google_error(401, "UNAUTHENTICATED", "bad token"), AuthFailed, 401, None),
        (403, google_error(403, "PERMISSION_DENIED", "denied"), AuthFailed, 403, None),
        (
            400,
            google_error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200011) exceeds the maximum number of tokens allowed (1048576).",
            ),
            ContextWindowExceeded,
            400,
            None,
        ),
        (400, google_error(400, "INVALID_ARGUMENT", "bad field"), UpstreamError, 400, None),
        (404, google_error(404, "NOT_FOUND", "models/x is not found"), UpstreamError, 404, None),
        (500, google_error(500, "INTERNAL", "internal"), UpstreamError, 500, None),
        (503, google_error(503, "UNAVAILABLE", "overloaded"), UpstreamError, 503, None),
        (504, google_error(504, "DEADLINE_EXCEEDED", "deadline"), UpstreamTimeout, 504, None),
        (502, None, UpstreamError, 502, None),
    ],
)
def test_classify_error(
    status: int,
    body: dict[str, Any] | None,
    kind: type[GatewayError],
    http: int,
    retry: float | None,
) -> None:
    error = classify_error(status, body, None)
    assert type(error) is kind
    assert error.http_status == http
    assert error.retry_after == retry
    if body:
        assert error.message == body["error"]["message"]


def test_retry_after_header_wins_over_retry_info() -> None:
    body = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "q",
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"},
    )
    assert classify_error(429, body, 2.0).retry_after == 2.0


# -- streams -----------------------------------------------------------------------------


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


def text_event(text: str, finish: str | None = None, **extra: Any) -> bytes:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "index": 0,
    }
    if finish:
        candidate["finishReason"] = finish
    return event(
        {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r1", **extra}
    )


USAGE_META = {"promptTokenCount": 11, "candidatesTokenCount": 7, "totalTokenCount": 18}
TEXT_STREAM = (
    text_event("Hel", usageMetadata={"promptTokenCount": 11, "totalTokenCount": 11})
    + text_event("lo")
    + text_event("!", "STOP", usageMetadata=USAGE_META)
)


def decode(data: bytes, step: int = 0, **canonical: Any) -> list[Any]:
    decoder = GeminiStreamDecoder({"model": "gemini-2.5-flash", **canonical})
    out = b""
    if step:
        for i in range(0, len(data), step):
            out += decoder.feed(data[i : i + step])
    else:
        out += decoder.feed(data)
    out += decoder.close()
    assert out == b"" or out.endswith(b"\n\n")
    return [
        "[DONE]" if e == b"data: [DONE]" else orjson.loads(e.removeprefix(b"data: "))
        for e in out.split(b"\n\n")
        if e
    ]


def deltas(events: list[Any]) -> list[Any]:
    return [e["choices"][0]["delta"] for e in events if e != "[DONE]" and e["choices"]]


@pytest.mark.parametrize("step", [0, 1, 7, 64])
def test_text_stream_across_any_chunking(step: int) -> None:
    events = decode(TEXT_STREAM, step)
    assert events[-1] == "[DONE]"
    assert deltas(events) == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {"content": "!"},
        {},
    ]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    first = events[0]
    assert first["object"] == "chat.completion.chunk"
    assert first["id"] == "chatcmpl-r1" and first["model"] == "gemini-2.5-flash"
    assert isinstance(first["created"], int)
    assert all("usage" not in e for e in events if e != "[DONE]")


def test_usage_chunk_only_when_asked() -> None:
    events = decode(TEXT_STREAM, stream_options={"include_usage": True})
    usage = events[-2]
    assert usage["choices"] == []
    assert usage["usage"]["prompt_tokens"] == 11
    assert usage["usage"]["completion_tokens"] == 7
    assert usage["usage"]["total_tokens"] == 18


def test_tool_stream() -> None:
    call = {
        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
        "thoughtSignature": "sig",
    }
    data = event(
        {"candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP"}]}
    )
    events = decode(data)
    tool = deltas(events)[1]["tool_calls"][0]
    assert tool["index"] == 0 and tool["type"] == "function"
    assert tool["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert tool["extra_content"] == {"google": {"thought_signature": "sig"}}
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-1] == "[DONE]"


@pytest.mark.parametrize(
    ("data", "finish"),
    [
        (event({"candidates": [{"finishReason": "SAFETY", "index": 0}]}), "content_filter"),
        (event({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}), "content_filter"),
        (text_event("x", "MAX_TOKENS"), "length"),
    ],
)
def test_streams_that_end_filtered_or_cut_by_length(data: bytes, finish: str) -> None:
    events = decode(data)
    assert events[-2]["choices"][0]["finish_reason"] == finish
    assert events[-1] == "[DONE]"


def test_stream_without_finish_reason_never_says_done() -> None:
    events = decode(text_event("Hel") + text_event("lo"))
    assert "[DONE]" not in events
    assert [d.get("content") for d in deltas(events)] == ["", "Hel", "lo"]


def test_last_event_without_its_blank_line_still_counts() -> None:
    events = decode(TEXT_STREAM.removesuffix(b"\r\n\r\n"))
    assert events[-1] == "[DONE]"


def test_unknown_events_and_comments_are_skipped() -> None:
    data = b": keep-alive\r\n\r\n" + event({"somethingNew": 1}) + TEXT_STREAM
    assert decode(data)[-1] == "[DONE]"


def test_error_event_is_passed_in_band_and_never_done() -> None:
    data = text_event("Hel") + event(google_error(503, "UNAVAILABLE", "The model is overloaded."))
    data += text_event("lo", "STOP")
    events = decode(data)
    assert events[-1]["error"]["message"] == "The model is overloaded."
    assert "[DONE]" not in events


@pytest.mark.parametrize(
    "data",
    [
        b"data: {not json\r\n\r\n",
        b"data: [1, 2]\r\n\r\n",
        TEXT_STREAM[:-30],  # cut in the middle of the last event
    ],
)
def test_malformed_events_are_upstream_bad_responses(data: bytes) -> None:
    decoder = GeminiStreamDecoder({"model": "m"})
    with pytest.raises(UpstreamBadResponse):
        decoder.feed(data)
        decoder.close()


def test_malformed_event_after_text_keeps_the_text() -> None:
    events = decode(text_event("Hel") + b"data: {oops\r\n\r\n" + text_event("lo", "STOP"))
    assert [d.get("content") for d in deltas(events[:-1])] == ["", "Hel"]
    assert "not JSON" in events[-1]["error"]["message"]
    assert "[DONE]" not in events


# -- through the gateway -----------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[AppServer]:
    with AppServer(fake.make_app()) as server:
        yield server


def google_client(gateway: GatewayServer, upstream: AppServer, **config: Any) -> OpenAI:
    target = {
        "provider": "google",
        "custom_host": upstream.url + "/v1beta",
        "api_key": "AIza-k",
        **config,
    }
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-gateway",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target)},
    )


def test_sdk_embeddings_google(gateway: GatewayServer, upstream: AppServer) -> None:
    answer = google_client(gateway, upstream).embeddings.create(
        model="gemini-embedding-001", input=["hi", "hello"], dimensions=2
    )
    assert [d.embedding for d in answer.data] == [[2.0, 0.5], [5.0, 0.5]]
    assert answer.model == "gemini-embedding-001"
    path, _headers, body = upstream.app[SEEN][-1]
    assert path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert body["requests"][1]["outputDimensionality"] == 2


def test_dropped_and_rejected_parameters(gateway: GatewayServer, upstream: AppServer) -> None:
    client = google_client(gateway, upstream)
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[USER], logit_bias={"1": 1}, user="u-1", temperature=0.3
    )
    assert raw.parse().choices[0].message.content == "sys=-;turns=1;last=hi"
    warnings = raw.headers["x-portkey-warnings"]
    assert "logit_bias dropped for google" in warnings and "user dropped for google" in warnings
    _path, _headers, body = upstream.app[SEEN][-1]
    assert body["generationConfig"] == {"temperature": 0.3}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", messages=[USER], modalities=["audio"])
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "modalities"


@pytest.mark.parametrize("model", ["cut", "garbage", "midstream-error"])
def test_broken_streams_end_in_an_error(
    gateway: GatewayServer, upstream: AppServer, model: str
) -> None:
    stream = google_client(gateway, upstream).chat.completions.create(
        model=model, messages=[USER], stream=True
    )
    text = ""
    with pytest.raises(openai.APIError):
        for chunk in stream:
            text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    assert text.startswith("sys")  # what came before the break was delivered


def test_retry_delay_from_the_body_reaches_the_client(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        google_client(gateway, upstream).chat.completions.create(
            model="retry-info", messages=[USER]
        )
    assert info.value.response.headers.get("retry-after") == "3"


# -- whatever arrives, only errors the gateway classifies escape -------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
#: field names the native and canonical shapes use, so generated data reaches deep code paths
FIELDS = (
    "candidates content parts text functionCall name args finishReason usageMetadata "
    "promptFeedback blockReason error index embeddings values predictions role tool_calls "
    "function type image_url url tool_call_id"
)
KEYS = st.sampled_from(FIELDS.split())
SHAPED = st.recursive(
    st.none()
    | st.integers(-1000, 1000)
    | st.sampled_from(["STOP", "SAFETY", "x", "user", "tool", "assistant"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=16,
)
#: what the router turns into a classified upstream error (translate_answer, decoded)
HANDLED = (GatewayError, ValueError, KeyError, TypeError, IndexError, AttributeError)


@settings(max_examples=150, deadline=None)
@given(
    wire=st.dictionaries(KEYS, SHAPED | JSONISH, max_size=4),
    route=st.sampled_from([CHAT, EMBEDDINGS]),
)
def test_any_answer_is_translated_or_classified(wire: dict[str, Any], route: str) -> None:
    with contextlib.suppress(*HANDLED):
        parse_response(route, wire)


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(st.dictionaries(KEYS, SHAPED, max_size=4), max_size=4), cut=st.integers(0, 40)
)
def test_any_stream_is_translated_or_classified(events: list[dict[str, Any]], cut: int) -> None:
    data = b"".join(event(e) for e in events)
    decoder = GeminiStreamDecoder({"model": "m"})
    try:
        out = decoder.feed(data[: len(data) - cut]) + decoder.close()
    except HANDLED:
        return
    assert out.count(b"data: [DONE]") <= 1


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(SHAPED, min_size=1, max_size=4),
    extra=st.dictionaries(KEYS, SHAPED, max_size=2),
)
def test_any_request_is_built_or_refused(messages: list[Any], extra: dict[str, Any]) -> None:
    with contextlib.suppress(InvalidRequest, KeyError, TypeError, ValueError):  # prepare(): 400
        build(chat(messages=messages, **extra))
