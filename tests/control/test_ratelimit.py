"""Rate limiters (memory and Redis): sliding windows, all-or-nothing hits, replicas, outages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from portkey.config.models import LimitsSettings
from portkey.control.counters import Counter, RateLimiter
from portkey.control.ratelimit import (
    MemoryRateLimiter,
    RedisRateLimiter,
    make_rate_limiter,
)
from portkey.errors import LimiterUnavailable

WINDOW = 60.0
T0 = WINDOW * 28_000_000 + 30.0  # half-way through a window


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _settings(redis_url: str, prefix: str, **kw: object) -> LimitsSettings:
    kw.setdefault("timeout_ms", 5000)  # correctness, not speed: a loaded CI box must not fail open
    return LimitsSettings(backend="redis", redis_url=redis_url, key_prefix=prefix, **kw)  # type: ignore[arg-type]


Make = Callable[[Clock], RateLimiter]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Build limiters of one backend on an injected clock; closed afterwards."""
    made: list[RateLimiter] = []
    if request.param == "redis":
        settings = _settings(
            request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")
        )

    def build(clock: Clock) -> RateLimiter:
        if request.param == "memory":
            limiter: RateLimiter = MemoryRateLimiter(clock=clock)
        else:
            limiter = RedisRateLimiter(settings, clock=clock)
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.close()


async def test_counts_up_to_the_limit_then_refuses_with_an_honest_retry_after(make: Make) -> None:
    clock = Clock()
    limiter = make(clock)
    rpm = Counter("rpm:key:a", limit=5, amount=1)
    remaining = [(await limiter.hit([rpm])).remaining[0] for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    refused = await limiter.hit([rpm])
    assert not refused.allowed and refused.refused == 0
    assert refused.reset_s == [pytest.approx(WINDOW - 30.0)]
    wait = refused.retry_after_s
    assert wait is not None and 0 < wait < 2 * WINDOW
    clock.now += wait - 0.5
    assert not (await limiter.hit([rpm])).allowed, "retry_after must not be too early"
    clock.now += 0.5
    assert (await limiter.hit([rpm])).allowed, "retry_after must not be too late"


async def test_previous_window_counts_by_the_share_still_inside_the_sliding_window(
    make: Make,
) -> None:
    clock = Clock()  # 30 s into a window
    limiter = make(clock)
    rpm = Counter("rpm:key:b", limit=10, amount=1)
    assert all([(await limiter.hit([rpm])).allowed for _ in range(10)])
    clock.now += WINDOW  # 30 s into the next window: half of the previous 10 still count
    allowed = [(await limiter.hit([rpm])).allowed for _ in range(8)]
    assert allowed == [True] * 5 + [False] * 3
    clock.now += 2 * WINDOW  # both windows over: the whole limit is back
    assert all([(await limiter.hit([rpm])).allowed for _ in range(10)])
    assert not (await limiter.hit([rpm])).allowed


async def test_a_hit_counts_every_counter_or_none(make: Make) -> None:
    limiter = make(Clock())
    rpm = Counter("rpm:key:c", limit=100, amount=1)
    tpm = Counter("tpm:key:c", limit=1000, amount=600)
    first = await limiter.hit([rpm, tpm])
    assert first.allowed and first.remaining == [99, 400]
    second = await limiter.hit([rpm, tpm])
    assert not second.allowed and second.refused == 1
    assert second.remaining == [99, 400], "a refused hit must not count the requests"
    small = await limiter.hit([rpm, Counter("tpm:key:c", limit=1000, amount=400)])
    assert small.allowed and small.remaining == [98, 0]


async def test_adjust_corrects_tokens_after_the_answer(make: Make) -> None:
    limiter = make(Clock())
    tpm = Counter("tpm:key:d", limit=1000, amount=900)
    assert (await limiter.hit([tpm])).allowed
    assert not (await limiter.hit([Counter("tpm:key:d", 1000, 300)])).allowed
    await limiter.adjust(tpm, -800)  # the answer used 100 tokens, not 900
    verdict = await limiter.hit([Counter("tpm:key:d", 1000, 300)])
    assert verdict.allowed and verdict.remaining == [600]
    await limiter.adjust(tpm, 500)  # and a longer answer than reserved counts too
    assert (await limiter.hit([Counter("tpm:key:d", 1000, 0)])).remaining == [100]


async def test_an_amount_over_the_limit_never_fits(make: Make) -> None:
    verdict = await make(Clock()).hit([Counter("tpm:key:e", limit=100, amount=101)])
    assert not verdict.allowed and verdict.retry_after_s is None


async def test_memory_limiter_forgets_counters_whose_windows_are_over() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    for i in range(100):
        await limiter.hit([Counter(f"rpm:key:{i}", 10, 1)])
    assert len(limiter) == 100
    clock.now += 2 * WINDOW
    for _ in range(20):
        await limiter.hit([Counter("rpm:key:live", 10, 0)])
    assert len(limiter) == 1


async def test_two_replicas_on_one_redis_enforce_one_limit(redis_url: str, prefix: str) -> None:
    settings = _settings(redis_url, prefix)
    one, two = make_rate_limiter(settings), make_rate_limiter(settings)
    assert isinstance(one, RedisRateLimiter) and isinstance(two, RedisRateLimiter)
    rpm = Counter("rpm:key:shared", limit=30, amount=1)
    try:
        verdicts = await asyncio.gather(*[r.hit([rpm]) for r in (one, two) for _ in range(25)])
        assert sum(v.allowed for v in verdicts) == 30
        assert not (await one.hit([rpm])).allowed and not (await two.hit([rpm])).allowed
    finally:
        await one.close()
        await two.close()


async def test_redis_counter_keys_expire_after_two_windows(redis_url: str, prefix: str) -> None:
    limiter = RedisRateLimiter(_settings(redis_url, prefix))
    client = aioredis.Redis.from_url(redis_url)
    try:
        await limiter.hit([Counter("rpm:key:ttl", 10, 1, window_s=5.0)])
        ttl = await client.pttl(f"{prefix}rl:rpm:key:ttl")
        assert 5_000 < ttl <= 10_000
    finally:
        await client.aclose()
        await limiter.close()


async def test_redis_limiter_reloads_its_script_after_a_script_flush(
    redis_url: str, prefix: str
) -> None:
    limiter = RedisRateLimiter(_settings(redis_url, prefix, on_backend_error="closed"))
    client = aioredis.Redis.from_url(redis_url)
    rpm = Counter("rpm:key:noscript", 10, 1)
    try:
        assert (await limiter.hit([rpm])).remaining == [9]
        await client.script_flush()  # as after a Redis restart
        assert (await limiter.hit([rpm])).remaining == [8]
    finally:
        await client.aclose()
        await limiter.close()


def _dead_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_down_fails_open_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://127.0.0.1:{_dead_port()}/0"
    limiter = make_rate_limiter(LimitsSettings(backend="redis", redis_url=url))
    caplog.set_level(logging.WARNING, logger="portkey.control")
    try:
        started = time.monotonic()
        verdicts = [await limiter.hit([Counter("rpm:key:f", 1, 1)]) for _ in range(20)]
        assert time.monotonic() - started < 2.0
        assert all(v.allowed for v in verdicts)
        assert len([r for r in caplog.records if "Redis failed" in r.message]) == 1
    finally:
        await limiter.close()


async def test_redis_down_fails_closed_with_a_503() -> None:
    url = f"redis://127.0.0.1:{_dead_port()}/0"
    limiter = make_rate_limiter(
        LimitsSettings(backend="redis", redis_url=url, on_backend_error="closed")
    )
    try:
        for _ in range(3):
            with pytest.raises(LimiterUnavailable) as caught:
                await limiter.hit([Counter("rpm:key:g", 10, 1)])
            assert caught.value.http_status == 503
        await limiter.adjust(Counter("rpm:key:g", 10, 1), 5)  # settling never raises
    finally:
        await limiter.close()


async def test_a_redis_that_never_answers_costs_at_most_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)  # accept, read, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = LimitsSettings(
        backend="redis", redis_url=f"redis://127.0.0.1:{port}/0", timeout_ms=100
    )
    limiter = make_rate_limiter(settings)
    try:
        started = time.monotonic()
        verdict = await limiter.hit([Counter("rpm:key:h", 10, 1)])
        assert verdict.allowed
        assert time.monotonic() - started < 1.0
    finally:
        await limiter.close()
        server.close()
