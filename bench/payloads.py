"""Canned OpenAI chat-completions and Anthropic Messages payloads for the benchmark upstreams.

All text is ASCII with no quote, ``$`` or backslash, so the JSON answer can be put verbatim
into an nginx ``return 200 '...'`` directive.
"""

from __future__ import annotations

import json
from typing import Any

MODEL = "gpt-4o-mini-2024-07-18"
CHAT_ID = "chatcmpl-portkeybench00000000000001"
CREATED = 1731000000
FINGERPRINT = "fp_0ba0d124f1"

# 18 content deltas; with the role chunk and the finish chunk the stream has 20 chunk events.
TOKENS: list[str] = [
    "Hello",
    "!",
    " This",
    " is",
    " a",
    " canned",
    " answer",
    " from",
    " the",
    " Portkey",
    " bench",
    " upstream",
    ",",
    " served",
    " without",
    " any",
    " model",
    ".",
]
TEXT = "".join(TOKENS)

REQUEST_JSON = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}'
REQUEST_STREAM = (
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}],"stream":true}'
)


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def completion_json() -> str:
    """A non-streaming ``chat.completion`` body, as OpenAI returns it (compact)."""
    return _compact(
        {
            "id": CHAT_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TEXT, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 8,
                "completion_tokens": len(TOKENS),
                "total_tokens": 8 + len(TOKENS),
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
    )


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
    return _compact(
        {
            "id": CHAT_ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
    )


def sse_events() -> list[str]:
    """Each complete SSE event (``data: ...`` plus a blank line): 20 chunks, then [DONE]."""
    chunks = [_chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [_chunk({"content": token}) for token in TOKENS]
    chunks.append(_chunk({}, "stop"))
    return [f"data: {c}\n\n" for c in chunks] + ["data: [DONE]\n\n"]


def sse_body() -> str:
    return "".join(sse_events())


# -- Anthropic Messages (https://docs.anthropic.com/en/api/messages, .../build-with-claude/streaming;
# shapes as in the anthropic SDK's types: Message, Raw*Event, TextDelta, Usage, MessageDeltaUsage)

ANTHROPIC_MODEL = "claude-3-5-haiku-20241022"
ANTHROPIC_ID = "msg_01PortkeyBench0000000000001"
ANTHROPIC_PATH = "/v1/messages"
ANTHROPIC_KEY = "sk-bench"  # what the gateway must send as x-api-key (the client's Bearer key)
# The same text as TOKENS, in 20 text deltas ("Hello" and " upstream" split in two).
ANTHROPIC_TOKENS: list[str] = ["Hel", "lo", *TOKENS[1:11], " up", "stream", *TOKENS[12:]]
assert "".join(ANTHROPIC_TOKENS) == TEXT and len(ANTHROPIC_TOKENS) == 20
_A_USAGE = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def anthropic_json() -> str:
    """A non-streaming Messages API answer (``Message``), compact."""
    return _compact(
        {
            "id": ANTHROPIC_ID,
            "type": "message",
            "role": "assistant",
            "model": ANTHROPIC_MODEL,
            "content": [{"type": "text", "text": TEXT}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 8,
                **_A_USAGE,
                "output_tokens": len(ANTHROPIC_TOKENS),
                "service_tier": "standard",
            },
        }
    )


def _event(obj: dict[str, Any]) -> str:
    return f"event: {obj['type']}\ndata: {_compact(obj)}\n\n"


def anthropic_sse_events() -> list[str]:
    """The Messages stream: message_start, content_block_start, ping, 20 content_block_delta
    (text_delta), content_block_stop, message_delta (stop_reason, usage), message_stop."""
    start = {
        "id": ANTHROPIC_ID,
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 8, **_A_USAGE, "output_tokens": 1, "service_tier": "standard"},
    }
    events = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
        for t in ANTHROPIC_TOKENS
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": len(ANTHROPIC_TOKENS)},
        },
        {"type": "message_stop"},
    ]
    return [_event(e) for e in events]


def anthropic_sse_body() -> str:
    return "".join(anthropic_sse_events())


def anthropic_content(text: str) -> str | None:
    """The joined text blocks of a Messages answer, or None."""
    try:
        blocks = json.loads(text)["content"]
        return "".join(b["text"] for b in blocks if b.get("type") == "text")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def anthropic_sse_text(text: str) -> tuple[str, bool]:
    """(joined text_delta text, whether message_stop was seen) of a Messages stream."""
    parts: list[str] = []
    stopped = False
    for raw in text.splitlines():
        if not raw.startswith("data:"):
            continue
        try:
            obj = json.loads(raw[5:])
        except ValueError:
            continue
        if obj.get("type") == "message_stop":
            stopped = True
        delta = obj.get("delta") or {}
        if obj.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
            parts.append(delta["text"])
    return "".join(parts), stopped


def parse_sse(text: str) -> tuple[str, bool, int]:
    """Return (joined delta content, whether ``[DONE]`` was seen, number of data events)."""
    parts: list[str] = []
    done = False
    events = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("data:"):
            continue
        events += 1
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            continue
        try:
            obj = json.loads(data)
        except ValueError:
            continue
        for choice in obj.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                parts.append(content)
    return "".join(parts), done, events


def json_content(text: str) -> str | None:
    """The assistant message content of a ``chat.completion`` body, or None."""
    try:
        return str(json.loads(text)["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


if __name__ == "__main__":
    print(completion_json())
    print(f"{len(completion_json())} bytes JSON; {len(sse_body())} bytes SSE")
    print(f"{len(sse_events())} events")
    print(anthropic_json())
    print(f"{len(anthropic_json())} bytes Anthropic JSON; {len(anthropic_sse_body())} bytes SSE")
    print(f"{len(anthropic_sse_events())} Anthropic events")
