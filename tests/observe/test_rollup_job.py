"""The rollup job: with rows in the log and the job running, the rollups get built without any
analytics call (a backfill of several ``STEP_S`` steps included); closing the job, or the
observe service that runs it, stops it. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from portkey.observe.logstore import LogStore
from portkey.observe.record import COLUMNS, new_id
from portkey.observe.rollup import STEP_S, RollupJob, Rollups
from portkey.observe.service import ObserveService
from portkey.observe.settings import AlertsSettings, HealthSettings, LogsSettings, MetricsSettings
from portkey.store.db import Database


def write_rows(db: Database, start: float, n: int, step_s: float) -> list[float]:
    """``n`` answered requests from ``start`` on, ``step_s`` apart; their timestamps."""
    stamps = [start + i * step_s for i in range(n)]
    rows = []
    for i, ts in enumerate(stamps):
        row = dict.fromkeys(COLUMNS)
        row.update(
            id=new_id(ts), trace_id=f"t{i}", ts=ts, route="/v1/chat/completions",
            provider="openai", model="gpt-4o" if i % 2 else "gpt-4o-mini", status=200,
            target="config", retries=0, attempts="[]", cache_status="DISABLED", stream=0,
            prompt_tokens=3, completion_tokens=2, cached_tokens=0, reasoning_tokens=0,
            cost_usd=0.001, latency_ms=5.0 + i, overhead_ms=0.5, metadata="{}",
        )  # fmt: skip
        rows.append(tuple(row[c] for c in COLUMNS))
    LogStore(db).insert(rows)
    return stamps


def rolled_up(db: Database) -> tuple[int, float]:
    """(requests, cost) summed over every rollup row."""
    with db.transaction() as tx:
        n, cost = tx.query("SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(cost_usd), 0) "
                           "FROM request_log_minutes")[0]  # fmt: skip
    return int(n), float(cost)


async def until(predicate: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_job_builds_rollups_without_an_analytics_call(db: Database) -> None:
    # three hours of settled log: a backfill of more than one STEP_S transaction
    start = time.time() - 3 * STEP_S - 600
    stamps = write_rows(db, start, 90, (3 * STEP_S) / 90)
    assert rolled_up(db) == (0, 0.0)
    job = RollupJob(Rollups.of(db), interval_s=0.05)
    job.start()
    try:
        await until(lambda: job.runs >= 1)
        n, cost = rolled_up(db)
        assert n == len(stamps) and cost == pytest.approx(0.001 * len(stamps))
        reached = Rollups.of(db).rolled_to
        assert reached is not None and reached > stamps[-1]
        # later rows are rolled up by the next runs, still with no analytics call
        write_rows(db, time.time() - 400, 10, 1.0)
        await until(lambda: rolled_up(db)[0] == len(stamps) + 10)
    finally:
        await job.close()
    assert job._task is not None and job._task.done()
    runs = job.runs
    write_rows(db, time.time() - 300, 5, 1.0)
    await asyncio.sleep(0.3)
    assert job.runs == runs and rolled_up(db)[0] == len(stamps) + 10  # stopped: no more runs


async def test_the_observe_service_runs_the_job_and_stops_it_on_close(db: Database) -> None:
    stamps = write_rows(db, time.time() - 900, 20, 10.0)
    file = SimpleNamespace(
        logs=LogsSettings(flush_interval_s=60, rollup_interval_s=0.05),
        metrics=MetricsSettings(enabled=False),
        alerts=AlertsSettings(), health=HealthSettings(), prices={},
    )  # fmt: skip
    holder = SimpleNamespace(current=SimpleNamespace(file=file))
    service = await ObserveService.start(holder, db)
    assert isinstance(service, ObserveService) and service.rollup_job is not None
    job = service.rollup_job
    try:
        await until(lambda: rolled_up(db)[0] == len(stamps))
    finally:
        await service.close()
    assert job._task is not None and job._task.done()
