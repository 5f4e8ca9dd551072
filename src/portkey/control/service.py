"""Assemble the control plane of one gateway process: store, snapshot follower, counters, gate."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from portkey.control.budgets import make_ledger
from portkey.control.charge import make_charger
from portkey.control.counters import BudgetLedger, RateLimiter
from portkey.control.gate import Gate
from portkey.control.plane import ControlPlane
from portkey.control.ratelimit import make_rate_limiter
from portkey.control.store import ControlStore
from portkey.control.usage import UsageMeter, UsageRow
from portkey.gateway.runtime import RuntimeHolder


@dataclass(slots=True)
class ControlService:
    plane: ControlPlane
    limiter: RateLimiter
    ledger: BudgetLedger
    meter: UsageMeter
    gate: Gate

    @property
    def store(self) -> ControlStore:
        assert self.plane.store is not None, "the control plane is not started"
        return self.plane.store

    @classmethod
    async def start(
        cls, holder: RuntimeHolder, store: ControlStore | None = None
    ) -> ControlService:
        """Open the store (MasterKeyError or StoreUnavailable: the process must not start)."""
        plane = ControlPlane(holder, store)
        await plane.start()
        opened = plane.store
        assert opened is not None
        settings = holder.current.file.limits
        seed = {
            (b.id, b.window_start): (b.spent_usd, b.spent_tokens)
            for budgets in plane.snapshot.budgets.values()
            for b in budgets
        }

        async def flush(rows: list[tuple[str, float, float, int]]) -> None:
            await asyncio.to_thread(opened.add_budget_usage, rows)

        async def flush_usage(rows: list[UsageRow]) -> None:
            await asyncio.to_thread(opened.add_key_usage, rows)

        limiter = make_rate_limiter(settings)
        ledger = make_ledger(settings, flush=flush, seed=seed)
        meter = UsageMeter(flush_usage)
        gate = Gate(plane, limiter, ledger, meter, charger=make_charger(limiter, ledger))
        return cls(plane, limiter, ledger, meter, gate)

    async def stop(self) -> None:
        await self.gate.drain()
        await self.meter.close()
        await self.limiter.close()
        await self.ledger.close()
        await self.plane.stop()
