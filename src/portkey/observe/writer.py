"""The bounded queue of finished requests and the background task that writes them in batches.

``put`` never blocks and never raises: a full queue drops the record and counts it. The task
wakes every ``flush_interval_s`` (or as soon as a batch is full), turns records into rows and
writes them in a worker thread, updates the metrics there too, and runs the retention job.
A store that fails drops that batch (counted, logged once a minute): requests never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from portkey.observe.logstore import LogStore
from portkey.observe.record import Pending, resolve, to_row, wall_offset
from portkey.observe.settings import LogsSettings

log = logging.getLogger("portkey.observe")

Sink = Callable[[list[Pending]], None]


class LogWriter:
    def __init__(
        self,
        settings: LogsSettings,
        store: LogStore | None,
        sinks: list[Sink] | None = None,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        """``store`` None: records only feed the ``sinks`` (metrics), nothing is stored."""
        self.settings = settings
        self.store = store
        self.sinks = sinks or []
        self.on_drop = on_drop
        #: Pending records, or what ``resolve`` turns into one in the writer's thread
        self.queue: deque[Any] = deque()
        #: (item, keep bodies, wall_offset()) -> its record
        self.resolve: Callable[[Any, bool, float], Pending] = resolve
        #: ``record.wall_offset()`` as of the last batch (perf_counter -> epoch seconds)
        self.offset = wall_offset()
        self.dropped = 0
        self.written = 0
        self.failing: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_retention = 0.0
        self._last_warning = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def put(self, record: Any) -> None:
        queue = self.queue
        if len(queue) >= self.settings.queue_size:
            self._drop(1)
            return
        queue.append(record)
        if len(queue) == self.settings.batch_size:
            self._wake.set()

    def _drop(self, n: int) -> None:
        self.dropped += n
        if self.on_drop is not None:
            self.on_drop(n)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.flush_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await self._retention()

    async def flush(self) -> None:
        """Write everything queued now, a batch at a time."""
        while self.queue:
            n = min(len(self.queue), self.settings.batch_size)
            batch = [self.queue.popleft() for _ in range(n)]
            await asyncio.to_thread(self._write, batch)

    def _write(self, queued: list[Any]) -> None:
        resolve, keep = self.resolve, self.settings.bodies != "off"
        self.offset = offset = wall_offset()
        batch: list[Pending] = []
        for item in queued:
            try:
                batch.append(item if isinstance(item, Pending) else resolve(item, keep, offset))
            except Exception:
                log.exception("could not build a request log record")
        for sink in self.sinks:
            try:
                sink(batch)
            except Exception:
                log.exception("a log sink failed")
        if self.store is None:
            return
        policy, limit = self.settings.bodies, self.settings.max_body_bytes
        try:
            self.store.insert([to_row(p, policy, limit) for p in batch])
        except Exception as exc:
            self._drop(len(batch))
            self.failing = f"log store unavailable: {exc}"
            if time.monotonic() - self._last_warning > 60:
                self._last_warning = time.monotonic()
                log.warning("could not write %d request log(s), dropped: %s", len(batch), exc)
            return
        self.failing = None
        self.written += len(batch)

    async def _retention(self) -> None:
        retention = self.settings.retention
        if self.store is None or time.monotonic() - self._last_retention < retention.interval_s:
            return
        self._last_retention = time.monotonic()
        try:
            deleted = await asyncio.to_thread(
                self.store.enforce_retention, retention.max_age_days, retention.max_rows
            )
        except Exception as exc:
            log.warning("request log retention failed: %s", exc)
            return
        if deleted:
            log.info("request log retention deleted %d row(s)", deleted)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
