"""Guardrail (hook) definitions in Portkey's shapes, compiled once into immutable ``Hook``s.

Accepted shapes, in ``guardrails:`` of portkey.yaml or inline in a config's
``input_guardrails`` / ``output_guardrails`` / ``before_request_hooks`` / ``after_request_hooks``:

- full: ``{id, type: guardrail, deny, checks: [{id, parameters}], async}``;
- shorthand: ``{"default.contains": {...params}, "deny": true}`` (check ids as keys);
- a string: the id of a guardrail defined in portkey.yaml.

``deny: true`` blocks a failing request or answer (HTTP 446); ``deny: false`` (the default)
lets it through flagged (HTTP 246). ``action: block|flag|mask|fallback`` is accepted as an
alias (``mask`` sets ``redact`` on the checks that can mask; ``fallback`` denies, so that a
``fallback`` strategy above the target moves on to the next target, as on any 446).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portkey.guardrails.base import Check
from portkey.guardrails.registry import CHECKS, build

HOOK_KEYS = frozenset({"id", "type", "deny", "checks", "async", "action", "name", "on_fail",
                       "on_success", "restore"})  # fmt: skip
ACTIONS = ("block", "flag", "mask", "fallback")


@dataclass(frozen=True, slots=True)
class Hook:
    id: str
    deny: bool
    checks: tuple[Check, ...]
    #: de-mask placeholders in the answer (for masks made on the request)
    restore: bool = False
    #: Portkey's ``async: true``: reported in ``hook_results`` but never denies, flags or
    #: masks (it still runs in line: there is no background runner yet)
    background: bool = False


def parse_hook(raw: Any, default_id: str) -> Hook:
    """Compile one inline hook definition; raises ValueError naming the bad field."""
    if not isinstance(raw, Mapping):
        raise ValueError("a guardrail must be an object or the id of one in 'guardrails:'")
    unknown = set(raw) - HOOK_KEYS - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)} (checks known: {sorted(CHECKS)})")
    if raw.get("type", "guardrail") != "guardrail":
        raise ValueError("only hooks of type 'guardrail' are supported")
    action = raw.get("action")
    if action is not None and action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}")
    deny = raw.get("deny", action in ("block", "fallback"))
    if not isinstance(deny, bool):
        raise ValueError("deny must be true or false")
    checks = _build_checks(_check_entries(raw), action)
    hook_id = raw.get("id") or default_id
    if not isinstance(hook_id, str):
        raise ValueError("id must be a string")
    background = raw.get("async", False)
    if not isinstance(background, bool):
        raise ValueError("async must be true or false")
    if background and any(c.masks for c in checks):
        raise ValueError("an async guardrail cannot mask (it must not change the request)")
    return Hook(hook_id, deny and not background, tuple(checks), bool(raw.get("restore", False)),
                background)  # fmt: skip


def _build_checks(entries: list[tuple[str, Mapping[str, Any]]], action: Any) -> list[Check]:
    if not entries:
        raise ValueError("a guardrail needs at least one check")
    checks = []
    for i, (check_id, params) in enumerate(entries):
        if action == "mask" and check_id in ("default.pii", "portkey.pii", "default.secrets"):
            params = {"redact": True, **params}
        try:
            checks.append(build(check_id, params))
        except ValueError as exc:
            raise ValueError(f"checks[{i}]: {exc}") from exc
    return checks


def _check_entries(raw: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    entries: list[tuple[str, Mapping[str, Any]]] = []
    listed = raw.get("checks") or []
    if not isinstance(listed, list):
        raise ValueError("checks must be a list of {id, parameters}")
    for i, item in enumerate(listed):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise ValueError(f"checks[{i}] must be an object with an 'id'")
        params = item.get("parameters") or {}
        if not isinstance(params, Mapping) or set(item) - {"id", "parameters", "is_enabled"}:
            raise ValueError(f"checks[{i}]: only 'id', 'parameters' and 'is_enabled' are allowed")
        if item.get("is_enabled", True):
            entries.append((item["id"], params))
    for key, params in raw.items():
        if key in CHECKS:
            if not isinstance(params, Mapping):
                raise ValueError(f"{key} needs an object of parameters")
            entries.append((key, params))
    return entries


def resolve(refs: list[Any], named: Mapping[str, Hook], prefix: str) -> tuple[Hook, ...]:
    """Hooks for a list of references (ids of named guardrails, or inline definitions)."""
    hooks: list[Hook] = []
    for i, ref in enumerate(refs):
        if isinstance(ref, str):
            hook = named.get(ref)
            if hook is None:
                raise LookupError(f"[{i}]: unknown guardrail {ref!r}; defined: {sorted(named)}")
            hooks.append(hook)
        else:
            try:
                hooks.append(parse_hook(ref, f"{prefix}_{i}"))
            except ValueError as exc:
                raise ValueError(f"[{i}]: {exc}") from exc
    return tuple(hooks)


@dataclass(frozen=True, slots=True)
class Guard:
    """The hooks one target runs: before the request and after the answer."""

    before: tuple[Hook, ...]
    after: tuple[Hook, ...]

    @property
    def restores(self) -> bool:
        return any(h.restore for h in self.before + self.after)
