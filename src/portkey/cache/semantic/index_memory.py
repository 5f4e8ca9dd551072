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
    """Vectors in a buffer that doubles when full (adds are amortised O(1))."""

    buffer: np.ndarray = field(default_factory=lambda: np.zeros((16, DIMENSIONS), np.float32))
    keys: list[str] = field(default_factory=list)
    expires: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    soonest: float = float("inf")  # the earliest expiry held

    @property
    def vectors(self) -> np.ndarray:
        return self.buffer[: len(self.keys)]

    def append(self, vector: np.ndarray, key: str, expires: float, text: str) -> None:
        if len(self.keys) == len(self.buffer):
            grown = np.zeros((2 * len(self.buffer), self.buffer.shape[1]), np.float32)
            grown[: len(self.keys)] = self.buffer
            self.buffer = grown
        self.buffer[len(self.keys)] = vector
        self.keys.append(key)
        self.expires.append(expires)
        self.texts.append(text)
        self.soonest = min(self.soonest, expires)

    def keep(self, rows: list[int]) -> None:
        kept = self.buffer[rows]
        self.buffer = np.zeros((max(16, 2 * len(rows)), self.buffer.shape[1]), np.float32)
        self.buffer[: len(rows)] = kept
        self.keys = [self.keys[i] for i in rows]
        self.expires = [self.expires[i] for i in rows]
        self.texts = [self.texts[i] for i in rows]
        self.soonest = min(self.expires, default=float("inf"))


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
        best = np.argpartition(-scores, 7)[:8] if len(scores) > 8 else np.arange(len(scores))
        for i in best[np.argsort(-scores[best])]:  # the best few, best first: skip expired ones
            score = float(scores[i])
            if score < threshold:
                return None
            if rows.expires[i] > now:
                return SemanticMatch(rows.keys[i], score, rows.texts[i])
        return None

    async def add(
        self, partition: str, vector: Sequence[float], key: str, ttl_s: float | None, text: str = ""
    ) -> None:
        rows = self._parts.setdefault(partition, _Rows())
        self._parts.move_to_end(partition)
        self._compact(rows)
        expires = self.clock() + ttl_s if ttl_s else float("inf")
        rows.append(np.asarray(vector, dtype=np.float32), key, expires, text)
        self.size += 1
        while self.size > self.max_entries:
            self._evict_oldest()

    def _compact(self, rows: _Rows) -> None:
        now = self.clock()
        if rows.soonest > now:  # nothing expired: nothing to do
            return
        live = [i for i, t in enumerate(rows.expires) if t > now]
        self.size -= len(rows.keys) - len(live)
        rows.keep(live)

    def _evict_oldest(self) -> None:
        name, rows = next(iter(self._parts.items()))
        rows.keep(list(range(1, len(rows.keys))))
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
