"""Snowflake Cortex REST ``inference:embed``: OpenAI's embeddings request and answer, translated.

Cortex takes ``{"model", "text": [strings]}`` (and an optional ``provisioned_throughput_id``)
and answers ``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
"model", "usage": {"total_tokens"}}``, where each ``embedding`` is the vector wrapped in one
more list (``[[0.1, ...]]``). Every model has a fixed size (768 or 1024), so the provider's
table refuses ``dimensions``; ``encoding_format: base64`` is applied by the gateway to the
floats read here. Shapes: Snowflake's Cortex Embed OpenAPI spec (snowflake-rest-api-specs,
``specifications/cortex-embed.yaml``).
https://docs.snowflake.com/en/user-guide/snowflake-cortex/cortex-rest-api/embed-api
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from portkey.errors import InvalidRequest, UpstreamBadResponse
from portkey.providers.base import Json

PATH = "/api/v2/cortex/inference:embed"
#: encodings a client may ask for; Cortex sends floats and the gateway encodes base64 itself
ENCODINGS = frozenset({"float", "base64"})
#: Cortex-only request fields a client may send as extra body fields; passed as they are
NATIVE = frozenset({"provisioned_throughput_id"})

Handler = Callable[[Any, Json], None]


# -- request -----------------------------------------------------------------------------


def build_request(route: str, canonical: Json, options: Mapping[str, str]) -> tuple[str, Json]:
    wire: Json = {}
    for name, value in canonical.items():
        handler = FIELDS.get(name)
        if handler is not None:
            handler(value, wire)
        elif name in NATIVE:
            wire[name] = value
        else:
            raise InvalidRequest(
                f"'{name}' is not supported by provider snowflake-cortex-rest for embeddings",
                param=name,
            )
    return PATH, wire


def _model(value: Any, wire: Json) -> None:
    wire["model"] = value


def _input(value: Any, wire: Json) -> None:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise InvalidRequest(
            "Cortex embeds text only: send 'input' as a string or a list of strings, "
            "not token arrays",
            param="input",
        )
    if not texts:
        raise InvalidRequest("'input' must hold at least one text", param="input")
    wire["text"] = texts


def _encoding(value: Any, wire: Json) -> None:
    if value is not None and value not in ENCODINGS:
        raise InvalidRequest(
            f"encoding_format must be float or base64, not {value!r}", param="encoding_format"
        )


FIELDS: dict[str, Handler] = {
    "model": _model,
    "input": _input,
    "encoding_format": _encoding,
}


# -- response ----------------------------------------------------------------------------


def parse_response(route: str, wire: Json) -> Json:
    items = sorted(wire["data"], key=lambda item: int(item["index"]))
    tokens = int((wire.get("usage") or {}).get("total_tokens") or 0)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": int(item["index"]), "embedding": vector(item)}
            for item in items
        ],
        "model": wire.get("model") or "",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def vector(item: Json) -> list[float]:
    """The flat vector of one ``data`` item; Cortex wraps it in a list of one."""
    value = item["embedding"]
    if isinstance(value, list) and value and isinstance(value[0], list):
        if len(value) != 1:
            raise UpstreamBadResponse(f"Cortex sent {len(value)} vectors for one input text")
        value = value[0]
    if not isinstance(value, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
    ):
        raise UpstreamBadResponse("Cortex sent an embedding that is not a list of numbers")
    return value
