"""Anthropic Messages: request, response and stream translation, errors, and the gateway end to end.

Wire examples follow Anthropic's API reference (https://docs.anthropic.com/en/api/messages,
/en/docs/build-with-claude/streaming, /en/docs/agents-and-tools/tool-use, /en/api/errors).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest
from openai import OpenAI
from openai.types.chat import completion_create_params

from portkey.errors import (
    AuthFailed,
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    InvalidRequest,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from portkey.formats.anthropic import AnthropicStreamDecoder, build_request, parse_response
from portkey.formats.anthropic.request import CHAT_FIELDS, DEFAULT_MAX_TOKENS, JSON_TOOL_PREFIX
from portkey.providers.anthropic import PARAMS, SPEC, classify_error
from portkey.providers.base import CHAT, EMBEDDINGS, ParamAction
from tests.fakes import anthropic as fake
from tests.fakes.contract import REQUESTS
from tests.fakes.runner import AppServer
from tests.support import GatewayServer

USER = {"role": "user", "content": "Hello, world"}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
CACHE = {"type": "ephemeral"}
PARAMETERS = {"type": "object", "properties": {"location": {"type": "string"}}}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}
WIRE_WEATHER = {"name": "get_weather", "input_schema": PARAMETERS}
ARGS = '{"location": "San Francisco, CA"}'
CALL = {
    "id": "toolu_01A",
    "type": "function",
    "function": {"name": "get_weather", "arguments": ARGS},
}
USE = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": json.loads(ARGS)}
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
VERDICT = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA}}
JSON_NAME = JSON_TOOL_PREFIX + "verdict"
VERDICT_TOOL = {
    "name": JSON_NAME,
    "description": "Give your answer as the 'verdict' JSON object: the input of this tool.",
    "input_schema": SCHEMA,
}
OBJECT_TOOL = {
    "name": JSON_TOOL_PREFIX + "object",
    "description": "Give your answer as a JSON object: the input of this tool.",
    "input_schema": {"type": "object"},
}


def chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "messages": list(messages), **fields}


def wire(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "messages": list(messages), "max_tokens": 4096, **fields}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def says(*parts: dict[str, Any], role: str = "user") -> dict[str, Any]:
    """A message of content parts (canonical) or blocks (wire)."""
    return {"role": role, "content": list(parts)}


def source(kind: str, **fields: str) -> dict[str, Any]:
    return {"type": kind, "source": fields}


WIRE_USER = says(text("Hello, world"))
PDF = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JV"}}

# -- requests: canonical -> wire -----------------------------------------------------------

REQUEST_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("plain chat gets the default max_tokens", chat(USER), wire(WIRE_USER)),
    (
        "one system message is the system string",
        chat({"role": "system", "content": "be brief"}, USER),
        wire(WIRE_USER, system="be brief"),
    ),
    (
        "system and developer messages, wherever they stand, become system blocks",
        chat(
            {"role": "system", "content": "be brief"},
            USER,
            says(text("no emoji"), role="developer"),
        ),
        wire(WIRE_USER, system=[text("be brief"), text("no emoji")]),
    ),
    (
        "sampling: stop becomes stop_sequences, max_completion_tokens wins, user is metadata",
        chat(USER, temperature=0.3, top_p=0.9, top_k=40, stop="END", max_tokens=50)
        | {"max_completion_tokens": 100, "n": 1, "user": "u-1", "modalities": ["text"]},
        wire(WIRE_USER, max_tokens=100, temperature=0.3, top_p=0.9, top_k=40)
        | {"stop_sequences": ["END"], "metadata": {"user_id": "u-1"}},
    ),
    (
        "safety_identifier is the user id when user is absent; an empty stop list is omitted",
        chat(USER, safety_identifier="hash-1", stop=[], max_tokens=10),
        wire(WIRE_USER, max_tokens=10, metadata={"user_id": "hash-1"}),
    ),
    (
        "streaming: stream_options stay with the decoder",
        chat(USER, stream=True, stream_options={"include_usage": True}),
        wire(WIRE_USER, stream=True),
    ),
    (
        "images: data URLs are base64 sources, web URLs url sources; cache_control is kept",
        chat(
            says(
                text("Compare", cache_control=CACHE),
                image_part(f"data:image/jpg;base64,{PIXEL}"),
                image_part("https://example.com/a.png"),
                text(""),
            )
        ),
        wire(
            says(
                text("Compare", cache_control=CACHE),
                source("image", type="base64", media_type="image/jpeg", data=PIXEL),
                source("image", type="url", url="https://example.com/a.png"),
            )
        ),
    ),
    (
        "a PDF file part is a document block",
        chat(says(PDF)),
        wire(
            says(
                source("document", type="base64", media_type="application/pdf", data="JV")
                | {"title": "a.pdf"}
            )
        ),
    ),
    (
        "tool round trip: tool_use blocks, tool results merged into one user turn",
        chat(
            USER,
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [CALL, CALL | {"id": "t2"}],
            },
            {"role": "tool", "tool_call_id": CALL["id"], "content": "15 degrees"},
            {"role": "tool", "tool_call_id": "t2", "content": [text("sunny")]},
            {"role": "user", "content": "and tomorrow?"},
            tools=[WEATHER],
        ),
        wire(
            WIRE_USER,
            says(text("Let me check."), USE, USE | {"id": "t2"}, role="assistant"),
            says(
                {"type": "tool_result", "tool_use_id": CALL["id"], "content": "15 degrees"},
                {"type": "tool_result", "tool_use_id": "t2", "content": [text("sunny")]},
                text("and tomorrow?"),
            ),
            tools=[WIRE_WEATHER],
        ),
    ),
    (
        "consecutive user turns merge; an empty assistant turn is left out",
        chat(USER, {"role": "assistant", "content": ""}, {"role": "user", "content": "again"}),
        wire(says(text("Hello, world"), text("again"))),
    ),
    (
        "a final assistant turn is a prefill; refusal parts are text",
        chat(USER, says({"type": "refusal", "refusal": "No"}, role="assistant")),
        wire(WIRE_USER, says(text("No"), role="assistant")),
    ),
    (
        "tool_choice required is any; parallel_tool_calls false disables parallel use",
        chat(USER, tools=[WEATHER], tool_choice="required", parallel_tool_calls=False),
        wire(
            WIRE_USER,
            tools=[WIRE_WEATHER],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
        ),
    ),
    (
        "parallel_tool_calls false alone is auto without parallel use",
        chat(USER, tools=[WEATHER], parallel_tool_calls=False),
        wire(
            WIRE_USER,
            tools=[WIRE_WEATHER],
            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        ),
    ),
    (
        "a named function is a tool choice; description, strict and cache_control are kept",
        chat(
            USER,
            tools=[
                {
                    "type": "function",
                    "function": WEATHER["function"] | {"strict": True, "description": "Weather"},
                    "cache_control": CACHE,
                }
            ],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        ),
        wire(
            WIRE_USER,
            tools=[
                WIRE_WEATHER | {"description": "Weather", "strict": True, "cache_control": CACHE}
            ],
            tool_choice={"type": "tool", "name": "get_weather"},
        ),
    ),
    (
        "tool_choice none",
        chat(USER, tools=[WEATHER], tool_choice="none", parallel_tool_calls=False),
        wire(WIRE_USER, tools=[WIRE_WEATHER], tool_choice={"type": "none"}),
    ),
    (
        "tool_choice auto without tools sends nothing",
        chat(USER, tool_choice="auto"),
        wire(WIRE_USER),
    ),
    (
        "json_schema is a forced tool named after the schema",
        chat(USER, response_format=VERDICT),
        wire(WIRE_USER, tools=[VERDICT_TOOL], tool_choice={"type": "tool", "name": JSON_NAME}),
    ),
    (
        "json_object is a forced tool taking any object",
        chat(USER, response_format={"type": "json_object"}),
        wire(
            WIRE_USER,
            tools=[OBJECT_TOOL],
            tool_choice={"type": "tool", "name": OBJECT_TOOL["name"]},
        ),
    ),
    (
        "json_schema beside user tools: any tool, so the answer may be a call or the JSON",
        chat(USER, tools=[WEATHER], response_format=VERDICT),
        wire(WIRE_USER, tools=[WIRE_WEATHER, VERDICT_TOOL], tool_choice={"type": "any"}),
    ),
    (
        "json_schema with tool_choice none: the JSON tool is forced",
        chat(USER, tools=[WEATHER], tool_choice="none", response_format=VERDICT),
        wire(
            WIRE_USER,
            tools=[WIRE_WEATHER, VERDICT_TOOL],
            tool_choice={"type": "tool", "name": JSON_NAME},
        ),
    ),
    (
        "response_format text is the default",
        chat(USER, response_format={"type": "text"}),
        wire(WIRE_USER),
    ),
    (
        "reasoning_effort is a thinking budget, on top of the default max_tokens",
        chat(USER, reasoning_effort="medium"),
        wire(WIRE_USER, max_tokens=DEFAULT_MAX_TOKENS + 8192)
        | {"thinking": {"type": "enabled", "budget_tokens": 8192}},
    ),
    (
        "reasoning_effort none is no thinking",
        chat(USER, reasoning_effort="none", max_tokens=64),
        wire(WIRE_USER, max_tokens=64),
    ),
    (
        "a native thinking object passes as given",
        chat(USER, thinking={"type": "enabled", "budget_tokens": 2000}, max_tokens=3000),
        wire(WIRE_USER, max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 2000}),
    ),
]


@pytest.mark.parametrize(
    ("canonical", "expected"), [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES]
)
def test_chat_request(canonical: dict[str, Any], expected: dict[str, Any]) -> None:
    assert build_request(CHAT, canonical, {}) == ("/messages", expected)


def one_part(part: dict[str, Any]) -> dict[str, Any]:
    return chat(says(part))


def bad_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return chat(USER, response_format={"type": "json_schema", "json_schema": schema})


def tool_named(name: str) -> dict[str, Any]:
    return chat(USER, tools=[{"type": "function", "function": {"name": name}}])


BAD_CALL = CALL | {"function": {"name": "f", "arguments": "[1]"}}
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("n > 1", chat(USER, n=2), "n"),
    ("unknown field", chat(USER, frobnicate=1), "frobnicate"),
    ("no model", {"messages": [USER]}, "model"),
    ("audio out", chat(USER, modalities=["text", "audio"]), "modalities"),
    ("temperature above 1", chat(USER, temperature=1.5), "temperature"),
    ("max_tokens not a number", chat(USER, max_tokens="9"), "max_tokens"),
    ("bad stop", chat(USER, stop=[1]), "stop"),
    ("bad user", chat(USER, user=7), "user"),
    ("no messages", chat(), "messages"),
    ("unknown role", chat({"role": "function", "content": "x"}), "messages"),
    ("empty user turn", chat({"role": "user", "content": ""}), "messages"),
    ("tiff image", one_part(image_part("data:image/tiff;base64,AA")), "messages"),
    ("image not base64", one_part(image_part("data:image/png,AA")), "messages"),
    ("ftp image", one_part(image_part("ftp://h/a.png")), "messages"),
    ("audio input", one_part({"type": "input_audio", "input_audio": {"data": "AA"}}), "messages"),
    ("file by id", one_part({"type": "file", "file": {"file_id": "file-1"}}), "messages"),
    ("image in a system turn", chat(says(image_part(PIXEL), role="system"), USER), "messages"),
    (
        "arguments not an object",
        chat(USER, {"role": "assistant", "tool_calls": [BAD_CALL]}),
        "messages",
    ),
    ("tool message without id", chat(USER, {"role": "tool", "content": "x"}), "messages"),
    ("reserved tool name", tool_named(JSON_TOOL_PREFIX + "x"), "tools"),
    ("bad tool name", tool_named("a b"), "tools"),
    ("not a function tool", chat(USER, tools=[{"type": "web_search"}]), "tools"),
    ("required without tools", chat(USER, tool_choice="required"), "tool_choice"),
    ("unknown tool_choice", chat(USER, tools=[WEATHER], tool_choice="maybe"), "tool_choice"),
    (
        "json with reasoning",
        chat(USER, response_format=VERDICT, reasoning_effort="low"),
        "response_format",
    ),
    ("array schema", bad_schema({"name": "a", "schema": {"type": "array"}}), "response_format"),
    ("bad schema name", bad_schema({"name": "a b", "schema": SCHEMA}), "response_format"),
    ("unknown response_format", chat(USER, response_format={"type": "grammar"}), "response_format"),
    (
        "max_tokens within the budget",
        chat(USER, reasoning_effort="high", max_tokens=16000),
        "max_tokens",
    ),
    ("unknown effort", chat(USER, reasoning_effort="extreme"), "reasoning_effort"),
    (
        "effort and thinking",
        chat(USER, reasoning_effort="low", thinking={"type": "disabled"}),
        "reasoning_effort",
    ),
    ("thinking without budget", chat(USER, thinking={"type": "enabled"}), "thinking"),
]


@pytest.mark.parametrize(
    ("canonical", "param"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_untranslatable_requests_are_refused_by_name(canonical: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        build_request(CHAT, canonical, {})
    assert info.value.param == param


def test_embeddings_are_not_served() -> None:
    assert EMBEDDINGS not in SPEC.routes
    with pytest.raises(InvalidRequest):
        build_request(EMBEDDINGS, {"model": "m", "input": "x"}, {})


def test_every_openai_chat_field_is_classified() -> None:
    """Each field of OpenAI's chat request is translated here or has a rule in PARAMS."""
    fields = set(completion_create_params.CompletionCreateParamsBase.__annotations__) | {"stream"}
    assert fields - CHAT_FIELDS - set(PARAMS) == set()
    for name, rule in PARAMS.items():
        assert rule.reason, name
        if rule.action is ParamAction.PASS:
            assert name in CHAT_FIELDS, f"{name} is documented as translated but is not read"


def test_spec_headers_and_auth() -> None:
    assert SPEC.auth is not None and SPEC.auth.pair("sk-ant") == ("x-api-key", "sk-ant")
    assert SPEC.extra_headers == {"anthropic-version": "2023-06-01"}
    assert SPEC.base_url == "https://api.anthropic.com/v1"


# -- responses: wire -> canonical ----------------------------------------------------------


def message(
    *content: dict[str, Any], stop: str | None = "end_turn", **usage: int
) -> dict[str, Any]:
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": list(content),
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 2095, "output_tokens": 503},
    }


def test_text_answer() -> None:
    answer = parse_response(CHAT, message({"type": "text", "text": "Hi! My name is Claude."}))
    assert answer["id"] == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert answer["object"] == "chat.completion" and isinstance(answer["created"], int)
    assert answer["model"] == "claude-sonnet-4-5-20250929"
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi! My name is Claude."},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert answer["usage"] == {
        "prompt_tokens": 2095,
        "completion_tokens": 503,
        "total_tokens": 2598,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_tool_use_answer_keeps_the_text_beside_the_calls() -> None:
    answer = parse_response(
        CHAT,
        message(
            {"type": "text", "text": "I'll check the weather."},
            USE,
            {**USE, "id": "toolu_2", "input": {}},
            stop="tool_use",
        ),
    )
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check the weather."
    calls = choice["message"]["tool_calls"]
    assert [c["id"] for c in calls] == [CALL["id"], "toolu_2"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"location": "San Francisco, CA"}
    assert calls[1]["function"] == {"name": "get_weather", "arguments": "{}"}
    assert calls[0]["type"] == "function"


def test_thinking_is_reasoning_content_and_redacted_thinking_is_skipped() -> None:
    answer = parse_response(
        CHAT,
        message(
            {"type": "thinking", "thinking": "Let me add.", "signature": "EqQBCgIYAhIM"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
            {"type": "text", "text": "4"},
            input_tokens=10,
            output_tokens=30,
            output_tokens_details={"thinking_tokens": 25},
        ),
    )
    msg = answer["choices"][0]["message"]
    assert msg["content"] == "4" and msg["reasoning_content"] == "Let me add."
    assert answer["usage"]["completion_tokens_details"] == {"reasoning_tokens": 25}


def test_the_json_tool_answer_is_the_content() -> None:
    use = {"type": "tool_use", "id": "toolu_9", "name": JSON_NAME, "input": {"ok": True}}
    answer = parse_response(CHAT, message(use, stop="tool_use"))
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert json.loads(choice["message"]["content"]) == {"ok": True}
    assert "tool_calls" not in choice["message"]


def test_cache_reads_and_writes_are_prompt_tokens() -> None:
    usage = parse_response(
        CHAT,
        message(
            {"type": "text", "text": "ok"},
            input_tokens=50,
            cache_creation_input_tokens=248,
            cache_read_input_tokens=1000,
            output_tokens=5,
        ),
    )["usage"]
    assert usage["prompt_tokens"] == 1298 and usage["total_tokens"] == 1303
    assert usage["prompt_tokens_details"] == {"cached_tokens": 1000}


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("tool_use", "stop"),  # no tool call in the content: nothing for the client to run
        ("some_future_reason", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons(native: str | None, expected: str) -> None:
    answer = parse_response(CHAT, message({"type": "text", "text": "x"}, stop=native))
    assert answer["choices"][0]["finish_reason"] == expected


def test_a_refusal_without_content() -> None:
    answer = parse_response(CHAT, message(stop="refusal"))
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": None}
    assert answer["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
        {**message(), "content": "text"},
    ],
    ids=["error-in-200", "content-not-a-list"],
)
def test_unreadable_answers_are_bad_responses(body: dict[str, Any]) -> None:
    with pytest.raises(UpstreamBadResponse):
        parse_response(CHAT, body)


# -- errors --------------------------------------------------------------------------------


def err(kind: str, text: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_1"}


@pytest.mark.parametrize(
    ("status", "body", "kind", "expected_status"),
    [
        (429, err("rate_limit_error", "Number of request tokens has exceeded"), RateLimited, 429),
        (401, err("authentication_error", "invalid x-api-key"), AuthFailed, 401),
        (403, err("permission_error", "no access to model"), AuthFailed, 403),
        (
            400,
            err("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
            ContextWindowExceeded,
            400,
        ),
        (
            400,
            err(
                "invalid_request_error",
                "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000",
            ),
            ContextWindowExceeded,
            400,
        ),
        (
            400,
            err("invalid_request_error", "Output blocked by content filtering policy"),
            ContentFiltered,
            400,
        ),
        (400, err("invalid_request_error", "max_tokens: 21333 > 4096"), UpstreamError, 400),
        (402, err("billing_error", "credit balance is too low"), UpstreamError, 402),
        (404, err("not_found_error", "model: claude-x"), UpstreamError, 404),
        (413, err("request_too_large", "Request exceeds the maximum size"), UpstreamError, 413),
        (500, err("api_error", "Internal server error"), UpstreamError, 500),
        (504, err("timeout_error", "Request timed out"), UpstreamTimeout, 504),
        (529, err("overloaded_error", "Overloaded"), UpstreamUnavailable, 529),
        (502, None, UpstreamError, 502),
        (503, {"unexpected": "shape"}, UpstreamError, 503),
    ],
)
def test_classify_error(
    status: int, body: dict[str, Any] | None, kind: type[GatewayError], expected_status: int
) -> None:
    error = classify_error(status, body, 2.0)
    assert type(error) is kind
    assert error.http_status == expected_status
    if body and "error" in body:
        assert error.message == body["error"]["message"]
    if kind is RateLimited:
        assert error.retry_after == 2.0


# -- streams -------------------------------------------------------------------------------


def frames(*events: dict[str, Any]) -> bytes:
    return b"".join(
        f"event: {e['type']}\n".encode() + b"data: " + orjson.dumps(e) + b"\n\n" for e in events
    )


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-opus-4-6",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "cache_read_input_tokens": 5, "output_tokens": 1},
    },
}
PING = {"type": "ping"}


def block(index: int, kind: str, **fields: Any) -> dict[str, Any]:
    content = {"type": kind, **fields}
    return {"type": "content_block_start", "index": index, "content_block": content}


def delta(index: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}


def json_part(index: int, part: str) -> dict[str, Any]:
    return delta(index, "input_json_delta", partial_json=part)


def stop_block(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


TEXT = [
    block(0, "text", text=""),
    delta(0, "text_delta", text="Hello"),
    delta(0, "text_delta", text="!"),
    stop_block(0),
]
TOOL = [
    block(1, "tool_use", id="toolu_01T1x1", name="get_weather", input={}),
    json_part(1, ""),
    json_part(1, '{"location":'),
    json_part(1, ' "Paris"}'),
    stop_block(1),
]


def end(stop: str = "end_turn") -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 15},
        },
        {"type": "message_stop"},
    ]


def decode(data: bytes, include_usage: bool = False, step: int = 0) -> list[Any]:
    """Feed ``data`` (whole, or ``step`` bytes at a time); the decoded events, [DONE] as a str."""
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    decoder = AnthropicStreamDecoder({"model": "claude-opus-4-6", **options})
    parts = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    out = b"".join(decoder.feed(p) for p in parts) + decoder.close()
    events = [e.removeprefix(b"data: ") for e in out.split(b"\n\n") if e and e != b": ping"]
    return ["[DONE]" if e == b"[DONE]" else orjson.loads(e) for e in events]


def deltas(events: list[Any]) -> list[dict[str, Any]]:
    return [e["choices"][0]["delta"] for e in events if isinstance(e, dict) and e["choices"]]


def test_text_stream() -> None:
    events = decode(frames(START, PING, *TEXT, *end()))
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {c["id"] for c in chunks} == {"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["model"] for c in chunks} == {"claude-opus-4-6"}
    assert all(isinstance(c["created"], int) for c in chunks)
    assert deltas(events) == [
        {"role": "assistant", "content": ""},
        {"content": "Hello"},
        {"content": "!"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]


def test_usage_chunk_only_when_asked() -> None:
    data = frames(START, *TEXT, *end())
    assert not any("usage" in e for e in decode(data) if isinstance(e, dict))
    events = decode(data, include_usage=True)
    assert events[-1] == "[DONE]"
    assert events[-2]["choices"] == []
    assert events[-2]["usage"] == {
        "prompt_tokens": 30,
        "completion_tokens": 15,
        "total_tokens": 45,
        "prompt_tokens_details": {"cached_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_tool_stream() -> None:
    events = decode(frames(START, *TEXT, *TOOL, *end("tool_use")))
    calls = [d["tool_calls"][0] for d in deltas(events) if "tool_calls" in d]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01T1x1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert {c["index"] for c in calls} == {0}
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"location": "Paris"}
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_calls_are_numbered_by_block() -> None:
    second = [block(2, "tool_use", id="toolu_2", name="f", input={}), json_part(2, "{}")]
    events = decode(frames(START, *TOOL, *second, *end("tool_use")))
    calls = [d["tool_calls"][0] for d in deltas(events) if "tool_calls" in d]
    starts = [(c["index"], c["id"]) for c in calls if "id" in c]
    assert starts == [(0, "toolu_01T1x1"), (1, "toolu_2")]
    assert calls[-1] == {"index": 1, "function": {"arguments": "{}"}}


def test_thinking_stream_is_reasoning_content() -> None:
    thinking = [
        block(0, "thinking", thinking=""),
        delta(0, "thinking_delta", thinking="Let me"),
        delta(0, "signature_delta", signature="EqQB"),
        stop_block(0),
        block(1, "redacted_thinking", data="Emw"),
        stop_block(1),
        block(2, "text", text="Hello"),
    ]
    events = decode(frames(START, *thinking, *end()))
    assert deltas(events)[:3] == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Let me"},
        {"content": "Hello"},
    ]


def test_json_tool_streams_as_content() -> None:
    json_events = [
        block(0, "tool_use", id="toolu_9", name=JSON_NAME, input={}),
        json_part(0, '{"ok"'),
        json_part(0, ": true}"),
    ]
    events = decode(frames(START, *json_events, *end("tool_use")))
    answer = "".join(d.get("content") or "" for d in deltas(events))
    assert json.loads(answer) == {"ok": True}
    assert not any("tool_calls" in d for d in deltas(events))
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


def test_a_refusal_stream_finishes_with_content_filter() -> None:
    events = decode(frames(START, *end("refusal")))
    assert deltas(events) == [{"role": "assistant", "content": ""}, {}]
    assert events[-2]["choices"][0]["finish_reason"] == "content_filter"


def test_byte_by_byte_and_crlf_framing_give_the_same_chunks() -> None:
    data = frames(START, PING, *TEXT, *TOOL, *end("tool_use"))
    whole = deltas(decode(data))
    assert deltas(decode(data, step=1)) == whole
    assert deltas(decode(data.replace(b"\n", b"\r\n"), step=7)) == whole


def test_unknown_events_and_deltas_are_skipped() -> None:
    odd = [
        {"type": "future_event", "x": 1},
        delta(0, "citations_delta", citation={}),
        delta(0, "future_delta"),
    ]
    plain = deltas(decode(frames(START, *TEXT, *end())))
    assert deltas(decode(frames(START, *TEXT[:2], *odd, *TEXT[2:], *end()))) == plain


def test_pings_after_output_are_comments_that_keep_the_stream_alive() -> None:
    decoder = AnthropicStreamDecoder({"model": "m"})
    assert decoder.feed(frames(START, PING)) == b""  # nothing committed before real output
    assert decoder.feed(frames(*TEXT[:2], PING)).endswith(b"\n\n: ping\n\n")


def test_events_after_message_stop_are_ignored() -> None:
    events = decode(frames(START, *TEXT, *end(), TEXT[1], err("overloaded_error", "late")))
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1


def test_message_stop_without_message_delta_still_finishes() -> None:
    events = decode(frames(START, *TEXT, {"type": "message_stop"}))
    assert events[-2]["choices"][0]["finish_reason"] == "stop" and events[-1] == "[DONE]"


def test_an_error_before_any_output_is_raised_classified() -> None:
    decoder = AnthropicStreamDecoder({"model": "m"})
    with pytest.raises(UpstreamUnavailable) as info:
        decoder.feed(frames(START, PING, err("overloaded_error", "Overloaded")))
    assert info.value.http_status == 529 and info.value.message == "Overloaded"


def test_an_error_after_output_comes_after_the_events_before_it() -> None:
    decoder = AnthropicStreamDecoder({"model": "m"})
    first = decoder.feed(frames(START, *TEXT[:2]))
    assert b"Hello" in first
    out = decoder.feed(frames(TEXT[2], err("api_error", "Internal server error"), *end()))
    assert b'"!"' in out and b"[DONE]" not in out
    with pytest.raises(UpstreamError) as info:
        decoder.close()
    assert info.value.http_status == 500
    with pytest.raises(UpstreamError):
        decoder.feed(b"")


TORN = b'event: message_delta\ndata: {"type": "message_delta", "de'
MALFORMED: list[tuple[str, bytes, str | None]] = [
    ("cut", frames(START, *TEXT), "stream_cut"),
    ("truncated", frames(START, *TEXT) + TORN, "truncated_event"),
    ("bad-json", frames(START) + b"event: content_block_delta\ndata: {oops\n\n", "bad_event"),
    ("not-an-object", frames(START) + b"data: [1, 2]\n\n", None),
    ("missing-field", frames(START, delta(0, "text_delta")), "bad_event"),
    ("unstarted-tool", frames(START, json_part(5, "{")), None),
    ("no-message", frames({"type": "message_start"}), "bad_event"),
]


@pytest.mark.parametrize(
    ("data", "code"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_streams_raise_bad_responses(data: bytes, code: str | None) -> None:
    decoder = AnthropicStreamDecoder({"model": "m"})
    with pytest.raises(UpstreamBadResponse) as info:
        decoder.feed(data)
        decoder.close()
    if code is not None:
        assert info.value.code == code


# -- through the gateway -------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[AppServer]:
    with AppServer(fake.make_app()) as server:
        yield server


def target(url: str, **extra: Any) -> dict[str, Any]:
    return {"provider": "anthropic", "custom_host": f"{url}/v1", "api_key": "sk-ant-key", **extra}


def client(gateway: GatewayServer, config: dict[str, Any]) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(config)},
    )


HI = [{"role": "user", "content": "hi"}]


def test_requests_carry_the_key_and_version(gateway: GatewayServer, upstream: AppServer) -> None:
    answer = client(gateway, target(upstream.url)).chat.completions.create(
        model="claude-sonnet-4-5", messages=HI
    )
    assert answer.model == "claude-sonnet-4-5"
    path, headers, body = upstream.app[REQUESTS][-1]
    assert path == "/v1/messages"
    assert headers["x-api-key"] == "sk-ant-key" and headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS


def test_dropped_parameters_are_reported(gateway: GatewayServer, upstream: AppServer) -> None:
    raw = client(gateway, target(upstream.url)).chat.completions.with_raw_response.create(
        model="m", messages=HI, seed=3, logprobs=True, presence_penalty=0.5
    )
    warnings = raw.headers["x-portkey-warnings"]
    for name in ("seed", "logprobs", "presence_penalty"):
        assert f"{name} dropped for anthropic" in warnings
    sent = upstream.app[REQUESTS][-1][2]
    assert not {"seed", "logprobs", "presence_penalty"} & set(sent)


def test_rejected_parameter_is_named(gateway: GatewayServer, upstream: AppServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway, target(upstream.url)).chat.completions.create(model="m", messages=HI, n=3)
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "n"


def test_overloaded_keeps_its_529(gateway: GatewayServer, upstream: AppServer) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway, target(upstream.url)).chat.completions.create(
            model="error-overloaded", messages=HI
        )
    assert info.value.status_code == 529
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "overloaded_error"


def test_thinking_and_cached_usage(gateway: GatewayServer, upstream: AppServer) -> None:
    answer = client(gateway, target(upstream.url)).chat.completions.create(
        model="think+cached", messages=HI, reasoning_effort="low"
    )
    message = answer.choices[0].message
    assert message.content == "sys=-;turns=1;last=hi"
    assert (message.model_extra or {}).get("reasoning_content") == fake.THOUGHT
    assert answer.usage is not None and answer.usage.prompt_tokens == 11
    assert answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 8
    sent = upstream.app[REQUESTS][-1][2]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_a_stream_error_before_output_falls_back(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            target(upstream.url, override_params={"model": "error-first"}),
            target(upstream.url, override_params={"model": "m"}),
        ],
    }
    raw = client(gateway, config).chat.completions.with_raw_response.create(
        model="x", messages=HI, stream=True
    )
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "sys=-;turns=1;last=hi"


@pytest.mark.parametrize(
    "script", ["midstream-error", "cut", "truncated", "malformed", "error-first"]
)
def test_broken_streams_end_in_an_error_never_a_clean_finish(
    gateway: GatewayServer, upstream: AppServer, script: str
) -> None:
    stream = client(gateway, target(upstream.url)).chat.completions.create(
        model=script, messages=HI, stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_unknown_stream_events_are_harmless(gateway: GatewayServer, upstream: AppServer) -> None:
    stream = client(gateway, target(upstream.url)).chat.completions.create(
        model="unknown-event", messages=HI, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "sys=-;turns=1;last=hi"


def test_anthropic_sdk_through_the_ingress_and_back(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    """Anthropic in, OpenAI canonical inside, Anthropic out: both translations compose."""
    sdk = anthropic.Anthropic(
        base_url=gateway.base_url.removesuffix("/v1"),
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target(upstream.url))},
    )
    answer = sdk.messages.create(
        model="tool",
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
    )
    assert answer.stop_reason == "tool_use"
    use = answer.content[-1]
    assert use.type == "tool_use" and use.name == "get_weather" and use.input == {"city": "Paris"}
    sent = upstream.app[REQUESTS][-1][2]
    assert sent["system"] == "be brief" and sent["max_tokens"] == 100


def test_count_tokens_is_forwarded_natively(gateway: GatewayServer, upstream: AppServer) -> None:
    sdk = anthropic.Anthropic(
        base_url=gateway.base_url.removesuffix("/v1"),
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target(upstream.url))},
    )
    counted = sdk.messages.count_tokens(model="claude-sonnet-4-5", messages=HI, system="be kind")
    assert counted.input_tokens == 11
    path, headers, body = upstream.app[REQUESTS][-1]
    assert path == "/v1/messages/count_tokens" and headers["x-api-key"] == "sk-ant-key"
    assert body == {"model": "claude-sonnet-4-5", "messages": HI, "system": "be kind"}
