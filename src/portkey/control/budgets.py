"""Budget ledgers: reserve before a call, settle after it; in this process or in Redis.

Each budget line (one budget, one period window) keeps four numbers: ``spent`` and ``reserved``,
in USD and tokens. ``reserve`` checks, for every line and every limit it has, that the line is
not used up (``spent < limit``) and that ``spent + reserved + amount <= limit``; then it adds the
amount to ``reserved`` on every line, or (one line short) on none and raises ``BudgetExceeded``.
``settle`` takes the hold's amount off ``reserved`` and adds the real spend to ``spent``.

USD is counted in integer nano-dollars, so holds are released exactly and sums never drift.

Holds that are never settled (a crashed process, a lost task) must not leak: every hold is
recorded with an expiry (``hold_ttl_s``, default 15 min: longer than any sane request). Redis
keeps, per line, a hash (``su st ru rt`` plus one ``h:<hold>`` field per hold) and a sorted set
of hold ids by expiry; each reserve first releases the holds that expired (amortised O(1)).
A settle after its hold expired still adds the spend. Line keys expire a day after their window
ends; the "total" line never expires.

Persistence: settled spend is also added to a pending batch that a background task hands to
``flush`` about once a second, off the request path. ``seed`` gives the spend already persisted
per (budget id, window start): a memory ledger starts from it; Redis gets it (plus what this
process settled since) when a line's key does not exist (SET NX semantics inside the script).

Alerts: when ``spent`` crosses ``alert_at * limit`` a warning is logged and ``on_alert`` called,
once per line and window (the settle that crosses it; in Redis, on one replica only).
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import heapq
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from portkey.config.models import LimitsSettings
from portkey.control._redis import LUA_CLOCK, RedisScripts, Script
from portkey.control.counters import BudgetLedger, BudgetLine, Hold
from portkey.errors import BudgetExceeded, LimiterUnavailable

log = logging.getLogger("portkey.control")

Clock = Callable[[], float]
Flush = Callable[[list[tuple[str, float, float, int]]], Awaitable[None]]
Seed = Mapping[tuple[str, float], tuple[float, int]]
#: (line, "usd" | "tokens", spent, limit)
OnAlert = Callable[[BudgetLine, str, float, float], None]

NANO = 1_000_000_000
GRACE_S = 86_400.0  # a line's counters outlive its window by a day (late settles)

__all__ = ["LedgerHold", "MemoryLedger", "RedisLedger", "make_ledger", "window_of"]


def window_of(period: str, now: float) -> tuple[float, float | None]:
    """The UTC window holding ``now`` for a budget period: day, month or total."""
    if period == "total":
        return 0.0, None
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start = day.timestamp()
        return start, start + 86_400.0
    if period == "month":
        first = day.replace(day=1)
        days = calendar.monthrange(first.year, first.month)[1]
        return first.timestamp(), first.timestamp() + days * 86_400.0
    raise ValueError(f"unknown budget period {period!r}")


def _nano(usd: float) -> int:
    return round(usd * NANO)


@dataclass(slots=True)
class LedgerHold(Hold):
    """A ``Hold`` with the id the ledger filed it under."""

    hold_id: str = ""


def _exceeded(line: BudgetLine, kind: str, spent: int, reserved: int, now: float) -> BudgetExceeded:
    if kind == "usd":
        limit = f"${line.limit_usd:g}"
        used = f"${spent / NANO:.4f} spent, ${reserved / NANO:.4f} held by requests in flight"
    else:
        limit = f"{line.limit_tokens} tokens"
        used = f"{spent} tokens spent, {reserved} held by requests in flight"
    retry = None if line.window_end is None else max(0.0, line.window_end - now)
    return BudgetExceeded(
        f"budget exceeded: {line.label} allows {limit} ({used})",
        retry_after=retry,
        code="budget_exceeded",
    )


def _nano_limit(line: BudgetLine) -> int | None:
    return None if line.limit_usd is None else _nano(line.limit_usd)


def _over(limit: float | None, spent: int, reserved: int, amount: int) -> bool:
    return limit is not None and (spent >= limit or spent + reserved + amount > limit)


class _Ledger:
    """What both backends share: pending flush batches, seeds, alerts, the flush task."""

    def __init__(
        self,
        *,
        flush: Flush | None,
        seed: Seed | None,
        on_alert: OnAlert | None,
        hold_ttl_s: float,
        flush_every_s: float,
    ) -> None:
        self._flush = flush
        self._on_alert = on_alert
        self.hold_ttl_s = hold_ttl_s
        self.flush_every_s = flush_every_s
        #: spend known to this process per (id, window start): seed plus what it settled
        self._base: dict[tuple[str, float], list[int]] = {
            key: [_nano(usd), tokens] for key, (usd, tokens) in (seed or {}).items()
        }
        self._pending: dict[tuple[str, float], list[float]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._flush_failing = False

    def _record(self, hold: Hold, usd: float, tokens: int) -> None:
        for line in hold.lines:
            key = (line.id, line.window_start)
            base = self._base.setdefault(key, [0, 0])
            base[0] += _nano(usd)
            base[1] += tokens
            if self._flush is not None:
                pending = self._pending.setdefault(key, [0.0, 0])
                pending[0] += usd
                pending[1] += tokens
        if self._flush is not None and self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    def _seed_of(self, line: BudgetLine) -> list[int]:
        return self._base.get((line.id, line.window_start), [0, 0])

    def _alert(
        self, line: BudgetLine, spent: int, tokens: int, usd_delta: int, tok_delta: int
    ) -> None:
        checks = (
            ("usd", line.limit_usd, spent, usd_delta, NANO),
            ("tokens", line.limit_tokens, tokens, tok_delta, 1),
        )
        for kind, limit, now_spent, delta, unit in checks:
            if limit is None or line.alert_at is None:
                continue
            threshold = line.alert_at * limit * unit
            if now_spent - delta < threshold <= now_spent:
                log.warning(
                    "budget %s: %s spent is %.4g of %.4g (alert at %d%%)",
                    line.label,
                    kind,
                    now_spent / unit,
                    limit,
                    round(line.alert_at * 100),
                )
                if self._on_alert is not None:
                    self._on_alert(line, kind, now_spent / unit, limit)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every_s)
            await self.flush_now()
            self._forget_old(time.time())

    async def flush_now(self) -> None:
        """Hand the pending spend to ``flush`` (kept for the next try if it fails)."""
        if self._flush is None or not self._pending:
            return
        batch, self._pending = self._pending, {}
        rows = [(bid, start, usd, int(tok)) for (bid, start), (usd, tok) in batch.items()]
        try:
            await self._flush(rows)
        except BaseException as exc:
            for key, (usd, tok) in batch.items():
                pending = self._pending.setdefault(key, [0.0, 0])
                pending[0] += usd
                pending[1] += tok
            if not isinstance(exc, Exception):
                raise
            if not self._flush_failing:
                log.warning("budget spend could not be saved (will retry): %s", exc)
            self._flush_failing = True
        else:
            self._flush_failing = False

    def _forget_old(self, now: float) -> None:
        """Seeds of windows that ended are no longer needed (the "total" window never ends)."""
        for key in [k for k in self._base if k[1] and k[1] + 32 * 86_400 + GRACE_S < now]:
            del self._base[key]

    async def _stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush_now()


@dataclass(slots=True)
class _Account:
    spent: int  # nano-USD
    tokens: int
    window_end: float | None
    reserved: int = 0
    reserved_tokens: int = 0


class MemoryLedger(_Ledger):
    """Budgets counted in this process (one replica, or per-replica budgets)."""

    def __init__(
        self,
        *,
        flush: Flush | None = None,
        seed: Seed | None = None,
        on_alert: OnAlert | None = None,
        hold_ttl_s: float = 900.0,
        flush_every_s: float = 1.0,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(
            flush=flush,
            seed=seed,
            on_alert=on_alert,
            hold_ttl_s=hold_ttl_s,
            flush_every_s=flush_every_s,
        )
        self.clock = clock
        self._accounts: dict[tuple[str, float], _Account] = {}
        #: hold id -> (accounts, nano-USD, tokens); expiry heap of (expires, hold id)
        self._holds: dict[str, tuple[list[_Account], int, int]] = {}
        self._expiry: list[tuple[float, str]] = []
        self._swept = 0.0

    def _account(self, line: BudgetLine) -> _Account:
        key = (line.id, line.window_start)
        account = self._accounts.get(key)
        if account is None:
            spent, tokens = self._seed_of(line)
            account = self._accounts[key] = _Account(spent, tokens, line.window_end)
        return account

    def _release(self, hold_id: str) -> None:
        held = self._holds.pop(hold_id, None)
        if held is not None:
            accounts, usd, tokens = held
            for account in accounts:
                account.reserved -= usd
                account.reserved_tokens -= tokens

    def _expire(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            self._release(heapq.heappop(self._expiry)[1])
        if now - self._swept > 60.0:  # windows that ended a while ago: forget their counters
            self._swept = now
            for key, account in list(self._accounts.items()):
                if account.window_end is not None and account.window_end + GRACE_S < now:
                    del self._accounts[key]

    def reserve_now(self, lines: Sequence[BudgetLine], usd: float, tokens: int) -> Hold:
        """``reserve`` with no await: atomic with what the caller does around it."""
        if not lines:
            return Hold((), usd, tokens)
        now = self.clock()
        self._expire(now)
        nano = _nano(usd)
        accounts = [self._account(line) for line in lines]
        for line, account in zip(lines, accounts, strict=True):
            if _over(_nano_limit(line), account.spent, account.reserved, nano):
                raise _exceeded(line, "usd", account.spent, account.reserved, now)
            if _over(line.limit_tokens, account.tokens, account.reserved_tokens, tokens):
                raise _exceeded(line, "tokens", account.tokens, account.reserved_tokens, now)
        for account in accounts:
            account.reserved += nano
            account.reserved_tokens += tokens
        hold_id = uuid.uuid4().hex
        self._holds[hold_id] = (accounts, nano, tokens)
        heapq.heappush(self._expiry, (now + self.hold_ttl_s, hold_id))
        return LedgerHold(tuple(lines), usd, tokens, hold_id)

    async def reserve(self, lines: Sequence[BudgetLine], usd: float, tokens: int) -> Hold:
        return self.reserve_now(lines, usd, tokens)

    async def settle(self, hold: Hold, usd: float, tokens: int) -> None:
        if isinstance(hold, LedgerHold):
            self._release(hold.hold_id)
        nano = _nano(usd)
        for line in hold.lines:
            account = self._account(line)
            account.spent += nano
            account.tokens += tokens
            self._alert(line, account.spent, account.tokens, nano, tokens)
        self._record(hold, usd, tokens)

    async def spent(self, line: BudgetLine) -> tuple[float, int]:
        account = self._accounts.get((line.id, line.window_start))
        spent, tokens = (account.spent, account.tokens) if account else self._seed_of(line)
        return spent / NANO, tokens

    async def close(self) -> None:
        await self._stop()


_PRELUDE = """
local function seed(h, su, st)
  if redis.call('EXISTS', h) == 0 then
    redis.call('HSET', h, 'su', su, 'st', st, 'ru', 0, 'rt', 0)
  end
end
local function release(h, hold)
  local held = redis.call('HGET', h, 'h:' .. hold)
  if held then
    local sep = string.find(held, ' ')
    local usd, tok = tonumber(string.sub(held, 1, sep - 1)), tonumber(string.sub(held, sep + 1))
    if usd ~= 0 then redis.call('HINCRBY', h, 'ru', 0 - usd) end
    if tok ~= 0 then redis.call('HINCRBY', h, 'rt', 0 - tok) end
    redis.call('HDEL', h, 'h:' .. hold)
  end
end
local function keep(h, z, ttl)
  if ttl ~= '' then
    redis.call('PEXPIRE', h, ttl)
    redis.call('PEXPIRE', z, ttl)
  end
end
"""

# Lua: ``reserve_check(k, n, a)`` checks lines KEYS[k+1..k+2n] (hash, zset per line) with
# ARGV[a+1] now ("" = Redis TIME), hold id, hold ttl s, nano-USD, tokens, then per line: usd limit
# (nano, "" = none), token limit ("" = none), seed usd, seed tokens, key ttl ms ("" = none).
# It returns now, and nil when every line has room, else {line (1-based), kind, spent, reserved};
# ``reserve_hold(k, n, a, now)`` then reserves on every line.  Both need ``LUA_CLOCK`` before.
LUA_RESERVE = (
    _PRELUDE
    + """
local function reserve_check(k, n, a)
  local now = clock(ARGV[a + 1])
  local usd, tok = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  for i = 1, n do
    local h, z, b = KEYS[k + 2 * i - 1], KEYS[k + 2 * i], a + 5 + (i - 1) * 5
    seed(h, ARGV[b + 3], ARGV[b + 4])
    for _, dead in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', now)) do
      release(h, dead)
      redis.call('ZREM', z, dead)
    end
    local s = redis.call('HMGET', h, 'su', 'st', 'ru', 'rt')
    local su, st, ru, rt = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
    local lu, lt = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
    if lu and (su >= lu or su + ru + usd > lu) then return now, {i, 'usd', su, ru} end
    if lt and (st >= lt or st + rt + tok > lt) then return now, {i, 'tokens', st, rt} end
  end
  return now, nil
end
local function reserve_hold(k, n, a, now)
  local hold, usd, tok = ARGV[a + 2], ARGV[a + 4], ARGV[a + 5]
  for i = 1, n do
    local h, z = KEYS[k + 2 * i - 1], KEYS[k + 2 * i]
    redis.call('HINCRBY', h, 'ru', usd)
    redis.call('HINCRBY', h, 'rt', tok)
    redis.call('HSET', h, 'h:' .. hold, usd .. ' ' .. tok)
    redis.call('ZADD', z, now + tonumber(ARGV[a + 3]), hold)
    keep(h, z, ARGV[a + 5 + i * 5])
  end
end
"""
)

# KEYS and ARGV: as ``reserve_check`` (k = a = 0).  Reply: {0} when reserved, else the refusal.
_RESERVE = Script(
    LUA_CLOCK
    + LUA_RESERVE
    + """
local now, refused = reserve_check(0, #KEYS / 2, 0)
if refused then return refused end
reserve_hold(0, #KEYS / 2, 0, now)
return {0}
"""
)

# KEYS: hash, zset per line.  ARGV: hold id, nano-USD, tokens, then per line: seed usd, seed
# tokens, key ttl ms.  Reply: spent nano-USD and spent tokens per line, after this settle.
_SETTLE = Script(
    _PRELUDE
    + """
local hold = ARGV[1]
local reply = {}
for i = 1, #KEYS / 2 do
  local h, z, b = KEYS[2 * i - 1], KEYS[2 * i], 3 + (i - 1) * 3
  seed(h, ARGV[b + 1], ARGV[b + 2])
  if redis.call('ZREM', z, hold) == 1 then release(h, hold) end
  reply[#reply + 1] = redis.call('HINCRBY', h, 'su', ARGV[2])
  reply[#reply + 1] = redis.call('HINCRBY', h, 'st', ARGV[3])
  keep(h, z, ARGV[b + 3])
end
return reply
"""
)

_SPENT = Script("return redis.call('HMGET', KEYS[1], 'su', 'st')")


class RedisLedger(_Ledger):
    """Budgets in Redis, shared by every replica on the same Redis and prefix."""

    def __init__(
        self,
        settings: LimitsSettings,
        *,
        prefix: str | None = None,
        flush: Flush | None = None,
        seed: Seed | None = None,
        on_alert: OnAlert | None = None,
        hold_ttl_s: float = 900.0,
        flush_every_s: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            flush=flush,
            seed=seed,
            on_alert=on_alert,
            hold_ttl_s=hold_ttl_s,
            flush_every_s=flush_every_s,
        )
        self.redis = RedisScripts.from_settings(settings, what="budgets")
        self.prefix = f"{settings.key_prefix if prefix is None else prefix}budget:"
        self.clock = clock

    def _keys(self, lines: Sequence[BudgetLine]) -> list[str]:
        keys: list[str] = []
        for line in lines:
            key = f"{self.prefix}{line.id}:{line.window_start:.0f}"
            keys += [key, key + ":holds"]
        return keys

    def _ttl_ms(self, line: BudgetLine, now: float) -> str:
        if line.window_end is None:
            return ""
        return str(round((max(0.0, line.window_end - now) + GRACE_S) * 1000))

    def script_input(
        self, lines: Sequence[BudgetLine], usd: float, tokens: int
    ) -> tuple[list[str], list[Any], LedgerHold, float]:
        """KEYS and ARGV of ``reserve_check`` for these lines, the hold they file, and now."""
        now = self.clock() if self.clock else time.time()
        hold = LedgerHold(tuple(lines), usd, tokens, uuid.uuid4().hex)
        args: list[Any] = [repr(now) if self.clock else "", hold.hold_id, self.hold_ttl_s]
        args += [_nano(usd), tokens]
        for line in lines:
            limits = [_nano_limit(line), line.limit_tokens]
            args += ["" if x is None else x for x in limits]
            args += [*self._seed_of(line), self._ttl_ms(line, now)]
        return self._keys(lines), args, hold, now

    def refusal(self, lines: Sequence[BudgetLine], reply: Any, now: float) -> None:
        """Raise ``BudgetExceeded`` when ``reserve_check`` refused (``None``: failing open)."""
        if reply is None or int(reply[0]) == 0:
            return
        kind = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        raise _exceeded(lines[int(reply[0]) - 1], kind, int(reply[2]), int(reply[3]), now)

    async def reserve(self, lines: Sequence[BudgetLine], usd: float, tokens: int) -> Hold:
        if not lines:
            return Hold((), usd, tokens)
        keys, args, hold, now = self.script_input(lines, usd, tokens)
        self.refusal(lines, await self.redis.run(_RESERVE, keys, args), now)
        return hold

    async def settle(self, hold: Hold, usd: float, tokens: int) -> None:
        if not hold.lines:
            return
        now = self.clock() if self.clock else time.time()
        hold_id = hold.hold_id if isinstance(hold, LedgerHold) else ""
        nano = _nano(usd)
        args: list[Any] = [hold_id, nano, tokens]
        for line in hold.lines:  # seeds as known before this settle (the script adds it)
            args += [*self._seed_of(line), self._ttl_ms(line, now)]
        self._record(hold, usd, tokens)  # the flush gets the spend even if Redis is down
        try:
            reply = await self.redis.run(_SETTLE, self._keys(hold.lines), args)
        except LimiterUnavailable:  # failing closed; settling is off the request path anyway
            return
        if reply is None:
            return
        for i, line in enumerate(hold.lines):
            self._alert(line, int(reply[2 * i]), int(reply[2 * i + 1]), nano, tokens)

    async def spent(self, line: BudgetLine) -> tuple[float, int]:
        reply = await self.redis.run(_SPENT, self._keys([line])[:1], [])
        if reply is None or reply[0] is None:  # down (failing open) or never used: what we know
            usd, tokens = self._seed_of(line)
        else:
            usd, tokens = int(reply[0]), int(reply[1])
        return usd / NANO, tokens

    async def close(self) -> None:
        await self._stop()
        await self.redis.close()


def make_ledger(
    settings: LimitsSettings,
    *,
    flush: Flush | None = None,
    seed: Seed | None = None,
    on_alert: OnAlert | None = None,
    prefix: str | None = None,
    clock: Clock | None = None,
) -> BudgetLedger:
    """The ledger the settings ask for (``backend: memory | redis``)."""
    if settings.backend == "redis":
        return RedisLedger(
            settings, prefix=prefix, flush=flush, seed=seed, on_alert=on_alert, clock=clock
        )
    return MemoryLedger(flush=flush, seed=seed, on_alert=on_alert, clock=clock or time.time)
