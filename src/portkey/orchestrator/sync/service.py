"""The one door the CLI, the admin API and the scheduler use: lock -> record -> run -> record.

Synchronous (drivers are); async callers use ``asyncio.to_thread``. A run's lock lease is
renewed as batches land, so a crashed runner's lock expires and a killed one's is taken over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from portkey.errors import Conflict, GatewayError
from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.sync.history import History, new_holder, new_run_id
from portkey.orchestrator.sync.runner import Runner, RunResult

#: seconds between progress writes to the store (and lock renewals)
PROGRESS_EVERY_S = 1.0


class JobBusy(Conflict):
    """Another run of this job holds its lock."""


@dataclass(slots=True)
class Outcome:
    run_id: str
    result: RunResult


def begin(
    history: History, name: str, triggered_by: str, holder: str | None = None
) -> tuple[str, str]:
    """Take the job's lock and record a running run: (run id, holder); JobBusy if taken."""
    holder = holder or new_holder()
    run_id = new_run_id()
    if not history.lock(name, holder, run_id):
        raise JobBusy(f"sync {name!r} is already running", param=name, code="sync_running")
    history.start(run_id, name, triggered_by, holder)
    return run_id, holder


def run_job(
    settings: DataSettings,
    history: History,
    name: str,
    *,
    triggered_by: str = "manual",
    progress: Callable[[int, int], None] | None = None,
    begun: tuple[str, str] | None = None,
) -> Outcome:
    """Run ``name`` once under its lock and record it; a failure is recorded, then raised.

    ``begun`` is the (run id, holder) of a ``begin`` already done (the API answers with it)."""
    runner = Runner(settings)
    runner.job(name)  # NotFound before taking anything
    run_id, holder = begun or begin(history, name, triggered_by)
    last = [0.0]

    def on_progress(rows: int, nbytes: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            history.progress(run_id, rows, rows, nbytes)
            history.lock(name, holder, run_id)
        if progress is not None:
            progress(rows, nbytes)

    try:
        result = runner.run(name, on_progress)
    except BaseException as exc:
        message = exc.message if isinstance(exc, GatewayError) else f"{type(exc).__name__}: {exc}"
        history.finish(run_id, "failed", (0, 0, 0), [], None, message)
        history.unlock(name, holder)
        raise
    history.finish(
        run_id,
        result.status,
        (result.rows_read, result.rows_written, result.bytes),
        result.changes,
        result.verification,
        result.error,
    )
    history.unlock(name, holder)
    return Outcome(run_id, result)
