"""Cohere v2: request, response and stream translation, errors, and the gateway end to end.

Wire examples follow Cohere's v2 reference (https://docs.cohere.com/v2/reference/chat,
/chat-stream, /embed, /errors).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest
from aiohttp import web
from openai import OpenAI

from portkey.errors import (
    AuthFailed,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
)
from portkey.formats.cohere import CohereStreamDecoder, build_request, parse_response
from portkey.providers.base import CHAT, EMBEDDINGS
from portkey.providers.cohere import SPEC, classify_error
from tests.fakes import cohere as fake
from tests.fakes.contract import REQUESTS
from tests.fakes.runner import AppServer
from tests.support import GatewayServer

USER = {"role": "user", "content": "What is an LLM?"}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALL = {
    "id": "get_weather_1byjy32y4hvq",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Toronto"}'},
}

# -- requests: canonical -> wire --------------------------------------------------------

REQUESTS_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "plain chat",
        {"model": "command-a-03-2025", "messages": [USER]},
        {"model": "command-a-03-2025", "messages": [USER]},
    ),
    (
        "system and developer become system; text parts join",
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "no emoji"}]},
                USER,
            ],
        },
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "system", "content": "no emoji"},
                USER,
            ],
        },
    ),
    (
        "sampling parameters are renamed",
        {
            "model": "m",
            "messages": [USER],
            "temperature": 0.3,
            "top_p": 0.9,
            "top_k": 40,
            "stop": "END",
            "seed": 7,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "max_tokens": 50,
            "max_completion_tokens": 100,
            "n": 1,
        },
        {
            "model": "m",
            "messages": [USER],
            "temperature": 0.3,
            "p": 0.9,
            "k": 40,
            "stop_sequences": ["END"],
            "seed": 7,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "max_tokens": 100,
        },
    ),
    (
        "streaming: stream_options stay with the decoder",
        {
            "model": "m",
            "messages": [USER],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        {"model": "m", "messages": [USER], "stream": True},
    ),
    (
        "tools, required tool choice, strict tools",
        {
            "model": "m",
            "messages": [USER],
            "tools": [{**WEATHER, "function": {**WEATHER["function"], "strict": True}}],
            "tool_choice": "required",
        },
        {
            "model": "m",
            "messages": [USER],
            "tools": [WEATHER],
            "strict_tools": True,
            "tool_choice": "REQUIRED",
        },
    ),
    (
        "auto tool choice is Cohere's default; none is NONE",
        {"model": "m", "messages": [USER], "tools": [WEATHER], "tool_choice": "auto"},
        {"model": "m", "messages": [USER], "tools": [WEATHER]},
    ),
    (
        "a tool round trip: assistant tool_calls, tool results as text blocks",
        {
            "model": "m",
            "messages": [
                USER,
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": CALL["id"], "content": "sunny"},
            ],
        },
        {
            "model": "m",
            "messages": [
                USER,
                {"role": "assistant", "tool_calls": [CALL]},
                {
                    "role": "tool",
                    "tool_call_id": CALL["id"],
                    "content": [{"type": "text", "text": "sunny"}],
                },
            ],
        },
    ),
    (
        "image parts pass as image_url content",
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                        },
                    ],
                }
            ],
        },
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                        },
                    ],
                }
            ],
        },
    ),
    (
        "json_object",
        {"model": "m", "messages": [USER], "response_format": {"type": "json_object"}},
        {"model": "m", "messages": [USER], "response_format": {"type": "json_object"}},
    ),
    (
        "json_schema becomes json_object with its schema",
        {
            "model": "m",
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "v", "schema": {"type": "object"}, "strict": True},
            },
        },
        {
            "model": "m",
            "messages": [USER],
            "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
        },
    ),
    (
        "Cohere-only fields sent as extra body pass through",
        {"model": "m", "messages": [USER], "safety_mode": "STRICT", "documents": ["a doc"]},
        {"model": "m", "messages": [USER], "safety_mode": "STRICT", "documents": ["a doc"]},
    ),
]


@pytest.mark.parametrize(
    ("canonical", "wire"), [c[1:] for c in REQUESTS_CASES], ids=[c[0] for c in REQUESTS_CASES]
)
def test_chat_request(canonical: dict[str, Any], wire: dict[str, Any]) -> None:
    assert build_request(CHAT, canonical, {}) == ("/v2/chat", wire)


def test_text_beside_tool_calls_is_the_tool_plan() -> None:
    said = {"role": "assistant", "content": "I will check.", "tool_calls": [CALL]}
    _, wire = build_request(CHAT, {"model": "m", "messages": [USER, said]}, {})
    assert wire["messages"][1] == {
        "role": "assistant",
        "tool_plan": "I will check.",
        "tool_calls": [CALL],
    }


def test_tool_choice_none() -> None:
    _, wire = build_request(CHAT, {"model": "m", "messages": [USER], "tool_choice": "none"}, {})
    assert wire["tool_choice"] == "NONE"


EMBED_CASES = [
    (
        {"model": "embed-v4.0", "input": "hello"},
        {
            "model": "embed-v4.0",
            "texts": ["hello"],
            "input_type": "search_document",
            "embedding_types": ["float"],
        },
    ),
    (
        {
            "model": "embed-v4.0",
            "input": ["a", "b"],
            "encoding_format": "base64",
            "dimensions": 256,
            "input_type": "search_query",
        },
        {
            "model": "embed-v4.0",
            "texts": ["a", "b"],
            "embedding_types": ["base64"],
            "output_dimension": 256,
            "input_type": "search_query",
        },
    ),
]


@pytest.mark.parametrize(("canonical", "wire"), EMBED_CASES)
def test_embed_request(canonical: dict[str, Any], wire: dict[str, Any]) -> None:
    assert build_request(EMBEDDINGS, canonical, {}) == ("/v2/embed", wire)


REJECTED = [
    ("n", {"model": "m", "messages": [USER], "n": 2}),
    (
        "tool_choice",
        {
            "model": "m",
            "messages": [USER],
            "tool_choice": {"type": "function", "function": {"name": "x"}},
        },
    ),
    ("tools", {"model": "m", "messages": [USER], "tools": [{"type": "code_interpreter"}]}),
    ("response_format", {"model": "m", "messages": [USER], "response_format": {"type": "xml"}}),
    ("messages", {"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]}),
    (
        "messages",
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
    ),
    (
        "messages",
        {"model": "m", "messages": [{"role": "system", "content": [{"type": "image_url"}]}]},
    ),
    ("modalities", {"model": "m", "messages": [USER], "modalities": ["text"]}),
    (None, {"model": "m", "messages": [{"role": "user", "content": ["not an object"]}]}),
]


@pytest.mark.parametrize(("param", "canonical"), REJECTED)
def test_untranslatable_requests_are_refused_by_name(
    param: str | None, canonical: dict[str, Any]
) -> None:
    with pytest.raises(InvalidRequest) as info:
        build_request(CHAT, canonical, {})
    assert info.value.param == param


def test_token_array_embeddings_are_refused() -> None:
    with pytest.raises(InvalidRequest) as info:
        build_request(EMBEDDINGS, {"model": "e", "input": [[1, 2, 3]]}, {})
    assert info.value.param == "input"


def test_every_dropped_parameter_is_declared_with_a_reason() -> None:
    assert SPEC.unsupported == frozenset()
    for name, rule in SPEC.params.items():
        assert rule.reason, name


# -- responses: wire -> canonical -------------------------------------------------------

TEXT_ANSWER = {
    "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "COMPLETE",
    "message": {
        "role": "assistant",
        "content": [{"type": "text", "text": "LLMs stand for Large Language Models."}],
    },
    "usage": {
        "billed_units": {"input_tokens": 17, "output_tokens": 12},
        "tokens": {"input_tokens": 215, "output_tokens": 12},
        "cached_tokens": 4,
    },
}
TOOL_ANSWER = {
    "id": "d9f6ae1c-fake",
    "finish_reason": "TOOL_CALL",
    "message": {
        "role": "assistant",
        "tool_plan": "I will search for the weather in Toronto.",
        "tool_calls": [CALL],
    },
    "usage": {"tokens": {"input_tokens": 37, "output_tokens": 9}},
}


def test_text_answer() -> None:
    answer = parse_response(CHAT, TEXT_ANSWER)
    assert answer["id"] == TEXT_ANSWER["id"]
    assert answer["object"] == "chat.completion"
    assert isinstance(answer["created"], int)
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "LLMs stand for Large Language Models."},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert answer["usage"] == {  # billed units are what Cohere counts
        "prompt_tokens": 17,
        "completion_tokens": 12,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_tool_call_answer_drops_the_plan_and_falls_back_to_raw_tokens() -> None:
    answer = parse_response(CHAT, TOOL_ANSWER)
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {"role": "assistant", "content": None, "tool_calls": [CALL]}
    assert answer["usage"]["prompt_tokens"] == 37
    assert answer["usage"]["total_tokens"] == 46


@pytest.mark.parametrize(
    ("native", "openai_reason"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
        ("ERROR_TOXIC", "content_filter"),
    ],
)
def test_finish_reasons(native: str, openai_reason: str) -> None:
    answer = parse_response(CHAT, {**TEXT_ANSWER, "finish_reason": native})
    assert answer["choices"][0]["finish_reason"] == openai_reason


@pytest.mark.parametrize(
    ("native", "error"), [("ERROR", UpstreamBadResponse), ("TIMEOUT", UpstreamTimeout)]
)
def test_failed_generations_fail_the_target(native: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_response(CHAT, {**TEXT_ANSWER, "finish_reason": native})


def test_embed_answers() -> None:
    wire = {
        "id": "e1",
        "embeddings": {"float": [[0.1, 0.2], [0.3, 0.4]]},
        "texts": ["a", "b"],
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2}},
        "response_type": "embeddings_by_type",
    }
    answer = parse_response(EMBEDDINGS, wire)
    assert answer["object"] == "list"
    assert [d["embedding"] for d in answer["data"]] == [[0.1, 0.2], [0.3, 0.4]]
    assert [d["index"] for d in answer["data"]] == [0, 1]
    assert answer["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    base64 = parse_response(EMBEDDINGS, {**wire, "embeddings": {"base64": ["AAAA"]}})
    assert base64["data"][0]["embedding"] == "AAAA"
    with pytest.raises(UpstreamBadResponse):
        parse_response(EMBEDDINGS, {**wire, "embeddings": {"int8": [[1]]}})


# -- streams ----------------------------------------------------------------------------


def frames(*events: dict[str, Any]) -> bytes:
    return b"".join(
        f"event: {e['type']}\n".encode() + b"data: " + orjson.dumps(e) + b"\n\n" for e in events
    )


START = {
    "type": "message-start",
    "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
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
TEXT_EVENTS = (
    START,
    {
        "type": "content-start",
        "index": 0,
        "delta": {"message": {"content": {"type": "text", "text": ""}}},
    },
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "A large"}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": " model"}}}},
    {"type": "content-end", "index": 0},
)
END = {
    "type": "message-end",
    "delta": {
        "finish_reason": "COMPLETE",
        "usage": {
            "billed_units": {"input_tokens": 6, "output_tokens": 2},
            "tokens": {"input_tokens": 212, "output_tokens": 2},
        },
    },
}
TOOL_EVENTS = (
    START,
    {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look"}}},
    {
        "type": "tool-call-start",
        "index": 0,
        "delta": {
            "message": {
                "tool_calls": {
                    "id": "get_weather_nsz5zm3w56q3",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            }
        },
    },
    {
        "type": "tool-call-delta",
        "index": 0,
        "delta": {"message": {"tool_calls": {"function": {"arguments": '{"city":'}}}},
    },
    {
        "type": "tool-call-delta",
        "index": 0,
        "delta": {"message": {"tool_calls": {"function": {"arguments": ' "Paris"}'}}}},
    },
    {"type": "tool-call-end", "index": 0},
    {
        "type": "message-end",
        "delta": {
            "finish_reason": "TOOL_CALL",
            "usage": {"billed_units": {"input_tokens": 30, "output_tokens": 9}},
        },
    },
)


def decode(
    data: bytes, canonical: dict[str, Any] | None = None, step: int = 0
) -> tuple[list[Any], bool]:
    """Run a decoder over ``data`` (in ``step``-byte pieces if given): chunks, and [DONE] seen."""
    decoder = CohereStreamDecoder(canonical or {"model": "command-a-03-2025"})
    pieces = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    out = b"".join(decoder.feed(p) for p in pieces) + decoder.close()
    events = [e for e in out.split(b"\n\n") if e]
    assert all(e.startswith(b"data: ") for e in events)
    done = events[-1] == b"data: [DONE]" if events else False
    assert out.count(b"[DONE]") == (1 if done else 0)
    return [orjson.loads(e[6:]) for e in events if e != b"data: [DONE]"], done


def test_text_stream() -> None:
    chunks, done = decode(frames(*TEXT_EVENTS, END))
    assert done
    assert all(
        c["object"] == "chat.completion.chunk" and c["model"] == "command-a-03-2025" for c in chunks
    )
    assert all(c["id"] == START["id"] and isinstance(c["created"], int) for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content") or "" for d in deltas) == "A large model"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert not any("usage" in c for c in chunks)  # the client did not ask for it


def test_usage_chunk_only_when_asked() -> None:
    canonical = {"model": "m", "stream_options": {"include_usage": True}}
    chunks, _ = decode(frames(*TEXT_EVENTS, END), canonical)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 6
    assert chunks[-1]["usage"]["completion_tokens"] == 2


def test_tool_stream() -> None:
    chunks, done = decode(frames(*TOOL_EVENTS))
    assert done
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0] == {
        "index": 0,
        "id": "get_weather_nsz5zm3w56q3",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}
    assert {c["index"] for c in calls} == {0}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert not any("I will look" in json.dumps(c) for c in chunks)  # the plan is not an answer


def test_byte_by_byte_and_crlf_framing_give_the_same_chunks() -> None:
    data = frames(*TEXT_EVENTS, END)
    whole, _ = decode(data)
    strip = [{k: v for k, v in c.items() if k not in ("created", "id")} for c in whole]
    for variant in (decode(data, step=1)[0], decode(data.replace(b"\n", b"\r\n"), step=7)[0]):
        assert [
            {k: v for k, v in c.items() if k not in ("created", "id")} for c in variant
        ] == strip


def test_a_stream_cut_before_message_end_never_ends_in_done() -> None:
    chunks, done = decode(frames(*TEXT_EVENTS))
    assert not done
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "A large model"
    _, done = decode(frames(*TEXT_EVENTS) + b'event: message-end\ndata: {"type": "message-e')
    assert not done  # a torn last frame is no end either


def test_done_before_message_end_is_not_an_end() -> None:
    _, done = decode(frames(*TEXT_EVENTS) + b"data: [DONE]\n\n")
    assert not done


def test_unknown_and_citation_events_are_skipped() -> None:
    extra = (
        {"type": "citation-start", "index": 0, "delta": {"message": {"citations": {"start": 0}}}},
        {"type": "citation-end", "index": 0},
        {"type": "debug", "prompt": "..."},
        {"type": "brand-new-event", "delta": {}},
    )
    chunks, done = decode(frames(*TEXT_EVENTS, *extra, END))
    assert done
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "A large model"


def test_events_after_message_end_are_ignored() -> None:
    chunks, done = decode(frames(*TEXT_EVENTS, END, TEXT_EVENTS[2]))
    assert done
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"event: message-start\ndata: {not json\n\n", ValueError),
        (b"data: [1, 2]\n\n", TypeError),
        (frames({"type": "content-delta", "index": 0, "delta": {}}), TypeError),
        (
            frames(
                START,
                {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "overloaded"}},
            ),
            UpstreamBadResponse,
        ),
        (
            frames(START, {"type": "message-end", "delta": {"finish_reason": "TIMEOUT"}}),
            UpstreamTimeout,
        ),
    ],
)
def test_malformed_or_failed_streams_raise(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        CohereStreamDecoder({"model": "m"}).feed(data)


# -- errors -----------------------------------------------------------------------------

ERROR_CASES = [
    (
        429,
        {"message": "You are using a Trial key, which is limited to 20 API calls / minute."},
        RateLimited,
    ),
    (401, {"message": "invalid api token"}, AuthFailed),
    (403, {"message": "forbidden"}, AuthFailed),
    (498, {"message": "invalid token"}, AuthFailed),
    (
        400,
        {
            "message": "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 5000."
        },
        ContextWindowExceeded,
    ),
    (400, {"message": "blocked output: please adjust your prompt and try again"}, ContentFiltered),
    (400, {"message": "invalid request: message must be at least 1 token long"}, UpstreamError),
    (422, {"message": "invalid type: expected a string"}, UpstreamError),
    (
        500,
        {"message": "internal server error, this has been reported to our developers"},
        UpstreamError,
    ),
    (503, None, UpstreamError),
]


@pytest.mark.parametrize(("status", "body", "kind"), ERROR_CASES)
def test_classify_error(status: int, body: dict[str, Any] | None, kind: type[Exception]) -> None:
    error = classify_error(status, body, 2.0)
    assert type(error) is kind
    if body:
        assert error.message == body["message"]
    if kind is RateLimited:
        assert error.retry_after == 2.0
    if kind is UpstreamError:
        assert error.http_status == status


# -- through the gateway ----------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[AppServer]:
    with AppServer(fake.make_app()) as server:
        yield server


def _client(gateway: GatewayServer, url: str, **extra: Any) -> OpenAI:
    config = {"provider": "cohere", "custom_host": url, "api_key": "co-key", **extra}
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(config)},
    )


def test_answers_name_the_requested_model(gateway: GatewayServer, upstream: AppServer) -> None:
    answer = _client(gateway, upstream.url).chat.completions.create(
        model="command-a-03-2025", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.model == "command-a-03-2025"
    assert answer.usage is not None and answer.usage.prompt_tokens == 11


def test_embeddings_through_the_gateway(gateway: GatewayServer, upstream: AppServer) -> None:
    client = _client(gateway, upstream.url)
    plain = client.embeddings.create(model="embed-v4.0", input=["ab", "abcd"])  # SDK asks base64
    assert [d.embedding for d in plain.data] == [[2.0, 0.5, -0.25], [4.0, 0.5, -0.25]]
    floats = client.embeddings.create(model="embed-v4.0", input="abc", encoding_format="float")
    assert floats.data[0].embedding == [3.0, 0.5, -0.25]
    assert floats.model == "embed-v4.0"
    sent = [body for path, _, body in upstream.app[REQUESTS] if path == "/v2/embed"]
    assert sent[-1]["input_type"] == "search_document"
    assert sent[0]["embedding_types"] == ["base64"]


def test_dropped_parameters_are_reported(gateway: GatewayServer, upstream: AppServer) -> None:
    raw = _client(gateway, upstream.url).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}], logit_bias={"1": 1}, user="u1"
    )
    warnings = raw.headers["x-portkey-warnings"]
    assert "logit_bias dropped for cohere" in warnings and "user dropped for cohere" in warnings
    sent = upstream.app[REQUESTS][-1][2]
    assert "logit_bias" not in sent and "user" not in sent


def test_refused_parameter_is_named(gateway: GatewayServer, upstream: AppServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _client(gateway, upstream.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], n=2
        )
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "n"


def _broken_stream_app(body: bytes) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v2/chat", chat)
    return app


@pytest.mark.parametrize(
    "body",
    [
        frames(*TEXT_EVENTS),  # cut before message-end
        frames(*TEXT_EVENTS) + b"event: content-delta\ndata: {oops\n\n",  # bad JSON mid-stream
        frames(*TEXT_EVENTS) + b'data: {"type": "message-end", "delta": {"finis',  # torn frame
    ],
    ids=["cut", "bad-json", "torn"],
)
def test_broken_streams_end_in_an_error_never_a_clean_finish(
    gateway: GatewayServer, body: bytes
) -> None:
    with AppServer(_broken_stream_app(body)) as server:
        stream = _client(gateway, server.url, request_timeout=5000).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = ""
        with pytest.raises(openai.APIError):
            for chunk in stream:
                text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        assert text in ("", "A large model")  # failed before the first event, or in-band
