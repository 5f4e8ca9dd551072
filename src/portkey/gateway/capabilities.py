"""Refuse a chat request that uses a capability the chosen model lacks, naming the parameter.

Each capability has a detector that reads the canonical (OpenAI-shaped) body and returns the
parameter that uses it, or None. Only the capabilities the model's profile lacks are looked
for, so a model that lacks nothing costs one truth test, and messages are scanned for images
only when the model takes none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from portkey.errors import InvalidRequest
from portkey.providers.base import (
    JSON_SCHEMA,
    PREFILL,
    REASONING,
    TOOLS,
    VISION,
    ModelProfile,
)

Body = Mapping[str, Any]

#: content part types that carry an image in a chat message
IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


def _tools(body: Body) -> str | None:
    if body.get("tools"):
        return "tools"
    return "functions" if body.get("functions") else None


def _vision(body: Body) -> str | None:
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") in IMAGE_PARTS for part in content
        ):
            return "messages"
    return None


def _json_schema(body: Body) -> str | None:
    fmt = body.get("response_format")
    return "response_format" if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None


def _reasoning(body: Body) -> str | None:
    effort = body.get("reasoning_effort")
    if effort is not None and effort != "none":
        return "reasoning_effort"
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled"):
        return "thinking"
    return None


def _prefill(body: Body) -> str | None:
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        return "messages" if messages[-1].get("role") == "assistant" else None
    return None


#: capability -> (what the client is told it asked for, detector); checked in this order
DETECTORS: dict[str, tuple[str, Callable[[Body], str | None]]] = {
    TOOLS: ("tool calling", _tools),
    VISION: ("image input", _vision),
    JSON_SCHEMA: ("JSON-schema output (response_format json_schema)", _json_schema),
    REASONING: ("reasoning", _reasoning),
    PREFILL: ("assistant prefill (a conversation ending with an assistant message)", _prefill),
}


def refuse_unsupported(profile: ModelProfile, model: object, body: Body) -> None:
    """Raise ``InvalidRequest`` (400) if ``body`` uses a capability ``profile`` lacks."""
    for capability, (what, detect) in DETECTORS.items():
        if capability not in profile.unsupported:
            continue
        param = detect(body)
        if param is not None:
            raise InvalidRequest(
                f"model {model!r} on provider {profile.provider} does not support {what}; "
                f"remove '{param}' or route to a model that supports it",
                param=param,
                code="unsupported_capability",
            )
