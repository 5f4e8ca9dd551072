"""The counter interfaces of the hot path: rate limits, budget reservations, and both at once.

Each has an in-process backend (embedded default) and a Redis backend (shared by replicas,
atomic Lua). ``portkey.control.ratelimit`` and ``portkey.control.budgets`` implement the first
two; ``portkey.control.charge`` implements ``Charger``, which ``portkey.control.gate`` calls
once per charge (the limiter and ledger settle afterwards, off the request path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Counter:
    """One rate-limit check: ``amount`` more units against ``limit`` per ``window_s``."""

    key: str  # e.g. "rpm:api_key:3f2a9c1d" (no secrets, bounded cardinality)
    limit: int
    amount: int
    window_s: float = 60.0


@dataclass(slots=True)
class Verdict:
    """The outcome of one ``hit``; lists are parallel to the counters given."""

    allowed: bool
    remaining: list[int] = field(default_factory=list)
    reset_s: list[float] = field(default_factory=list)
    #: when refused: seconds until the first refusing counter has room again
    retry_after_s: float | None = None
    #: index of the counter that refused, when refused
    refused: int | None = None


class RateLimiter(Protocol):
    async def hit(self, counters: Sequence[Counter]) -> Verdict:
        """All or nothing: count every counter, or (one over its limit) none of them."""
        ...

    async def adjust(self, counter: Counter, delta: int) -> None:
        """Correct a counter's current window by ``delta`` (real tokens known after the call)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget as the ledger sees it, for the current period window."""

    id: str
    label: str  # "team ml, month": for error messages
    window_start: float
    window_end: float | None  # None for "total"
    limit_usd: float | None
    limit_tokens: int | None
    alert_at: float | None


@dataclass(slots=True)
class Hold:
    """Amounts reserved on some budget lines, until settled."""

    lines: tuple[BudgetLine, ...]
    usd: float
    tokens: int


class BudgetLedger(Protocol):
    async def reserve(self, lines: Sequence[BudgetLine], usd: float, tokens: int) -> Hold:
        """Reserve on every line or raise BudgetExceeded naming the line that has no room."""
        ...

    async def settle(self, hold: Hold, usd: float, tokens: int) -> None:
        """Release the reservation and add the real spend."""
        ...

    async def spent(self, line: BudgetLine) -> tuple[float, int]: ...

    async def close(self) -> None: ...


class Charger(Protocol):
    async def charge(
        self, counters: Sequence[Counter], lines: Sequence[BudgetLine], usd: float, tokens: int
    ) -> tuple[Verdict, Hold | None]:
        """All or nothing: count every counter and reserve on every line, or do neither.

        A refusing counter gives a verdict that is not allowed (the lines are not looked at);
        a line without room raises ``BudgetExceeded``. The hold is ``None`` with no lines.
        """
        ...
