"""OpenAI messages -> (system blocks, alternating user/assistant turns), shared by the formats
whose wire API keeps the system prompt apart and merges tool results into user turns
(Anthropic Messages, Bedrock Converse)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from portkey.errors import InvalidRequest

Json = dict[str, Any]
#: (message, index) -> the wire content blocks of that message
BlockConverter = Callable[[Json, int], list[Json]]
#: (content, index) -> the wire system blocks of a system/developer message
SystemConverter = Callable[[Any, int], list[Json]]


def split_turns(
    messages: Any, system_blocks: SystemConverter, role_blocks: Mapping[str, BlockConverter]
) -> tuple[list[Json], list[Json]]:
    """System blocks, and turns where consecutive same-role messages are merged."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list", param="messages")
    system: list[Json] = []
    turns: list[Json] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{i}] must be an object", param="messages")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(system_blocks(message.get("content"), i))
            continue
        convert = role_blocks.get(role) if isinstance(role, str) else None
        if convert is None:
            raise InvalidRequest(f"messages[{i}]: unknown role {role!r}", param="messages")
        blocks = convert(message, i)
        if not blocks:
            continue  # an assistant turn with nothing in it (content "" and no tool calls)
        wire_role = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == wire_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": wire_role, "content": blocks})
    return system, turns


def tool_calls_of(message: Json, i: int) -> list[Any]:
    """An assistant message's ``tool_calls`` (a list, possibly empty)."""
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise InvalidRequest(f"messages[{i}].tool_calls must be a list", param="messages")
    return calls


def tool_call(call: Any, i: int) -> tuple[str, Any, Json]:
    """One OpenAI tool call as (id, function name, parsed arguments object)."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(call.get("id"), str):
        raise InvalidRequest(
            f"messages[{i}]: a tool call needs 'id' and 'function'", param="messages"
        )
    try:
        parsed = orjson.loads(function.get("arguments") or "{}")
    except (orjson.JSONDecodeError, TypeError):
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequest(
            f"messages[{i}]: tool call arguments must be a JSON object", param="messages"
        )
    return call["id"], function.get("name"), parsed
