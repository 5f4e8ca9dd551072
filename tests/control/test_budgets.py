"""Budget ledgers (memory and Redis): windows, atomic reservations, expiry, flush, seed, outages."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from portkey.config.models import LimitsSettings
from portkey.control.budgets import MemoryLedger, RedisLedger, make_ledger, window_of
from portkey.control.counters import BudgetLedger, BudgetLine
from portkey.errors import BudgetExceeded, LimiterUnavailable

NOW = datetime(2026, 2, 15, 13, 45, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def line(
    budget_id: str = "b1",
    *,
    usd: float | None = None,
    tokens: int | None = None,
    alert_at: float | None = None,
    period: str = "day",
) -> BudgetLine:
    start, end = window_of(period, NOW)
    return BudgetLine(budget_id, f"team {budget_id}, {period}", start, end, usd, tokens, alert_at)


Make = Callable[..., BudgetLedger]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Build ledgers of one backend (same Redis prefix: replicas); closed afterwards."""
    made: list[BudgetLedger] = []
    if request.param == "redis":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")
        settings = LimitsSettings(
            backend="redis", redis_url=url, key_prefix=prefix, timeout_ms=5000
        )

    def build(**kw: Any) -> BudgetLedger:
        kw.setdefault("clock", Clock())
        ledger = MemoryLedger(**kw) if request.param == "memory" else RedisLedger(settings, **kw)
        made.append(ledger)
        return ledger

    yield build
    for ledger in made:
        await ledger.close()


def test_windows_are_utc_days_months_and_forever() -> None:
    day = datetime(2026, 2, 15, tzinfo=UTC).timestamp()
    assert window_of("day", NOW) == (day, datetime(2026, 2, 16, tzinfo=UTC).timestamp())
    feb, mar = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    assert window_of("month", NOW) == (feb.timestamp(), mar.timestamp())
    dec = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    assert window_of("month", dec)[1] == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    assert window_of("day", day) == window_of("day", day + 86_399.9)
    assert window_of("total", NOW) == (0.0, None)


async def test_reserves_until_the_limit_then_refuses_naming_the_budget(make: Make) -> None:
    ledger = make()
    budget = line(usd=1.0)
    await ledger.reserve([budget], 0.6, 100)
    with pytest.raises(BudgetExceeded) as caught:
        await ledger.reserve([budget], 0.5, 100)
    error = caught.value
    assert error.http_status == 429 and error.type == "budget_exceeded"
    assert "team b1, day" in error.message and "$1" in error.message
    assert error.retry_after == pytest.approx(budget.window_end - NOW)  # type: ignore[operator]
    await ledger.reserve([budget], 0.4, 100)  # what is left still fits exactly


async def test_settle_releases_the_hold_and_adds_the_real_spend(make: Make) -> None:
    ledger = make()
    budget = line(usd=1.0, tokens=10_000)
    hold = await ledger.reserve([budget], 0.9, 9_000)
    assert await ledger.spent(budget) == (0.0, 0)
    await ledger.settle(hold, 0.25, 2_500)
    assert await ledger.spent(budget) == (pytest.approx(0.25), 2_500)
    await ledger.reserve([budget], 0.75, 7_500)  # the 0.9 hold is gone: exactly the rest fits


async def test_a_used_up_budget_refuses_even_a_free_request(make: Make) -> None:
    ledger = make()
    budget = line(tokens=1_000)
    await ledger.settle(await ledger.reserve([budget], 0.0, 500), 0.0, 1_200)  # overran
    with pytest.raises(BudgetExceeded, match="1000 tokens"):
        await ledger.reserve([budget], 0.0, 0)


async def test_a_reservation_takes_every_line_or_none(make: Make) -> None:
    ledger = make()
    team, key = line("team", usd=10.0), line("key", usd=1.0)
    await ledger.reserve([team, key], 0.8, 0)
    with pytest.raises(BudgetExceeded, match="team key"):
        await ledger.reserve([team, key], 0.5, 0)
    await ledger.reserve([team], 9.2, 0)  # the refused 0.5 was not held on "team"


async def test_fifty_concurrent_reservations_never_overbook(make: Make) -> None:
    one = make()
    two = make() if isinstance(one, RedisLedger) else one  # with Redis, two replicas
    budget = line(usd=1.0)

    async def reserve(ledger: BudgetLedger) -> bool:
        try:
            await ledger.reserve([budget], 0.03, 10)
        except BudgetExceeded:
            return False
        return True

    results = await asyncio.gather(*[reserve(one if i % 2 else two) for i in range(50)])
    assert sum(results) == 33  # 33 * 0.03 <= 1.0 < 34 * 0.03


async def test_a_hold_never_settled_expires(make: Make) -> None:
    clock = Clock()
    ledger = make(clock=clock, hold_ttl_s=60.0)
    budget = line(usd=1.0)
    lost = await ledger.reserve([budget], 1.0, 0)  # e.g. the process settling it crashed
    with pytest.raises(BudgetExceeded):
        await ledger.reserve([budget], 0.1, 0)
    clock.now += 61.0
    await ledger.reserve([budget], 0.5, 0)
    await ledger.settle(lost, 0.2, 0)  # a late settle adds its spend but releases nothing twice
    assert await ledger.spent(budget) == (pytest.approx(0.2), 0)
    await ledger.reserve([budget], 0.3, 0)
    with pytest.raises(BudgetExceeded):
        await ledger.reserve([budget], 0.01, 0)


async def test_crossing_the_alert_threshold_alerts_once(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    alerts: list[tuple[str, str, float, float]] = []
    ledger = make(
        on_alert=lambda ln, kind, spent, limit: alerts.append((ln.id, kind, spent, limit))
    )
    budget = line(usd=10.0, tokens=1_000_000, alert_at=0.5)
    caplog.set_level(logging.WARNING, logger="portkey.control")
    for _ in range(8):
        await ledger.settle(await ledger.reserve([budget], 1.0, 10), 1.0, 10)
    assert alerts == [("b1", "usd", pytest.approx(5.0), 10.0)]
    assert len([r for r in caplog.records if "team b1, day" in r.message]) == 1


async def test_settled_spend_is_flushed_in_batches_off_the_request_path(make: Make) -> None:
    batches: list[list[tuple[str, float, float, int]]] = []

    async def flush(rows: list[tuple[str, float, float, int]]) -> None:
        batches.append(rows)

    ledger = make(flush=flush, flush_every_s=0.05)
    a, b = line("a", usd=100.0), line("b", tokens=10**9)
    for _ in range(3):
        await ledger.settle(await ledger.reserve([a, b], 1.0, 100), 0.5, 40)
    for _ in range(50):
        if batches:
            break
        await asyncio.sleep(0.02)
    totals: dict[str, list[float]] = {}
    for rows in batches:
        for budget_id, start, usd, tokens in rows:
            assert start == a.window_start
            total = totals.setdefault(budget_id, [0.0, 0])
            total[0] += usd
            total[1] += tokens
    assert totals == {"a": [pytest.approx(1.5), 120], "b": [pytest.approx(1.5), 120]}


async def test_a_failed_flush_keeps_the_spend_for_the_next_one(make: Make) -> None:
    saved: list[tuple[str, float, float, int]] = []
    failures = [RuntimeError("database is down")]

    async def flush(rows: list[tuple[str, float, float, int]]) -> None:
        if failures:
            raise failures.pop()
        saved.extend(rows)

    ledger = make(flush=flush, flush_every_s=3600)
    budget = line(usd=100.0)
    await ledger.settle(await ledger.reserve([budget], 1.0, 0), 0.7, 70)
    await ledger.flush_now()  # type: ignore[attr-defined]
    assert saved == []
    await ledger.settle(await ledger.reserve([budget], 1.0, 0), 0.3, 30)
    await ledger.close()  # the last flush happens on close
    assert [(r[0], r[2], r[3]) for r in saved] == [("b1", pytest.approx(1.0), 100)]


async def test_seeded_spend_survives_a_restart(make: Make) -> None:
    budget = line(usd=1.0, tokens=1_000)
    ledger = make(seed={(budget.id, budget.window_start): (0.9, 100)})
    assert await ledger.spent(budget) == (pytest.approx(0.9), 100)
    with pytest.raises(BudgetExceeded):
        await ledger.reserve([budget], 0.2, 0)
    await ledger.reserve([budget], 0.1, 0)


async def test_redis_seeds_only_an_empty_line(redis_url: str, prefix: str) -> None:
    settings = LimitsSettings(
        backend="redis", redis_url=redis_url, key_prefix=prefix, timeout_ms=5000
    )
    budget = line(usd=10.0)
    first = make_ledger(settings, seed={(budget.id, budget.window_start): (2.0, 0)})
    late = make_ledger(settings, seed={(budget.id, budget.window_start): (1.0, 0)})
    try:
        await first.settle(await first.reserve([budget], 1.0, 0), 1.0, 0)
        await late.settle(await late.reserve([budget], 1.0, 0), 1.0, 0)
        assert await late.spent(budget) == (pytest.approx(4.0), 0)  # 2 seeded + 1 + 1
    finally:
        await first.close()
        await late.close()


async def test_redis_line_keys_expire_after_their_window_but_total_does_not(
    redis_url: str, prefix: str
) -> None:
    settings = LimitsSettings(
        backend="redis", redis_url=redis_url, key_prefix=prefix, timeout_ms=5000
    )
    ledger = make_ledger(settings, clock=Clock())
    client = aioredis.Redis.from_url(redis_url)
    day, total = line("d", usd=5.0), line("t", usd=5.0, period="total")
    try:
        await ledger.reserve([day, total], 1.0, 0)
        day_ttl = await client.pttl(f"{prefix}budget:d:{day.window_start:.0f}")
        assert 86_400_000 < day_ttl <= (day.window_end - NOW + 86_400) * 1000  # type: ignore[operator]
        assert await client.pttl(f"{prefix}budget:t:0") == -1
    finally:
        await client.aclose()
        await ledger.close()


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


async def test_redis_down_fails_open_and_still_records_the_spend() -> None:
    saved: list[tuple[str, float, float, int]] = []

    async def flush(rows: list[tuple[str, float, float, int]]) -> None:
        saved.extend(rows)

    ledger = make_ledger(LimitsSettings(backend="redis", redis_url=_dead_url()), flush=flush)
    budget = line(usd=1.0)
    hold = await ledger.reserve([budget], 5.0, 0)  # over the limit, but nothing can check it
    await ledger.settle(hold, 0.4, 40)
    await ledger.close()
    assert [(r[0], r[2], r[3]) for r in saved] == [("b1", pytest.approx(0.4), 40)]


async def test_redis_down_fails_closed_with_a_503_but_settling_never_raises() -> None:
    settings = LimitsSettings(backend="redis", redis_url=_dead_url(), on_backend_error="closed")
    ledger = make_ledger(settings)
    budget = line(usd=1.0)
    try:
        with pytest.raises(LimiterUnavailable) as caught:
            await ledger.reserve([budget], 0.1, 0)
        assert caught.value.http_status == 503
        held = MemoryLedger()
        await ledger.settle(await held.reserve([budget], 0.1, 0), 0.1, 0)
    finally:
        await ledger.close()
