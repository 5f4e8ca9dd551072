"""Anthropic Messages: request and response translation and error classification
(streams: test_anthropic_stream.py; through the gateway: test_anthropic_gateway.py).

Wire examples follow Anthropic's API reference (https://docs.anthropic.com/en/api/messages,
/en/docs/build-with-claude/streaming, /en/docs/agents-and-tools/tool-use, /en/api/errors).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
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
from portkey.formats.anthropic import build_request, parse_response
from portkey.formats.anthropic.request import CHAT_FIELDS, DEFAULT_MAX_TOKENS, JSON_TOOL_PREFIX
from portkey.providers.anthropic import PARAMS, SPEC, classify_error
from portkey.providers.base import CHAT, EMBEDDINGS, ParamAction

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


# -- extended thinking across a tool loop ---------------------------------------------------

THOUGHT = {"type": "thinking", "thinking": "Weather needs a tool.", "signature": "EqQBCkYIARgCKkA"}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}


def test_thinking_blocks_come_back_with_their_signatures() -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    answer = parse_response(CHAT, message(THOUGHT, REDACTED, use, stop="tool_use"))
    msg = answer["choices"][0]["message"]
    assert msg["reasoning_content"] == "Weather needs a tool."
    assert msg["thinking_blocks"] == [THOUGHT, REDACTED]


def test_a_tool_loop_sends_the_thinking_blocks_back_first() -> None:
    call = {
        "id": "toolu_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    canonical = {
        "model": "claude-sonnet-4-5",
        "reasoning_effort": "low",
        "max_tokens": 4096,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call],
                "thinking_blocks": [THOUGHT, REDACTED],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C, sunny"},
        ],
    }
    _, wire = build_request(CHAT, canonical, {})
    assistant = wire["messages"][1]["content"]
    assert assistant[:2] == [THOUGHT, REDACTED]
    assert assistant[2]["type"] == "tool_use"


@pytest.mark.parametrize("bad", [["text"], [{"type": "thinking", "thinking": "x"}], {"a": 1}])
def test_malformed_thinking_blocks_are_refused_by_name(bad: Any) -> None:
    canonical = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "x", "thinking_blocks": bad},
        ],
    }
    with pytest.raises(InvalidRequest) as info:
        build_request(CHAT, canonical, {})
    assert (info.value.param or "").startswith("messages[1].thinking_blocks")
