"""Extended thinking through the Anthropic ingress: signed blocks survive both directions."""

from __future__ import annotations

from typing import Any

import orjson

from portkey.gateway.anthropic_ingress.request import to_openai
from portkey.gateway.anthropic_ingress.response import to_message
from portkey.gateway.anthropic_ingress.stream import AnthropicStream

SIGNED = {"type": "thinking", "thinking": "Need the weather tool.", "signature": "EqQBCkYIARgC"}


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "claude-sonnet-4-5",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def events(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]


def test_a_streamed_signed_thinking_block_becomes_anthropic_events() -> None:
    stream = AnthropicStream("claude-sonnet-4-5")
    raw = stream(
        chunk({"role": "assistant", "content": ""})
        + chunk({"reasoning_content": "Need the "})
        + chunk({"reasoning_content": "weather tool."})
        + chunk({"thinking_blocks": [SIGNED]})
        + chunk({"content": "Checking."}, "stop")
        + b"data: [DONE]\n\n"
    )
    kinds = [
        (e["type"], (e.get("delta") or e.get("content_block") or {}).get("type"))
        for e in events(raw)
    ]
    assert kinds[2:8] == [
        ("content_block_start", "thinking"),
        ("content_block_delta", "thinking_delta"),
        ("content_block_delta", "thinking_delta"),
        ("content_block_delta", "signature_delta"),
        ("content_block_stop", None),
        ("content_block_start", "text"),
    ]
    signature = next(
        e for e in events(raw) if (e.get("delta") or {}).get("type") == "signature_delta"
    )
    assert signature["delta"]["signature"] == "EqQBCkYIARgC"


def test_signed_thinking_goes_out_and_comes_back_in() -> None:
    answer = {
        "id": "x",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "thinking_blocks": [SIGNED],
                    "reasoning_content": "Need the weather tool.",
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "w", "arguments": "{}"},
                        }
                    ],
                },
            }
        ],
    }
    message = to_message(answer)
    assert message["content"][0] == SIGNED and message["content"][1]["type"] == "tool_use"
    back = to_openai(
        {
            "model": "m",
            "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": message["content"]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}
                    ],
                },
            ],
        }
    ).canonical
    assert back["messages"][1]["thinking_blocks"] == [SIGNED]


def test_unsigned_reasoning_of_other_providers_is_not_made_into_thinking_blocks() -> None:
    answer = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "4", "reasoning_content": "2+2"},
            }
        ]
    }
    assert [b["type"] for b in to_message(answer)["content"]] == ["text"]
