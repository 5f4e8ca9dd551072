"""The embedded cache backend: an LRU in this process, bounded by bytes, with per-entry TTL.

One event loop uses it, so it takes no locks; every operation is O(1) but purge (a scan).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class MemoryBackend:
    name = "memory"

    def __init__(
        self, max_bytes: int, max_entry_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.clock = clock
        self._items: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self.bytes = 0
        self.counts = {"hits": 0, "misses": 0, "evictions": 0, "expired": 0, "refused": 0}

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            self.counts["misses"] += 1
            return None
        value, expires = item
        if expires is not None and expires <= self.clock():
            self._remove(key)
            self.counts["expired"] += 1
            self.counts["misses"] += 1
            return None
        self._items.move_to_end(key)
        self.counts["hits"] += 1
        return value

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> bool:
        size = len(key) + len(value)
        if len(value) > self.max_entry_bytes or size > self.max_bytes:
            self.counts["refused"] += 1
            return False
        if key in self._items:
            self._remove(key)
        while self._items and self.bytes + size > self.max_bytes:
            oldest = next(iter(self._items))
            self._remove(oldest)
            self.counts["evictions"] += 1
        expires = self.clock() + ttl_s if ttl_s else None
        self._items[key] = (value, expires)
        self.bytes += size
        return True

    def _remove(self, key: str) -> None:
        value, _ = self._items.pop(key)
        self.bytes -= len(key) + len(value)

    async def delete(self, key: str) -> None:
        if key in self._items:
            self._remove(key)

    async def purge(self, prefix: str = "") -> int:
        doomed = [k for k in self._items if k.startswith(prefix)]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    async def stats(self) -> dict[str, int | float | str]:
        return {
            "backend": self.name,
            "entries": len(self._items),
            "bytes": self.bytes,
            **self.counts,
        }

    async def close(self) -> None:
        self._items.clear()
        self.bytes = 0
