"""Cohere v2 requests: OpenAI-shaped chat and embeddings bodies become /v2/chat and /v2/embed.

Every canonical field is either translated by a handler in a table below, dropped earlier by
the provider's parameter table (with a warning), or refused with a 400 that names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from portkey.errors import InvalidRequest
from portkey.providers.base import CHAT, EMBEDDINGS, Json

CHAT_PATH = "/v2/chat"
EMBED_PATH = "/v2/embed"
#: Cohere's v2 embed needs an input type for v3+ models; without one we embed documents
#: (https://docs.cohere.com/v2/reference/embed), the side a search index stores.
DEFAULT_INPUT_TYPE = "search_document"
#: OpenAI tool_choice -> Cohere's; "auto" is Cohere's default, so it is left out
TOOL_CHOICE = {"auto": None, "none": "NONE", "required": "REQUIRED"}
#: OpenAI encoding_format -> Cohere embedding_types
ENCODINGS = {"float": "float", "base64": "base64"}
#: Cohere-only chat fields a client may send as extra body fields; passed as they are
NATIVE_CHAT = frozenset(
    {"safety_mode", "documents", "citation_options", "thinking", "priority", "strict_tools"}
)
NATIVE_EMBED = frozenset({"input_type", "truncate", "max_tokens", "priority"})

Handler = Callable[[Any, Json], None]


def build_request(route: str, canonical: Json, options: Mapping[str, str]) -> tuple[str, Json]:
    try:
        return _build(route, canonical)
    except AttributeError as exc:  # a part or message that is not an object
        raise InvalidRequest(f"cannot translate the request for cohere: {exc}") from exc


def _build(route: str, canonical: Json) -> tuple[str, Json]:
    if route == CHAT:
        return CHAT_PATH, _translate(canonical, CHAT_FIELDS, NATIVE_CHAT)
    if route == EMBEDDINGS:
        wire = _translate(canonical, EMBED_FIELDS, NATIVE_EMBED)
        wire.setdefault("input_type", DEFAULT_INPUT_TYPE)
        wire.setdefault("embedding_types", ["float"])
        return EMBED_PATH, wire
    raise InvalidRequest(f"cohere does not serve {route}", param="model")


def _translate(canonical: Json, table: Mapping[str, Handler], native: frozenset[str]) -> Json:
    wire: Json = {}
    for name, value in canonical.items():
        handler = table.get(name)
        if handler is not None:
            handler(value, wire)
        elif name in native:
            wire[name] = value
        else:
            raise InvalidRequest(f"'{name}' is not supported by provider cohere", param=name)
    return wire


def _to(target: str) -> Handler:
    def handler(value: Any, wire: Json) -> None:
        if value is not None:
            wire[target] = value

    return handler


def _ignored(value: Any, wire: Json) -> None:
    """Read elsewhere (``stream_options`` by the stream decoder)."""


def _max_tokens(value: Any, wire: Json) -> None:
    if value is not None:
        wire.setdefault("max_tokens", value)  # max_completion_tokens wins when both are given


def _stop(value: Any, wire: Json) -> None:
    if value is not None:
        wire["stop_sequences"] = [value] if isinstance(value, str) else list(value)


def _one_choice(value: Any, wire: Json) -> None:
    if value not in (None, 1):
        raise InvalidRequest("cohere returns one choice per request; n must be 1", param="n")


def _tool_choice(value: Any, wire: Json) -> None:
    if value is None:
        return
    if not isinstance(value, str) or value not in TOOL_CHOICE:
        raise InvalidRequest(
            "cohere cannot force one named tool; use 'auto', 'required' or 'none'",
            param="tool_choice",
        )
    if TOOL_CHOICE[value] is not None:
        wire["tool_choice"] = TOOL_CHOICE[value]


def _tools(value: Any, wire: Json) -> None:
    if not value:
        return
    tools = []
    for tool in value:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or tool.get("type") != "function":
            raise InvalidRequest("cohere accepts only function tools", param="tools")
        spec = {k: fn[k] for k in ("name", "description", "parameters") if k in fn}
        tools.append({"type": "function", "function": spec})
        if fn.get("strict"):
            wire["strict_tools"] = True
    wire["tools"] = tools


def _response_format(value: Any, wire: Json) -> None:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in (None, "text"):
        return
    if kind == "json_object":
        wire["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        fmt: Json = {"type": "json_object"}
        if schema is not None:
            fmt["json_schema"] = schema
        wire["response_format"] = fmt
    else:
        raise InvalidRequest(f"unknown response_format type {kind!r}", param="response_format")


def _messages(value: Any, wire: Json) -> None:
    wire["messages"] = [_message(m) for m in value]


def _message(message: Json) -> Json:
    role = message.get("role")
    translate = ROLES.get(role) if isinstance(role, str) else None
    if translate is None:
        raise InvalidRequest(f"cohere has no {role!r} role", param="messages")
    return translate(message)


def text_of(content: Any) -> str:
    """A message's text: the string itself or its text parts joined; other parts refused."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if part.get("type") != "text":
            raise InvalidRequest(
                f"cohere accepts only text here, not {part.get('type')!r}", param="messages"
            )
        texts.append(part.get("text") or "")
    return "".join(texts)


def _system(message: Json) -> Json:
    return {"role": "system", "content": text_of(message.get("content"))}


def _user(message: Json) -> Json:
    content = message.get("content")
    if content is None or isinstance(content, str):
        return {"role": "user", "content": content or ""}
    return {"role": "user", "content": [_user_part(part) for part in content]}


def _user_part(part: Json) -> Json:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text") or ""}
    if kind == "image_url":
        image = part.get("image_url") or {}
        url = image.get("url") if isinstance(image, dict) else image
        out: Json = {"url": url}
        if isinstance(image, dict) and image.get("detail"):
            out["detail"] = image["detail"]
        return {"type": "image_url", "image_url": out}
    raise InvalidRequest(f"cohere does not accept {kind!r} content", param="messages")


def _assistant(message: Json) -> Json:
    out: Json = {"role": "assistant"}
    text = text_of(message.get("content"))
    calls = message.get("tool_calls") or []
    if calls and text:
        out["tool_plan"] = text  # Cohere's own shape for words said alongside tool calls
    elif not calls:
        out["content"] = text
    if calls:
        out["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {
                    "name": call["function"]["name"],
                    "arguments": call["function"].get("arguments") or "{}",
                },
            }
            for call in calls
        ]
    return out


def _tool(message: Json) -> Json:
    text = text_of(message.get("content"))
    return {
        "role": "tool",
        "tool_call_id": message["tool_call_id"],
        "content": [{"type": "text", "text": text}],
    }


def _input(value: Any, wire: Json) -> None:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("cohere embeds text only, not token arrays", param="input")
    wire["texts"] = texts


def _encoding(value: Any, wire: Json) -> None:
    if value is None:
        return
    if value not in ENCODINGS:
        raise InvalidRequest(f"unknown encoding_format {value!r}", param="encoding_format")
    wire["embedding_types"] = [ENCODINGS[value]]


ROLES: dict[str, Callable[[Json], Json]] = {
    "system": _system,
    "developer": _system,
    "user": _user,
    "assistant": _assistant,
    "tool": _tool,
}

CHAT_FIELDS: dict[str, Handler] = {
    "model": _to("model"),
    "messages": _messages,
    "stream": _to("stream"),
    "stream_options": _ignored,
    "max_tokens": _max_tokens,
    "max_completion_tokens": _to("max_tokens"),
    "temperature": _to("temperature"),
    "top_p": _to("p"),
    "top_k": _to("k"),
    "p": _to("p"),
    "k": _to("k"),
    "stop": _stop,
    "seed": _to("seed"),
    "frequency_penalty": _to("frequency_penalty"),
    "presence_penalty": _to("presence_penalty"),
    "tools": _tools,
    "tool_choice": _tool_choice,
    "response_format": _response_format,
    "n": _one_choice,
}

EMBED_FIELDS: dict[str, Handler] = {
    "model": _to("model"),
    "input": _input,
    "encoding_format": _encoding,
    "dimensions": _to("output_dimension"),
}
