"""Charging rate limits and budgets together (memory and Redis): all or nothing, one refusal."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from portkey.config.models import LimitsSettings
from portkey.control.budgets import MemoryLedger, RedisLedger, make_ledger, window_of
from portkey.control.charge import RedisCharger, make_charger
from portkey.control.counters import BudgetLedger, BudgetLine, Charger, Counter, RateLimiter
from portkey.control.ratelimit import MemoryRateLimiter, RedisRateLimiter, make_rate_limiter
from portkey.errors import BudgetExceeded, LimiterUnavailable

NOW = datetime(2026, 2, 15, 13, 45, 30, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Backends:
    """One replica's counters: the charger and the limiter and ledger it charges."""

    limiter: RateLimiter
    ledger: BudgetLedger
    charger: Charger


def budget(budget_id: str = "ml", usd: float | None = 1.0, tokens: int | None = None) -> BudgetLine:
    start, end = window_of("day", NOW)
    return BudgetLine(budget_id, f"team {budget_id}, day", start, end, usd, tokens, None)


Make = Callable[[], Backends]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Build replicas of one backend on one clock (Redis: same prefix); closed afterwards."""
    made: list[Backends] = []
    clock = Clock()

    def build() -> Backends:
        if request.param == "memory":
            limiter: RateLimiter = MemoryRateLimiter(clock=clock)
            ledger: BudgetLedger = MemoryLedger(clock=clock)
        else:
            url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")
            settings = LimitsSettings(
                backend="redis", redis_url=url, key_prefix=prefix, timeout_ms=5000
            )
            limiter = RedisRateLimiter(settings, clock=clock)
            ledger = RedisLedger(settings, clock=clock)
        backends = Backends(limiter, ledger, make_charger(limiter, ledger))
        made.append(backends)
        return backends

    yield build
    for backends in made:
        await backends.limiter.close()
        await backends.ledger.close()


async def test_a_charge_counts_and_reserves_both(make: Make) -> None:
    one = make()
    rpm, line = Counter("rpm:key:a", limit=10, amount=1), budget(usd=1.0)
    verdict, hold = await one.charger.charge([rpm], [line], 0.75, 100)
    assert verdict.allowed and verdict.remaining == [9]
    assert hold is not None and hold.lines == (line,)
    with pytest.raises(BudgetExceeded):
        await one.ledger.reserve([line], 0.5, 0)  # 0.75 is held
    await one.ledger.settle(hold, 0.25, 30)
    assert await one.ledger.spent(line) == (pytest.approx(0.25), 30)
    assert (await one.limiter.hit([rpm])).remaining == [8]


async def test_a_refusing_counter_reserves_no_budget(make: Make) -> None:
    one = make()
    rpm, line = Counter("rpm:key:b", limit=1, amount=1), budget(usd=1.0)
    assert (await one.limiter.hit([rpm])).allowed  # the one request of this minute
    verdict, hold = await one.charger.charge([rpm], [line], 1.0, 100)
    assert not verdict.allowed and verdict.refused == 0 and hold is None
    assert verdict.retry_after_s is not None and verdict.retry_after_s > 0
    await one.ledger.reserve([line], 1.0, 0)  # the whole budget is still free


async def test_a_refusing_budget_counts_no_request(make: Make) -> None:
    one = make()
    rpm = Counter("rpm:key:c", limit=2, amount=1)
    tpm = Counter("tpm:key:c", limit=1000, amount=300)
    line = budget(usd=1.0)
    verdict, _ = await one.charger.charge([rpm, tpm], [line], 0.6, 300)
    assert verdict.allowed and verdict.remaining == [1, 700]
    with pytest.raises(BudgetExceeded) as caught:
        await one.charger.charge([rpm, tpm], [budget("ok", usd=None), line], 0.6, 300)
    error = caught.value
    assert error.type == "budget_exceeded" and error.http_status == 429
    assert error.message.startswith("budget exceeded: team ml, day allows $1 ($0.0000 spent")
    assert error.retry_after == pytest.approx(line.window_end - NOW)  # type: ignore[operator]
    after = await one.limiter.hit([Counter("rpm:key:c", 2, 0), Counter("tpm:key:c", 1000, 0)])
    assert after.remaining == [1, 700], "the refused charge must not count the request"
    await one.ledger.reserve([budget("ok", usd=0.6)], 0.6, 0)  # nor hold the other line


async def test_counters_refuse_before_budgets_are_looked_at(make: Make) -> None:
    one = make()
    rpm = Counter("rpm:key:d", limit=1, amount=1)
    assert (await one.limiter.hit([rpm])).allowed
    verdict, hold = await one.charger.charge([rpm], [budget(usd=0.1)], 5.0, 0)
    assert not verdict.allowed and hold is None  # both refuse: the rate limit answers


async def test_no_lines_gives_no_hold_and_no_counters_always_allows(make: Make) -> None:
    one = make()
    verdict, hold = await one.charger.charge([Counter("rpm:key:e", 5, 1)], [], 0.0, 0)
    assert verdict.allowed and verdict.remaining == [4] and hold is None
    verdict, hold = await one.charger.charge([], [budget(usd=1.0)], 0.4, 0)
    assert verdict.allowed and hold is not None
    with pytest.raises(BudgetExceeded):
        await one.charger.charge([], [budget(usd=1.0)], 0.7, 0)


async def _race(replicas: list[Backends], rpm: Counter, line: BudgetLine, usd: float) -> int:
    async def charge(backends: Backends) -> bool:
        try:
            verdict, _ = await backends.charger.charge([rpm], [line], usd, 0)
        except BudgetExceeded:
            return False
        return verdict.allowed

    results = await asyncio.gather(*[charge(replicas[i % len(replicas)]) for i in range(60)])
    return sum(results)


async def test_two_replicas_charging_at_once_stop_at_the_tighter_limit(make: Make) -> None:
    one = make()
    replicas = [one, make()] if isinstance(one.charger, RedisCharger) else [one]
    # the budget is the tighter: 25 requests fit; the rate limit counts exactly those
    rpm = Counter("rpm:key:race", limit=40, amount=1)
    assert await _race(replicas, rpm, budget("race", usd=1.0), 0.04) == 25
    assert (await one.limiter.hit([Counter(rpm.key, 40, 0)])).remaining == [15]
    # the rate limit is the tighter: 10 more fit; the budget holds exactly those
    line = budget("race2", usd=100.0)
    assert await _race(replicas, Counter(rpm.key, 35, 1), line, 1.0) == 10
    await one.ledger.reserve([line], 90.0, 0)
    with pytest.raises(BudgetExceeded):
        await one.ledger.reserve([line], 0.01, 0)


async def test_limiter_and_ledger_of_different_backends_have_no_charger() -> None:
    limiter = make_rate_limiter(LimitsSettings(backend="redis", redis_url=_dead_url()))
    with pytest.raises(TypeError, match="same limits settings"):
        make_charger(limiter, MemoryLedger())
    await limiter.close()


async def test_redis_charge_is_one_round_trip_and_survives_a_script_flush(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = LimitsSettings(
        backend="redis", redis_url=redis_url, key_prefix=prefix, on_backend_error="closed"
    )
    limiter, ledger = make_rate_limiter(settings), make_ledger(settings)
    assert isinstance(limiter, RedisRateLimiter) and isinstance(ledger, RedisLedger)
    sent: list[str] = []
    for client in (limiter.redis.client, ledger.redis.client):
        monkeypatch.setattr(client, "execute_command", _spy(client.execute_command, sent))
    charger = make_charger(limiter, ledger)
    admin = aioredis.Redis.from_url(redis_url)
    rpm, line = Counter("rpm:key:noscript", 10, 1), budget("noscript", usd=1.0)
    try:
        assert (await charger.charge([rpm], [line], 0.1, 0))[0].remaining == [9]
        await admin.script_flush()  # as after a Redis restart
        sent.clear()
        assert (await charger.charge([rpm], [line], 0.1, 0))[0].remaining == [8]
        assert sent == ["EVALSHA", "SCRIPT LOAD", "EVALSHA"]
        sent.clear()
        assert (await charger.charge([rpm], [line], 0.1, 0))[0].remaining == [7]
        assert sent == ["EVALSHA"], "a charge is one round trip"
        with pytest.raises(BudgetExceeded):
            await charger.charge([rpm], [line], 0.8, 0)  # 0.3 held: 0.8 more does not fit
        assert (await limiter.hit([Counter(rpm.key, 10, 0)])).remaining == [7]
    finally:
        await admin.aclose()
        await limiter.close()
        await ledger.close()


def _spy(execute: Callable[..., Awaitable[Any]], sent: list[str]) -> Callable[..., Awaitable[Any]]:
    async def spy(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return await execute(*args, **options)

    return spy


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


async def test_redis_down_fails_open_and_still_gives_a_hold_to_settle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    saved: list[tuple[str, float, float, int]] = []

    async def flush(rows: list[tuple[str, float, float, int]]) -> None:
        saved.extend(rows)

    settings = LimitsSettings(backend="redis", redis_url=_dead_url())
    limiter, ledger = make_rate_limiter(settings), make_ledger(settings, flush=flush)
    charger = make_charger(limiter, ledger)
    caplog.set_level(logging.WARNING, logger="portkey.control")
    rpm, line = Counter("rpm:key:down", 1, 1), budget("down", usd=1.0)
    try:
        started = time.monotonic()
        for _ in range(10):
            verdict, hold = await charger.charge([rpm], [line], 5.0, 0)
            assert verdict.allowed and hold is not None
        assert time.monotonic() - started < 2.0
        assert len([r for r in caplog.records if "Redis failed" in r.message]) == 1
        await ledger.settle(hold, 0.4, 40)
    finally:
        await limiter.close()
        await ledger.close()
    assert [(r[0], r[2], r[3]) for r in saved] == [("down", pytest.approx(0.4), 40)]


async def test_redis_down_fails_closed_with_a_503_naming_what_is_unavailable() -> None:
    settings = LimitsSettings(backend="redis", redis_url=_dead_url(), on_backend_error="closed")
    limiter, ledger = make_rate_limiter(settings), make_ledger(settings)
    charger = make_charger(limiter, ledger)
    try:
        with pytest.raises(LimiterUnavailable, match="rate limits unavailable") as caught:
            await charger.charge([Counter("rpm:key:g", 10, 1)], [budget(usd=1.0)], 0.1, 0)
        assert caught.value.http_status == 503
        with pytest.raises(LimiterUnavailable, match="budgets unavailable"):
            await charger.charge([], [budget(usd=1.0)], 0.1, 0)
    finally:
        await limiter.close()
        await ledger.close()


async def test_a_redis_that_never_answers_costs_one_timeout_per_charge() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)  # accept, read, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = LimitsSettings(
        backend="redis", redis_url=f"redis://127.0.0.1:{port}/0", timeout_ms=200
    )
    limiter, ledger = make_rate_limiter(settings), make_ledger(settings)
    charger = make_charger(limiter, ledger)
    try:
        started = time.monotonic()
        verdict, hold = await charger.charge([Counter("rpm:key:h", 10, 1)], [budget()], 0.1, 0)
        elapsed = time.monotonic() - started
        assert verdict.allowed and hold is not None
        assert 0.15 < elapsed < 0.38, "one timeout, not one per backend"
    finally:
        await limiter.close()
        await ledger.close()
        server.close()
