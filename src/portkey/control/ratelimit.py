"""Rate limiters: a sliding-window counter in this process (memory) or in Redis (shared).

Algorithm: the sliding-window counter. Each counter keeps the count of the current fixed window
(``curr``) and of the one before (``prev``); the load at time ``now`` is estimated as
``prev * (1 - elapsed / window) + curr``, where ``elapsed`` is the time since the current window
began. A hit of ``amount`` is allowed when ``estimate + amount <= limit``. It needs two numbers
per counter, O(1) work, and it smooths the burst at window edges that plain fixed windows allow.

* ``hit`` is all or nothing: if one counter has no room, none is counted.
* ``adjust`` adds a signed correction to the current window (the real token count once the
  answer is known); a counter may go negative within a window.
* ``remaining`` is what fits now; ``reset_s`` is the time until the current window ends;
  ``retry_after_s`` is when the refusing counter would have room for the amount, if nothing
  else arrives (``None`` when the amount alone is over the limit: it never fits).

Memory: one entry per counter key, kept in last-touched order and evicted two windows after
its last window, so the table stays bounded by the keys seen in the last two windows.

Redis: one hash per counter key (fields ``w`` window index, ``c`` curr, ``p`` prev) that expires
two windows after its last write; one Lua script call (EVALSHA) per ``hit`` or ``adjust``. The
script is built from Lua functions that ``portkey.control.charge`` also runs, together with the
budget reservation, in the one call of the request path.
Time comes from Redis ``TIME`` inside the script, so replicas share one clock; a ``clock``
given to the constructor (tests) is passed to the script instead. Redis down or slower than
``timeout_ms``: ``on_backend_error: open`` allows the hit (reported as if the counters were
empty), ``closed`` raises ``LimiterUnavailable`` (503); ``adjust`` never raises.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from portkey.config.models import LimitsSettings
from portkey.control._redis import LUA_CLOCK, RedisScripts, Script
from portkey.control.counters import Counter, RateLimiter, Verdict
from portkey.errors import LimiterUnavailable

Clock = Callable[[], float]

__all__ = ["MemoryRateLimiter", "RedisRateLimiter", "make_rate_limiter"]


@dataclass(slots=True)
class _Window:
    """One counter's state: window index, counts of the current and previous window."""

    index: int
    curr: int
    prev: int
    window_s: float

    def roll(self, index: int) -> None:
        if index == self.index + 1:
            self.prev, self.curr = self.curr, 0
        elif index > self.index + 1:
            self.prev = self.curr = 0
        if index > self.index:
            self.index = index


def _estimate(prev: int, curr: int, elapsed: float, window_s: float) -> float:
    return prev * max(0.0, 1.0 - elapsed / window_s) + curr


def _retry_after(counter: Counter, prev: int, curr: int, elapsed: float) -> float | None:
    """Seconds until ``counter.amount`` fits, assuming no other hits; None if it never fits."""
    limit, amount, window = counter.limit, counter.amount, counter.window_s
    if amount > limit:
        return None
    if curr + amount <= limit:  # the previous window's share decays enough within this window
        if prev <= 0:
            return 0.0
        return max(0.0, window * (1.0 - (limit - curr - amount) / prev) - elapsed)
    # wait for this window to end, then for its count (now "prev") to decay enough
    return (window - elapsed) + window * (1.0 - (limit - amount) / curr)


def _verdict(
    counters: Sequence[Counter],
    states: Sequence[tuple[int, int, float]],
    refused: int | None,
) -> Verdict:
    """Build the answer from each counter's (prev, curr, elapsed) before this hit."""
    verdict = Verdict(allowed=refused is None, refused=refused)
    for i, (counter, (prev, curr, elapsed)) in enumerate(zip(counters, states, strict=True)):
        load = _estimate(prev, curr, elapsed, counter.window_s)
        if refused is None:
            load += counter.amount
        verdict.remaining.append(max(0, min(counter.limit, math.floor(counter.limit - load))))
        verdict.reset_s.append(max(0.0, counter.window_s - elapsed))
        if i == refused:
            verdict.retry_after_s = _retry_after(counter, prev, curr, elapsed)
    return verdict


class MemoryRateLimiter:
    """Counters in this process: exact and fast, but each replica counts on its own."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self.clock = clock
        #: key -> window state, in last-touched order (oldest first) for eviction
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def _touch(self, counter: Counter, now: float) -> tuple[_Window, float]:
        index = math.floor(now / counter.window_s)
        state = self._windows.get(counter.key)
        if state is None:
            state = self._windows[counter.key] = _Window(index, 0, 0, counter.window_s)
        else:
            self._windows.move_to_end(counter.key)
            state.roll(index)
        return state, max(0.0, now - state.index * counter.window_s)

    def _evict(self, now: float, most: int = 8) -> None:
        """Drop a few of the least recently touched counters whose windows are all over."""
        for _ in range(most):
            oldest = next(iter(self._windows.values()), None)
            if oldest is None or (oldest.index + 2) * oldest.window_s > now:
                return
            self._windows.popitem(last=False)

    def prepare(self, counters: Sequence[Counter]) -> tuple[Verdict, Callable[[], None]]:
        """The verdict of a hit, and the call that counts it: nothing is counted before that.

        With no await between the two, another check (a budget) can sit in between and the
        whole stays atomic in this process.
        """
        now = self.clock()
        self._evict(now)
        states: list[tuple[int, int, float]] = []
        windows: list[_Window] = []
        refused: int | None = None
        for i, counter in enumerate(counters):
            window, elapsed = self._touch(counter, now)
            windows.append(window)
            states.append((window.prev, window.curr, elapsed))
            load = _estimate(window.prev, window.curr, elapsed, counter.window_s)
            if refused is None and load + counter.amount > counter.limit:
                refused = i

        def count() -> None:
            if refused is None:
                for window, counter in zip(windows, counters, strict=True):
                    window.curr += counter.amount

        return _verdict(counters, states, refused), count

    async def hit(self, counters: Sequence[Counter]) -> Verdict:
        verdict, count = self.prepare(counters)
        count()
        return verdict

    async def adjust(self, counter: Counter, delta: int) -> None:
        window, _ = self._touch(counter, self.clock())
        window.curr += delta

    async def close(self) -> None:
        self._windows.clear()


# Lua: ``window_check(k, n, a)`` reads counters KEYS[k+1..k+n] with ARGV[a+1] now ("" = Redis
# TIME), ARGV[a+2] check ("1" for hit, "0" for adjust), then limit, amount, window_s per counter.
# It returns the reply: refused index (0 = none, 1-based), now as a string, then prev, curr and
# elapsed (string) per counter, as they were; and the rows ``window_count(k, rows)`` writes.
# Both need ``LUA_CLOCK`` before them.
LUA_SLIDING_WINDOW = """
local function window_check(k, n, a)
  local now = clock(ARGV[a + 1])
  local check = ARGV[a + 2] == '1'
  local refused = 0
  local reply = {0, tostring(now)}
  local rows = {}
  for i = 1, n do
    local limit = tonumber(ARGV[a + 3 * i])
    local amount = tonumber(ARGV[a + 3 * i + 1])
    local window = tonumber(ARGV[a + 3 * i + 2])
    local index = math.floor(now / window)
    local h = redis.call('HMGET', KEYS[k + i], 'w', 'c', 'p')
    local w, c, p = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
    if w == nil or w < index - 1 then
      c, p = 0, 0
    elseif w == index - 1 then
      p, c = c, 0
    elseif w > index then
      index = w
    end
    local elapsed = now - index * window
    local share = 1 - elapsed / window
    if share < 0 then share = 0 end
    if check and refused == 0 and p * share + c + amount > limit then refused = i end
    rows[i] = {index, c, p, amount, window}
    reply[#reply + 1] = p
    reply[#reply + 1] = c
    reply[#reply + 1] = tostring(elapsed)
  end
  reply[1] = refused
  return reply, rows
end
local function window_count(k, rows)
  for i = 1, #rows do
    local r = rows[i]
    redis.call('HSET', KEYS[k + i], 'w', r[1], 'c', r[2] + r[4], 'p', r[3])
    redis.call('PEXPIRE', KEYS[k + i], math.ceil(2 * r[5] * 1000))
  end
end
"""

# KEYS: one hash per counter.  ARGV and reply: as ``window_check`` (k = a = 0).
_SLIDING_WINDOW = Script(
    LUA_CLOCK
    + LUA_SLIDING_WINDOW
    + """
local reply, rows = window_check(0, #KEYS, 0)
if reply[1] == 0 then window_count(0, rows) end
return reply
"""
)


class RedisRateLimiter:
    """Counters in Redis: every replica on the same Redis (and prefix) shares them."""

    def __init__(
        self, settings: LimitsSettings, *, prefix: str | None = None, clock: Clock | None = None
    ) -> None:
        self.redis = RedisScripts.from_settings(settings, what="rate limits")
        self.prefix = f"{settings.key_prefix if prefix is None else prefix}rl:"
        self.clock = clock

    def _now(self) -> str:
        return "" if self.clock is None else repr(self.clock())

    def script_input(self, counters: Sequence[Counter], check: bool) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of ``window_check`` for these counters."""
        keys = [self.prefix + c.key for c in counters]
        args: list[Any] = [self._now(), "1" if check else "0"]
        for c in counters:
            args += [c.limit, c.amount, repr(float(c.window_s))]
        return keys, args

    def verdict_of(self, counters: Sequence[Counter], reply: Any) -> Verdict:
        """The verdict from ``window_check``'s reply (``None``: Redis down, failing open)."""
        if reply is None:  # allow, as if the counters were empty
            return _verdict(counters, [(0, 0, 0.0)] * len(counters), None)
        refused = int(reply[0])
        states = [
            (int(reply[j]), int(reply[j + 1]), float(_text(reply[j + 2])))
            for j in range(2, len(reply), 3)
        ]
        return _verdict(counters, states, None if refused == 0 else refused - 1)

    async def hit(self, counters: Sequence[Counter]) -> Verdict:
        if not counters:
            return Verdict(allowed=True)
        keys, args = self.script_input(counters, check=True)
        return self.verdict_of(counters, await self.redis.run(_SLIDING_WINDOW, keys, args))

    async def adjust(self, counter: Counter, delta: int) -> None:
        if not delta:
            return
        keys, args = self.script_input([replace(counter, amount=delta)], check=False)
        with contextlib.suppress(LimiterUnavailable):  # off the request path: the outage is logged
            await self.redis.run(_SLIDING_WINDOW, keys, args)

    async def close(self) -> None:
        await self.redis.close()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def make_rate_limiter(
    settings: LimitsSettings, *, prefix: str | None = None, clock: Clock | None = None
) -> RateLimiter:
    """The limiter the settings ask for (``backend: memory | redis``)."""
    if settings.backend == "redis":
        return RedisRateLimiter(settings, prefix=prefix, clock=clock)
    return MemoryRateLimiter(clock=clock or time.time)
