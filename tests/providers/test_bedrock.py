"""Bedrock: pure translations against Converse reference examples, then the gateway end to end.

Requests, answers, streams, errors and SigV4 are checked as data tables; the last tests drive
the real gateway with the openai SDK against the fake in ``tests/fakes/bedrock.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import openai
import pytest
import yarl
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
from portkey.formats.bedrock.request import JSON_TOOL, build_request
from portkey.formats.bedrock.response import classify_error, parse_response
from portkey.formats.bedrock.stream import ConverseStreamDecoder
from portkey.providers.base import CHAT, EMBEDDINGS, SignRequest
from portkey.providers.bedrock import SPEC, build_url, sigv4_headers
from tests.fakes import bedrock as fake
from tests.fakes.bedrock import encode_frame, event_frame, exception_frame, stream_frames
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
WEATHER_SPEC = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Weather for a city",
        "inputSchema": {"json": WEATHER["function"]["parameters"]},  # type: ignore[index]
    }
}
CALL = {
    "id": "tooluse_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}
TOOL_USE = {
    "toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "anthropic.claude-3-5-sonnet-20240620-v1:0", "messages": [USER], **fields}


def turn(role: str, *blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": role, "content": list(blocks)}


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def json_spec(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "toolSpec": {"name": JSON_TOOL, "description": description, "inputSchema": {"json": schema}}
    }


HI = turn("user", {"text": "hi"})
RESULT = {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "sunny"}]}}
S3_IMAGE = {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.JPG"}}}

# -- requests ------------------------------------------------------------------------------

REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "system and developer become system blocks",
        chat(
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
                USER,
            ]
        ),
        {"system": [{"text": "be brief"}, {"text": "and kind"}], "messages": [HI]},
    ),
    (
        "inference config, as in the Converse reference",
        chat(max_tokens=512, temperature=0.5, top_p=0.9, stop="END"),
        {
            "messages": [HI],
            "inferenceConfig": {
                "maxTokens": 512,
                "temperature": 0.5,
                "topP": 0.9,
                "stopSequences": ["END"],
            },
        },
    ),
    (
        "max_completion_tokens wins, stop lists pass, top_k goes to the model's fields",
        chat(max_tokens=9, max_completion_tokens=7, stop=["a", "b"], top_k=40),
        {
            "messages": [HI],
            "inferenceConfig": {"maxTokens": 7, "stopSequences": ["a", "b"]},
            "additionalModelRequestFields": {"top_k": 40},
        },
    ),
    (
        "tool round trip: toolUse, toolResult turns merged with the next user text",
        chat(
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "tooluse_1", "content": "sunny"},
                {"role": "user", "content": "thanks"},
            ],
            tools=[WEATHER],
            tool_choice="auto",
        ),
        {
            "messages": [
                turn("user", {"text": "weather?"}),
                turn("assistant", TOOL_USE),
                turn("user", RESULT, {"text": "thanks"}),
            ],
            "toolConfig": {"tools": [WEATHER_SPEC], "toolChoice": {"auto": {}}},
        },
    ),
    (
        "images inline and from S3",
        chat(
            messages=[
                turn(
                    "user",
                    {"type": "text", "text": "what?"},
                    image(f"data:image/png;base64,{PIXEL}"),
                    image("s3://bucket/cat.JPG"),
                )
            ]
        ),
        {
            "messages": [
                turn(
                    "user",
                    {"text": "what?"},
                    {"image": {"format": "png", "source": {"bytes": PIXEL}}},
                    {"image": S3_IMAGE},
                )
            ]
        },
    ),
    (
        "a named function -> tool",
        chat(
            tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}}
        ),
        {
            "messages": [HI],
            "toolConfig": {
                "tools": [WEATHER_SPEC],
                "toolChoice": {"tool": {"name": "get_weather"}},
            },
        },
    ),
    (
        "tool_choice none sends no tools",
        chat(tools=[WEATHER], tool_choice="none"),
        {"messages": [HI]},
    ),
    (
        "json_schema is a forced tool",
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "verdict", "schema": SCHEMA},
            }
        ),
        {
            "messages": [HI],
            "toolConfig": {
                "tools": [json_spec("Answer with the 'verdict' JSON object.", SCHEMA)],
                "toolChoice": {"tool": {"name": JSON_TOOL}},
            },
        },
    ),
    (
        "json_object beside user tools: the model must use one of them",
        chat(tools=[WEATHER], response_format={"type": "json_object"}),
        {
            "messages": [HI],
            "toolConfig": {
                "tools": [
                    WEATHER_SPEC,
                    json_spec("Answer with a JSON object.", {"type": "object"}),
                ],
                "toolChoice": {"any": {}},
            },
        },
    ),
]


@pytest.mark.parametrize(("canonical", "body"), [pytest.param(c, b, id=i) for i, c, b in REQUESTS])
def test_chat_request(canonical: dict[str, Any], body: dict[str, Any]) -> None:
    path, wire = build_request(CHAT, canonical, {})
    assert path == "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
    assert wire == body


def test_stream_path_and_required_choice() -> None:
    path, wire = build_request(CHAT, chat(stream=True, tools=[WEATHER], tool_choice="required"), {})
    assert path.endswith("/converse-stream")
    assert wire["toolConfig"]["toolChoice"] == {"any": {}}


MODEL_IDS = [
    "amazon.nova-pro-v1:0",
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.meta.llama3-2-90b-instruct-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/ab12cd34 (x)+y",
]


@pytest.mark.parametrize("model", MODEL_IDS)
def test_model_path_is_sent_as_signed(model: str) -> None:
    """aiohttp's URL class must not re-encode the path we sign: one segment, byte for byte."""
    path, _ = build_request(CHAT, chat(model=model), {})
    assert yarl.URL("https://bedrock-runtime.us-east-1.amazonaws.com" + path).raw_path == path
    assert path.count("/") == 3
    assert unquote(path.split("/")[2]) == model


BAD_CALL = {**CALL, "function": {"name": "f", "arguments": "{no"}}
REJECTED = [
    (chat(n=2), "n"),
    (chat(foo=1), "foo"),
    (chat(model=""), "model"),
    (chat(messages=[]), "messages"),
    (chat(messages=[{"role": "function", "content": "x"}]), "messages"),
    (chat(messages=[{"role": "user", "content": ""}]), "messages"),
    (chat(messages=[turn("user", {"type": "input_audio"})]), "messages"),
    (chat(messages=[turn("user", image("https://x/cat.png"))]), "messages"),
    (chat(messages=[turn("user", image("data:image/bmp;base64,AA=="))]), "messages"),
    (chat(messages=[{"role": "assistant", "tool_calls": [BAD_CALL]}]), "messages"),
    (chat(messages=[{"role": "tool", "content": "x"}]), "messages"),
    (chat(messages=[turn("system", {"type": "image_url"}), USER]), "messages"),
    (chat(tool_choice="auto"), "tool_choice"),
    (chat(tools=[WEATHER], tool_choice="sometimes"), "tool_choice"),
    (
        chat(
            messages=[USER, {"role": "assistant", "tool_calls": [CALL]}],
            tools=[WEATHER],
            tool_choice="none",
        ),
        "tool_choice",
    ),
    (chat(tools=[{"type": "code_interpreter"}]), "tools"),
    (chat(tools=[{"type": "function", "function": {"name": JSON_TOOL}}]), "tools"),
    (chat(response_format={"type": "xml"}), "response_format"),
    (chat(response_format={"type": "json_schema"}), "response_format"),
    (chat(stop=[1]), "stop"),
    (chat(top_k="many"), "top_k"),
]


@pytest.mark.parametrize(("canonical", "param"), REJECTED)
def test_chat_request_rejections_name_the_parameter(canonical: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        build_request(CHAT, canonical, {})
    assert info.value.param == param


TITAN, COHERE = "amazon.titan-embed-text-v2:0", "cohere.embed-english-v3"
EMBEDDINGS_OK = [
    (
        {"model": TITAN, "input": "hi", "dimensions": 256, "encoding_format": "base64"},
        {"inputText": "hi", "normalize": True, "dimensions": 256},
    ),
    ({"model": "amazon.titan-embed-text-v1", "input": ["one text"]}, {"inputText": "one text"}),
    (
        {"model": COHERE, "input": ["a", "b"]},
        {"texts": ["a", "b"], "input_type": "search_document"},
    ),
    (
        {
            "model": "us.cohere.embed-v4:0",
            "input": "a",
            "input_type": "search_query",
            "dimensions": 8,
        },
        {"texts": ["a"], "input_type": "search_query", "output_dimension": 8},
    ),
    (
        {"model": f"arn:aws:bedrock:us-east-1::foundation-model/{TITAN}", "input": "x"},
        {"inputText": "x", "normalize": True},
    ),
]


@pytest.mark.parametrize(("canonical", "body"), EMBEDDINGS_OK)
def test_embedding_bodies_by_model_prefix(canonical: dict[str, Any], body: dict[str, Any]) -> None:
    path, wire = build_request(EMBEDDINGS, canonical, {})
    assert path.endswith("/invoke")
    assert wire == body


EMBEDDINGS_REJECTED = [
    ({"model": TITAN, "input": ["a", "b"]}, "input"),
    ({"model": TITAN, "input": [[1, 2, 3]]}, "input"),
    ({"model": TITAN, "input": "a", "input_type": "x"}, "input_type"),
    ({"model": "amazon.titan-embed-text-v1", "input": "a", "dimensions": 256}, "dimensions"),
    ({"model": COHERE, "input": "a", "dimensions": 256}, "dimensions"),
    ({"model": COHERE, "input": "a", "encoding_format": "int8"}, "encoding_format"),
    ({"model": "meta.llama3-8b-instruct-v1:0", "input": "a"}, "model"),
    ({"model": COHERE, "input": "a", "foo": 1}, "foo"),
]


@pytest.mark.parametrize(("canonical", "param"), EMBEDDINGS_REJECTED)
def test_embedding_rejections_name_the_parameter(canonical: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        build_request(EMBEDDINGS, canonical, {})
    assert info.value.param == param


# -- answers -------------------------------------------------------------------------------


def converse(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    counts = {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18, **usage}
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": counts,
        "metrics": {"latencyMs": 1234},
    }


def test_text_answer_with_usage_and_cache_reads() -> None:
    answer = parse_response(
        CHAT, converse([{"text": "Hello"}, {"text": " there"}], cacheReadInputTokens=5)
    )
    assert answer["object"] == "chat.completion"
    assert isinstance(answer["created"], int) and answer["id"].startswith("chatcmpl-")
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert answer["usage"]["prompt_tokens"] == 16  # cache reads are prompt tokens too
    assert answer["usage"]["completion_tokens"] == 7
    assert answer["usage"]["total_tokens"] == 23
    assert answer["usage"]["prompt_tokens_details"] == {"cached_tokens": 5}


def test_tool_use_answer() -> None:
    answer = parse_response(CHAT, converse([{"text": "Let me check."}, TOOL_USE], "tool_use"))
    message = answer["choices"][0]["message"]
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] == "Let me check."
    assert message["tool_calls"] == [
        {
            "id": "tooluse_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]


def test_json_tool_answer_is_the_content() -> None:
    use = {"toolUse": {"toolUseId": "t", "name": JSON_TOOL, "input": {"ok": True}}}
    answer = parse_response(CHAT, converse([use], "tool_use"))
    choice = answer["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"ok": True}
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("a_reason_added_later", "stop"),
    ],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    answer = parse_response(CHAT, converse([{"text": "x"}], stop))
    assert answer["choices"][0]["finish_reason"] == finish


@pytest.mark.parametrize("stop", ["malformed_model_output", "malformed_tool_use"])
def test_malformed_output_is_an_upstream_error(stop: str) -> None:
    with pytest.raises(UpstreamBadResponse):
        parse_response(CHAT, converse([{"text": "x"}], stop))


@pytest.mark.parametrize(
    ("wire", "vectors", "tokens"),
    [
        ({"embedding": [0.1, 0.2], "inputTextTokenCount": 3}, [[0.1, 0.2]], 3),
        ({"embeddings": [[1.0], [2.0]], "response_type": "embeddings_floats"}, [[1.0], [2.0]], 0),
        ({"embeddings": {"float": [[1.0]]}, "response_type": "embeddings_by_type"}, [[1.0]], 0),
    ],
)
def test_embedding_answers(wire: dict[str, Any], vectors: list[list[float]], tokens: int) -> None:
    answer = parse_response(EMBEDDINGS, wire)
    assert answer["object"] == "list"
    assert [d["embedding"] for d in answer["data"]] == vectors
    assert [d["index"] for d in answer["data"]] == list(range(len(vectors)))
    assert answer["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_embedding_answer_without_vectors_is_bad() -> None:
    with pytest.raises(UpstreamBadResponse):
        parse_response(EMBEDDINGS, {"embeddings": "nope"})


SIGNATURE_ECHO = (
    "The request signature we calculated does not match the signature you provided.\n\n"
    "The Canonical String for this request should have been\n'POST\n/model/x/converse\n\n"
    "x-amz-security-token:SESSION-SECRET\n'"
)
TOO_LONG = "The model returned the following errors: prompt is too long: 210000 tokens > 200000"
#: (status, message, error class, status the client sees), messages as Bedrock words them
ERRORS: list[tuple[int, str | None, type[GatewayError], int]] = [
    (429, "Too many requests, please wait before trying again.", RateLimited, 429),
    (403, "You don't have access to the model with the specified model ID.", AuthFailed, 403),
    (403, "The security token included in the request is invalid.", AuthFailed, 401),
    (403, SIGNATURE_ECHO, AuthFailed, 401),
    (400, "Input is too long for requested model.", ContextWindowExceeded, 400),
    (400, TOO_LONG, ContextWindowExceeded, 400),
    (400, "Malformed input request: #: extraneous key [foo] is not permitted", UpstreamError, 400),
    (408, "Model has timed out in processing the request.", UpstreamTimeout, 408),
    (424, "Received error from model", UpstreamError, 424),
    (500, "The server encountered an internal error.", UpstreamError, 500),
    (503, "Bedrock is unable to process your request.", UpstreamError, 503),
    (502, None, UpstreamError, 502),
]


@pytest.mark.parametrize(("status", "message", "kind", "http_status"), ERRORS)
def test_classify_error(
    status: int, message: str | None, kind: type[GatewayError], http_status: int
) -> None:
    error = classify_error(status, None if message is None else {"message": message}, 2.0)
    assert type(error) is kind
    assert error.http_status == http_status
    assert "SESSION-SECRET" not in error.message  # signature errors echo signed headers
    if kind is RateLimited:
        assert error.retry_after == 2.0


def test_exception_name_in_the_body_decides_too() -> None:
    body = {"__type": "com.amazon.coral.service#IncompleteSignatureException", "message": "x"}
    error = classify_error(403, body, None)
    assert isinstance(error, AuthFailed) and error.http_status == 401
    assert error.code == "IncompleteSignatureException"


# -- streams -------------------------------------------------------------------------------


def decode(
    frames: list[bytes], canonical: dict[str, Any] | None = None, step: int = 0
) -> list[Any]:
    """Feed the frames whole (step 0) or ``step`` bytes at a time; the SSE events out."""
    decoder = ConverseStreamDecoder(canonical or chat(stream=True))
    data = b"".join(frames)
    pieces = [data] if step == 0 else [data[i : i + step] for i in range(0, len(data), step)]
    out = b"".join(decoder.feed(piece) for piece in pieces) + decoder.close()
    return events(out)


def events(out: bytes) -> list[Any]:
    found: list[Any] = []
    for event in out.split(b"\n\n"):
        if event:
            assert event.startswith(b"data: ")
            data = event[6:]
            found.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return found


def deltas(found: list[Any]) -> list[dict[str, Any]]:
    return [e["choices"][0]["delta"] for e in found if e != "[DONE]" and e["choices"]]


@pytest.mark.parametrize("step", [0, 1, 7, 64])
def test_text_stream_across_any_chunking(step: int) -> None:
    found = decode(stream_frames([{"text": "Hello world"}], "end_turn"), step=step)
    assert found[-1] == "[DONE]"
    chunks = found[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert {c["model"] for c in chunks} == {"anthropic.claude-3-5-sonnet-20240620-v1:0"}
    assert len({c["id"] for c in chunks}) == 1
    assert deltas(found)[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas(found)) == "Hello world"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert not any("usage" in c for c in chunks)  # not asked for


def test_usage_chunk_only_when_asked() -> None:
    canonical = chat(stream=True, stream_options={"include_usage": True})
    found = decode(stream_frames([{"text": "Hi"}], "max_tokens"), canonical)
    assert found[-1] == "[DONE]"
    assert found[-2]["choices"] == []
    assert found[-2]["usage"]["prompt_tokens"] == 11
    assert found[-2]["usage"]["completion_tokens"] == 7
    assert found[-3]["choices"][0]["finish_reason"] == "length"


def test_tool_stream() -> None:
    found = decode(stream_frames([{"text": "Checking."}, TOOL_USE], "tool_use"), step=5)
    calls = [d["tool_calls"][0] for d in deltas(found) if "tool_calls" in d]
    assert calls[0] == {
        "index": 0,
        "id": "tooluse_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert len(calls) >= 3  # start, then the arguments in two deltas
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}
    assert [e for e in found if e != "[DONE]"][-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_json_tool_stream_is_content() -> None:
    use = {"toolUse": {"toolUseId": "t", "name": JSON_TOOL, "input": {"ok": True}}}
    found = decode(stream_frames([use], "tool_use"))
    assert json.loads("".join(d.get("content", "") for d in deltas(found))) == {"ok": True}
    assert not any("tool_calls" in d for d in deltas(found))
    assert found[-2]["choices"][0]["finish_reason"] == "stop"


def test_done_waits_for_metadata_or_a_clean_end() -> None:
    frames = stream_frames([{"text": "Hi"}], "end_turn")
    decoder = ConverseStreamDecoder(chat(stream=True))
    assert b"[DONE]" not in decoder.feed(b"".join(frames[:-1]))  # messageStop, no metadata yet
    assert decoder.feed(frames[-1]).endswith(b"data: [DONE]\n\n")
    assert decoder.close() == b""
    no_metadata = stream_frames([{"text": "Hi"}], "end_turn", metadata=False)
    assert decode(no_metadata)[-1] == "[DONE]"


def test_stream_without_message_stop_never_says_done() -> None:
    frames = stream_frames([{"text": "Hello"}], "end_turn")[:3]
    assert "[DONE]" not in decode(frames)


def test_unknown_events_and_message_types_are_skipped() -> None:
    frames = stream_frames([{"text": "Hi"}], "end_turn")
    odd = encode_frame({":message-type": "something-new"}, b"{}")
    found = decode([frames[0], event_frame("someFutureEvent", {"x": 1}), odd, *frames[1:]])
    assert "".join(d.get("content", "") for d in deltas(found)) == "Hi"
    assert found[-1] == "[DONE]"


def test_first_frame_exception_fails_the_attempt_whole() -> None:
    decoder = ConverseStreamDecoder(chat(stream=True))
    frames = stream_frames([{"text": "Hi"}], "end_turn")
    with pytest.raises(RateLimited) as info:
        decoder.feed(frames[0] + exception_frame("throttlingException", "Too many tokens"))
    assert info.value.code == "throttlingException"
    assert info.value.message == "Too many tokens"


def test_mid_stream_exception_after_what_came_before() -> None:
    decoder = ConverseStreamDecoder(chat(stream=True))
    frames = stream_frames([{"text": "Hello"}], "end_turn")
    assert decoder.feed(frames[0])
    out = decoder.feed(frames[1] + exception_frame("modelStreamErrorException", "model broke"))
    assert deltas(events(out)) == [{"content": "He"}]
    with pytest.raises(UpstreamError) as info:
        decoder.close()
    assert info.value.http_status == 424


def test_error_message_type() -> None:
    frame = encode_frame(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b""
    )
    with pytest.raises(UpstreamError, match="InternalFailure: boom"):
        ConverseStreamDecoder(chat(stream=True)).feed(frame)


def _bad_crc() -> bytes:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[-1] ^= 0xFF
    return bytes(frame)


MALFORMED = [
    ("bad message crc", _bad_crc()),
    ("bad prelude crc", b"\x00\x00\x00\x20\x00\x00\x00\x00\xde\xad\xbe\xef" + b"\x00" * 20),
    (
        "payload not json",
        encode_frame({":message-type": "event", ":event-type": "messageStart"}, b"{no"),
    ),
    (
        "payload not an object",
        encode_frame({":message-type": "event", ":event-type": "messageStart"}, b"[1]"),
    ),
    ("delta without index", event_frame("contentBlockDelta", {"delta": {"text": "x"}})),
    (
        "tool input never started",
        event_frame(
            "contentBlockDelta", {"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{"}}}
        ),
    ),
    ("unknown stop reason shape", event_frame("messageStop", {"stopReason": 7})),
]


@pytest.mark.parametrize("frame", [pytest.param(f, id=i) for i, f in MALFORMED])
def test_malformed_frames_are_upstream_bad_responses(frame: bytes) -> None:
    decoder = ConverseStreamDecoder(chat(stream=True))
    with pytest.raises(UpstreamBadResponse):
        decoder.feed(frame)
    with pytest.raises(UpstreamBadResponse):  # and it stays failed
        decoder.close()


def test_truncated_frame_is_reported_at_the_end() -> None:
    frames = stream_frames([{"text": "Hello"}], "end_turn")
    decoder = ConverseStreamDecoder(chat(stream=True))
    assert decoder.feed(frames[0] + frames[1][:10])
    with pytest.raises(UpstreamBadResponse, match="inside an event-stream frame"):
        decoder.close()


# -- SigV4 and URLs ------------------------------------------------------------------------

OPTIONS = {
    "aws_region": "eu-west-3",
    "aws_access_key_id": "AKIDEXAMPLE",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
}
NOW = datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)


def sign_request(**options: str) -> SignRequest:
    return SignRequest(
        method="POST",
        url="https://bedrock-runtime.eu-west-3.amazonaws.com/model/amazon.nova-pro-v1:0/converse",
        headers=[("Content-Type", "application/json")],
        body=b'{"messages":[]}',
        api_key="sk-not-used",
        options={**OPTIONS, **options},
    )


def test_sigv4_headers_match_botocore_add_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = sign_request(aws_session_token="SESSION-TOKEN")
    ours = dict(sigv4_headers(request, NOW))
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    reference = AWSRequest(
        method="POST",
        url=request.url,
        data=request.body,
        headers={"Content-Type": "application/json"},
    )
    credentials = Credentials("AKIDEXAMPLE", OPTIONS["aws_secret_access_key"], "SESSION-TOKEN")
    botocore.auth.SigV4Auth(credentials, "bedrock", "eu-west-3").add_auth(reference)
    assert ours["Authorization"] == reference.headers["Authorization"]
    assert ours["X-Amz-Date"] == "20150830T123600Z"
    assert ours["X-Amz-Security-Token"] == "SESSION-TOKEN"
    assert ours["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-3/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
    )


def test_botocore_is_imported_on_first_use_only() -> None:
    code = "import sys, portkey.providers.bedrock; sys.exit('botocore' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_sigv4_headers_never_carry_the_secret() -> None:
    headers = sigv4_headers(sign_request())
    assert [name for name, _ in headers] == ["X-Amz-Date", "Authorization"]
    assert not any(OPTIONS["aws_secret_access_key"] in value for _, value in headers)
    assert re.fullmatch(fake.AUTH, dict(headers)["Authorization"])


@pytest.mark.parametrize(
    ("base", "options", "url"),
    [
        (SPEC.base_url, {}, "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse"),
        (
            SPEC.base_url,
            {"aws_region": "ap-south-1"},
            "https://bedrock-runtime.ap-south-1.amazonaws.com/model/m/converse",
        ),
        (
            SPEC.base_url,
            {"aws_region": "evil.com/#"},
            "https://bedrock-runtime.evil.com%2F%23.amazonaws.com/model/m/converse",
        ),
        (
            "http://proxy.internal/bedrock/",
            {"aws_region": "x"},
            "http://proxy.internal/bedrock/model/m/converse",
        ),
    ],
)
def test_build_url(base: str, options: dict[str, str], url: str) -> None:
    secret = {"aws_secret_access_key": "{aws_secret_access_key}"}
    assert build_url(base, "/model/m/converse", {**secret, **options}) == url


# -- through the gateway -------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[AppServer]:
    with AppServer(fake.make_app()) as server:
        yield server


def client(gateway: GatewayServer, upstream: AppServer, **target: Any) -> OpenAI:
    config = {
        "provider": "bedrock",
        "custom_host": upstream.url,
        "aws_region": fake.REGION,
        "aws_access_key_id": fake.ACCESS_KEY_ID,
        "aws_secret_access_key": fake.SECRET_ACCESS_KEY,
        **target,
    }
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-unused",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(config)},
    )


def seen(upstream: AppServer) -> dict[str, Any]:
    return upstream.app[fake.REQUESTS][-1]


def test_sdk_embeddings_titan_and_cohere(gateway: GatewayServer, upstream: AppServer) -> None:
    openai_client = client(gateway, upstream)
    titan = openai_client.embeddings.create(
        model="amazon.titan-embed-text-v2:0", input="hello", dimensions=4
    )
    assert titan.data[0].embedding == [5.0, 0.25, 0.25, 0.25]
    assert titan.model == "amazon.titan-embed-text-v2:0"
    assert titan.usage.prompt_tokens == 5
    assert seen(upstream)["body"] == {"inputText": "hello", "normalize": True, "dimensions": 4}
    cohere = openai_client.embeddings.create(model="cohere.embed-english-v3", input=["a", "bb"])
    assert [d.embedding for d in cohere.data] == [[1.0, 0.5], [2.0, 0.5]]
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.embeddings.create(model="amazon.titan-embed-text-v2:0", input=["a", "b"])
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "input"


def test_chat_answer_names_the_model_and_drops_with_a_warning(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    raw = client(gateway, upstream).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}], presence_penalty=0.5, seed=3
    )
    answer = raw.parse()
    assert answer.model == "m"
    assert "presence_penalty dropped for bedrock" in raw.headers["x-portkey-warnings"]
    assert seen(upstream)["body"] == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


def test_arn_model_and_session_token_are_signed_as_sent(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    arn = MODEL_IDS[2]
    answer = client(gateway, upstream, aws_session_token="TOKEN-1").chat.completions.create(
        model=arn, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "sys=-;turns=1;last=hi"
    request = seen(upstream)
    assert request["model"] == arn
    assert request["headers"]["X-Amz-Security-Token"] == "TOKEN-1"
    assert "x-amz-security-token" in request["headers"]["Authorization"]


def test_wrong_secret_is_an_authentication_error(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(gateway, upstream, aws_secret_access_key="wrong").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )


def test_exception_before_any_event_fails_over(gateway: GatewayServer, upstream: AppServer) -> None:
    """A throttlingException as the first frame fails the attempt whole: retried here."""
    raw = client(
        gateway, upstream, retry={"attempts": 1}
    ).chat.completions.with_raw_response.create(
        model="flaky-exception", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert raw.headers["x-portkey-retry-attempt-count"] == "1"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "sys=-;turns=1;last=hi"


@pytest.mark.parametrize("script", ["exception-first", "midstream-throttling", "badcrc", "cut"])
def test_broken_streams_end_in_an_error(
    gateway: GatewayServer, upstream: AppServer, script: str
) -> None:
    with pytest.raises(openai.APIError):  # before the first event, or in-band after it
        stream = client(gateway, upstream).chat.completions.create(
            model=script, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for _ in stream:
            pass


@pytest.mark.parametrize("script", ["nometadata", "unknown-event"])
def test_streams_that_still_complete(
    gateway: GatewayServer, upstream: AppServer, script: str
) -> None:
    stream = client(gateway, upstream).chat.completions.create(
        model=script, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "sys=-;turns=1;last=hi"


class _Headers:
    """The one thing the router's classifier reads from an upstream response: its headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = {k.lower(): v for k, v in headers.items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@pytest.mark.parametrize(
    ("status", "error_type", "expected", "http"),
    [
        (400, "ServiceQuotaExceededException", "rate_limit_error", 429),
        (429, "ThrottlingException", "rate_limit_error", 429),
        (408, "ModelTimeoutException", "upstream_timeout", 408),
        (403, "AccessDeniedException", "authentication_error", 403),
        (400, "ValidationException", "upstream_error", 400),
    ],
)
def test_the_x_amzn_error_type_header_names_the_error(
    status: int, error_type: str, expected: str, http: int
) -> None:
    from types import SimpleNamespace

    from portkey.gateway.router import classify

    response = _Headers({"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/"})
    error = classify(
        SimpleNamespace(spec=SPEC),  # type: ignore[arg-type]
        status,
        b'{"message": "something went wrong"}',
        response,  # type: ignore[arg-type]
    )
    assert (error.type, error.http_status) == (expected, http)
    assert error.code == error_type or expected == "upstream_timeout"
