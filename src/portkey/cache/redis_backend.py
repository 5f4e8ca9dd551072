"""The shared cache backend: entries in Redis, so every replica serves what one stored.

Each call is bounded by ``timeout_ms``. When Redis fails, the outage is logged once and, for
``RETRY_S``, calls answer at once as misses (get: None, set: False) instead of waiting on a
dead server; requests are served from the upstream meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("portkey.cache")
RETRY_S = 1.0
PURGE_BATCH = 500


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, prefix: str, timeout_ms: int, max_entry_bytes: int) -> None:
        self.prefix = prefix
        self.timeout_s = timeout_ms / 1000
        self.max_entry_bytes = max_entry_bytes
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            retry_on_timeout=False,
            max_connections=64,
        )
        self._down_until = 0.0
        self._down = False

    async def _call(self, coro: Any) -> Any:
        if time.monotonic() < self._down_until:
            coro.close()
            raise RedisError("cache backend marked down")
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await coro
        except (RedisError, OSError, TimeoutError) as exc:
            self._down_until = time.monotonic() + RETRY_S
            if not self._down:
                self._down = True
                log.warning(
                    "cache: Redis failed (%s); serving without the cache", type(exc).__name__
                )
            raise RedisError(str(exc)) from exc
        if self._down:
            self._down = False
            log.warning("cache: Redis is back")
        return result

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._call(self.client.get(self.prefix + key))
        except RedisError:
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> bool:
        if len(value) > self.max_entry_bytes:
            return False
        px = int(ttl_s * 1000) if ttl_s else None
        try:
            await self._call(self.client.set(self.prefix + key, value, px=px))
        except RedisError:
            return False
        return True

    async def delete(self, key: str) -> None:
        try:
            await self._call(self.client.unlink(self.prefix + key))
        except RedisError:
            return

    async def purge(self, prefix: str = "") -> int:
        """Delete our keys under ``prefix`` (SCAN + UNLINK in batches; never KEYS)."""
        count = 0
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=f"{self.prefix}{prefix}*", count=PURGE_BATCH):
            batch.append(key)
            if len(batch) >= PURGE_BATCH:
                count += await self.client.unlink(*batch)
                batch.clear()
        if batch:
            count += await self.client.unlink(*batch)
        return count

    async def stats(self) -> dict[str, int | float | str]:
        entries = 0
        async for _ in self.client.scan_iter(match=f"{self.prefix}*", count=PURGE_BATCH):
            entries += 1
        return {"backend": self.name, "entries": entries, "down": int(self._down)}

    async def close(self) -> None:
        await self.client.aclose()
