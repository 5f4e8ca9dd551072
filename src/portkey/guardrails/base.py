"""What a check is: a compiled callable from text to a verdict, plus how it behaves in streams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class Verdict:
    """One check's answer; ``text`` is set when the check rewrote (masked) the text."""

    passed: bool
    data: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    error: str | None = None
    #: (start, end) of what a masking check found (kept out of ``data``: a secret's place, not it)
    spans: list[tuple[int, int]] = field(default_factory=list)


class HookContext(Protocol):
    """What a check may use beyond the text: the event, the request, a way to POST."""

    event: str  # beforeRequestHook | afterRequestHook

    def request_json(self) -> Mapping[str, Any]: ...

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> Any:
        """POST ``body``; returns the parsed JSON answer (raises on HTTP or transport failure)."""
        ...


CheckFn = Callable[[str, HookContext], Awaitable[Verdict]]


@dataclass(frozen=True, slots=True)
class Check:
    """A check compiled from its parameters, once, at config-compile time."""

    id: str
    run: CheckFn
    #: a failure on part of the text is a failure of the whole (e.g. "must not contain"):
    #: such checks can stop a stream early, on a sliding window of the text
    early: bool = False
    #: the check rewrites text (masking) instead of failing
    masks: bool = False


CheckBuilder = Callable[[Mapping[str, Any]], Check]


def param(params: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """A parameter of the expected type, or ``default``; a wrong type names the parameter."""
    value = params.get(name, default)
    if value is not default and not isinstance(value, kind):
        raise ValueError(f"parameter {name!r} has the wrong type ({type(value).__name__})")
    return value


def str_list(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"parameter {name!r} must be a list of strings")
    return value
