"""Cohere v2 answers: /v2/chat and /v2/embed bodies become OpenAI-shaped answers."""

from __future__ import annotations

import time
from typing import Any

from portkey.errors import GatewayError, UpstreamBadResponse, UpstreamTimeout
from portkey.providers.base import CHAT, EMBEDDINGS, Json

#: Cohere finish_reason -> OpenAI's (https://docs.cohere.com/v2/reference/chat)
FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_TOXIC": "content_filter",
    "ERROR_LIMIT": "length",
}
#: finish reasons that mean the generation failed: the target failed, not the answer
FAILED: dict[str, type[GatewayError]] = {"ERROR": UpstreamBadResponse, "TIMEOUT": UpstreamTimeout}


def finish_reason(native: Any, error: Any = None) -> str:
    """OpenAI's finish_reason for Cohere's; a failed generation raises."""
    failed = FAILED.get(str(native))
    if failed is not None or error:
        cls = failed or UpstreamBadResponse
        raise cls(f"cohere stopped generating ({native}): {error or 'no detail'}")
    return FINISH.get(str(native), "stop")


def usage(native: Any) -> Json:
    """OpenAI usage from Cohere's; billed units are what Cohere counts, raw tokens the fallback."""
    native = native if isinstance(native, dict) else {}
    billed = native.get("billed_units") or {}
    tokens = native.get("tokens") or {}
    prompt = int(billed.get("input_tokens", tokens.get("input_tokens", 0)) or 0)
    completion = int(billed.get("output_tokens", tokens.get("output_tokens", 0)) or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(native.get("cached_tokens") or 0)},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def tool_calls(native: Any) -> list[Json]:
    return [
        {
            "id": call["id"],
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": call["function"].get("arguments") or "{}",
            },
        }
        for call in native or ()
    ]


def parse_response(route: str, wire: Json) -> Json:
    if route == EMBEDDINGS:
        return _embeddings(wire)
    if route != CHAT:
        raise UpstreamBadResponse(f"cohere answered a {route} request")
    native = wire["message"]
    texts: list[str] = []
    thoughts: list[str] = []
    for item in native.get("content") or ():
        if item.get("type") == "text":
            texts.append(item.get("text") or "")
        elif item.get("type") == "thinking":
            thoughts.append(item.get("thinking") or "")
    message: Json = {"role": "assistant", "content": "".join(texts) or None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    calls = tool_calls(native.get("tool_calls"))
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return {
        "id": wire.get("id") or f"chatcmpl-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(wire.get("finish_reason")),
            }
        ],
        "usage": usage(wire.get("usage")),
    }


def _embeddings(wire: Json) -> Json:
    embeddings = wire["embeddings"]
    if isinstance(embeddings, dict):  # embeddings_by_type: one list per requested type
        vectors = embeddings.get("float") or embeddings.get("base64")
    else:  # embeddings_floats
        vectors = embeddings
    if not isinstance(vectors, list):
        raise UpstreamBadResponse("cohere sent no float or base64 embeddings")
    billed = ((wire.get("meta") or {}).get("billed_units") or {}).get("input_tokens") or 0
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": vector}
            for i, vector in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": int(billed), "total_tokens": int(billed)},
    }
