"""The semantic index at scale: shared by replicas through Redis, HNSW for large partitions."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import redis
from openai import OpenAI

from portkey.cache.semantic.index_memory import MemoryIndex
from portkey.cache.semantic.index_shared import ReplicatedIndex
from tests.fakes import FakeUpstream
from tests.support import free_port, serve_process


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def near(vector: np.ndarray, rng: np.random.Generator, noise: float = 0.01) -> np.ndarray:
    moved = vector + noise * rng.standard_normal(384).astype(np.float32)
    return (moved / np.linalg.norm(moved)).astype(np.float32)


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "the replica never caught up"
        await asyncio.sleep(0.01)


def test_large_partitions_find_what_an_exact_search_finds() -> None:
    """Past exact_limit the HNSW index answers; its candidates are re-scored exactly."""
    rng = np.random.default_rng(3)
    vectors = unit(rng, 1500)
    now = [0.0]
    index = MemoryIndex(max_entries=10_000, exact_limit=64, clock=lambda: now[0])

    async def scenario() -> None:
        for i, v in enumerate(vectors):
            await index.add("p", v, f"k{i}", 100 if i < 10 else None, f"q{i}")
        await index.settle()
        assert index._parts["p"].ann is not None  # the approximate index is in use
        found = 0
        for i in range(0, 1500, 7):
            match = await index.search("p", near(vectors[i], rng), 0.9)
            if match is not None:
                assert match.key == f"k{i}" and match.text == f"q{i}"
                assert match.similarity >= 0.9
                found += 1
        assert found >= 0.95 * len(range(0, 1500, 7))
        # a row newer than the HNSW index is found at once (the exact tail)
        fresh = unit(rng, 1)[0]
        await index.add("p", fresh, "fresh", None)
        match = await index.search("p", near(fresh, rng), 0.9)
        assert match is not None and match.key == "fresh"
        # expiry holds in the large partition too
        now[0] = 101
        assert await index.search("p", vectors[3], 0.9) is None
        match = await index.search("p", vectors[30], 0.9)
        assert match is not None and match.key == "k30"

    asyncio.run(scenario())


def test_the_bound_evicts_the_oldest_rows_first() -> None:
    rng = np.random.default_rng(4)
    vectors = unit(rng, 300)
    index = MemoryIndex(max_entries=200, exact_limit=32)

    async def scenario() -> None:
        for i, v in enumerate(vectors):
            await index.add("p", v, f"k{i}", None)
        await index.settle()
        assert index.size == 200
        assert await index.search("p", vectors[50], 0.99) is None  # evicted
        match = await index.search("p", vectors[250], 0.99)
        assert match is not None and match.key == "k250"

    asyncio.run(scenario())


def test_replicas_share_adds_purges_and_ttl_through_redis(redis_url: str, prefix: str) -> None:
    rng = np.random.default_rng(5)
    v = unit(rng, 3)
    now = [1_000.0]

    def clock() -> float:
        return now[0]

    async def scenario() -> None:
        one = ReplicatedIndex(redis_url, prefix, clock=clock)
        two = ReplicatedIndex(redis_url, prefix, clock=clock)
        try:
            await one.add("ns:json:p", v[0], "k0", 60, "capital of France")
            await one.add("ns:json:p", v[1], "k1", None, "capital of Spain")

            async def two_finds_k0() -> bool:
                match = await two.search("ns:json:p", near(v[0], rng), 0.9)
                return match is not None and match.key == "k0"

            await eventually(two_finds_k0)
            match = await two.search("ns:json:p", v[0], 0.9)
            assert match is not None and match.text == "capital of France"
            # a replica started later replays the stream: it begins warm
            late = ReplicatedIndex(redis_url, prefix, clock=clock)
            try:

                async def late_finds_k1() -> bool:
                    match = await late.search("ns:json:p", v[1], 0.9)
                    return match is not None and match.key == "k1"

                await eventually(late_finds_k1)
                now[0] += 61  # k0's TTL is over everywhere
                assert await late.search("ns:json:p", v[0], 0.9) is None
                assert await two.search("ns:json:p", v[0], 0.9) is None
                # a purge on one replica empties the others
                await two.purge("ns:")

                async def purged() -> bool:
                    return await one.search("ns:json:p", v[1], 0.9) is None

                await eventually(purged)
                await eventually(lambda: _none(late.search("ns:json:p", v[1], 0.9)))
            finally:
                await late.close()
        finally:
            await one.close()
            await two.close()

    asyncio.run(scenario())


async def _none(result: Awaitable[Any]) -> bool:
    return await result is None


def test_redis_down_keeps_the_local_copy_serving() -> None:
    rng = np.random.default_rng(6)
    v = unit(rng, 1)[0]

    async def scenario() -> None:
        index = ReplicatedIndex(f"redis://127.0.0.1:{free_port()}/0", "x:", timeout_ms=50)
        try:
            await index.add("p", v, "k", None)
            match = await index.search("p", v, 0.9)
            assert match is not None and match.key == "k"
        finally:
            await index.close()

    asyncio.run(scenario())


def test_malformed_stream_events_are_skipped(redis_url: str, prefix: str) -> None:
    rng = np.random.default_rng(8)
    v = unit(rng, 1)[0]

    async def scenario() -> None:
        client = redis.Redis.from_url(redis_url)
        client.xadd(f"{prefix}semantic:log", {"op": "add", "o": "elsewhere", "p": "p", "v": b"xx"})
        client.close()
        index = ReplicatedIndex(redis_url, prefix)
        try:
            await index.add("p", v, "k", None)
            await asyncio.sleep(0.1)
            match = await index.search("p", v, 0.9)
            assert match is not None and match.key == "k"
        finally:
            await index.close()

    asyncio.run(scenario())


def test_a_paraphrase_asked_of_another_replica_is_a_semantic_hit(
    tmp_path: Any, fake: FakeUpstream, redis_url: str
) -> None:
    prefix = f"portkey-test-sem-{secrets.token_hex(4)}:"
    config = tmp_path / "portkey.yaml"
    config.write_text(
        f"cache: {{backend: redis, redis_url: '{redis_url}', key_prefix: '{prefix}'}}\n"
    )
    route = {
        "provider": "openai",
        "api_key": "sk-x",
        "custom_host": fake.base_url,
        "cache": {"mode": "semantic", "max_age": 60},
    }
    namespace = uuid.uuid4().hex

    def client(base: str) -> OpenAI:
        return OpenAI(
            base_url=base + "/v1",
            api_key="unused",
            max_retries=0,
            default_headers={
                "x-portkey-config": json.dumps(route),
                "x-portkey-cache-namespace": namespace,
            },
        )

    def status(c: OpenAI, text: str) -> str:
        raw = c.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": text}]
        )
        return str(raw.headers["x-portkey-cache-status"])

    try:
        with serve_process(config) as (_, one), serve_process(config) as (_, two):
            assert status(client(one), "What is the capital of France?") == "SEMANTIC MISS"
            r = redis.Redis.from_url(redis_url)
            deadline = time.monotonic() + 15
            while not r.xlen(f"{prefix}semantic:log"):  # stored in the background
                assert time.monotonic() < deadline, "the first replica never stored the entry"
                time.sleep(0.02)  # noqa: TID251 - test thread
            r.close()
            time.sleep(0.5)  # noqa: TID251 - the second replica reads the stream (ms)
            assert status(client(two), "What's the capital of France?") == "SEMANTIC HIT"
            assert status(client(two), "What is not the capital of France?") == "SEMANTIC MISS"
    finally:
        r = redis.Redis.from_url(redis_url)
        keys = list(r.scan_iter(match=f"{prefix}*"))
        if keys:
            r.delete(*keys)
        r.close()
