"""Anthropic SSE -> OpenAI chunks: the stream decoder, fed the events of Anthropic's docs."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from portkey.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamUnavailable,
)
from portkey.formats.anthropic import AnthropicStreamDecoder
from tests.providers.test_anthropic import JSON_NAME, err

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


def test_thinking_stream_is_reasoning_content_plus_blocks_to_send_back() -> None:
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
    assert deltas(events)[:5] == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Let me"},
        # whole blocks, signature intact: what a tool loop sends back as thinking_blocks
        {"thinking_blocks": [{"type": "thinking", "thinking": "Let me", "signature": "EqQB"}]},
        {"thinking_blocks": [{"type": "redacted_thinking", "data": "Emw"}]},
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
