"""The in-process vector index: per partition a matrix of unit vectors, searched in one product.

Partitions keep searches small (only questions that share everything but their wording are
compared). Entries expire by TTL (ignored on read, compacted on write) and the whole index is
bounded: past ``max_entries`` the oldest partition loses its oldest rows first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from portkey.cache.base import SemanticMatch

DIMENSIONS = 384


@dataclass(slots=True)
class _Rows:
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, DIMENSIONS), np.float32))
    keys: list[str] = field(default_factory=list)
    expires: list[float] = field(default_factory=list)


class MemoryIndex:
    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._parts: OrderedDict[str, _Rows] = OrderedDict()
        self.size = 0

    async def search(
        self, partition: str, vector: Sequence[float], threshold: float
    ) -> SemanticMatch | None:
        rows = self._parts.get(partition)
        if rows is None or not rows.keys:
            return None
        scores = rows.vectors @ np.asarray(vector, dtype=np.float32)
        now = self.clock()
        for i in np.argsort(-scores)[:8]:  # the best few: skip expired ones
            score = float(scores[i])
            if score < threshold:
                return None
            if rows.expires[i] > now:
                return SemanticMatch(rows.keys[i], score)
        return None

    async def add(
        self, partition: str, vector: Sequence[float], key: str, ttl_s: float | None
    ) -> None:
        rows = self._parts.setdefault(partition, _Rows())
        self._parts.move_to_end(partition)
        self._compact(rows)
        row = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        rows.vectors = np.vstack([rows.vectors, row])
        rows.keys.append(key)
        rows.expires.append(self.clock() + ttl_s if ttl_s else float("inf"))
        self.size += 1
        while self.size > self.max_entries:
            self._evict_oldest()

    def _compact(self, rows: _Rows) -> None:
        now = self.clock()
        live = [i for i, t in enumerate(rows.expires) if t > now]
        if len(live) != len(rows.keys):
            self.size -= len(rows.keys) - len(live)
            rows.vectors = rows.vectors[live]
            rows.keys = [rows.keys[i] for i in live]
            rows.expires = [rows.expires[i] for i in live]

    def _evict_oldest(self) -> None:
        name, rows = next(iter(self._parts.items()))
        rows.vectors, rows.keys, rows.expires = rows.vectors[1:], rows.keys[1:], rows.expires[1:]
        self.size -= 1
        if not rows.keys:
            del self._parts[name]

    async def purge(self, prefix: str = "") -> int:
        doomed = [name for name in self._parts if name.startswith(prefix)]
        count = sum(len(self._parts[name].keys) for name in doomed)
        for name in doomed:
            del self._parts[name]
        self.size -= count
        return count

    async def close(self) -> None:
        self._parts.clear()
        self.size = 0
