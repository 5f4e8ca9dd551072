"""The semantic index shared by replicas: each keeps an in-process copy fed by a Redis stream.

Redis here has no vector search (no RediSearch module), so the documented fallback is
replication rather than remote search: every add and purge is appended to one Redis stream
(``XADD``, trimmed to about ``max_entries``), and every replica tails that stream into its own
in-process index. Lookups therefore cost what an in-process lookup costs (no network on the
read path); a question one replica stored is found by the others as soon as its entry has
been read off the stream (milliseconds). A replica that starts late replays the stream, so
it begins warm. Entries carry their absolute expiry, so TTLs hold on every replica.

When Redis is unreachable the local index keeps serving what it has; the outage is logged
once and the reader retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from portkey.cache.base import SemanticMatch
from portkey.cache.semantic.index_memory import DIMENSIONS, MemoryIndex

log = logging.getLogger("portkey.cache")
BLOCK_MS = 1000
BATCH = 500
RETRY_MAX_S = 5.0
STREAM = "semantic:log"


class ReplicatedIndex:
    """A :class:`MemoryIndex` kept in step with every other replica's through Redis."""

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        max_entries: int = 100_000,
        timeout_ms: int = 100,
        local: MemoryIndex | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.local = local or MemoryIndex(max_entries=max_entries, clock=clock)
        self.clock = clock
        self.stream = prefix + STREAM
        self.max_entries = max_entries
        self.timeout_s = timeout_ms / 1000
        #: who wrote an event: a replica skips its own (already applied locally)
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}".encode()
        self.writer = aioredis.Redis.from_url(
            url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s
        )
        # XREAD BLOCK holds its connection: the reader gets its own, with a longer timeout
        self.reader = aioredis.Redis.from_url(
            url, socket_timeout=BLOCK_MS / 1000 + 2, socket_connect_timeout=self.timeout_s
        )
        self.last_id = b"0-0"
        self._task: asyncio.Task[None] | None = None
        self._down = False
        self._closed = False
        self.applied = 0  # events read off the stream from other replicas
        try:  # built inside the server's loop: follow the stream from the start, warm up now
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._start()

    # -- the SemanticIndex interface -------------------------------------------------------

    async def search(
        self, partition: str, vector: Sequence[float], threshold: float
    ) -> SemanticMatch | None:
        self._start()
        return await self.local.search(partition, vector, threshold)

    async def add(
        self, partition: str, vector: Sequence[float], key: str, ttl_s: float | None, text: str = ""
    ) -> None:
        self._start()
        await self.local.add(partition, vector, key, ttl_s, text)
        expires = self.clock() + ttl_s if ttl_s else 0.0
        fields: dict[Any, Any] = {
            b"op": b"add",
            b"o": self.origin,
            b"p": partition.encode(),
            b"k": key.encode(),
            b"e": repr(expires).encode(),
            b"t": text.encode(),
            b"v": np.asarray(vector, dtype=np.float32).tobytes(),
        }
        await self._append(fields)

    async def purge(self, prefix: str = "") -> int:
        self._start()
        count = await self.local.purge(prefix)
        if not prefix:  # nothing before a full purge is worth replaying
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(self.timeout_s):
                    await self.writer.xtrim(self.stream, maxlen=0)
        await self._append({b"op": b"purge", b"o": self.origin, b"p": prefix.encode()})
        return count

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            # redis-py may sit in a cancelled XREAD BLOCK until its socket closes: cut it
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=0.5)
            if not self._task.done():
                with contextlib.suppress(Exception):
                    await self.reader.connection_pool.disconnect(inuse_connections=True)
                await asyncio.wait({self._task}, timeout=BLOCK_MS / 1000 + 1)
            self._task = None
        await self.local.close()
        for client in (self.writer, self.reader):
            with contextlib.suppress(Exception):
                await client.aclose()

    # -- replication -----------------------------------------------------------------------

    def _start(self) -> None:
        if self._closed:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._follow())

    async def _append(self, fields: dict[Any, Any]) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.writer.xadd(
                    self.stream, fields, maxlen=self.max_entries, approximate=True
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._outage(exc)

    async def _follow(self) -> None:
        """Tail the stream forever (from the start, so a new replica begins warm)."""
        delay = 0.1
        while not self._closed:
            try:
                batches = cast(
                    "list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]",
                    await self.reader.xread(
                        {self.stream: self.last_id}, count=BATCH, block=BLOCK_MS
                    ),
                )
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if self._closed:  # close() cut the connection under a swallowed cancel
                    return
                self._outage(exc)
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)
                continue
            delay = 0.1
            if self._down:
                self._down = False
                log.warning("cache: the shared semantic index reaches Redis again")
            for _stream, events in batches or ():
                for event_id, fields in events:
                    self.last_id = event_id
                    await self._apply(fields)

    async def _apply(self, fields: dict[bytes, bytes]) -> None:
        if fields.get(b"o") == self.origin:
            return
        try:
            op = fields[b"op"]
            partition = fields[b"p"].decode()
            if op == b"purge":
                await self.local.purge(partition)
            elif op == b"add":
                vector = np.frombuffer(fields[b"v"], dtype=np.float32)
                if vector.shape != (DIMENSIONS,):
                    raise ValueError(f"vector of {vector.shape} values")
                expires = float(fields[b"e"])
                ttl: float | None = None
                if expires:
                    ttl = expires - self.clock()
                    if ttl <= 0:
                        return  # expired while in the stream
                text = fields.get(b"t", b"").decode()
                await self.local.add(partition, vector.tolist(), fields[b"k"].decode(), ttl, text)
            self.applied += 1
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            log.warning("cache: skipped a malformed semantic index event (%s)", exc)

    def _outage(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            log.warning(
                "cache: Redis failed for the shared semantic index (%s); serving the local copy",
                type(exc).__name__,
            )
