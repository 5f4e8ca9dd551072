"""kill -9 a ``portkey sync run`` mid-run, run again: the target holds exactly the source's rows."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

import psycopg
import pytest
from tests.support import wait_for
from tests.sync.conftest import PG_DSN, PORTKEY, Env

ROWS = 400_000


def _source(env: Env, first: int, last: int) -> None:
    env.pg.execute(
        f"INSERT INTO {env.schema}.big SELECT g, 'row ' || g || repeat('x', 40) "
        f"FROM generate_series({first}, {last}) g"
    )


def _progress(env: Env, pid: int) -> int:
    path = env.tmp / "portkey.db"
    if not path.exists():
        return 0
    con = sqlite3.connect(path, timeout=5)
    try:
        row = con.execute(
            "SELECT max(rows_read) FROM sync_runs WHERE status = 'running' AND holder LIKE ?",
            (f"%:{pid}:%",),
        ).fetchone()
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()
    return int(row[0] or 0)


def _kill_mid_run(env: Env, job: str) -> int:
    """Start the CLI, SIGKILL it once it has staged some rows; returns rows it had read."""
    proc = subprocess.Popen(
        [*PORTKEY, "sync", "run", job, "--config", str(env.tmp / "portkey.yaml")],
        env={**os.environ, "PORTKEY_DATA_DIR": str(env.tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while (seen := _progress(env, proc.pid)) == 0:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)  # noqa: TID251 - test thread
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    return seen


def _target(env: Env) -> tuple[int, int, int]:
    con = sqlite3.connect(env.tmp / "sync.sqlite")
    try:
        row = con.execute(
            "SELECT count(*), count(DISTINCT id), coalesce(sum(id), 0) FROM big"
        ).fetchone()
    finally:
        con.close()
    return int(row[0]), int(row[1]), int(row[2])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("merge_keys", [["id"], []], ids=["upsert", "append"])
def test_kill_9_then_rerun_gives_exactly_the_source(env: Env, merge_keys: list[str]) -> None:
    env.pg.execute(f"CREATE TABLE {env.schema}.big (id bigint PRIMARY KEY, payload text)")
    _source(env, 1, 1000)
    env.config(
        big={
            "source": {"engine": "pg", "table": f"{env.schema}.big"},
            "target": {"engine": "lite", "table": "big"},
            "mode": "incremental",
            "cursor": "id",
            "merge_keys": merge_keys,
            "batch_rows": 2000,
        }
    )
    env.cli("run", "big")
    assert _target(env) == (1000, 1000, 500500)
    _source(env, 1001, ROWS)

    seen = _kill_mid_run(env, "big")
    assert 0 < seen < ROWS - 1000
    assert _target(env) == (1000, 1000, 500500)  # nothing of the killed run is visible
    seen_again = _kill_mid_run(env, "big")  # the dead run's lock is taken over
    assert seen_again > 0

    done = json.loads(env.cli("run", "big", "--json").stdout)
    assert done["status"] == "succeeded"
    # the kills did not move the checkpoint (an upsert re-reads the row at the cursor: >=)
    again = 1 if merge_keys else 0
    assert done["rows_written"] == ROWS - 1000 + again
    assert _target(env) == (ROWS, ROWS, ROWS * (ROWS + 1) // 2)
    assert json.loads(env.cli("run", "big", "--json").stdout)["rows_written"] == again
    assert _target(env) == (ROWS, ROWS, ROWS * (ROWS + 1) // 2)

    runs = json.loads(env.cli("history", "big", "--json").stdout)
    assert [r["status"] for r in runs] == [
        "succeeded",
        "succeeded",
        "interrupted",
        "interrupted",
        "succeeded",
    ]
    assert runs[1]["verification"] == {
        "mode": "counts",
        "source_rows": ROWS,
        "target_rows": ROWS,
        "ok": True,
    }


@pytest.mark.timeout(120)
def test_kill_9_inside_the_merge_transaction_rolls_it_back(env: Env) -> None:
    """The run is held at its last statement (the checkpoint write) and killed there."""
    s = env.schema
    env.pg.execute(f"CREATE TABLE {s}.big (id bigint PRIMARY KEY, payload text)")
    _source(env, 1, 1000)
    env.config(
        m={
            "source": {"engine": "pg", "table": f"{s}.big"},
            "target": {"engine": "pg2", "table": f"{s}.copy"},
            "mode": "incremental",
            "cursor": "id",
        }
    )
    env.cli("run", "m")
    _source(env, 1001, 5000)
    blocker = psycopg.connect(PG_DSN)
    blocker.execute(f"LOCK TABLE {s}._portkey_sync_state IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen(
        [*PORTKEY, "sync", "run", "m", "--config", str(env.tmp / "portkey.yaml")],
        env={**os.environ, "PORTKEY_DATA_DIR": str(env.tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def waiting_on_the_checkpoint() -> bool:
        rows = env.pg_rows(
            "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%_portkey_sync_state%'"
        )
        return bool(rows)

    wait_for(waiting_on_the_checkpoint, within_s=60, what="the run to reach its checkpoint")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    blocker.rollback()
    blocker.close()
    # the merged rows were in the same transaction as the checkpoint: gone with it
    wait_for(
        lambda: env.pg_rows(f"SELECT count(*) FROM {s}.copy") == [(1000,)],
        within_s=10,
        what="the killed transaction to roll back",
    )
    assert json.loads(env.cli("run", "m", "--json").stdout)["rows_written"] == 4000
    assert env.pg_rows(f"SELECT count(*), count(DISTINCT id), sum(id) FROM {s}.copy") == [
        (5000, 5000, 5000 * 5001 // 2)
    ]
