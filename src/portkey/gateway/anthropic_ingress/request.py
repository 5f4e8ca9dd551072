"""Anthropic Messages request -> the canonical OpenAI chat request (pure functions over dicts).

What maps where:

* ``system`` (string or text blocks) -> a leading ``system`` message (blocks joined by "\\n");
* ``messages``: text / image (base64 or url) / text documents -> content parts; assistant
  ``tool_use`` -> ``tool_calls``; user ``tool_result`` -> ``tool`` messages placed first (OpenAI
  wants them right after the assistant turn), ``is_error`` prefixes the result with "Error: ",
  images inside a tool result follow in a user message; ``thinking`` blocks of earlier assistant
  turns are dropped (no OpenAI request field holds them);
* a ``tool_use`` id carrying encoded ``extra_content`` (see ``response.EXTRA_MARK``) gives the
  tool call its id and ``extra_content`` back, and its ``tool_result`` the same plain id;
* ``tools`` -> function tools; ``tool_choice`` auto/any/tool/none -> auto/required/function/none,
  ``disable_parallel_tool_use`` -> ``parallel_tool_calls: false``;
* ``max_tokens`` (required) -> ``max_tokens``; ``stop_sequences`` -> ``stop``;
  ``temperature``/``top_p`` as is; ``metadata.user_id`` -> ``user``;
* ``thinking`` -> ``reasoning_effort`` by budget (``EFFORT_BY_BUDGET``), ``output_config.effort``
  wins when given (``EFFORT_LEVELS``); ``output_config.format`` (or the older ``output_format``)
  -> ``response_format`` json_schema;
* ``stream: true`` -> ``stream`` plus ``stream_options.include_usage`` (usage ends the stream).

Fields with no OpenAI equivalent are reported in ``Translated.dropped`` (the handler applies the
``unsupported_params`` policy: warn, raise or ignore); ``cache_control`` markers are prompt-cache
hints that do not change the answer and are ignored without a warning.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from portkey.errors import InvalidRequest
from portkey.gateway.anthropic_ingress.response import EXTRA_MARK, signed_thinking

Json = dict[str, Any]
NUMBER = (int, float)

#: top-level field -> (accepted types, what to say when wrong)
FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "model": ((str,), "a string"),
    "messages": ((list,), "a list of messages"),
    "max_tokens": ((int,), "an integer"),
    "system": ((str, list), "a string or a list of text blocks"),
    "metadata": ((dict,), "an object"),
    "stop_sequences": ((list,), "a list of strings"),
    "stream": ((bool,), "a boolean"),
    "temperature": (NUMBER, "a number"),
    "top_p": (NUMBER, "a number"),
    "top_k": ((int,), "an integer"),
    "tools": ((list,), "a list of tools"),
    "tool_choice": ((dict,), "an object"),
    "thinking": ((dict,), "an object"),
    "output_config": ((dict,), "an object"),
    "output_format": ((dict,), "an object"),
}
#: Anthropic fields the OpenAI chat format cannot express: dropped with a reason
DROPPED: dict[str, str] = {
    "top_k": "OpenAI chat completions have no top_k",
    "service_tier": "Anthropic service tiers do not apply to other providers",
    "container": "Anthropic containers do not apply to other providers",
    "mcp_servers": "MCP connectors are an Anthropic server feature",
    "context_management": "context management is an Anthropic server feature",
    "inference_geo": "inference geography is an Anthropic setting",
    "speed": "speed modes are an Anthropic setting",
    "diagnostics": "diagnostics are an Anthropic feature",
    "user_profile_id": "user profiles are an Anthropic feature",
    "workspace_id": "workspaces are an Anthropic feature",
}
#: prompt-cache hints: they never change the answer, so they go without a warning
IGNORED = frozenset({"cache_control"})
#: ``thinking.budget_tokens`` below the bound -> effort; at or above the last bound -> "high"
EFFORT_BY_BUDGET: tuple[tuple[int, str], ...] = ((4096, "low"), (16384, "medium"))
#: ``output_config.effort`` -> OpenAI ``reasoning_effort`` ("max" is OpenAI's "xhigh")
EFFORT_LEVELS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
TOOL_ERROR_PREFIX = "Error: "


@dataclass(frozen=True, slots=True)
class Translated:
    canonical: Json
    #: (field, reason) for each field that was left out
    dropped: tuple[tuple[str, str], ...] = ()


def to_openai(body: Json, *, require_max_tokens: bool = True) -> Translated:
    """Translate one Anthropic Messages request body; a 400 names the first bad field."""
    _check_types(body)
    if require_max_tokens and body.get("max_tokens") is None:
        raise InvalidRequest(
            "'max_tokens' is required", param="max_tokens", code="missing_required_parameter"
        )
    if "messages" not in body:
        raise InvalidRequest(
            "'messages' is required", param="messages", code="missing_required_parameter"
        )
    out: Json = {}
    if body.get("model") is not None:
        out["model"] = body["model"]
    system = _system(body.get("system"))
    history = _messages(body["messages"])
    out["messages"] = [{"role": "system", "content": system}, *history] if system else history
    out.update(_sampling(body))
    tools = body.get("tools")
    if tools:
        out["tools"] = _tools(tools)
        out.update(_tool_choice(body.get("tool_choice")))
    dropped = list(_unknown(body))
    effort = _effort(body.get("thinking"), body.get("output_config"), dropped)
    if effort is not None:
        out["reasoning_effort"] = effort
    response_format = _response_format(body)
    if response_format is not None:
        out["response_format"] = response_format
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return Translated(out, tuple(dropped))


def _check_types(body: Json) -> None:
    for key, (accepted, wanted) in FIELD_TYPES.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            raise InvalidRequest(f"'{key}' must be {wanted}", param=key, code="invalid_type")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens < 0:
        raise InvalidRequest("'max_tokens' must not be negative", param="max_tokens")


def _unknown(body: Json) -> list[tuple[str, str]]:
    dropped = []
    for key in body:
        if key in DROPPED:
            dropped.append((key, DROPPED[key]))
        elif key not in FIELD_TYPES and key not in IGNORED:
            dropped.append((key, "not an Anthropic Messages field this gateway translates"))
    return dropped


def _sampling(body: Json) -> Json:
    out: Json = {}
    for name in ("max_tokens", "temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    stops = body.get("stop_sequences")
    if stops:
        if not all(isinstance(s, str) for s in stops):
            raise InvalidRequest(
                "'stop_sequences' must be a list of strings", param="stop_sequences"
            )
        out["stop"] = list(stops)
    metadata = body.get("metadata") or {}
    user = metadata.get("user_id")
    if user is not None:
        if not isinstance(user, str):
            raise InvalidRequest("'metadata.user_id' must be a string", param="metadata.user_id")
        out["user"] = user
    return out


def _system(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    texts = [_text(block, f"system[{i}]") for i, block in enumerate(value)]
    return "\n".join(texts) or None


def _text(block: Any, where: str) -> str:
    if not isinstance(block, dict) or block.get("type") != "text":
        raise InvalidRequest(f"{where} must be a text block", param=where)
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{where}.text must be a string", param=f"{where}.text")
    return text


# -- messages ---------------------------------------------------------------------------


def _messages(messages: list[Any]) -> list[Json]:
    if not messages:
        raise InvalidRequest("'messages' must not be empty", param="messages")
    out: list[Json] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object", param=where)
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            raise InvalidRequest(
                f"{where}.role must be 'user' or 'assistant'", param=f"{where}.role"
            )
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        if not isinstance(content, list):
            raise InvalidRequest(
                f"{where}.content must be a string or a list of content blocks",
                param=f"{where}.content",
            )
        blocks = _blocks(content, f"{where}.content")
        out.extend(_user(blocks, where) if role == "user" else [_assistant(blocks, where)])
    return out


def _blocks(content: list[Any], where: str) -> list[tuple[str, Json]]:
    blocks = []
    for j, block in enumerate(content):
        loc = f"{where}[{j}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise InvalidRequest(f"{loc} must be an object with a string 'type'", param=loc)
        blocks.append((loc, block))
    return blocks


def _user(blocks: list[tuple[str, Json]], where: str) -> list[Json]:
    tool_messages: list[Json] = []
    carried: list[Json] = []  # images returned by tools: OpenAI tool messages hold text only
    parts: list[Json] = []
    for loc, block in blocks:
        kind = block["type"]
        if kind == "tool_result":
            message, images = _tool_result(block, loc)
            tool_messages.append(message)
            carried.extend(images)
        else:
            parts.append(_part(block, loc))
    parts = carried + parts
    if parts:
        tool_messages.append({"role": "user", "content": _content(parts)})
    return tool_messages


def _part(block: Json, loc: str) -> Json:
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": _text(block, loc)}
    if kind == "image":
        return _image(block, loc)
    if kind == "document":
        return {"type": "text", "text": _document_text(block, loc)}
    raise InvalidRequest(
        f"{loc}: content block type {kind!r} cannot be translated for other providers",
        param=f"{loc}.type",
    )


def _content(parts: list[Json]) -> str | list[Json]:
    if len(parts) == 1 and parts[0]["type"] == "text":
        return str(parts[0]["text"])
    return parts


def _image(block: Json, loc: str) -> Json:
    source = block.get("source")
    if not isinstance(source, dict):
        raise InvalidRequest(f"{loc}.source must be an object", param=f"{loc}.source")
    kind = source.get("type")
    if kind == "base64":
        media, data = source.get("media_type"), source.get("data")
        if not isinstance(media, str) or not isinstance(data, str):
            raise InvalidRequest(
                f"{loc}.source needs string 'media_type' and 'data'", param=f"{loc}.source"
            )
        url = f"data:{media};base64,{data}"
    elif kind == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        raise InvalidRequest(
            f"{loc}.source.type must be 'base64' or 'url' (with a url) to reach other providers",
            param=f"{loc}.source.type",
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _document_text(block: Json, loc: str) -> str:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "text":
        data = source.get("data")
        if isinstance(data, str):
            return data
    if isinstance(source, dict) and source.get("type") == "content":
        items = source.get("content")
        if isinstance(items, str):
            return items
        if isinstance(items, list):
            return "\n".join(
                _text(item, f"{loc}.source.content[{k}]") for k, item in enumerate(items)
            )
    raise InvalidRequest(
        f"{loc}: only plain-text documents can be translated for other providers",
        param=f"{loc}.source",
    )


def _tool_result(block: Json, loc: str) -> tuple[Json, list[Json]]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str):
        raise InvalidRequest(f"{loc}.tool_use_id must be a string", param=f"{loc}.tool_use_id")
    content = block.get("content")
    texts: list[str] = []
    images: list[Json] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for item_loc, item in _blocks(content, f"{loc}.content"):
            part = _part(item, item_loc)
            if part["type"] == "text":
                texts.append(part["text"])
                continue
            if not images:
                label = f"[images returned by tool call {call_id}]"
                images.append({"type": "text", "text": label})
            images.append(part)
    elif content is not None:
        raise InvalidRequest(
            f"{loc}.content must be a string or a list of blocks", param=f"{loc}.content"
        )
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = TOOL_ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": split_tool_id(call_id)[0], "content": text}, images


def _assistant(blocks: list[tuple[str, Json]], where: str) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    thinking: list[Json] = []
    for loc, block in blocks:
        kind = block["type"]
        if kind == "text":
            texts.append(_text(block, loc))
        elif kind == "tool_use":
            calls.append(_tool_call(block, loc))
        elif kind in ("thinking", "redacted_thinking"):
            # kept (signature and all) for an Anthropic target; other targets never see them
            thinking.extend(signed_thinking([block]))
        else:
            raise InvalidRequest(
                f"{loc}: content block type {kind!r} cannot be translated for other providers",
                param=f"{loc}.type",
            )
    message: Json = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["thinking_blocks"] = thinking
    return message


def _tool_call(block: Json, loc: str) -> Json:
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise InvalidRequest(f"{loc} needs string 'id' and 'name'", param=loc)
    arguments = block.get("input")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidRequest(f"{loc}.input must be an object", param=f"{loc}.input")
    function = {"name": name, "arguments": orjson.dumps(arguments).decode()}
    plain_id, extra = split_tool_id(call_id)
    call: Json = {"id": plain_id, "type": "function", "function": function}
    if extra is not None:
        call["extra_content"] = extra
    return call


def split_tool_id(value: str) -> tuple[str, Json | None]:
    """A ``tool_use`` id -> (the tool call's own id, its ``extra_content`` if one rode along)."""
    plain, mark, encoded = value.partition(EXTRA_MARK)
    if not mark:
        return value, None
    try:
        extra = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error):
        return value, None
    return (plain, extra) if isinstance(extra, dict) else (value, None)


# -- tools, reasoning, output format ----------------------------------------------------


def _tools(tools: list[Any]) -> list[Json]:
    out = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise InvalidRequest(f"{where} must be an object", param=where)
        kind = tool.get("type")
        if kind not in (None, "custom"):
            raise InvalidRequest(
                f"{where}: Anthropic server tool {kind!r} cannot run on other providers",
                param=f"{where}.type",
            )
        name, schema = tool.get("name"), tool.get("input_schema")
        if not isinstance(name, str) or not isinstance(schema, dict):
            raise InvalidRequest(
                f"{where} needs a string 'name' and an object 'input_schema'", param=where
            )
        function: Json = {"name": name, "parameters": schema}
        description = tool.get("description")
        if isinstance(description, str):
            function["description"] = description
        if tool.get("strict") is True:
            function["strict"] = True
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(value: Json | None) -> Json:
    if not value:
        return {}
    kind = value.get("type")
    out: Json = {}
    if kind == "tool":
        name = value.get("name")
        if not isinstance(name, str):
            raise InvalidRequest("'tool_choice.name' must be a string", param="tool_choice.name")
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    elif kind in TOOL_CHOICES:
        out["tool_choice"] = TOOL_CHOICES[kind]
    else:
        raise InvalidRequest(
            "'tool_choice.type' must be one of auto, any, tool, none", param="tool_choice.type"
        )
    if value.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False
    return out


def _effort(
    thinking: Json | None, config: Json | None, dropped: list[tuple[str, str]]
) -> str | None:
    effort: str | None = None
    if thinking and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise InvalidRequest(
                "'thinking.budget_tokens' must be an integer", param="thinking.budget_tokens"
            )
        effort = next((e for bound, e in EFFORT_BY_BUDGET if budget < bound), "high")
    elif thinking and thinking.get("type") not in ("disabled", "adaptive"):
        raise InvalidRequest(
            "'thinking.type' must be one of enabled, adaptive, disabled", param="thinking.type"
        )
    for key in config or {}:
        if key not in ("effort", "format"):
            dropped.append((f"output_config.{key}", "not translatable to other providers"))
    level = (config or {}).get("effort")
    if level is not None:
        if level not in EFFORT_LEVELS:
            raise InvalidRequest(
                f"'output_config.effort' must be one of {', '.join(EFFORT_LEVELS)}",
                param="output_config.effort",
            )
        effort = EFFORT_LEVELS[level]
    return effort


def _response_format(body: Json) -> Json | None:
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise InvalidRequest(
            "'output_config.format.type' must be 'json_schema'", param="output_config.format"
        )
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise InvalidRequest(
            "'output_config.format.schema' must be an object", param="output_config.format.schema"
        )
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
