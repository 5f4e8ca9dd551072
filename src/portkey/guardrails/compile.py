"""Compile the guardrail fields a target inherited into one immutable ``Guard`` (or None)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portkey.guardrails.spec import Guard, Hook, parse_hook, resolve

BEFORE_FIELDS = ("input_guardrails", "before_request_hooks")
AFTER_FIELDS = ("output_guardrails", "after_request_hooks")
GUARD_FIELDS = (*BEFORE_FIELDS, *AFTER_FIELDS)


def named_hooks(defs: Mapping[str, Any]) -> dict[str, Hook]:
    """The ``guardrails:`` section of portkey.yaml, compiled (already validated at load)."""
    return {name: parse_hook(d.definition(name), name) for name, d in defs.items()}


def compile_guard(opts: Mapping[str, Any], named: Mapping[str, Hook]) -> Guard | None:
    """Raises LookupError/ValueError as ``"<field>: <message>"``."""
    sides: list[tuple[Hook, ...]] = []
    for fields in (BEFORE_FIELDS, AFTER_FIELDS):
        hooks: list[Hook] = []
        for field in fields:
            refs = opts.get(field)
            if refs:
                try:
                    hooks += resolve(list(refs), named, field)
                except (LookupError, ValueError) as exc:
                    raise type(exc)(f"{field}: {exc}") from exc
        sides.append(tuple(hooks))
    if not sides[0] and not sides[1]:
        return None
    return Guard(before=sides[0], after=sides[1])
