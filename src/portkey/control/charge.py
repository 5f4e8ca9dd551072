"""Charge a request: count its rate limits and reserve its budgets at once, or do neither.

The gate calls ``Charger.charge`` once per charge. The in-process charger checks the counters,
reserves the budgets and only then counts, with no await in between. The Redis charger runs
one Lua script, built from the limiter's and the ledger's own Lua functions: check the
counters, check the lines, then count and reserve; a refusal writes nothing. That is one round
trip where a hit followed by a reserve took two, and a budget refusal no longer leaves the
request counted against the rate limits.

A refusing counter comes back as a ``Verdict`` that is not allowed (counters are checked
first, as before); a line without room raises ``BudgetExceeded``. Outages follow the
limiter's policy (``portkey.control._redis``) when there are counters, else the ledger's.
"""

from __future__ import annotations

from collections.abc import Sequence

from portkey.control._redis import LUA_CLOCK, Script
from portkey.control.budgets import LUA_RESERVE, MemoryLedger, RedisLedger
from portkey.control.counters import (
    BudgetLedger,
    BudgetLine,
    Charger,
    Counter,
    Hold,
    RateLimiter,
    Verdict,
)
from portkey.control.ratelimit import LUA_SLIDING_WINDOW, MemoryRateLimiter, RedisRateLimiter

__all__ = ["MemoryCharger", "RedisCharger", "make_charger"]

# KEYS: the counters' hashes (ARGV[1] of them), then hash, zset per budget line.  ARGV: the
# count of counters, the arguments of ``window_check``, then those of ``reserve_check``.
# Reply: {window_check's reply} when a counter refused, else {that reply, {0} or the refusal}.
_CHARGE = Script(
    LUA_CLOCK
    + LUA_SLIDING_WINDOW
    + LUA_RESERVE
    + """
local n = tonumber(ARGV[1])
local counted, rows = window_check(0, n, 1)
if counted[1] ~= 0 then return {counted} end
local a, lines = 3 + 3 * n, (#KEYS - n) / 2
local now, refused = reserve_check(n, lines, a)
if refused then return {counted, refused} end
window_count(0, rows)
reserve_hold(n, lines, a, now)
return {counted, {0}}
"""
)


class MemoryCharger:
    """The in-process limiter and ledger, checked and committed with no await in between."""

    def __init__(self, limiter: MemoryRateLimiter, ledger: MemoryLedger) -> None:
        self.limiter = limiter
        self.ledger = ledger

    async def charge(
        self, counters: Sequence[Counter], lines: Sequence[BudgetLine], usd: float, tokens: int
    ) -> tuple[Verdict, Hold | None]:
        verdict, count = self.limiter.prepare(counters)
        if not verdict.allowed:
            return verdict, None
        hold = self.ledger.reserve_now(lines, usd, tokens) if lines else None  # may raise
        count()
        return verdict, hold


class RedisCharger:
    """The Redis limiter and ledger (one Redis), charged by one script call."""

    def __init__(self, limiter: RedisRateLimiter, ledger: RedisLedger) -> None:
        self.limiter = limiter
        self.ledger = ledger

    async def charge(
        self, counters: Sequence[Counter], lines: Sequence[BudgetLine], usd: float, tokens: int
    ) -> tuple[Verdict, Hold | None]:
        if not lines:
            return await self.limiter.hit(counters), None
        if not counters:
            return Verdict(allowed=True), await self.ledger.reserve(lines, usd, tokens)
        keys, args = self.limiter.script_input(counters, check=True)
        line_keys, line_args, hold, now = self.ledger.script_input(lines, usd, tokens)
        reply = await self.limiter.redis.run(
            _CHARGE, keys + line_keys, [len(counters), *args, *line_args]
        )
        if reply is None:  # Redis down, failing open: allowed, as if everything were empty
            return self.limiter.verdict_of(counters, None), hold
        verdict = self.limiter.verdict_of(counters, reply[0])
        if not verdict.allowed:
            return verdict, None
        self.ledger.refusal(lines, reply[1], now)
        return verdict, hold


def make_charger(limiter: RateLimiter, ledger: BudgetLedger) -> Charger:
    """The charger for a limiter and ledger that ``make_rate_limiter``/``make_ledger`` built."""
    if isinstance(limiter, RedisRateLimiter) and isinstance(ledger, RedisLedger):
        return RedisCharger(limiter, ledger)
    if isinstance(limiter, MemoryRateLimiter) and isinstance(ledger, MemoryLedger):
        return MemoryCharger(limiter, ledger)
    raise TypeError(
        f"no charger for {type(limiter).__name__} with {type(ledger).__name__}: "
        "build both from the same limits settings"
    )
