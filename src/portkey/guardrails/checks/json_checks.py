"""JSON checks on the text: valid JSON, required keys, a JSON schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jsonschema
import orjson

from portkey.guardrails.base import Check, HookContext, Verdict, param, str_list

FENCED = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def parse_json(text: str) -> Any:
    """The JSON in the text: the whole text, else a ```json fenced block; raises ValueError."""
    try:
        return orjson.loads(text.strip())
    except orjson.JSONDecodeError:
        fenced = FENCED.search(text)
        if fenced is None:
            raise ValueError("no JSON found in the text") from None
        return orjson.loads(fenced.group(1))


def valid_json(params: Mapping[str, Any]) -> Check:
    async def run(text: str, ctx: HookContext) -> Verdict:
        try:
            parse_json(text)
        except ValueError as exc:
            return Verdict(False, {"reason": str(exc)})
        return Verdict(True)

    return Check("default.validJson", run)


def json_keys(params: Mapping[str, Any]) -> Check:
    """Top-level keys of the JSON object; ``operator``: any, all (default), none."""
    keys = str_list(params, "keys")
    if not keys:
        raise ValueError("parameter 'keys' must list at least one key")
    operator = param(params, "operator", str, "all")
    if operator not in ("any", "all", "none"):
        raise ValueError("parameter 'operator' must be any, all or none")

    async def run(text: str, ctx: HookContext) -> Verdict:
        try:
            data = parse_json(text)
        except ValueError as exc:
            return Verdict(False, {"reason": str(exc)})
        present = [k for k in keys if isinstance(data, dict) and k in data]
        missing = [k for k in keys if k not in present]
        passed = {"any": bool(present), "all": not missing, "none": not present}[operator]
        return Verdict(
            passed, {"operator": operator, "presentKeys": present, "missingKeys": missing}
        )

    return Check("default.jsonKeys", run)


def json_schema(params: Mapping[str, Any]) -> Check:
    """The text's JSON must validate against ``schema`` (``not: true`` inverts)."""
    schema = param(params, "schema", dict, None)
    if schema is None:
        raise ValueError("parameter 'schema' (a JSON schema object) is required")
    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"parameter 'schema' is not a valid JSON schema: {exc.message}") from exc
    validator = validator_cls(schema)
    negate = bool(param(params, "not", bool, False))

    async def run(text: str, ctx: HookContext) -> Verdict:
        try:
            data = parse_json(text)
        except ValueError as exc:
            return Verdict(negate, {"reason": str(exc)})
        errors = [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
                  for e in validator.iter_errors(data)][:10]  # fmt: skip
        return Verdict((not errors) != negate, {"validationErrors": errors})

    return Check("default.jsonSchema", run)
