"""The in-process vector index: per partition, a matrix of unit vectors (and HNSW when large).

Partitions keep searches small (only questions that share everything but their wording are
compared), so most are searched exactly with one matrix product. A partition past
``exact_limit`` rows also gets an approximate index (usearch HNSW over int8 vectors), built
and extended in a worker thread; its candidates are re-scored exactly against the float32
rows, so the threshold is always checked on the true cosine. Rows newer than the HNSW index
(its "tail") are scanned exactly, so a fresh entry is found at once.

Entries expire by TTL (skipped on read, compacted on write) and the whole index is bounded:
past ``max_entries`` the least recently written partition loses its oldest rows first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from portkey.cache.base import SemanticMatch
from portkey.cache.semantic.ann import Ann

log = logging.getLogger("portkey.cache")
DIMENSIONS = 384
CANDIDATES = 8  # best rows looked at per search (some may have expired)
TAIL_BATCH = 256  # rows newer than the HNSW index before they are added to it


class _Rows:
    """One partition: rows in insertion order; the oldest are dropped by moving ``start``."""

    __slots__ = (
        "ann", "ann_upto", "buffer", "busy", "expires", "generation", "keys", "n", "soonest",
        "start", "texts", "writes",
    )  # fmt: skip

    def __init__(self) -> None:
        self.buffer = np.zeros((16, DIMENSIONS), np.float32)
        self.expires = np.zeros(16, np.float64)
        self.keys: list[str | None] = []
        self.texts: list[str] = []
        self.start = 0  # rows before it are evicted
        self.n = 0  # rows after it are unused
        self.soonest = float("inf")  # the earliest expiry held
        self.ann: Ann | None = None  # HNSW over rows [.., ann_upto), labels = row positions
        self.ann_upto = 0
        self.busy = False  # an HNSW build or extension is running in a worker thread
        self.generation = 0  # bumped when rows move (compaction): stale HNSW work is dropped
        self.writes = 0

    @property
    def live(self) -> int:
        return self.n - self.start

    def append(self, vector: np.ndarray, key: str, expires: float, text: str) -> None:
        if self.n == len(self.buffer):
            if self.start > self.n // 2:
                self.keep(np.arange(self.start, self.n))
            else:
                self.buffer = _grown(self.buffer, 2 * len(self.buffer))
                self.expires = _grown(self.expires, 2 * len(self.expires))
        self.buffer[self.n] = vector
        self.expires[self.n] = expires
        self.keys.append(key)
        self.texts.append(text)
        self.n += 1
        self.soonest = min(self.soonest, expires)
        self.writes += 1

    def drop_oldest(self, count: int) -> None:
        for i in range(self.start, self.start + count):
            self.keys[i] = None
            self.texts[i] = ""
        self.start += count

    def keep(self, rows: np.ndarray) -> None:
        """Keep only these row positions, renumbered from 0 (the HNSW index is dropped)."""
        size = max(16, 2 * len(rows))
        self.buffer = _grown(self.buffer[rows], size)
        self.expires = _grown(self.expires[rows], size)
        self.keys = [self.keys[i] for i in rows]
        self.texts = [self.texts[i] for i in rows]
        self.start, self.n = 0, len(rows)
        self.soonest = float(self.expires[: self.n].min()) if self.n else float("inf")
        self.ann, self.ann_upto = None, 0
        self.generation += 1

    def best(self, vector: np.ndarray, threshold: float, now: float) -> int | None:
        """The position of the most similar live row with cosine >= threshold."""
        candidates: list[np.ndarray] = []
        tail_from = self.start
        if self.ann is not None and self.ann_upto > self.start:
            labels = self.ann.search(vector, CANDIDATES)
            candidates.append(labels[labels >= self.start])
            tail_from = self.ann_upto
        if tail_from < self.n:
            scores = self.buffer[tail_from : self.n] @ vector
            if len(scores) > CANDIDATES:
                top = np.argpartition(-scores, CANDIDATES - 1)[:CANDIDATES]
            else:
                top = np.arange(len(scores))
            candidates.append(top + tail_from)
        rows = np.unique(np.concatenate(candidates)) if candidates else np.empty(0, np.int64)
        if not len(rows):
            return None
        scores = self.buffer[rows] @ vector  # exact cosine for every candidate
        for i in np.argsort(-scores):
            if scores[i] < threshold:
                return None
            if self.expires[rows[i]] > now:
                return int(rows[i])
        return None


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    grown = np.zeros((rows, *array.shape[1:]), array.dtype)
    grown[: len(array)] = array
    return grown


class MemoryIndex:
    def __init__(
        self,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
        exact_limit: int = 4096,
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.exact_limit = exact_limit
        self._parts: OrderedDict[str, _Rows] = OrderedDict()
        self._work: set[asyncio.Task[None]] = set()
        self.size = 0

    async def search(
        self, partition: str, vector: Sequence[float], threshold: float
    ) -> SemanticMatch | None:
        rows = self._parts.get(partition)
        if rows is None or not rows.live:
            return None
        query = np.asarray(vector, dtype=np.float32)
        found = rows.best(query, threshold, self.clock())
        if found is None:
            return None
        key = rows.keys[found]
        assert key is not None
        return SemanticMatch(key, float(rows.buffer[found] @ query), rows.texts[found])

    async def add(
        self, partition: str, vector: Sequence[float], key: str, ttl_s: float | None, text: str = ""
    ) -> None:
        rows = self._parts.get(partition)
        if rows is None:
            rows = self._parts[partition] = _Rows()
        self._parts.move_to_end(partition)
        self._compact(rows)
        expires = self.clock() + ttl_s if ttl_s else float("inf")
        rows.append(np.asarray(vector, dtype=np.float32), key, expires, text)
        self.size += 1
        self._evict()
        self._extend_ann(rows)

    def _compact(self, rows: _Rows) -> None:
        """Drop expired rows: at once in small partitions, in bulk in large ones."""
        now = self.clock()
        if rows.soonest > now:  # nothing expired: nothing to do
            return
        if rows.live > self.exact_limit and rows.writes % max(16, rows.live // 64):
            return  # large: look again in a while (expired rows are skipped on read)
        alive = np.flatnonzero(rows.expires[rows.start : rows.n] > now) + rows.start
        dead = rows.live - len(alive)
        if rows.live > self.exact_limit and dead * 4 < rows.live:
            rows.soonest = now + 1.0  # too few to be worth rebuilding the HNSW index
            return
        self.size -= dead
        rows.keep(alive)

    def _evict(self) -> None:
        while self.size > self.max_entries:
            name, rows = next(iter(self._parts.items()))
            count = min(rows.live, self.size - self.max_entries)
            rows.drop_oldest(count)
            self.size -= count
            if not rows.live:
                del self._parts[name]
            elif rows.start > rows.live:  # mostly evicted: reclaim the space
                rows.keep(np.arange(rows.start, rows.n))

    def _extend_ann(self, rows: _Rows) -> None:
        """Build or extend the partition's HNSW index in a worker thread, once it pays."""
        if rows.busy or rows.live <= self.exact_limit:
            return
        if rows.ann is not None and rows.n - rows.ann_upto < TAIL_BATCH:
            return
        upto, generation = rows.n, rows.generation
        if rows.ann is not None and rows.ann.fits(upto - rows.ann_upto):
            ann, first = rows.ann, rows.ann_upto  # extended in place, searched meanwhile
        else:  # a new index, swapped in when built (the old one serves until then)
            ann, first = Ann(DIMENSIONS), rows.start
        vectors = rows.buffer[first:upto].copy()
        rows.busy = True

        async def extend() -> None:
            try:
                await asyncio.to_thread(ann.add, np.arange(first, upto), vectors)
            except Exception:
                log.exception("cache: building the semantic HNSW index failed")
                return
            finally:
                rows.busy = False
            if rows.generation == generation:  # rows did not move meanwhile
                rows.ann, rows.ann_upto = ann, upto
                self._extend_ann(rows)

        task = asyncio.get_running_loop().create_task(extend())
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def settle(self) -> None:
        """Wait for HNSW work in flight (benchmarks and tests)."""
        while self._work:
            await asyncio.gather(*self._work, return_exceptions=True)

    async def purge(self, prefix: str = "") -> int:
        doomed = [name for name in self._parts if name.startswith(prefix)]
        count = sum(self._parts[name].live for name in doomed)
        for name in doomed:
            del self._parts[name]
        self.size -= count
        return count

    async def close(self) -> None:
        self._parts.clear()
        self.size = 0
