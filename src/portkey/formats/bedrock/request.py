"""Bedrock requests: OpenAI chat and embedding bodies as Converse and InvokeModel bodies.

Converse (docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html):
system/developer messages become ``system`` blocks, tool messages become user turns holding
``toolResult`` blocks, and consecutive turns of one role merge (Converse wants them to
alternate). ``response_format`` becomes a forced tool named ``JSON_TOOL`` (Converse has no JSON
mode common to all its models); the response and stream modules turn that tool's input back
into the answer's JSON text.

Choices made here, each visible to the client:

* ``tool_choice: "none"`` sends no tools (Converse has no "none"). When the conversation already
  holds tool calls Converse requires ``toolConfig``, so that case is a 400 naming tool_choice.
* Tool results travel as text blocks without ``status``: text is read by every Converse model,
  while ``status`` is accepted by Claude and Nova only.
* Titan text embeddings read one text per call and the gateway makes one upstream call per
  request: a Titan request with several inputs is a 400 naming ``input``.
* ``encoding_format: base64`` (the openai SDK's default) is answered with floats, which the SDK
  reads as well; Bedrock itself only returns floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from portkey.errors import InvalidRequest
from portkey.formats._turns import split_turns, tool_call, tool_calls_of
from portkey.providers.base import CHAT, EMBEDDINGS, Json

PROVIDER = "bedrock"
#: the forced tool that carries ``response_format`` answers; user tools may not take this name
JSON_TOOL = "portkey_json_response"
#: characters legal in a path segment that aiohttp's URL class would decode if quoted: left
#: as they are, so the path that is signed is byte for byte the path that is sent
PATH_SAFE = ":@!$&'()*,;="

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
S3_IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp"}

#: canonical chat fields read here; any other field left after the provider's param table is
#: rejected by name (the table drops or rejects the known OpenAI fields Converse lacks)
CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "n",
    }
)
EMBEDDING_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "input_type"})
#: cross-region inference profile prefixes in front of a model id (``us.cohere.embed-v4:0``)
GEO_PREFIXES = frozenset({"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"})


def invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def model_path(model: str) -> str:
    """The model id as one URL path segment (``:`` kept, ``/`` of ARNs quoted)."""
    return quote(model, safe=PATH_SAFE)


def build_request(route: str, canonical: Json, options: Mapping[str, str]) -> tuple[str, Json]:
    model = canonical.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("Bedrock needs 'model': a model id, inference profile or ARN", "model")
    if route == EMBEDDINGS:
        return f"/model/{model_path(model)}/invoke", embedding_body(model, canonical)
    if route != CHAT:
        raise invalid(f"provider {PROVIDER} does not serve {route}", "model")
    action = "converse-stream" if canonical.get("stream") else "converse"
    return f"/model/{model_path(model)}/{action}", converse_body(canonical)


def _reject_unknown(canonical: Json, known: frozenset[str]) -> None:
    unknown = sorted(set(canonical) - known)
    if unknown:
        raise invalid(f"'{unknown[0]}' is not supported by provider {PROVIDER}", unknown[0])


# -- chat ----------------------------------------------------------------------------------


def converse_body(canonical: Json) -> Json:
    _reject_unknown(canonical, CHAT_FIELDS)
    if canonical.get("n") not in (None, 1):
        raise invalid("Bedrock Converse returns one choice: 'n' must be 1", "n")
    system, messages = convert_messages(canonical.get("messages"))
    body: Json = {"messages": messages}
    if system:
        body["system"] = system
    inference = inference_config(canonical)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = tool_configuration(canonical, holds_tool_blocks(messages))
    if tool_config is not None:
        body["toolConfig"] = tool_config
    top_k = canonical.get("top_k")
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool):
            raise invalid("'top_k' must be an integer", "top_k")
        # documented for Anthropic models on Bedrock; other families reject it upstream
        body["additionalModelRequestFields"] = {"top_k": top_k}
    return body


def inference_config(canonical: Json) -> Json:
    config: Json = {}
    max_tokens = canonical.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = canonical.get("max_tokens")
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    for source, target in (("temperature", "temperature"), ("top_p", "topP")):
        if canonical.get(source) is not None:
            config[target] = canonical[source]
    stop = canonical.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise invalid("'stop' must be a string or a list of strings", "stop")
        if stops:
            config["stopSequences"] = stops
    return config


def convert_messages(messages: Any) -> tuple[list[Json], list[Json]]:
    """OpenAI messages -> (Converse ``system`` blocks, alternating Converse messages)."""
    return split_turns(messages, _system_blocks, ROLE_BLOCKS)


def _system_blocks(content: Any, i: int) -> list[Json]:
    return [{"text": text} for text in texts_of(content, i) if text]


def texts_of(content: Any, i: int) -> list[str]:
    """The texts of a string or a list of text parts (no other part allowed here)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise invalid(f"messages[{i}].content must be a string or a list of parts", "messages")
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        value = part.get(kind) if kind in ("text", "refusal") else None
        if not isinstance(value, str):
            raise invalid(f"messages[{i}]: only text parts are allowed in this message", "messages")
        texts.append(value)
    return texts


def _user_blocks(message: Json, i: int) -> list[Json]:
    content = message.get("content")
    if isinstance(content, list):
        blocks = [_user_part(part, i) for part in content]
        blocks = [b for b in blocks if b.get("text") != ""]
    else:
        blocks = [{"text": text} for text in texts_of(content, i) if text]
    if not blocks:
        raise invalid(f"messages[{i}] has no content", "messages")
    return blocks


def _user_part(part: Any, i: int) -> Json:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"text": part["text"]}
    if kind == "image_url":
        return {"image": image_block(part.get("image_url"), i)}
    raise invalid(
        f"messages[{i}]: content part {kind!r} is not supported by provider {PROVIDER}", "messages"
    )


def image_block(image_url: Any, i: int) -> Json:
    """An OpenAI image (data: URL, or s3:// URL) as a Converse image block."""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise invalid(f"messages[{i}]: image_url needs a 'url'", "messages")
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media, _, encoding = header.partition(";")
        fmt = IMAGE_FORMATS.get(media.strip().lower())
        if not comma or encoding.strip().lower() != "base64" or not data:
            raise invalid(f"messages[{i}]: an image data URL must be base64", "messages")
        if fmt is None:
            raise invalid(
                f"messages[{i}]: image type {media!r} is not png, jpeg, gif or webp", "messages"
            )
        return {"format": fmt, "source": {"bytes": data}}
    if url.startswith("s3://"):
        suffix = "." + url.rsplit(".", 1)[-1].lower() if "." in url else ""
        fmt = S3_IMAGE_SUFFIXES.get(suffix)
        if fmt is None:
            raise invalid(f"messages[{i}]: cannot tell the image type of {url!r}", "messages")
        return {"format": fmt, "source": {"s3Location": {"uri": url}}}
    raise invalid(
        f"messages[{i}]: Bedrock reads images inline (data: URLs) or from S3 (s3:// URLs)",
        "messages",
    )


def _assistant_blocks(message: Json, i: int) -> list[Json]:
    blocks: list[Json] = [{"text": text} for text in texts_of(message.get("content"), i) if text]
    blocks.extend({"toolUse": tool_use(call, i)} for call in tool_calls_of(message, i))
    return blocks


def tool_use(call: Any, i: int) -> Json:
    call_id, name, arguments = tool_call(call, i)
    return {"toolUseId": call_id, "name": name, "input": arguments}


def _tool_blocks(message: Json, i: int) -> list[Json]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"messages[{i}]: a tool message needs 'tool_call_id'", "messages")
    content = [{"text": text} for text in texts_of(message.get("content"), i)] or [{"text": ""}]
    return [{"toolResult": {"toolUseId": call_id, "content": content}}]


ROLE_BLOCKS: dict[str, Callable[[Json, int], list[Json]]] = {
    "user": _user_blocks,
    "assistant": _assistant_blocks,
    "tool": _tool_blocks,
}


def holds_tool_blocks(messages: list[Json]) -> bool:
    return any(
        "toolUse" in block or "toolResult" in block
        for turn in messages
        for block in turn["content"]
    )


def tool_configuration(canonical: Json, has_tool_blocks: bool) -> Json | None:
    tools = canonical.get("tools") or []
    if not isinstance(tools, list):
        raise invalid("'tools' must be a list", "tools")
    choice = canonical.get("tool_choice")
    if choice is not None and not tools:
        raise invalid("'tool_choice' is only allowed when 'tools' are given", "tool_choice")
    specs = [{"toolSpec": tool_spec(tool, k)} for k, tool in enumerate(tools)]
    if choice == "none":
        if has_tool_blocks:
            raise invalid(
                "Bedrock has no tool_choice 'none' and needs the tools while the conversation "
                "holds tool calls: send tool_choice 'auto'",
                "tool_choice",
            )
        specs, choice = [], None
    wire_choice = tool_choice(choice)
    json_tool = json_tool_spec(canonical.get("response_format"))
    if json_tool is not None:
        if not specs:
            wire_choice = {"tool": {"name": JSON_TOOL}}
        elif wire_choice is None or "auto" in wire_choice:
            wire_choice = {"any": {}}  # answer through a user tool or through the JSON tool
        specs.append({"toolSpec": json_tool})
    if not specs:
        return None
    config: Json = {"tools": specs}
    if wire_choice is not None:
        config["toolChoice"] = wire_choice
    return config


def tool_spec(tool: Any, k: int) -> Json:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or tool.get("type") != "function":
        raise invalid(f"tools[{k}]: only function tools are supported by {PROVIDER}", "tools")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"tools[{k}] needs a function name", "tools")
    if name == JSON_TOOL:
        raise invalid(f"tools[{k}]: the name {JSON_TOOL!r} is reserved by the gateway", "tools")
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    spec: Json = {"name": name, "inputSchema": {"json": parameters}}
    if function.get("description"):
        spec["description"] = function["description"]
    if function.get("strict") is not None:
        spec["strict"] = bool(function["strict"])
    return spec


def tool_choice(choice: Any) -> Json | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name:
            return {"tool": {"name": name}}
    raise invalid(f"tool_choice {choice!r} is not supported by provider {PROVIDER}", "tool_choice")


def json_tool_spec(response_format: Any) -> Json | None:
    """The forced tool standing for ``response_format`` (None for plain text)."""
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {
            "name": JSON_TOOL,
            "description": "Answer with a JSON object.",
            "inputSchema": {"json": {"type": "object"}},
        }
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict):
            raise invalid("response_format json_schema needs 'json_schema'", "response_format")
        name = spec.get("name") or "response"
        description = f"Answer with the '{name}' JSON object."
        if spec.get("description"):
            description += f" {spec['description']}"
        schema = spec.get("schema") or {"type": "object"}
        return {"name": JSON_TOOL, "description": description, "inputSchema": {"json": schema}}
    raise invalid(f"response_format {kind!r} is not supported by {PROVIDER}", "response_format")


# -- embeddings ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    """How one embedding model family reads an InvokeModel body."""

    family: str  # a key of EMBEDDING_BODIES
    #: the body field standing for OpenAI's ``dimensions``; None: the size cannot be chosen
    dimensions: str | None = None
    #: send ``normalize: true`` (OpenAI's embeddings are unit length)
    normalize: bool = False


#: model id prefix -> family; first match wins, so longer prefixes come first
EMBEDDING_MODELS: tuple[tuple[str, EmbeddingModel], ...] = (
    # docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html
    ("amazon.titan-embed-text-v2", EmbeddingModel("titan", "dimensions", normalize=True)),
    ("amazon.titan-embed-text-v1", EmbeddingModel("titan")),
    ("amazon.titan-embed-g1-text", EmbeddingModel("titan")),
    # docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html
    ("cohere.embed-v4", EmbeddingModel("cohere", "output_dimension")),
    ("cohere.embed-", EmbeddingModel("cohere")),
)


def embedding_model(model: str) -> EmbeddingModel:
    name = model.rsplit("/", 1)[-1]  # an ARN ends in ".../<model id>"
    head, dot, rest = name.partition(".")
    if dot and head in GEO_PREFIXES:
        name = rest
    for prefix, entry in EMBEDDING_MODELS:
        if name.startswith(prefix):
            return entry
    known = ", ".join(prefix + "*" for prefix, _ in EMBEDDING_MODELS)
    raise invalid(f"Bedrock embeddings support {known}; got {model!r}", "model")


def embedding_inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise invalid("'input' must be a string or a non-empty list of strings on Bedrock", "input")


def _titan_body(texts: list[str], canonical: Json, model: EmbeddingModel) -> Json:
    if len(texts) != 1:
        raise invalid(
            "Titan embeddings take one text per request: send 'input' as a single string", "input"
        )
    if canonical.get("input_type") is not None:
        raise invalid("'input_type' is read by Cohere embedding models only", "input_type")
    body: Json = {"inputText": texts[0]}
    if model.normalize:
        body["normalize"] = True
    return body


def _cohere_body(texts: list[str], canonical: Json, model: EmbeddingModel) -> Json:
    input_type = canonical.get("input_type") or "search_document"
    if not isinstance(input_type, str):
        raise invalid("'input_type' must be a string", "input_type")
    return {"texts": texts, "input_type": input_type}


EMBEDDING_BODIES: dict[str, Callable[[list[str], Json, EmbeddingModel], Json]] = {
    "titan": _titan_body,
    "cohere": _cohere_body,
}


def embedding_body(model_id: str, canonical: Json) -> Json:
    _reject_unknown(canonical, EMBEDDING_FIELDS)
    if canonical.get("encoding_format") not in (None, "float", "base64"):
        raise invalid("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    model = embedding_model(model_id)
    body = EMBEDDING_BODIES[model.family](
        embedding_inputs(canonical.get("input")), canonical, model
    )
    dimensions = canonical.get("dimensions")
    if dimensions is not None:
        if model.dimensions is None:
            raise invalid(f"'dimensions' cannot be chosen for {model_id}", "dimensions")
        body[model.dimensions] = dimensions
    return body
