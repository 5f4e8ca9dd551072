"""Usage per caller API key and day, counted in memory and written in batches off the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("portkey.control")

UsageRow = tuple[str, str, int, int, float]  # key id, UTC day, requests, tokens, usd
Flush = Callable[[list[UsageRow]], Awaitable[None]]


class UsageMeter:
    def __init__(self, flush: Flush, interval_s: float = 1.0) -> None:
        self._flush = flush
        self._interval = interval_s
        self._pending: dict[tuple[str, str], list[float]] = {}
        self._task: asyncio.Task[None] | None = None

    def record(self, key_id: str, tokens: int, usd: float, now: float | None = None) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))
        row = self._pending.get((key_id, day))
        if row is None:
            self._pending[(key_id, day)] = [1, tokens, usd]
        else:
            row[0] += 1
            row[1] += tokens
            row[2] += usd
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        rows = [(k, d, int(r[0]), int(r[1]), float(r[2])) for (k, d), r in batch.items()]
        try:
            await self._flush(rows)
        except Exception as exc:  # keep the counts for the next try; never raise into requests
            log.warning("could not write key usage (kept for the next try): %s", exc)
            for (k, d), r in batch.items():
                merged = self._pending.setdefault((k, d), [0, 0, 0.0])
                for i in range(3):
                    merged[i] += r[i]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
