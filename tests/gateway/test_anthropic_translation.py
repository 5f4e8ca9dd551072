"""The Anthropic ingress's pure translations, table-driven: Anthropic request -> OpenAI request,
OpenAI answer -> Anthropic Message, OpenAI SSE -> Anthropic SSE, gateway errors -> Anthropic
errors. Shapes are checked against the official ``anthropic`` SDK's own types.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from portkey.errors import (
    AuthFailed,
    GatewayError,
    InvalidRequest,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
)
from portkey.gateway.anthropic_ingress import estimate_tokens
from portkey.gateway.anthropic_ingress.request import to_openai
from portkey.gateway.anthropic_ingress.response import error_body, error_type, to_message
from portkey.gateway.anthropic_ingress.stream import AnthropicStream

USER_HI = [{"role": "user", "content": "hi"}]
EVENTS = TypeAdapter(RawMessageStreamEvent)


def req(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 64, "messages": USER_HI, **fields}


# -- request: Anthropic -> OpenAI ---------------------------------------------------------

IMAGE_B64 = {
    "type": "image",
    "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
}
IMAGE_URL = {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
WEATHER_FUNCTION = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": WEATHER_TOOL["input_schema"],
        "description": "Weather for a city",
    },
}
TOOL_TURN = {
    "role": "assistant",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ],
}
TOOL_CALL = {
    "id": "toolu_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}

REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "plain",
        req(),
        {"model": "claude-x", "max_tokens": 64, "messages": USER_HI},
    ),
    (
        "system string",
        req(system="Be brief."),
        {"messages": [{"role": "system", "content": "Be brief."}, *USER_HI]},
    ),
    (
        "system blocks with cache_control (hint, ignored)",
        req(
            system=[
                {"type": "text", "text": "You are a bot."},
                {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
            ]
        ),
        {"messages": [{"role": "system", "content": "You are a bot.\nBe brief."}, *USER_HI]},
    ),
    (
        "multi-turn strings",
        req(
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "how are you?"},
            ]
        ),
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "how are you?"},
            ]
        },
    ),
    (
        "single text block becomes a string",
        req(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]),
        {"messages": USER_HI},
    ),
    (
        "images, base64 and url",
        req(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "what is this?"}, IMAGE_B64, IMAGE_URL],
                }
            ]
        ),
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                        {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}},
                    ],
                }
            ]
        },
    ),
    (
        "plain-text document",
        req(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "doc"},
                        }
                    ],
                }
            ]
        ),
        {"messages": [{"role": "user", "content": "doc"}]},
    ),
    (
        "assistant tool_use (signed thinking kept), tool_result first, then the user's text",
        req(
            messages=[
                {"role": "user", "content": "weather?"},
                TOOL_TURN,
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "thanks"},
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    ],
                },
            ]
        ),
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": "Let me check.",
                    "tool_calls": [TOOL_CALL],
                    "thinking_blocks": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"}
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
                {"role": "user", "content": "thanks"},
            ]
        },
    ),
    (
        "tool_use alone has null content; tool_result blocks and is_error",
        req(
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [TOOL_TURN["content"][2]]},  # type: ignore[index]
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "is_error": True,
                            "content": [
                                {"type": "text", "text": "city unknown"},
                                {"type": "text", "text": "try again"},
                            ],
                        }
                    ],
                },
            ]
        ),
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                {
                    "role": "tool",
                    "tool_call_id": "toolu_1",
                    "content": "Error: city unknown\ntry again",
                },
            ]
        },
    ),
    (
        "images in a tool result follow in a user message",
        req(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_9",
                            "content": [{"type": "text", "text": "shot"}, IMAGE_B64],
                        }
                    ],
                }
            ]
        ),
        {
            "messages": [
                {"role": "tool", "tool_call_id": "toolu_9", "content": "shot"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "[images returned by tool call toolu_9]"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                    ],
                },
            ]
        },
    ),
    (
        "tools, tool_choice auto",
        req(tools=[WEATHER_TOOL], tool_choice={"type": "auto"}),
        {"tools": [WEATHER_FUNCTION], "tool_choice": "auto"},
    ),
    (
        "tool_choice any, no parallel calls",
        req(tools=[WEATHER_TOOL], tool_choice={"type": "any", "disable_parallel_tool_use": True}),
        {"tool_choice": "required", "parallel_tool_calls": False},
    ),
    (
        "tool_choice tool",
        req(tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "get_weather"}),
        {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    ),
    (
        "tool_choice none",
        req(tools=[WEATHER_TOOL], tool_choice={"type": "none"}),
        {"tool_choice": "none"},
    ),
    (
        "sampling, stops, user",
        req(
            temperature=0.2,
            top_p=0.9,
            stop_sequences=["END", "STOP"],
            metadata={"user_id": "u-42"},
        ),
        {"temperature": 0.2, "top_p": 0.9, "stop": ["END", "STOP"], "user": "u-42"},
    ),
    (
        "stream asks for usage",
        req(stream=True),
        {"stream": True, "stream_options": {"include_usage": True}},
    ),
    (
        "thinking small budget",
        req(thinking={"type": "enabled", "budget_tokens": 1024}),
        {"reasoning_effort": "low"},
    ),
    (
        "thinking mid budget",
        req(thinking={"type": "enabled", "budget_tokens": 10000}),
        {"reasoning_effort": "medium"},
    ),
    (
        "thinking big budget",
        req(thinking={"type": "enabled", "budget_tokens": 31999}),
        {"reasoning_effort": "high"},
    ),
    (
        "output_config.effort wins over the budget; max is xhigh",
        req(thinking={"type": "enabled", "budget_tokens": 1024}, output_config={"effort": "max"}),
        {"reasoning_effort": "xhigh"},
    ),
    (
        "structured output",
        req(output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}}),
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": {"type": "object"}},
            }
        },
    ),
]


@pytest.mark.parametrize(("name", "anthropic", "expected"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_request_translation(
    name: str, anthropic: dict[str, Any], expected: dict[str, Any]
) -> None:
    out = to_openai(anthropic)
    assert {k: out.canonical.get(k) for k in expected} == expected
    assert out.dropped == ()


@pytest.mark.parametrize(
    "thinking", [{"type": "disabled"}, {"type": "adaptive"}], ids=["disabled", "adaptive"]
)
def test_thinking_without_a_budget_sets_no_effort(thinking: dict[str, Any]) -> None:
    assert "reasoning_effort" not in to_openai(req(thinking=thinking)).canonical


def test_tool_choice_without_tools_is_left_out() -> None:
    out = to_openai(req(tool_choice={"type": "any"})).canonical
    assert "tool_choice" not in out and "tools" not in out


def test_fields_without_an_openai_equivalent_are_reported() -> None:
    out = to_openai(req(top_k=5, service_tier="auto", cache_control={"type": "ephemeral"}, wat=1))
    assert [name for name, _ in out.dropped] == ["top_k", "service_tier", "wat"]
    assert "top_k" not in out.canonical and "wat" not in out.canonical


BAD_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("no max_tokens", {"model": "m", "messages": USER_HI}, "max_tokens"),
    ("max_tokens not an int", req(max_tokens="5"), "max_tokens"),
    ("max_tokens a bool", req(max_tokens=True), "max_tokens"),
    ("negative max_tokens", req(max_tokens=-1), "max_tokens"),
    ("no messages", {"model": "m", "max_tokens": 5}, "messages"),
    ("empty messages", req(messages=[]), "messages"),
    (
        "system role in messages",
        req(messages=[{"role": "system", "content": "x"}]),
        "messages[0].role",
    ),
    ("content a number", req(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    (
        "unknown block",
        req(messages=[{"role": "user", "content": [{"type": "hologram"}]}]),
        "messages[0].content[0].type",
    ),
    (
        "image from the files API",
        req(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                }
            ]
        ),
        "messages[0].content[0].source.type",
    ),
    (
        "pdf document",
        req(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "x",
                            },
                        }
                    ],
                }
            ]
        ),
        "messages[0].content[0].source",
    ),
    (
        "tool_result without id",
        req(messages=[{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]),
        "messages[0].content[0].tool_use_id",
    ),
    (
        "tool_use input not an object",
        req(
            messages=[
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "a", "name": "f", "input": [1]}],
                }
            ]
        ),
        "messages[0].content[0].input",
    ),
    (
        "server tool",
        req(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        "tools[0].type",
    ),
    ("tool without schema", req(tools=[{"name": "f"}]), "tools[0]"),
    (
        "tool_choice unknown",
        req(tools=[WEATHER_TOOL], tool_choice={"type": "some"}),
        "tool_choice.type",
    ),
    (
        "tool_choice tool without name",
        req(tools=[WEATHER_TOOL], tool_choice={"type": "tool"}),
        "tool_choice.name",
    ),
    ("thinking type", req(thinking={"type": "maybe"}), "thinking.type"),
    ("thinking budget", req(thinking={"type": "enabled"}), "thinking.budget_tokens"),
    ("effort level", req(output_config={"effort": "extreme"}), "output_config.effort"),
    ("stop_sequences not strings", req(stop_sequences=[1]), "stop_sequences"),
    ("temperature a string", req(temperature="hot"), "temperature"),
    ("user_id not a string", req(metadata={"user_id": 7}), "metadata.user_id"),
]


@pytest.mark.parametrize(("name", "body", "param"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_are_a_400_naming_the_field(
    name: str, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_openai(body)
    assert caught.value.http_status == 400
    assert caught.value.param == param


def test_count_tokens_needs_no_max_tokens_and_estimates_4_chars_a_token() -> None:
    body = {"model": "m", "system": "12345678", "messages": [{"role": "user", "content": "abcd"}]}
    canonical = to_openai(body, require_max_tokens=False).canonical
    assert estimate_tokens(canonical) == 3  # 12 characters / 4
    with_image = to_openai(
        {"messages": [{"role": "user", "content": [IMAGE_B64, {"type": "text", "text": "abc"}]}]},
        require_max_tokens=False,
    ).canonical
    assert estimate_tokens(with_image) == 1600 + 1


def test_count_tokens_counts_tool_calls_and_tool_definitions() -> None:
    body = req(messages=[{"role": "user", "content": "x"}, TOOL_TURN], tools=[WEATHER_TOOL])
    canonical = to_openai(body).canonical
    tools_chars = len(orjson.dumps(canonical["tools"]))
    chars = 1 + len("Let me check.") + len("get_weather") + len('{"city":"Paris"}') + tools_chars
    assert estimate_tokens(canonical) == -(-chars // 4)


# -- response: OpenAI -> Anthropic --------------------------------------------------------


def completion(message: dict[str, Any], finish: str | None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
    choice.update(extra)
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [choice],
        "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27},
    }


ANSWERS: list[tuple[str, dict[str, Any], list[dict[str, Any]], str]] = [
    ("text", completion({"content": "Hi!"}, "stop"), [{"type": "text", "text": "Hi!"}], "end_turn"),
    (
        "cut by length",
        completion({"content": "Hi"}, "length"),
        [{"type": "text", "text": "Hi"}],
        "max_tokens",
    ),
    ("filtered", completion({"content": ""}, "content_filter"), [], "refusal"),
    (
        "refusal text",
        completion({"content": None, "refusal": "No."}, "stop"),
        [{"type": "text", "text": "No."}],
        "end_turn",
    ),
    (
        "unknown finish",
        completion({"content": "x"}, None),
        [{"type": "text", "text": "x"}],
        "end_turn",
    ),
    (
        "text and a tool call",
        completion(
            {"content": "Checking.", "tool_calls": [{**TOOL_CALL, "id": "call_1"}]}, "tool_calls"
        ),
        [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "tool_use",
    ),
    (
        "tool calls with finish 'stop' (some hosts) and empty arguments",
        completion(
            {
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "now", "arguments": ""}},
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "f", "arguments": {"a": 1}},
                    },
                ],
            },
            "stop",
        ),
        [
            {"type": "tool_use", "id": "c1", "name": "now", "input": {}},
            {"type": "tool_use", "id": "c2", "name": "f", "input": {"a": 1}},
        ],
        "tool_use",
    ),
]


@pytest.mark.parametrize(
    ("name", "answer", "content", "stop"), ANSWERS, ids=[a[0] for a in ANSWERS]
)
def test_answer_translation(
    name: str, answer: dict[str, Any], content: list[Any], stop: str
) -> None:
    message = to_message(answer, model="asked")
    assert message["content"] == content
    assert message["stop_reason"] == stop
    assert message["stop_sequence"] is None
    assert message["id"] == "msg_chatcmpl-1"
    assert message["model"] == "gpt-x"
    assert message["usage"] == {
        "input_tokens": 20,
        "output_tokens": 7,
        "cache_read_input_tokens": 0,
    }
    Message.model_validate(message)  # the SDK's own type accepts it


def test_cached_prompt_tokens_are_cache_reads_not_input() -> None:
    answer = completion({"content": "x"}, "stop")
    answer["usage"]["prompt_tokens_details"] = {"cached_tokens": 16}
    assert to_message(answer)["usage"] == {
        "input_tokens": 4,
        "output_tokens": 7,
        "cache_read_input_tokens": 16,
    }


def test_matched_stop_sequence_is_named_when_the_host_says_which() -> None:
    answer = completion({"content": "x"}, "stop", stop_reason="END")
    message = to_message(answer, stop_sequences=("END",))
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")
    assert to_message(answer)["stop_reason"] == "end_turn"  # not a sequence the client sent


def test_answer_without_usage_id_or_model() -> None:
    message = to_message(
        {"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}]}, model="m"
    )
    assert message["model"] == "m"
    assert message["id"].startswith("msg_")
    assert message["usage"] == {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0}


@pytest.mark.parametrize("arguments", ['{"city": "Par', "[1, 2]", "null"])
def test_unreadable_tool_arguments_are_an_upstream_error(arguments: str) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    with pytest.raises(UpstreamBadResponse):
        to_message(completion({"content": None, "tool_calls": [call]}, "tool_calls"))


# -- errors -------------------------------------------------------------------------------

ERRORS: list[tuple[GatewayError, str]] = [
    (InvalidRequest("bad"), "invalid_request_error"),
    (AuthFailed("who?"), "authentication_error"),
    (AuthFailed("no", status=403), "permission_error"),
    (UpstreamError("gone", status=404), "not_found_error"),
    (RateLimited("slow down"), "rate_limit_error"),
    (UpstreamError("boom", status=500), "api_error"),
    (UpstreamBadResponse("garbled"), "api_error"),
    (UpstreamError("busy", status=503), "overloaded_error"),
    (UpstreamError("busy", status=529), "overloaded_error"),
    (UpstreamTimeout("late"), "timeout_error"),
    (UpstreamError("teapot", status=418), "invalid_request_error"),
]


@pytest.mark.parametrize(
    ("error", "kind"), ERRORS, ids=[e[1] + str(e[0].http_status) for e in ERRORS]
)
def test_error_bodies(error: GatewayError, kind: str) -> None:
    assert error_type(error.http_status) == kind
    assert orjson.loads(error_body(error, "req-1")) == {
        "type": "error",
        "error": {"type": kind, "message": error.message},
        "request_id": "req-1",
    }


# -- stream: OpenAI SSE -> Anthropic SSE --------------------------------------------------


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x"}
    body.update(choices=choices, **extra)
    return b"data: " + orjson.dumps(body) + b"\n\n"


DONE = b"data: [DONE]\n\n"
USAGE = chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12})


def parse(sse: bytes) -> list[dict[str, Any]]:
    """Anthropic SSE bytes -> events, each checked by the SDK's own event type."""
    events = []
    for raw in sse.split(b"\n\n"):
        if not raw.strip() or raw.startswith(b":"):
            continue
        name, data = raw.split(b"\n", 1)
        event = orjson.loads(data.removeprefix(b"data: "))
        assert name == b"event: " + event["type"].encode()
        if event["type"] not in ("error", "ping"):
            EVENTS.validate_python(event)
        events.append(event)
    return events


def kinds(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        detail = e.get("content_block", e.get("delta", {})).get("type", "")
        out.append(f"{e['type']}:{detail}" if e["type"].startswith("content_block") else e["type"])
    return out


def translate(*blocks: bytes, stops: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    stream = AnthropicStream("asked", input_estimate=5, stop_sequences=stops)
    return parse(b"".join(stream(b) for b in blocks))


def test_stream_text() -> None:
    events = translate(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        USAGE,
        DONE,
    )
    assert kinds(events) == [
        "message_start",
        "ping",
        "content_block_start:text",
        "content_block_delta:text_delta",
        "content_block_delta:text_delta",
        "content_block_stop:",
        "message_delta",
        "message_stop",
    ]
    start = events[0]["message"]
    assert (start["id"], start["model"], start["usage"]["input_tokens"]) == (
        "msg_chatcmpl-9",
        "gpt-x",
        5,
    )
    assert [e["delta"]["text"] for e in events[3:5]] == ["Hel", "lo"]
    assert events[6]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[6]["usage"] == {
        "input_tokens": 9,
        "output_tokens": 3,
        "cache_read_input_tokens": 0,
    }


def tool_delta(
    index: int, id_: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id_:
        call.update(id=id_, type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


def test_stream_text_then_two_tool_calls() -> None:
    events = translate(
        chunk({"role": "assistant", "content": "Checking."}),
        chunk(tool_delta(0, "call_a", "get_weather")),
        chunk(tool_delta(0, args='{"city":')),
        chunk(tool_delta(0, args=' "Paris"}')),
        chunk(tool_delta(1, "call_b", "now", "{}")),
        chunk({}, "tool_calls"),
        DONE,
    )
    assert kinds(events) == [
        "message_start",
        "ping",
        "content_block_start:text",
        "content_block_delta:text_delta",
        "content_block_stop:",
        "content_block_start:tool_use",
        "content_block_delta:input_json_delta",
        "content_block_delta:input_json_delta",
        "content_block_stop:",
        "content_block_start:tool_use",
        "content_block_delta:input_json_delta",
        "content_block_stop:",
        "message_delta",
        "message_stop",
    ]
    assert events[5]["content_block"] == {
        "type": "tool_use",
        "id": "call_a",
        "name": "get_weather",
        "input": {},
    }
    assert [e["index"] for e in events[5:9]] == [1, 1, 1, 1]
    assert "".join(e["delta"]["partial_json"] for e in events[6:8]) == '{"city": "Paris"}'
    assert events[9]["content_block"]["id"] == "call_b" and events[9]["index"] == 2
    assert events[12]["delta"]["stop_reason"] == "tool_use"
    assert events[12]["usage"] == {"output_tokens": 0}  # the upstream sent no usage


def test_stream_length_and_matched_stop() -> None:
    cut = translate(chunk({"content": "x"}), chunk({}, "length"), DONE)
    assert cut[-2]["delta"]["stop_reason"] == "max_tokens"
    matched = translate(
        chunk({"content": "x"}),
        chunk(
            {},
            "stop",
        ),
        DONE,
        stops=("END",),
    )
    assert matched[-2]["delta"]["stop_reason"] == "end_turn"
    vllm = AnthropicStream(stop_sequences=("END",))
    finish = (
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":"END"}]}\n\n'
    )
    events = parse(vllm(chunk({"content": "x"}) + finish + DONE))
    assert events[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_stream_bytes_split_anywhere_give_the_same_events() -> None:
    whole = chunk({"content": "Hello"}) + chunk({}, "stop") + USAGE + DONE
    stream = AnthropicStream()
    pieces = b"".join(stream(whole[i : i + 7]) for i in range(0, len(whole), 7))
    assert kinds(parse(pieces)) == kinds(translate(whole))
    assert parse(pieces)[-1] == {"type": "message_stop"}


def test_in_band_error_ends_the_stream_with_an_error_event_only() -> None:
    failure = b'data: {"error":{"message":"upstream stream ended before [DONE]","type":"upstream_bad_response"}}\n\n'
    stream = AnthropicStream()
    out = stream(chunk({"content": "par"}) + failure) + stream(chunk({"content": "more"}) + DONE)
    events = parse(out)
    assert events[-1] == {
        "type": "error",
        "error": {"type": "api_error", "message": "upstream stream ended before [DONE]"},
    }
    assert "message_stop" not in kinds(events) and "message_delta" not in kinds(events)
    assert b"event: error\n" in out


def test_rate_limit_in_band_keeps_its_type() -> None:
    failure = b'data: {"error":{"message":"slow","type":"rate_limit_error"}}\n\n'
    assert translate(chunk({"content": "a"}), failure)[-1]["error"]["type"] == "rate_limit_error"


def test_malformed_event_is_an_error_not_a_crash() -> None:
    events = translate(chunk({"content": "a"}), b"data: {not json\n\n", DONE)
    assert events[-1]["type"] == "error"
    assert "malformed" in events[-1]["error"]["message"]
    assert translate(b"data: [1, 2]\n\n")[-1]["type"] == "error"


def test_comments_pass_and_unknown_shapes_are_ignored() -> None:
    stream = AnthropicStream()
    out = stream(b": portkey: falling back\n\n" + b"event: other\n\n" + chunk({"content": "a"}))
    assert out.startswith(b": portkey: falling back\n\n")
    assert kinds(parse(out)) == [
        "message_start",
        "ping",
        "content_block_start:text",
        "content_block_delta:text_delta",
    ]


def test_done_without_chunks_is_still_a_whole_message() -> None:
    assert kinds(translate(DONE)) == ["message_start", "ping", "message_delta", "message_stop"]


# -- extra_content (Gemini thought signatures) through tool_use ids ----------------------

SIGNED_CALL = {
    "id": "call_7",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    "extra_content": {"google": {"thought_signature": "CiQB+sig/=="}},
}


def test_extra_content_rides_in_the_tool_use_id_and_comes_back() -> None:
    [block] = to_message(completion({"content": None, "tool_calls": [SIGNED_CALL]}, "tool_calls"))[
        "content"
    ]
    assert block["id"].startswith("call_7__pkx_")
    assert block["id"].replace("_", "").replace("-", "").isalnum()  # still a valid Anthropic id
    history = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [block]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "18C"}],
        },
    ]
    messages = to_openai(req(messages=history)).canonical["messages"]
    assert messages[1]["tool_calls"] == [SIGNED_CALL]
    assert messages[2] == {"role": "tool", "tool_call_id": "call_7", "content": "18C"}


def test_streamed_tool_call_keeps_its_extra_content_in_the_id() -> None:
    delta = {"tool_calls": [{"index": 0, **SIGNED_CALL}]}
    events = translate(chunk(delta), chunk({}, "tool_calls"), DONE)
    start = events[2]["content_block"]
    assert (
        start["id"]
        == to_message(completion({"content": None, "tool_calls": [SIGNED_CALL]}, "tool_calls"))[
            "content"
        ][0]["id"]
    )


@pytest.mark.parametrize("tool_id", ["toolu_1__pkx_!!!", "toolu_1__pkx_WzFd"])  # bad b64, a list
def test_undecodable_marks_leave_the_id_alone(tool_id: str) -> None:
    turn = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": tool_id, "name": "f", "input": {}}],
    }
    [call] = to_openai(req(messages=[turn])).canonical["messages"][0]["tool_calls"]
    assert call["id"] == tool_id and "extra_content" not in call
