"""JSON Schema -> the OpenAPI subset Gemini accepts (function parameters, responseSchema).

Gemini's ``Schema`` has no ``$ref``, ``oneOf``, type lists or ``additionalProperties``: local
references are inlined (a recursive one is refused), ``oneOf`` becomes ``anyOf``, a ``null``
type becomes ``nullable``, and the keywords in ``DROPPED`` are left out.
Docs: https://ai.google.dev/api/caching#Schema
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portkey.providers.base import Json

#: JSON Schema keywords Gemini rejects or has no use for (the upstream answers 400 on them)
DROPPED = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "definitions",
        "additionalProperties",
        "unevaluatedProperties",
        "patternProperties",
        "propertyNames",
        "dependentRequired",
        "dependentSchemas",
        "examples",
        "strict",
        "readOnly",
        "writeOnly",
        "deprecated",
        "contentEncoding",
        "contentMediaType",
        "prefixItems",
        "not",
    }
)
#: keywords whose value is a list of schemas; Gemini knows only anyOf
SCHEMA_LISTS = frozenset({"anyOf", "oneOf"})
REF_PREFIXES = ("#/$defs/", "#/definitions/")
MAX_DEPTH = 64


def clean_schema(schema: Json) -> Json:
    """A copy of ``schema`` Gemini accepts; ValueError says why one cannot be sent."""
    defs: Json = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    cleaned: Json = _clean(schema, defs, (), 0)
    return cleaned


def _clean(schema: Any, defs: Mapping[str, Any], seen: tuple[str, ...], depth: int) -> Any:
    if not isinstance(schema, dict):
        return schema
    if depth > MAX_DEPTH:
        raise ValueError("the schema is nested too deeply")
    schema, seen = _inline(schema, defs, seen)
    out: Json = {}
    for key, value in schema.items():
        if key in DROPPED:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _clean(sub, defs, seen, depth + 1) for name, sub in value.items()}
        elif key == "items":
            out[key] = _clean(value, defs, seen, depth + 1)
        elif key in SCHEMA_LISTS and isinstance(value, list):
            out["anyOf"] = [_clean(sub, defs, seen, depth + 1) for sub in value]
        elif key == "type" and isinstance(value, list):
            out.update(_type_list(value))
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    return _nullable_any_of(out)


def _inline(
    schema: Json, defs: Mapping[str, Any], seen: tuple[str, ...]
) -> tuple[Json, tuple[str, ...]]:
    """Resolve a local ``$ref`` and a one-element ``allOf`` into the schema itself."""
    schema = dict(schema)
    ref = schema.pop("$ref", None)
    if isinstance(ref, str):
        prefix = next((p for p in REF_PREFIXES if ref.startswith(p)), None)
        name = ref[len(prefix) :] if prefix else None
        if name is None or name not in defs or not isinstance(defs[name], dict):
            raise ValueError(f"$ref {ref!r} does not point into $defs")
        if name in seen:
            raise ValueError(f"$ref {ref!r} is recursive; Gemini schemas cannot be")
        return _inline({**defs[name], **schema}, defs, (*seen, name))
    all_of = schema.pop("allOf", None)
    if isinstance(all_of, list):
        if len(all_of) != 1 or not isinstance(all_of[0], dict):
            raise ValueError("allOf with more than one schema is not supported")
        inner, seen = _inline(all_of[0], defs, seen)
        schema = {**inner, **schema}
    return schema, seen


def _type_list(types: list[Any]) -> Json:
    real = [t for t in types if t != "null"]
    out: Json = {"nullable": True} if len(real) < len(types) else {}
    if len(real) == 1:
        out["type"] = real[0]
    elif real:
        out["anyOf"] = [{"type": t} for t in real]
    return out


def _nullable_any_of(schema: Json) -> Json:
    """``anyOf: [X, {type: null}]`` -> X with ``nullable: true``."""
    options = schema.get("anyOf")
    if not isinstance(options, list):
        return schema
    real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
    if len(real) == len(options):
        return schema
    schema = {k: v for k, v in schema.items() if k != "anyOf"}
    schema["nullable"] = True
    if len(real) == 1 and isinstance(real[0], dict):
        return {**real[0], **schema}
    if real:
        schema["anyOf"] = real
    return schema
