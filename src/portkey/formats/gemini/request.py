"""Gemini requests: an OpenAI chat or embeddings request -> a generateContent / embed body.

Pure functions over dicts. The provider's params table has already dropped or rejected what
Gemini cannot take (logit_bias, logprobs...); every other canonical field is translated here,
and a field this module does not know is refused with a 400 that names it.
Docs: https://ai.google.dev/api/generate-content, https://ai.google.dev/api/embeddings,
https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from portkey.errors import InvalidRequest
from portkey.formats.gemini.schema import clean_schema
from portkey.providers.base import CHAT, EMBEDDINGS, Json

#: a model id safe to put in a URL path (``models/`` prefix allowed and removed)
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")

#: canonical chat fields -> generationConfig fields, copied as they are (later names win)
GENERATION_FIELDS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
}
#: canonical chat fields translated by this module (besides GENERATION_FIELDS)
CHAT_FIELDS = frozenset(
    {
        *GENERATION_FIELDS,
        "model",
        "messages",
        "stream",
        "stream_options",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_effort",
    }
)
EMBED_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format"})
#: encodings an OpenAI client may ask for; answers carry floats, which every SDK reads
ENCODINGS = frozenset({"float", "base64"})

#: reasoning_effort -> thinkingConfig.thinkingBudget, Google's own OpenAI-compatibility table
#: (https://ai.google.dev/gemini-api/docs/openai#thinking); xhigh is 2.5 Pro's maximum budget
THINKING_BUDGET = {
    "none": 0,
    "minimal": 1024,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
#: tool_choice strings -> functionCallingConfig.mode
TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
#: file extensions -> media type, for http(s)/gs:// image URLs sent as fileData
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".pdf": "application/pdf",
}
#: input_audio.format -> media type
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
#: Google's documented placeholder for a function call that carries no thought signature
#: (https://ai.google.dev/gemini-api/docs/thought-signatures): histories from other models
SKIP_SIGNATURE = "skip_thought_signature_validator"


# -- entry points ------------------------------------------------------------------------


def build_gemini_request(
    route: str, canonical: Json, options: Mapping[str, str]
) -> tuple[str, Json]:
    """Gemini API (AI Studio): chat via generateContent, embeddings via batchEmbedContents."""
    if route == EMBEDDINGS:
        model = model_id(canonical)
        texts, dimensions = _embed_inputs(canonical)
        request: Json = {"model": f"models/{model}"}
        if dimensions is not None:
            request["outputDimensionality"] = dimensions
        body = {"requests": [{**request, "content": {"parts": [{"text": t}]}} for t in texts]}
        return f"/models/{model}:batchEmbedContents", body
    return build_chat(route, canonical)


def build_vertex_request(
    route: str, canonical: Json, options: Mapping[str, str]
) -> tuple[str, Json]:
    """Vertex AI: chat as on the Gemini API, embeddings through the publisher model's predict."""
    if route == EMBEDDINGS:
        model = model_id(canonical)
        texts, dimensions = _embed_inputs(canonical)
        body: Json = {"instances": [{"content": t} for t in texts]}
        if dimensions is not None:
            body["parameters"] = {"outputDimensionality": dimensions}
        return f"/models/{model}:predict", body
    return build_chat(route, canonical)


def build_chat(route: str, canonical: Json) -> tuple[str, Json]:
    if route != CHAT:
        raise InvalidRequest(f"the Gemini format has no {route} route", param="model")
    _refuse_unknown(canonical, CHAT_FIELDS)
    model = model_id(canonical)
    messages = canonical.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    system, contents = translate_messages(messages)
    body: Json = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools, tool_config = translate_tools(canonical.get("tools"), canonical.get("tool_choice"))
    if tools:
        body["tools"] = tools
    if tool_config:
        body["toolConfig"] = tool_config
    config = generation_config(canonical)
    if config:
        body["generationConfig"] = config
    if canonical.get("stream"):
        return f"/models/{model}:streamGenerateContent?alt=sse", body
    return f"/models/{model}:generateContent", body


def model_id(canonical: Json) -> str:
    model = canonical.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("a Gemini request needs a model", param="model")
    model = model.removeprefix("models/")
    if not MODEL_ID.fullmatch(model):
        raise InvalidRequest(f"{model!r} is not a Gemini model id", param="model")
    return model


def _refuse_unknown(canonical: Json, known: frozenset[str]) -> None:
    for name in canonical:
        if name not in known:
            raise InvalidRequest(f"'{name}' is not supported by the Gemini format", param=name)


def _embed_inputs(canonical: Json) -> tuple[list[str], int | None]:
    _refuse_unknown(canonical, EMBED_FIELDS)
    value = canonical.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidRequest(
            "Gemini embeddings take text: a string or a non-empty list of strings", param="input"
        )
    encoding = canonical.get("encoding_format", "float")
    if encoding not in ENCODINGS:
        raise InvalidRequest(
            f"encoding_format {encoding!r} is not supported", param="encoding_format"
        )
    dimensions = canonical.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or dimensions <= 0):
        raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
    return texts, dimensions


# -- messages ----------------------------------------------------------------------------


def translate_messages(messages: list[Any]) -> tuple[list[Json], list[Json]]:
    """(systemInstruction parts, contents). Same-role neighbours share one content."""
    system: list[Json] = []
    contents: list[Json] = []
    call_names: dict[str, str] = {}  # tool_call id -> function name, for functionResponse
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{i}] is not an object", param="messages")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_parts(message.get("content"), i))
            continue
        if role == "user":
            native, parts = "user", _user_parts(message.get("content"), i)
        elif role == "assistant":
            native, parts = "model", _assistant_parts(message, i, call_names)
        elif role == "tool":
            native, parts = "user", [_function_response(message, i, call_names)]
        else:
            raise InvalidRequest(f"messages[{i}]: role {role!r} is not supported", param="messages")
        if not parts:
            continue
        if contents and contents[-1]["role"] == native:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": native, "parts": parts})
    return system, contents


def _text_parts(content: Any, i: int) -> list[Json]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"messages[{i}].content must be a string or a list", param="messages")
    parts: list[Json] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if isinstance(text, str) and text:
                parts.append({"text": text})
        else:
            raise InvalidRequest(
                f"messages[{i}]: a {kind!r} part is not allowed in this message", param="messages"
            )
    return parts


def _user_parts(content: Any, i: int) -> list[Json]:
    if not isinstance(content, list):
        return _text_parts(content, i)
    parts: list[Json] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.extend(_text_parts([part], i))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(media_part(url, i))
        elif kind == "input_audio":
            parts.append(_audio_part(part.get("input_audio"), i))
        elif kind == "file":
            parts.append(_file_part(part.get("file"), i))
        else:
            raise InvalidRequest(
                f"messages[{i}]: {kind!r} parts are not supported", param="messages"
            )
    return parts


def media_part(url: Any, i: int) -> Json:
    """A data: URL becomes inlineData; an http(s)/gs:// URL fileData (its type from the name)."""
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"messages[{i}]: an image_url needs a url", param="messages")
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        if not sep or not header.endswith(";base64") or not data:
            raise InvalidRequest(
                f"messages[{i}]: only base64 data: URLs are supported", param="messages"
            )
        inline = header.removesuffix(";base64") or "application/octet-stream"
        return {"inlineData": {"mimeType": inline, "data": data}}
    split = urlsplit(url)
    dot = split.path.rfind(".")
    mime = MEDIA_TYPES.get(split.path[dot:].lower()) if dot >= 0 else None
    if split.scheme not in ("http", "https", "gs") or mime is None:
        raise InvalidRequest(
            f"messages[{i}]: cannot tell the media type of {url[:80]!r}; send a data: URL",
            param="messages",
        )
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _audio_part(audio: Any, i: int) -> Json:
    if not isinstance(audio, dict) or audio.get("format") not in AUDIO_TYPES:
        raise InvalidRequest(
            f"messages[{i}]: input_audio needs data and format wav|mp3", param="messages"
        )
    return {"inlineData": {"mimeType": AUDIO_TYPES[audio["format"]], "data": audio.get("data")}}


def _file_part(file: Any, i: int) -> Json:
    data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data, str) or not data.startswith("data:"):
        raise InvalidRequest(
            f"messages[{i}]: file parts need file_data as a data: URL (file ids are OpenAI's)",
            param="messages",
        )
    return media_part(data, i)


def _assistant_parts(message: Json, i: int, call_names: dict[str, str]) -> list[Json]:
    parts = _text_parts(message.get("content"), i)
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise InvalidRequest(f"messages[{i}].tool_calls must be a list", param="messages")
    for n, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(
                f"messages[{i}].tool_calls[{n}] needs a function name", param="messages"
            )
        try:
            args = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = None
        if not isinstance(args, dict):
            raise InvalidRequest(
                f"messages[{i}].tool_calls[{n}].function.arguments must be a JSON object",
                param="messages",
            )
        part: Json = {"functionCall": {"name": function["name"], "args": args}}
        signature = _signature(call)
        if signature or n == 0:  # Gemini validates the first call of a turn only
            part["thoughtSignature"] = signature or SKIP_SIGNATURE
        parts.append(part)
        if isinstance(call.get("id"), str):
            call_names[call["id"]] = function["name"]
    return parts


def _signature(call: Json) -> str | None:
    """The thought signature a previous answer carried (Google's OpenAI-compatible field)."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def _function_response(message: Json, i: int, call_names: dict[str, str]) -> Json:
    call_id = message.get("tool_call_id")
    name = call_names.get(call_id) if isinstance(call_id, str) else None
    if name is None:
        raise InvalidRequest(
            f"messages[{i}]: tool_call_id {call_id!r} matches no earlier assistant tool call",
            param="messages",
        )
    content = message.get("content")
    text = "".join(p["text"] for p in _text_parts(content, i))
    try:
        parsed = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


# -- tools -------------------------------------------------------------------------------


def translate_tools(tools: Any, choice: Any) -> tuple[list[Json], Json | None]:
    """(tools, toolConfig). allowed_tools narrows the declarations Gemini sees."""
    if tools is None:
        if choice not in (None, "none", "auto"):
            raise InvalidRequest("tool_choice needs tools", param="tool_choice")
        return [], None
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list", param="tools")
    declarations = [_declaration(tool, n) for n, tool in enumerate(tools)]
    mode, names = _tool_choice(choice)
    if names is not None and mode == "AUTO":  # allowed_tools in auto mode: hide the others
        declarations = [d for d in declarations if d["name"] in names]
        names = None
    config: Json | None = None
    if mode is not None:
        calling: Json = {"mode": mode}
        if names is not None:
            calling["allowedFunctionNames"] = names
        config = {"functionCallingConfig": calling}
    return ([{"functionDeclarations": declarations}] if declarations else []), config


def _declaration(tool: Any, n: int) -> Json:
    function = tool.get("function") if isinstance(tool, dict) else None
    if (
        not isinstance(tool, dict)
        or tool.get("type") != "function"
        or not isinstance(function, dict)
    ):
        raise InvalidRequest(f"tools[{n}]: only function tools are supported", param="tools")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"tools[{n}] needs a function name", param="tools")
    out: Json = {"name": name}
    if isinstance(function.get("description"), str):
        out["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict) and (
        parameters.get("properties") or parameters.get("type") != "object"
    ):
        # Gemini refuses an OBJECT schema with no properties: a function without arguments
        out["parameters"] = _schema(parameters, "tools")
    return out


def _tool_choice(choice: Any) -> tuple[str | None, list[str] | None]:
    if choice is None:
        return None, None
    if isinstance(choice, str) and choice in TOOL_MODES:
        return TOOL_MODES[choice], None
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function":
        name = _function_name(choice)
        if name:
            return "ANY", [name]
    elif kind == "allowed_tools":
        allowed = choice.get("allowed_tools")
        allowed = allowed if isinstance(allowed, dict) else {}
        tools = allowed.get("tools")
        names = [n for t in tools if (n := _function_name(t))] if isinstance(tools, list) else []
        mode = TOOL_MODES.get(str(allowed.get("mode", "auto")))
        if names and mode in ("AUTO", "ANY"):
            return mode, names
    raise InvalidRequest(f"tool_choice {choice!r} is not supported by Gemini", param="tool_choice")


def _function_name(holder: Any) -> str | None:
    """``holder["function"]["name"]`` when it is a non-empty string."""
    function = holder.get("function") if isinstance(holder, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) and name else None


def _schema(schema: Json, param: str) -> Json:
    try:
        return clean_schema(schema)
    except ValueError as exc:
        raise InvalidRequest(f"{param}: {exc}", param=param) from exc


# -- generation config -------------------------------------------------------------------


def generation_config(canonical: Json) -> Json:
    config: Json = {}
    for name, target in GENERATION_FIELDS.items():
        value = canonical.get(name)
        if value is not None:
            config[target] = value
    stop = canonical.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    config.update(_response_format(canonical.get("response_format")))
    effort = canonical.get("reasoning_effort")
    if effort is not None:
        if effort not in THINKING_BUDGET:
            raise InvalidRequest(
                f"reasoning_effort {effort!r} is not one of {', '.join(THINKING_BUDGET)}",
                param="reasoning_effort",
            )
        config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGET[effort]}
    return config


def _response_format(fmt: Any) -> Json:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if fmt is None or kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        out: Json = {"responseMimeType": "application/json"}
        if isinstance(schema, dict):
            out["responseSchema"] = _schema(schema, "response_format")
        return out
    raise InvalidRequest(
        f"response_format {kind!r} is not supported by Gemini", param="response_format"
    )
