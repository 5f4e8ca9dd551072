"""The gateway's one observability hook: priced once per JSON answer, told once per request.

The gateway calls ``price`` for a JSON answer (its cost goes out in ``x-portkey-cost-usd``)
and ``finish`` once when a request is over, with plain values; everything else (log record,
metrics) happens off the hot path in ``portkey.observe.service``. This module imports nothing
heavy: the gateway holds a ``NullObserver`` until observability starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

COST_HEADER = b"x-portkey-cost-usd"


class Observer(Protocol):
    #: portkey.observe.tracing.Tracing when spans are exported, else None (no cost)
    tracing: Any

    def price(self, call: Any, leaf: Any, usage: Mapping[str, Any] | None) -> float | None:
        """USD of this answer (0 for a cache hit), or None when no price is known."""
        ...

    def finish(
        self,
        call: Any,
        leaf: Any,
        status: int,
        usage: Mapping[str, Any] | None,
        cost: float | None = None,
        *,
        error: Any = None,
        first_token_s: float | None = None,
        response_body: bytes | None = None,
    ) -> None:
        """The request is over (answered, failed or refused); never raises, never waits."""
        ...

    async def close(self) -> None: ...


class NullObserver:
    """Observes nothing (before start-up, and when logs, metrics and traces are all off)."""

    tracing: Any = None

    def price(self, call: Any, leaf: Any, usage: Mapping[str, Any] | None) -> float | None:
        return None

    def finish(
        self,
        call: Any,
        leaf: Any,
        status: int,
        usage: Mapping[str, Any] | None,
        cost: float | None = None,
        *,
        error: Any = None,
        first_token_s: float | None = None,
        response_body: bytes | None = None,
    ) -> None:
        return None

    async def close(self) -> None:
        return None


def cost_header(cost: float | None) -> list[tuple[bytes, bytes]]:
    """``x-portkey-cost-usd`` when the cost is known."""
    return (
        []
        if cost is None
        else [(COST_HEADER, f"{cost:.10f}".rstrip("0").rstrip(".").encode() or b"0")]
    )
