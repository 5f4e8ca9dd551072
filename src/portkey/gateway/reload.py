"""Hot reload: on SIGHUP or when the file changes, compile anew and swap the runtime whole.

In-flight requests keep the runtime they started with; a bad file is refused, logged,
and the old runtime stays in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from portkey.config.loader import ConfigError
from portkey.gateway.runtime import RuntimeHolder

log = logging.getLogger("portkey.reload")
SETTLE_S = 0.1


class Reloader:
    def __init__(self, holder: RuntimeHolder, on_reload: Callable[[], None] | None = None) -> None:
        self.holder = holder
        self.on_reload = on_reload
        self._task: asyncio.Task[None] | None = None
        self._mtime = self._stat()
        self.failures = 0

    def _stat(self) -> tuple[int, int] | None:
        path = self.holder.path
        try:
            stat = path.stat() if path else None
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size) if stat else None

    def start(self) -> None:
        if self.holder.path is None:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        settings = self.holder.current.file.server.reload
        if settings.watch:
            self._task = loop.create_task(self._watch(settings.interval_s))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    async def _watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            seen = self._stat()
            if seen is None or seen == self._mtime:
                continue
            # a writer may be mid-way (truncate, then write): wait until the file settles
            await asyncio.sleep(SETTLE_S)
            if self._stat() == seen:
                self._mtime = seen
                self.reload()

    def reload(self) -> bool:
        try:
            self.holder.reload()
        except ConfigError as exc:
            self.failures += 1
            log.error("config reload refused, keeping the running config: %s", exc)
            return False
        self._mtime = self._stat()
        log.info("config reloaded from %s", self.holder.path)
        if self.on_reload is not None:
            self.on_reload()
        return True
