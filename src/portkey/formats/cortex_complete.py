"""Snowflake Cortex REST ``inference:complete``: OpenAI-shaped chat to and from its wire format.

Shapes follow Snowflake's Cortex Inference OpenAPI spec: messages hold ``content`` text or a
``content_list`` of text / image / ``tool_use`` / ``tool_results`` items; tools are
``{"tool_spec": {"type": "generic", ...}}``; JSON output is ``{"type": "json", "schema"}``.
The stream is SSE of OpenAI-like ``choices[].delta`` chunks (``type`` text or tool_use, tool
input as string fragments) with usage. That spec names no end event, so the answer is whole
when a chunk says ``finish_reason``, on ``data: [DONE]``, or when the body ends cleanly after
whole events (a transport cut raises before that, a torn last event is an error).
https://docs.snowflake.com/en/user-guide/snowflake-cortex/cortex-rest-api
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from portkey.errors import InvalidRequest, UpstreamBadResponse
from portkey.formats.sse_events import SSEParser, chunk_base, sse, wants_usage
from portkey.providers.base import CHAT, Json, StreamDecoder, WireFormat

PATH = "/api/v2/cortex/inference:complete"
#: tool_choice -> Cortex's ToolChoice; Cortex has no "none"
TOOL_CHOICE = {"auto": {"type": "auto"}, "required": {"type": "required"}}
#: finish reasons some Cortex models report -> OpenAI's
FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}
DONE = b"data: [DONE]\n\n"

Handler = Callable[[Any, Json], None]


# -- request -----------------------------------------------------------------------------


def build_request(route: str, canonical: Json, options: Mapping[str, str]) -> tuple[str, Json]:
    if route != CHAT:
        raise InvalidRequest(f"snowflake-cortex-rest does not serve {route}", param="model")
    wire: Json = {"stream": False}  # Cortex streams unless told otherwise
    try:
        for name, value in canonical.items():
            handler = FIELDS.get(name)
            if handler is None:
                raise InvalidRequest(
                    f"'{name}' is not supported by provider snowflake-cortex-rest", param=name
                )
            handler(value, wire)
    except AttributeError as exc:  # a part or message that is not an object
        raise InvalidRequest(f"cannot translate the request for Cortex: {exc}") from exc
    return PATH, wire


def _to(target: str) -> Handler:
    def handler(value: Any, wire: Json) -> None:
        if value is not None:
            wire[target] = value

    return handler


def _ignored(value: Any, wire: Json) -> None:
    """Read by the stream decoder (``stream_options``)."""


def _max_tokens(value: Any, wire: Json) -> None:
    if value is not None:
        wire.setdefault("max_tokens", value)  # max_completion_tokens wins when both are given


def _stream(value: Any, wire: Json) -> None:
    wire["stream"] = bool(value)


def _one_choice(value: Any, wire: Json) -> None:
    if value not in (None, 1):
        raise InvalidRequest("Cortex returns one choice per request; n must be 1", param="n")


def _tools(value: Any, wire: Json) -> None:
    if not value:
        return
    specs = []
    for tool in value:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or tool.get("type") != "function":
            raise InvalidRequest("Cortex accepts only function tools", param="tools")
        spec: Json = {"type": "generic", "name": fn["name"]}
        if fn.get("description"):
            spec["description"] = fn["description"]
        spec["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
        specs.append({"tool_spec": spec})
    wire["tools"] = specs


def _tool_choice(value: Any, wire: Json) -> None:
    if value is None:
        return
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        wire["tool_choice"] = {"type": "tool", "name": [value["function"]["name"]]}
    elif isinstance(value, str) and value in TOOL_CHOICE:
        wire["tool_choice"] = TOOL_CHOICE[value]
    else:
        raise InvalidRequest(
            f"Cortex has no tool_choice {value!r} (auto, required or a named function)",
            param="tool_choice",
        )


def _response_format(value: Any, wire: Json) -> None:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in (None, "text"):
        return
    if kind == "json_object":
        wire["response_format"] = {"type": "json", "schema": {"type": "object"}}
    elif kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema") or {"type": "object"}
        wire["response_format"] = {"type": "json", "schema": schema}
    else:
        raise InvalidRequest(f"unknown response_format type {kind!r}", param="response_format")


def _messages(value: Any, wire: Json) -> None:
    names = {  # tool results must name their tool; OpenAI's carry only the call id
        call["id"]: call["function"]["name"]
        for message in value
        for call in message.get("tool_calls") or ()
    }
    out: list[Json] = []
    for message in value:
        role = message.get("role")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": _text(message.get("content"))})
        elif role == "user":
            out.append(_user(message.get("content")))
        elif role == "assistant":
            out.append(_assistant(message))
        elif role == "tool":
            _tool_result(message, names, out)
        else:
            raise InvalidRequest(f"Cortex has no {role!r} role", param="messages")
    wire["messages"] = out


def _text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if part.get("type") != "text":
            raise InvalidRequest(f"Cortex takes only text here, not {part.get('type')!r}")
        texts.append(part.get("text") or "")
    return "".join(texts)


def _user(content: Any) -> Json:
    if content is None or isinstance(content, str):
        return {"role": "user", "content": content or ""}
    items = [_user_item(part) for part in content]
    text = "".join(item["text"] for item in items if item["type"] == "text")
    return {"role": "user", "content": text, "content_list": items}


def _user_item(part: Json) -> Json:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text") or ""}
    if kind != "image_url":
        raise InvalidRequest(f"Cortex does not accept {kind!r} content", param="messages")
    image = part.get("image_url") or {}
    url = str(image.get("url") if isinstance(image, dict) else image)
    head, _, data = url.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64"):
        raise InvalidRequest("Cortex takes images as base64 data URLs only", param="messages")
    details: Json = {"type": "base64", "content": data, "content_type": head[5:-7]}
    if isinstance(image, dict) and image.get("detail"):
        details["detail"] = image["detail"]
    return {"type": "image", "details": details}


def _assistant(message: Json) -> Json:
    text = _text(message.get("content"))
    out: Json = {"role": "assistant", "content": text}
    calls = message.get("tool_calls") or []
    if calls:
        items: list[Json] = [{"type": "text", "text": text}] if text else []
        for call in calls:
            arguments = call["function"].get("arguments") or "{}"
            try:
                parsed = orjson.loads(arguments)
            except orjson.JSONDecodeError:
                raise InvalidRequest(
                    "tool call arguments must be JSON for Cortex", param="messages"
                ) from None
            use = {"tool_use_id": call["id"], "name": call["function"]["name"], "input": parsed}
            items.append({"type": "tool_use", "tool_use": use})
        out["content_list"] = items
    return out


def _tool_result(message: Json, names: Mapping[str, str], out: list[Json]) -> None:
    call_id = message["tool_call_id"]
    result = {
        "tool_use_id": call_id,
        "name": names.get(call_id, ""),
        "content": [{"type": "text", "text": _text(message.get("content"))}],
    }
    item = {"type": "tool_results", "tool_results": result}
    last = out[-1] if out else {}
    items = last.get("content_list") or ()
    if last.get("role") == "user" and items and all(i["type"] == "tool_results" for i in items):
        last["content_list"].append(item)  # consecutive results share one user turn
    else:
        out.append({"role": "user", "content": "", "content_list": [item]})


FIELDS: dict[str, Handler] = {
    "model": _to("model"),
    "messages": _messages,
    "stream": _stream,
    "stream_options": _ignored,
    "max_tokens": _max_tokens,
    "max_completion_tokens": _to("max_tokens"),
    "temperature": _to("temperature"),
    "top_p": _to("top_p"),
    "tools": _tools,
    "tool_choice": _tool_choice,
    "response_format": _response_format,
    "n": _one_choice,
}


# -- response ----------------------------------------------------------------------------


def usage(native: Any) -> Json:
    native = native if isinstance(native, dict) else {}
    prompt = int(native.get("prompt_tokens") or 0)
    completion = int(native.get("completion_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(native.get("total_tokens") or prompt + completion),
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def parse_response(route: str, wire: Json) -> Json:
    choice = wire["choices"][0]
    native = choice.get("message") or {}
    texts: list[str] = []
    calls: list[Json] = []
    for item in native.get("content_list") or ():
        if item.get("type") == "text":
            texts.append(item.get("text") or "")
        elif item.get("type") == "tool_use":
            use = item.get("tool_use") or item
            arguments = use.get("input")
            calls.append(
                {
                    "id": use["tool_use_id"],
                    "type": "function",
                    "function": {
                        "name": use["name"],
                        "arguments": arguments
                        if isinstance(arguments, str)
                        else orjson.dumps(arguments or {}).decode(),
                    },
                }
            )
    text = "".join(texts) if texts else native.get("content")
    message: Json = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    native_finish = choice.get("finish_reason")
    finish = FINISH.get(str(native_finish), "stop") if native_finish else None
    return {
        "id": wire.get("id") or f"chatcmpl-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(wire.get("created") or time.time()),
        "model": wire.get("model") or "",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish or ("tool_calls" if calls else "stop"),
            }
        ],
        "usage": usage(wire.get("usage")),
    }


# -- stream ------------------------------------------------------------------------------


class CortexStreamDecoder:
    """Cortex's SSE chunks in, OpenAI chat.completion.chunk events out."""

    def __init__(self, canonical: Json) -> None:
        self._sse = SSEParser()
        self._want_usage = wants_usage(canonical)
        self._base: Json = chunk_base(canonical)
        self._usage: Json | None = None
        self._tools: dict[str, int] = {}  # tool_use_id -> OpenAI tool call index
        self._started = False
        self._finish: str | None = None
        self._done = False

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for _name, payload in self._sse.feed(data):
            if self._done:
                continue
            if payload == "[DONE]":
                self._end(out)
                continue
            self._chunk(payload, out)
        return b"".join(out)

    def close(self) -> bytes:
        if self._done:
            return b""
        if self._sse.rest():
            raise UpstreamBadResponse("Cortex stream ended inside an event")
        if not self._started:
            return b""  # nothing came: the gateway reports an empty stream
        out: list[bytes] = []
        self._end(out)
        return b"".join(out)

    def _emit(self, out: list[bytes], delta: Json, finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        out.append(sse({**self._base, "choices": [choice]}))

    def _chunk(self, payload: str, out: list[bytes]) -> None:
        chunk = orjson.loads(payload)
        if not isinstance(chunk, dict):
            raise TypeError(f"Cortex sent a stream chunk that is not an object: {payload!r}")
        if chunk.get("id"):
            self._base["id"] = chunk["id"]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        if not self._started:
            self._started = True
            self._emit(out, {"role": "assistant", "content": ""})
        for choice in chunk.get("choices") or ():
            self._delta(choice.get("delta") or {}, out)
            if choice.get("finish_reason"):
                self._finish = FINISH.get(str(choice["finish_reason"]), "stop")
        if self._finish is not None:
            self._end(out)

    def _delta(self, delta: Json, out: list[bytes]) -> None:
        if delta.get("type") == "tool_use" or delta.get("tool_use_id") or "input" in delta:
            self._tool_delta(delta, out)
            return
        text = delta.get("content")
        if text is None:
            text = delta.get("text")
        if text:
            self._emit(out, {"content": text})

    def _tool_delta(self, delta: Json, out: list[bytes]) -> None:
        call_id = delta.get("tool_use_id")
        fragment = delta.get("input") or ""
        if call_id and call_id not in self._tools:
            self._tools[call_id] = len(self._tools)
            call = {
                "index": self._tools[call_id],
                "id": call_id,
                "type": "function",
                "function": {"name": delta.get("name") or "", "arguments": fragment},
            }
            self._emit(out, {"tool_calls": [call]})
        elif fragment:
            index = self._tools[call_id] if call_id else len(self._tools) - 1
            if index < 0:
                raise UpstreamBadResponse("Cortex sent tool input before any tool_use")
            self._emit(out, {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})

    def _end(self, out: list[bytes]) -> None:
        if not self._started:
            return
        finish = self._finish or ("tool_calls" if self._tools else "stop")
        self._emit(out, {}, finish)
        if self._want_usage:
            body = {**self._base, "choices": [], "usage": usage(self._usage)}
            out.append(sse(body))
        out.append(DONE)
        self._done = True


def stream_decoder(route: str, canonical: Json) -> StreamDecoder:
    return CortexStreamDecoder(canonical)


CORTEX_COMPLETE_FORMAT = WireFormat(
    name="cortex-complete",
    passthrough=False,
    build_request=build_request,
    parse_response=parse_response,
    stream_decoder=stream_decoder,
)
