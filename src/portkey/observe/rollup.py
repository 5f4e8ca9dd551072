"""Per-minute rollups of ``request_logs``, so a day of analytics reads thousands of rows, not millions.

A minute is rolled up once it is *settled* (``SETTLE_S`` old); each refresh rebuilds the last
``LOOKBACK_S`` of rolled-up minutes too, so a row the writer flushes late (a long stream is
logged when it ends, stamped with its start) still counts. A row written more than
``LOOKBACK_S`` after it started is missed by the rollups (it stays in the log). Rollups older
than the oldest log row are dropped with it (retention), so analytics never outlive the log.

Counts and sums are exact. Latency is kept as a histogram of log-spaced bins (5 % wide), so
percentiles read from rollups are within 2.5 % of the exact ones.

The observe service runs ``RollupJob``: ``Rollups.catch_up`` every ``REFRESH_S`` in a worker
thread, so analytics calls find the rollups ready (a store that already holds a million rows is
back-filled there, a ``STEP_S`` transaction at a time, not in the first analytics call). An
analytics call still refreshes on demand when the job is behind (at most every ``REFRESH_S``
per process: ``Rollups.of`` shares one instance per database). Each step is one transaction
(PostgreSQL: under an advisory lock), so replicas never double count. numpy is imported only
when analytics sums histograms, not at the gateway's start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from portkey.store.db import Database, Tx

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("portkey.observe")

SETTLE_S = 120
LOOKBACK_S = 900
REFRESH_S = 30
#: at most this much log is rolled up per transaction (a first backfill goes in steps)
STEP_S = 3600
RATIO = 1.05
#: bins from 1 µs up, 5 % wide: the last one (past ~60 days) holds everything slower
BINS = 600
LOCK_ID = 804_217_735
DIMS = ("api_key_id", "virtual_key")
HITS = "cache_status IN ('HIT', 'SEMANTIC HIT')"
#: an error is what a provider outage looks like: 5xx, 429, 408 (as alerts count them)
ERROR = "(status >= 500 OR status = 429 OR status = 408)"
_LN = math.log(RATIO)
_CHUNK = 200


def latency_bin(ms: float) -> int:
    """The histogram bin of a latency: 0 for up to 1 µs, then 5 % wider each, capped."""
    return min(BINS - 1, max(0, math.floor(math.log(max(ms, 0.001) / 0.001) / _LN)))


def bin_value(index: int) -> float:
    """The bin's geometric middle: within 2.5 % of every value in the bin."""
    return float(0.001 * RATIO ** (index + 0.5))


def encode(hist: Mapping[int, int]) -> str:
    """A histogram as JSON ``[first bin, count, count...]`` (dense from the first bin)."""
    if not hist:
        return ""
    low, high = min(hist), max(hist)
    return orjson.dumps([low, *(hist.get(i, 0) for i in range(low, high + 1))]).decode()


class Histograms:
    """Histograms per group, summed at the end in one vectorised pass (numpy ``bincount``):
    per encoded row only a JSON parse and a few appends happen in Python."""

    def __init__(self) -> None:
        self.keys: dict[tuple[Any, ...], int] = {}
        self._flat: list[int] = []
        self._starts: list[int] = []  # group * BINS + first bin, per encoded row
        self._lengths: list[int] = []
        self._singles: list[int] = []  # group * BINS + bin, per single value
        #: encoded texts numpy parses in ``summed``; per histogram in them: group, numbers
        self._texts: list[str] = []
        self._owners: list[int] = []
        self._sizes: list[int] = []

    def _group(self, key: tuple[Any, ...]) -> int:
        return self.keys.setdefault(key, len(self.keys))

    def add_encoded(self, key: tuple[Any, ...], text: str) -> None:
        """Add ``text``: one encoded histogram, or a JSON list of them."""
        if not text:
            return
        parsed = orjson.loads(text)
        group = self._group(key)
        hists = parsed if parsed and isinstance(parsed[0], list) else [parsed]
        if all(hists):  # the common case: numpy parses the numbers, not a Python list
            self._texts.append(text)
            self._owners.extend([group] * len(hists))
            self._sizes.extend(map(len, hists))
            return
        base = group * BINS
        for counts in hists:
            if counts:
                self._starts.append(base + counts[0])
                self._lengths.append(len(counts) - 1)
                self._flat.extend(counts[1:])

    def add(self, key: tuple[Any, ...], ms: float) -> None:
        self._singles.append(self._group(key) * BINS + latency_bin(ms))

    def summed(self) -> dict[tuple[Any, ...], np.ndarray[Any, np.dtype[np.int64]]]:
        import numpy as np  # only when analytics runs

        size = len(self.keys) * BINS
        total = np.bincount(np.asarray(self._singles, dtype=np.int64), minlength=size)
        if self._flat:
            lengths = np.asarray(self._lengths, dtype=np.int64)
            first = np.cumsum(lengths) - lengths  # where each row's counts begin in _flat
            index = np.repeat(np.asarray(self._starts, dtype=np.int64) - first, lengths)
            index += np.arange(len(self._flat), dtype=np.int64)
            total = total + np.bincount(
                index, weights=np.asarray(self._flat, dtype=np.float64), minlength=size
            ).astype(np.int64)
        if self._texts:
            total = total + self._parsed_counts(size)
        dense = total.reshape(len(self.keys), BINS) if self.keys else total.reshape(0, BINS)
        return {key: dense[group] for key, group in self.keys.items()}

    def _parsed_counts(self, size: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The counts of every text ``add_encoded`` kept, per group and bin: the texts'
        numbers parsed by numpy at once, each histogram's first number its first bin."""
        import numpy as np

        numbers = ",".join(t.replace("[", "").replace("]", "") for t in self._texts)
        flat = np.fromstring(numbers, dtype=np.int64, sep=",")
        sizes = np.asarray(self._sizes, dtype=np.int64)
        if len(flat) != int(sizes.sum()):
            raise ValueError("malformed latency histogram")
        heads = np.cumsum(sizes) - sizes  # where each histogram starts in flat
        counted = sizes - 1
        owner = np.repeat(np.arange(len(sizes)), counted)  # the histogram of each count
        offset = np.arange(int(counted.sum())) - np.repeat(np.cumsum(counted) - counted, counted)
        first = np.asarray(self._owners, dtype=np.int64) * BINS + flat[heads]
        keep = np.ones(len(flat), dtype=bool)
        keep[heads] = False
        weights = flat[keep].astype(np.float64)
        return np.bincount(first[owner] + offset, weights=weights, minlength=size).astype(np.int64)


def percentiles(hist: np.ndarray[Any, np.dtype[np.int64]], pcts: Iterable[int]) -> list[float]:
    """Nearest-rank percentiles of a histogram: the middle of the bin holding each rank."""
    import numpy as np  # only when analytics runs

    cumulative = np.cumsum(hist)
    total = int(cumulative[-1])
    ranks = [math.ceil(p * total / 100) for p in pcts]
    return [bin_value(int(i)) for i in np.searchsorted(cumulative, ranks, side="left")]


_SHARED: weakref.WeakKeyDictionary[Any, Rollups] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


class Rollups:
    """The rollup tables of one log database, and how far they reach."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._checked = -math.inf
        self.rolled_to: float | None = None

    @classmethod
    def of(cls, db: Database) -> Rollups:
        """The process's one ``Rollups`` of ``db`` (the job and analytics calls share it)."""
        with _SHARED_LOCK:
            found = _SHARED.get(db)
            if found is None:
                found = _SHARED[db] = cls(db)
            return found

    def catch_up(self, now: float | None = None, stop: threading.Event | None = None) -> bool:
        """Roll up every settled minute now, one ``STEP_S`` transaction at a time; True when
        caught up. The lock is let go between steps (analytics calls are not held up behind a
        long backfill), and ``stop`` set ends it after the current step."""
        while stop is None or not stop.is_set():
            at = time.time() if now is None else now
            with self._lock:
                target = math.floor((at - SETTLE_S) / 60) * 60
                with self.db.transaction() as tx:
                    done, reached = self._step(tx, float(target))
                self.rolled_to = reached  # committed: readers without the lock may use it
                if done:
                    self._checked = at
                    return True
        return False

    def refresh(self, now: float | None = None, force: bool = False) -> float | None:
        """Roll settled minutes up (at most every ``REFRESH_S``); returns ``rolled_to``.

        A backfill (a log older than the rollups) goes one ``STEP_S`` per call, so no query
        waits on it for long; ``force`` refreshes now and catches up completely. Unforced,
        it never waits: while another thread (the job) is rolling up, it returns how far the
        rollups reach now, and the caller reads the minutes past that from the log."""
        now = time.time() if now is None else now
        if not force and now - self._checked < REFRESH_S:
            return self.rolled_to
        # the first call waits (it has no rollups to read yet); later ones never do
        if not self._lock.acquire(blocking=force or self.rolled_to is None):
            return self.rolled_to
        try:
            if not force and now - self._checked < REFRESH_S:
                return self.rolled_to
            target = math.floor((now - SETTLE_S) / 60) * 60
            while True:
                with self.db.transaction() as tx:
                    done, reached = self._step(tx, float(target))
                self.rolled_to = reached
                if done or not force:  # a backfill: one step per call, the rest read raw
                    break
            if done:
                self._checked = now
            return self.rolled_to
        finally:
            self._lock.release()

    def _step(self, tx: Tx, target: float) -> tuple[bool, float | None]:
        """One transaction: rebuild [start, end) and move ``rolled_to``; whether it caught
        up, and how far the rollups reach once it commits."""
        if self.db.dialect == "postgres":
            tx.query("SELECT pg_advisory_xact_lock(?)", (LOCK_ID,))
        state = tx.query("SELECT value FROM analytics_state WHERE name = 'rolled_to'")
        oldest = tx.query("SELECT MIN(ts) FROM request_logs")[0][0]
        if oldest is None:  # an empty log (retention took everything): nothing to keep
            for table in ("request_log_minutes", "request_log_minute_dims"):
                tx.execute(f"DELETE FROM {table}")
            return True, float(state[0][0]) if state else None
        floor = math.floor(float(oldest) / 60) * 60
        tx.execute("DELETE FROM request_log_minutes WHERE minute < ?", (floor,))
        tx.execute("DELETE FROM request_log_minute_dims WHERE minute < ?", (floor,))
        start = max(floor, float(state[0][0]) - LOOKBACK_S) if state else floor
        end = min(target, start + STEP_S)
        if end > start:
            self._rebuild(tx, start, end)
        reached = max(end, float(state[0][0])) if state else end
        tx.execute("DELETE FROM analytics_state WHERE name = 'rolled_to'")
        tx.execute("INSERT INTO analytics_state (name, value) VALUES ('rolled_to', ?)", (reached,))
        return end >= target, reached

    def _rebuild(self, tx: Tx, start: float, end: float) -> None:
        minute = (
            "CAST(FLOOR(ts / 60) AS BIGINT) * 60"
            if self.db.dialect == "postgres"
            else "CAST(ts / 60 AS INTEGER) * 60"
        )
        span = (start, end)
        for table in ("request_log_minutes", "request_log_minute_dims"):
            tx.execute(
                f"DELETE FROM {table} WHERE minute >= ? AND minute < ?", (int(start), int(end))
            )
        sums = tx.query(
            f"SELECT {minute} AS m, COALESCE(provider, ''), COALESCE(model, ''), COUNT(*), "
            f"SUM(CASE WHEN {ERROR} THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN cache_status <> 'DISABLED' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {HITS} THEN 1 ELSE 0 END), COALESCE(SUM(cost_usd), 0), "
            "SUM(prompt_tokens + completion_tokens) "
            "FROM request_logs WHERE ts >= ? AND ts < ? GROUP BY m, 2, 3",
            span,
        )
        hists: dict[tuple[Any, ...], Counter[int]] = defaultdict(Counter)
        for ts, provider, model, ms in tx.query(
            "SELECT ts, provider, COALESCE(model, ''), latency_ms FROM request_logs "
            f"WHERE ts >= ? AND ts < ? AND provider IS NOT NULL AND status < 400 "
            f"AND NOT ({HITS})",
            span,
        ):
            hists[(math.floor(ts / 60) * 60, provider, model)][latency_bin(ms)] += 1
        rows = [
            (int(m), p, mo, n, e, lk, h, float(c), int(t or 0),
             encode(hists.get((int(m), p, mo), {})))
            for m, p, mo, n, e, lk, h, c, t in sums
        ]  # fmt: skip
        _insert(tx, "request_log_minutes", 10, rows)
        for dim in DIMS:
            dim_rows = tx.query(
                f"SELECT {minute} AS m, COALESCE({dim}, ''), COUNT(*), "
                "SUM(prompt_tokens + completion_tokens), COALESCE(SUM(cost_usd), 0) "
                f"FROM request_logs WHERE ts >= ? AND ts < ? GROUP BY m, 2",
                span,
            )
            _insert(tx, "request_log_minute_dims", 6, [(dim, *row) for row in dim_rows])


def _insert(tx: Tx, table: str, width: int, rows: Sequence[Sequence[Any]]) -> None:
    one = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        tx.execute(
            f"INSERT INTO {table} VALUES " + ", ".join([one] * len(chunk)),
            [v for row in chunk for v in row],
        )


class RollupJob:
    """``rollups.catch_up`` every ``interval_s`` in a worker thread, from ``start`` to ``close``
    (the observe service's lifecycle), so analytics find the rollups ready."""

    def __init__(self, rollups: Rollups, interval_s: float = REFRESH_S) -> None:
        self.rollups = rollups
        self.interval_s = interval_s
        #: completed catch-ups (for /ready and tests)
        self.runs = 0
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: asyncio.Future[bool] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            self._running = loop.run_in_executor(None, self.rollups.catch_up, None, self._stop)
            try:
                if await asyncio.shield(self._running):
                    self.runs += 1
            except Exception as exc:  # a failing store: try again next time
                log.warning("rollup refresh failed: %s", exc)
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        """Stop the job; returns once its thread has finished the step it was in."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running is not None and not self._running.done():
            with contextlib.suppress(Exception):
                await self._running
