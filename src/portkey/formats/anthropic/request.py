"""Anthropic requests: an OpenAI chat request as a Messages API body (``POST /messages``).

Pure functions over dicts (https://docs.anthropic.com/en/api/messages). The provider's params
table has already dropped or rejected the OpenAI fields Anthropic lacks; every other field is
translated here, and a field this module does not know is refused with a 400 that names it.

* ``system``/``developer`` messages, wherever they stand, become the top-level ``system``.
* Content parts: text, images (``data:`` URLs as base64 sources, ``http(s)`` URLs as url
  sources) and PDF files (``file.file_data``) become blocks; ``cache_control`` on a part is kept.
* Assistant ``tool_calls`` become ``tool_use`` blocks; ``tool`` messages become ``tool_result``
  blocks of a user turn; consecutive turns of one role merge into one (Anthropic alternates).
* ``max_tokens`` is required by Anthropic: ``DEFAULT_MAX_TOKENS`` when the client gave none
  (plus the thinking budget when reasoning is on: the budget counts toward ``max_tokens``).
* ``reasoning_effort`` becomes ``thinking.budget_tokens`` by ``THINKING_BUDGET``; a native
  ``thinking`` object (Portkey's gateway takes one too) is passed as given.
* ``response_format`` becomes a forced tool whose input schema is the answer's schema (works on
  every Claude model); its name starts with ``JSON_TOOL_PREFIX`` so the response and stream
  modules can turn its input back into the answer's JSON text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from portkey.errors import InvalidRequest
from portkey.formats._turns import split_turns, tool_call, tool_calls_of
from portkey.providers.base import CHAT, Json

PATH = "/messages"
#: Anthropic requires ``max_tokens``; sent when the client gives neither max_tokens field
DEFAULT_MAX_TOKENS = 4096
#: reasoning_effort -> thinking.budget_tokens (1024 is Anthropic's minimum budget); the
#: ingress maps budgets back to efforts with the same bounds (< 4096 low, < 16384 medium).
#: xhigh plus the default max_tokens stays under 32000, the smallest output limit of the
#: Claude models that think (Opus 4 and 4.1)
THINKING_BUDGET: dict[str, int | None] = {
    "none": None,
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
}
#: the forced tool carrying ``response_format`` answers; user tools may not use this prefix
JSON_TOOL_PREFIX = "portkey_json_"
#: Anthropic's tool name rule (the same as OpenAI's function name rule)
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
IMAGE_TYPES = {
    "image/jpeg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "image/png": "image/png",
    "image/gif": "image/gif",
    "image/webp": "image/webp",
}
DOCUMENT_TYPES = frozenset({"application/pdf"})
TOOL_CHOICES: dict[str, Json] = {
    "auto": {"type": "auto"},
    "none": {"type": "none"},
    "required": {"type": "any"},
}

#: canonical chat fields read here; the params table drops or rejects the other known ones
CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "n",
        "modalities",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "thinking",
        "user",
        "safety_identifier",
    }
)


def invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def build_request(route: str, canonical: Json, options: Mapping[str, str]) -> tuple[str, Json]:
    if route != CHAT:
        raise invalid(f"Anthropic serves chat only, not {route}", "model")
    return PATH, messages_body(canonical)


def messages_body(canonical: Json) -> Json:
    """The whole Messages body for one canonical chat request."""
    unknown = sorted(set(canonical) - CHAT_FIELDS)
    if unknown:
        raise invalid(f"'{unknown[0]}' is not supported by Anthropic", unknown[0])
    model = canonical.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("Anthropic needs 'model'", "model")
    if canonical.get("n") not in (None, 1):
        raise invalid("Anthropic returns one choice: 'n' must be 1", "n")
    if canonical.get("modalities") not in (None, ["text"]):
        raise invalid("Anthropic answers in text only: 'modalities' must be ['text']", "modalities")
    system, messages = convert_messages(canonical.get("messages"))
    body: Json = {"model": model, "messages": messages}
    if system:
        body["system"] = system[0]["text"] if len(system) == 1 else system
    budget = thinking_budget(canonical)
    body["max_tokens"] = max_tokens(canonical, budget)
    if canonical.get("thinking") is not None:
        body["thinking"] = canonical["thinking"]
    elif budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    sampling(canonical, body)
    tool_fields(canonical, body, body.get("thinking", {}).get("type", "disabled") != "disabled")
    user = canonical.get("user") or canonical.get("safety_identifier")
    if user is not None:
        if not isinstance(user, str):
            raise invalid("'user' must be a string", "user")
        body["metadata"] = {"user_id": user}
    if canonical.get("stream"):
        body["stream"] = True
    return body


# -- generation settings -------------------------------------------------------------------


def thinking_budget(canonical: Json) -> int | None:
    """The thinking budget: from ``reasoning_effort``, or a native ``thinking`` object."""
    effort = canonical.get("reasoning_effort")
    native = canonical.get("thinking")
    if native is not None:
        if effort is not None:
            raise invalid("send 'reasoning_effort' or 'thinking', not both", "reasoning_effort")
        if not isinstance(native, dict) or not isinstance(native.get("type"), str):
            raise invalid("'thinking' must be an object with a 'type'", "thinking")
        if native["type"] != "enabled":
            return None  # disabled, or a kind without a budget (adaptive)
        budget = native.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise invalid("'thinking.budget_tokens' must be an integer", "thinking")
        return budget
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in THINKING_BUDGET:
        raise invalid(
            f"'reasoning_effort' must be one of {', '.join(THINKING_BUDGET)}", "reasoning_effort"
        )
    return THINKING_BUDGET[effort]


def max_tokens(canonical: Json, budget: int | None) -> int:
    """The client's limit (max_completion_tokens first), else the documented default."""
    param = "max_completion_tokens"
    value = canonical.get(param)
    if value is None:
        param = "max_tokens"
        value = canonical.get(param)
    if value is None:
        return DEFAULT_MAX_TOKENS + (budget or 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise invalid(f"'{param}' must be a positive integer", param)
    if budget is not None and value <= budget:
        raise invalid(
            f"'{param}' ({value}) must exceed the thinking budget ({budget} tokens): "
            "Anthropic counts thinking toward max_tokens",
            param,
        )
    return value


def sampling(canonical: Json, body: Json) -> None:
    temperature = canonical.get("temperature")
    if temperature is not None:
        if not _number(temperature) or not 0 <= temperature <= 1:
            raise invalid("'temperature' must be between 0 and 1 on Anthropic", "temperature")
        body["temperature"] = temperature
    top_p = canonical.get("top_p")
    if top_p is not None:
        if not _number(top_p):
            raise invalid("'top_p' must be a number", "top_p")
        body["top_p"] = top_p
    top_k = canonical.get("top_k")
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool):
            raise invalid("'top_k' must be an integer", "top_k")
        body["top_k"] = top_k
    stop = canonical.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise invalid("'stop' must be a string or a list of strings", "stop")
        if stops:
            body["stop_sequences"] = stops


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- messages ------------------------------------------------------------------------------


def convert_messages(messages: Any) -> tuple[list[Json], list[Json]]:
    """OpenAI messages -> (system text blocks, alternating Anthropic messages)."""
    return split_turns(messages, text_blocks, ROLE_BLOCKS)


def text_blocks(content: Any, i: int) -> list[Json]:
    """Non-empty text blocks of a string or of text (or refusal) parts; nothing else allowed."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise invalid(f"messages[{i}].content must be a string or a list of parts", "messages")
    blocks = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        text = part.get(kind) if kind in ("text", "refusal") else None
        if not isinstance(text, str):
            raise invalid(f"messages[{i}]: only text parts are allowed in this message", "messages")
        if text:
            blocks.append(_cached({"type": "text", "text": text}, part))
    return blocks


def _cached(block: Json, part: Json) -> Json:
    """Keep a part's prompt-caching marker (``cache_control``) on its block."""
    marker = part.get("cache_control")
    if isinstance(marker, dict):
        block["cache_control"] = marker
    return block


def _user_blocks(message: Json, i: int) -> list[Json]:
    content = message.get("content")
    if isinstance(content, list):
        blocks = [b for part in content if (b := _user_part(part, i)) is not None]
    else:
        blocks = text_blocks(content, i)
    if not blocks:
        raise invalid(f"messages[{i}] has no content: Anthropic refuses empty turns", "messages")
    return blocks


def _user_part(part: Any, i: int) -> Json | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        text = part["text"]
        return _cached({"type": "text", "text": text}, part) if text else None
    if kind == "image_url":
        return _cached(image_block(part.get("image_url"), i), part)
    if kind == "file":
        return _cached(document_block(part.get("file"), i), part)
    raise invalid(f"messages[{i}]: content part {kind!r} is not supported by Anthropic", "messages")


def data_url(url: str, i: int) -> tuple[str, str]:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL."""
    header, comma, data = url[5:].partition(",")
    media, _, encoding = header.partition(";")
    if not comma or encoding.strip().lower() != "base64" or not data:
        raise invalid(f"messages[{i}]: a data URL must be base64 encoded", "messages")
    return media.strip().lower(), data


def image_block(image_url: Any, i: int) -> Json:
    """An OpenAI image (``data:`` or ``http(s)`` URL) as an Anthropic image block."""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise invalid(f"messages[{i}]: image_url needs a 'url'", "messages")
    if url.startswith("data:"):
        media, data = data_url(url, i)
        if media not in IMAGE_TYPES:
            raise invalid(
                f"messages[{i}]: image type {media!r} is not jpeg, png, gif or webp", "messages"
            )
        source = {"type": "base64", "media_type": IMAGE_TYPES[media], "data": data}
        return {"type": "image", "source": source}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise invalid(f"messages[{i}]: an image must be a data: or http(s) URL", "messages")


def document_block(file: Any, i: int) -> Json:
    """An OpenAI ``file`` part holding a PDF data URL as an Anthropic document block."""
    data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data, str) or not data.startswith("data:"):
        raise invalid(
            f"messages[{i}]: Anthropic reads files inline: send 'file_data' as a data URL",
            "messages",
        )
    media, payload = data_url(data, i)
    if media not in DOCUMENT_TYPES:
        raise invalid(f"messages[{i}]: Anthropic reads PDF files, not {media!r}", "messages")
    block: Json = {
        "type": "document",
        "source": {"type": "base64", "media_type": media, "data": payload},
    }
    if isinstance(file.get("filename"), str) and file["filename"]:
        block["title"] = file["filename"]
    return block


def _assistant_blocks(message: Json, i: int) -> list[Json]:
    blocks = thinking_blocks(message.get("thinking_blocks"), i)
    blocks += text_blocks(message.get("content"), i)
    blocks.extend(tool_use(call, i) for call in tool_calls_of(message, i))
    return blocks


def thinking_blocks(given: Any, i: int) -> list[Json]:
    """An assistant turn's ``thinking_blocks`` (as our answers carry them) back to Anthropic.

    With extended thinking and tools, Anthropic wants the turn's thinking blocks, signatures
    intact, ahead of its tool calls; anything else in this field is refused by name.
    """
    if given is None:
        return []
    where = f"messages[{i}].thinking_blocks"
    if not isinstance(given, list):
        raise invalid(f"'{where}' must be a list", where)
    blocks: list[Json] = []
    for k, block in enumerate(given):
        kind = block.get("type") if isinstance(block, dict) else None
        if (
            kind == "thinking"
            and isinstance(block.get("thinking"), str)
            and isinstance(block.get("signature"), str)
        ):
            blocks.append(
                {"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]}
            )
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            blocks.append({"type": "redacted_thinking", "data": block["data"]})
        else:
            raise invalid(
                f"'{where}[{k}]' must be a thinking block (thinking, signature) or a "
                "redacted_thinking block (data)",
                f"{where}[{k}]",
            )
    return blocks


def tool_use(call: Any, i: int) -> Json:
    call_id, name, arguments = tool_call(call, i)
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def _tool_blocks(message: Json, i: int) -> list[Json]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"messages[{i}]: a tool message needs 'tool_call_id'", "messages")
    result: Json = {"type": "tool_result", "tool_use_id": call_id}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            result["content"] = content
    else:
        blocks = text_blocks(content, i)
        if blocks:
            result["content"] = blocks
    return [result]


ROLE_BLOCKS: dict[str, Callable[[Json, int], list[Json]]] = {
    "user": _user_blocks,
    "assistant": _assistant_blocks,
    "tool": _tool_blocks,
}


# -- tools and JSON output -----------------------------------------------------------------


def tool_fields(canonical: Json, body: Json, thinking: bool) -> None:
    """``tools`` and ``tool_choice``, with the forced JSON tool when a format is asked for."""
    tools = canonical.get("tools") or []
    if not isinstance(tools, list):
        raise invalid("'tools' must be a list", "tools")
    wire_tools = [tool_spec(tool, k) for k, tool in enumerate(tools)]
    choice = tool_choice(canonical.get("tool_choice"), bool(wire_tools))
    json_tool = json_tool_spec(canonical.get("response_format"))
    if json_tool is not None:
        if thinking:
            raise invalid(
                "Anthropic cannot force the JSON answer tool while thinking: send "
                "'response_format' or 'reasoning_effort', not both",
                "response_format",
            )
        if any(t["name"] == json_tool["name"] for t in wire_tools):
            raise invalid(f"a tool is already named {json_tool['name']!r}", "response_format")
        if wire_tools and (choice is None or choice["type"] in ("auto", "any")):
            choice = {"type": "any"}  # answer through a user tool or through the JSON tool
        elif choice is None or choice["type"] == "none":
            choice = {"type": "tool", "name": json_tool["name"]}
        wire_tools.append(json_tool)
    if not wire_tools:
        return
    if canonical.get("parallel_tool_calls") is False and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    body["tools"] = wire_tools
    if choice is not None:
        body["tool_choice"] = choice


def tool_spec(tool: Any, k: int) -> Json:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or tool.get("type") != "function":
        raise invalid(f"tools[{k}]: only function tools are supported by Anthropic", "tools")
    name = function.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise invalid(f"tools[{k}] needs a name of letters, digits, '_' or '-'", "tools")
    if name.startswith(JSON_TOOL_PREFIX):
        raise invalid(f"tools[{k}]: names starting {JSON_TOOL_PREFIX!r} are reserved", "tools")
    spec: Json = {
        "name": name,
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        spec["description"] = function["description"]
    if function.get("strict") is not None:
        spec["strict"] = bool(function["strict"])
    return _cached(spec, tool)


def tool_choice(choice: Any, has_tools: bool) -> Json | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in TOOL_CHOICES:
        if not has_tools and choice == "required":
            raise invalid("tool_choice 'required' needs 'tools'", "tool_choice")
        return dict(TOOL_CHOICES[choice]) if has_tools else None
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name and has_tools:
            return {"type": "tool", "name": name}
    raise invalid(f"tool_choice {choice!r} is not supported by Anthropic", "tool_choice")


def json_tool_spec(response_format: Any) -> Json | None:
    """The forced tool standing for ``response_format`` (None for plain text)."""
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {
            "name": JSON_TOOL_PREFIX + "object",
            "description": "Give your answer as a JSON object: the input of this tool.",
            "input_schema": {"type": "object"},
        }
    if kind != "json_schema":
        raise invalid(f"response_format {kind!r} is not supported by Anthropic", "response_format")
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict):
        raise invalid("response_format json_schema needs 'json_schema'", "response_format")
    name = spec.get("name") or "response"
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise invalid("json_schema 'name' must be letters, digits, '_' or '-'", "response_format")
    schema = spec.get("schema") or {"type": "object"}
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise invalid("Anthropic needs a json_schema whose root is an object", "response_format")
    description = f"Give your answer as the '{name}' JSON object: the input of this tool."
    if isinstance(spec.get("description"), str) and spec["description"]:
        description += " " + spec["description"]
    return {
        "name": (JSON_TOOL_PREFIX + name)[:64],
        "description": description,
        "input_schema": {"type": "object", **schema},
    }
