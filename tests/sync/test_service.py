"""Schedulers racing, job locks, the CLI's status/history, and the ``/admin/syncs`` API."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import httpx
import pytest
from tests.support import GatewayServer, wait_for
from tests.sync.conftest import ADMIN_KEY, PG_DSN, Env

from portkey.orchestrator.sync.history import History
from portkey.orchestrator.sync.scheduler import Scheduler
from portkey.orchestrator.sync.service import JobBusy, run_job
from portkey.store.db import PostgresDatabase, SqliteDatabase


def _table(env: Env) -> None:
    env.pg.execute(f"CREATE TABLE {env.schema}.src (id int, v text)")
    env.pg.execute(
        f"INSERT INTO {env.schema}.src SELECT g, 'v' || g FROM generate_series(1, 500) g"
    )


def _job(env: Env, **extra: object) -> dict[str, object]:
    return {
        "source": {"engine": "pg", "table": f"{env.schema}.src"},
        "target": {"engine": "lite", "table": "dst"},
        **extra,
    }


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_two_schedulers_racing_run_a_slot_once(env: Env, store: str) -> None:
    _table(env)
    settings = env.settings(every5=_job(env, schedule="*/5 * * * *"), manual=_job(env))

    if store == "postgres":  # this test's own store: tables in its schema only
        dsn = f"{PG_DSN}?options=-csearch_path%3D{env.schema}"
        stores = [History(PostgresDatabase(dsn)) for _ in range(2)]
    else:
        stores = [History(SqliteDatabase(env.tmp / "portkey.db")) for _ in range(2)]
    since = datetime(2026, 1, 1, 0, 0, tzinfo=UTC).timestamp()
    schedulers = [Scheduler(lambda: settings, h, since=since) for h in stores]
    slot = datetime(2026, 1, 1, 0, 5, 0, tzinfo=UTC).timestamp()
    started: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def tick(i: int, now: float) -> None:
        barrier.wait()
        started[i] += schedulers[i].tick(now)

    for now in (slot + 1, slot + 30, slot + 299):  # three ticks inside the same slot
        threads = [threading.Thread(target=tick, args=(i, now)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(len(s) for s in started) == [0, 1]
    runs = stores[0].runs("every5")
    assert [(r.status, r.triggered_by, r.rows_written) for r in runs] == [
        ("succeeded", "schedule", 500)
    ]
    assert stores[0].runs("manual") == []  # no schedule: never run by the scheduler
    # the next slot runs again, once
    started = [[], []]
    threads = [threading.Thread(target=tick, args=(i, slot + 301)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(s) for s in started) == [0, 1]
    assert len(stores[0].runs("every5")) == 2


def test_a_running_job_cannot_start_twice(env: Env) -> None:
    _table(env)
    settings = env.settings(j=_job(env))
    history = env.history()
    assert history.lock("j", "otherhost:1:abcd", "r1")  # a live holder elsewhere
    with pytest.raises(JobBusy, match="already running"):
        run_job(settings, history, "j")
    history.unlock("j", "otherhost:1:abcd")
    assert run_job(settings, history, "j").result.status == "succeeded"


def test_cli_status_and_history(env: Env) -> None:
    _table(env)
    env.config(j=_job(env, schedule="0 * * * *"), k=_job(env))
    out = env.cli("run", "j").stdout.decode()
    assert "succeeded j: 500 rows read, 500 written" in out and "create table dst" in out
    status = json.loads(env.cli("status", "--json").stdout)
    assert [
        (s["job"], s["schedule"], s["last_run"] and s["last_run"]["status"]) for s in status
    ] == [
        ("j", "0 * * * *", "succeeded"),
        ("k", None, None),
    ]
    text = env.cli("status").stdout.decode()
    assert "j" in text and "manual" in text and "never" in text
    runs = json.loads(env.cli("history", "j", "--json").stdout)
    assert len(runs) == 1 and runs[0]["rows_read"] == 500 and runs[0]["bytes"] > 0
    env.pg.execute(f"ALTER TABLE {env.schema}.src ALTER v TYPE int USING id")
    failed = env.cli("run", "j", check=False)
    assert failed.returncode == 1 and "incompatible change" in failed.stderr.decode()
    runs = json.loads(env.cli("history", "j", "--json").stdout)
    assert runs[0]["status"] == "failed" and "column v: incompatible change" in runs[0]["error"]


def test_admin_api(env: Env) -> None:
    _table(env)
    path = env.config(j=_job(env, verify="checksums"))
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with GatewayServer(path) as gw, httpx.Client(base_url=gw.url, headers=auth) as http:
        listed = http.get("/admin/syncs").json()
        assert [j["name"] for j in listed["data"]] == ["j"] and listed["data"][0][
            "last_run"
        ] is None
        plan = http.get("/admin/syncs/j/plan").json()
        assert plan["create"] is True and plan["errors"] == []
        started = http.post("/admin/syncs/j/runs")
        assert started.status_code == 202
        run_id = started.json()["id"]

        def finished() -> dict[str, object] | None:
            record = http.get(f"/admin/syncs/j/runs/{run_id}").json()
            return record if record["status"] != "running" else None

        record = wait_for(finished, within_s=30, what="the run to finish")
        assert record["status"] == "succeeded" and record["rows_written"] == 500
        assert record["verification"]["differing_ranges"] == []
        assert http.get("/admin/syncs/j/runs").json()["data"][0]["id"] == run_id
        for url, status, code in [
            ("/admin/syncs/nope/plan", 404, "unknown_sync"),
            ("/admin/syncs/j/runs?limit=0", 400, "invalid_request_error"),
            ("/admin/syncs/j/runs/nope", 404, "not_found_error"),
        ]:
            answer = http.get(url)
            assert answer.status_code == status, answer.text
            assert answer.json()["error"]["code"] == code
        assert httpx.get(gw.url + "/admin/syncs").status_code == 401
        assert env.history().lock("j", "otherhost:1:abcd", "r1")  # a replica elsewhere runs it
        busy = http.post("/admin/syncs/j/runs")
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "sync_running"


def test_the_gateway_runs_scheduled_jobs(env: Env) -> None:
    """`portkey serve` starts the scheduler when a job has a schedule: the slot runs once."""
    _table(env)
    path = env.config(every_minute=_job(env, schedule="* * * * *"))
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with GatewayServer(path) as gw, httpx.Client(base_url=gw.url, headers=auth) as http:
        assert gw.app.gateway.scheduler is not None

        def ran() -> dict[str, object] | None:
            runs = http.get("/admin/syncs/every_minute/runs").json()["data"]
            done = [r for r in runs if r["status"] != "running"]
            return done[0] if done else None

        record = wait_for(ran, within_s=60, what="the scheduled run")
        assert record["status"] == "succeeded" and record["triggered_by"] == "schedule"
        assert record["rows_written"] == 500
    assert [r.id for r in env.history().runs("every_minute")] == [record["id"]]  # once
