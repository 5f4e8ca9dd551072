"""Canned OpenAI chat-completions payloads for the benchmark upstream and its checks.

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
