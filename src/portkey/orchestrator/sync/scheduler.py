"""Runs scheduled sync jobs: each cron slot of each job once across every replica.

Each tick, for each job with a ``schedule``, the latest slot at or before now (and after this
scheduler started) is claimed in the store by compare-and-set; only the claimer runs it, and
under the job's lock, so a long run is never started twice either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter

from portkey.errors import GatewayError
from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.sync.history import History, new_holder
from portkey.orchestrator.sync.service import JobBusy, begin, run_job

log = logging.getLogger("portkey.sync")


class Scheduler:
    def __init__(
        self,
        settings: Callable[[], DataSettings],
        history: History,
        *,
        since: float | None = None,
        interval_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.history = history
        self.holder = new_holder()
        self.since = since if since is not None else datetime.now(UTC).timestamp()
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self, now: float) -> list[tuple[str, float]]:
        """(job, slot) pairs due at ``now`` that this scheduler has not seen pass yet."""
        out = []
        for name, job in self.settings().syncs.items():
            if job.schedule is None:
                continue
            base = datetime.fromtimestamp(now, UTC)
            slot = float(croniter(job.schedule, base).get_prev(float))
            if croniter.match(job.schedule, base):
                slot = float(int(now // 60) * 60)
            if slot >= self.since - 60:
                out.append((name, slot))
        return out

    def tick(self, now: float | None = None) -> list[str]:
        """Claim and run what is due; returns the run ids started here."""
        now = now if now is not None else datetime.now(UTC).timestamp()
        started = []
        for name, slot in self.due(now):
            if not self.history.claim_slot(name, slot):
                continue
            try:
                begun = begin(self.history, name, "schedule", self.holder)
                outcome = run_job(self.settings(), self.history, name, begun=begun)
                started.append(outcome.run_id)
            except JobBusy:
                log.info("sync %s: slot %s skipped, a run is still going", name, slot)
            except GatewayError as exc:
                log.warning("sync %s failed: %s", name, exc.message)
            except Exception:
                log.exception("sync %s failed", name)
        return started

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="portkey-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("sync scheduler tick failed")
            self._stop.wait(self.interval_s)
