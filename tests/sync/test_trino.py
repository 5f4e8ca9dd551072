"""Sync to and from Trino (the real ``trino`` client against tests/fakes/trino.py, writable,
backed by DuckDB): exact round trips, incremental upserts with late rows, drift, same-engine
runs, statements kept under query.max-length, and the ledger that finishes a killed apply."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trino
from tests.fakes.trino import FakeTrino
from tests.sync.conftest import Env
from tests.sync.test_roundtrip import (
    COLS,
    _load,
    _rows,
    events,
    late_arrivals,
    tricky_in_duckdb_is_exact,
)

from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.sync.runner import Runner


@pytest.fixture(scope="module")
def fake_trino(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeTrino]:
    path: Path = tmp_path_factory.mktemp("trino") / "lake.duckdb"
    with FakeTrino(str(path), writable=True) as server:
        yield server


@pytest.fixture
def tr(fake_trino: FakeTrino) -> Iterator[tuple[FakeTrino, str]]:
    """A fresh Trino schema per test."""
    schema = f"sync_{secrets.token_hex(4)}"
    _trino(fake_trino, f"CREATE SCHEMA {schema}")
    fake_trino.max_length = 1_000_000
    fake_trino.fail = lambda sql: False
    try:
        yield fake_trino, schema
    finally:
        fake_trino.fail = lambda sql: False
        _trino(fake_trino, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _trino(server: FakeTrino, sql: str) -> list[Any]:
    conn = trino.dbapi.connect(host="127.0.0.1", port=server.port, user="t", catalog="lake")
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def _engine(server: FakeTrino, **extra: Any) -> dict[str, Any]:
    return {"type": "trino", "port": server.port, "catalog": "lake", **extra}


def _runner(
    env: Env, server: FakeTrino, *, engine: dict[str, Any] | None = None, **syncs: Any
) -> Runner:
    engines = {**env.engines(), "tr": engine or _engine(server)}
    return Runner(DataSettings.model_validate({"engines": engines, "syncs": syncs}))


def _ok(runner: Runner, job: str) -> Any:
    result = runner.run(job)
    assert result.status == "succeeded", (result.error, result.verification)
    return result


def _job(env: Env, schema: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": {"engine": "pg", "table": f"{env.schema}.ev"},
        "target": {"engine": "tr", "table": f"{schema}.ev"},
        "verify": "checksums",
        **extra,
    }


def test_round_trip_pg_to_trino_to_pg_and_duckdb_loses_nothing(
    env: Env, tr: tuple[FakeTrino, str]
) -> None:
    server, schema = tr
    server.max_length = 5_000_000  # the tricky table holds a 1.3 MB text
    _load(env)
    s, there = env.schema, f"{schema}.tricky"
    runner = _runner(
        env,
        server,
        engine=_engine(server, max_statement_chars=5_000_000),
        there={
            "source": {"engine": "pg", "table": f"{s}.tricky"},
            "target": {"engine": "tr", "table": there},
            "merge_keys": ["id"],
            "verify": "checksums",
        },
        back={
            "source": {"engine": "tr", "table": there},
            "target": {"engine": "pg", "table": f"{s}.back"},
            "merge_keys": ["id"],
            "verify": "checksums",
        },
        duck={
            "source": {"engine": "tr", "table": there},
            "target": {"engine": "duck", "table": "main.tricky"},
        },
    )
    for job in ("there", "back", "duck"):
        assert _ok(runner, job).rows_written == 5
    assert _rows(env, "back", COLS) == _rows(env, "tricky", COLS)
    types = dict(
        _trino(
            server,
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{schema}' AND table_name = 'tricky'",
        )
    )
    assert types["d"] == "decimal(38,9)"
    assert types["tz"] == "timestamp(6) with time zone"
    assert types["ts"] == "timestamp(6)"
    assert types["v"] == "varchar(20)"
    assert types["j"] == "json"
    tricky_in_duckdb_is_exact(env)


def test_a_row_longer_than_query_max_length_fails_before_writing_naming_the_setting(
    env: Env, tr: tuple[FakeTrino, str]
) -> None:
    server, schema = tr
    _load(env)
    runner = _runner(
        env,
        server,
        x={
            "source": {"engine": "pg", "table": f"{env.schema}.tricky"},
            "target": {"engine": "tr", "table": f"{schema}.tricky"},
        },
    )
    with pytest.raises(ValueError, match=r"query\.max-length is 1,000,000.*max_statement_chars"):
        runner.run("x")
    assert _trino(server, f"SELECT count(*) FROM {schema}.tricky") == [(0,)]


def test_many_rows_are_split_into_inserts_under_the_limit(
    env: Env, tr: tuple[FakeTrino, str]
) -> None:
    server, schema = tr
    env.pg.execute(f"CREATE TABLE {env.schema}.ev (id int PRIMARY KEY, at timestamptz, v text)")
    env.pg.execute(
        f"INSERT INTO {env.schema}.ev SELECT g, now(), repeat('w', 200) "
        "FROM generate_series(1, 3000) g"
    )
    server.max_length = 60_000
    runner = _runner(
        env, server, engine=_engine(server, max_statement_chars=60_000), x=_job(env, schema)
    )
    before = len(server.statements)
    assert _ok(runner, "x").rows_written == 3000
    inserts = [q for q in server.statements[before:] if q.startswith("INSERT INTO")]
    assert len(inserts) > 10 and max(len(q) for q in inserts) <= 60_000
    assert _trino(server, f"SELECT count(*), count(DISTINCT id) FROM {schema}.ev") == [(3000, 3000)]


def test_incremental_upsert_catches_a_late_row_without_duplicates(
    env: Env, tr: tuple[FakeTrino, str]
) -> None:
    server, schema = tr
    events(env)
    inc = _job(env, schema, mode="incremental", cursor="at", lookback="30m", merge_keys=["id"])
    runner = _runner(env, server, inc=inc)
    assert _ok(runner, "inc").rows_written == 100
    late_arrivals(env)
    second = _ok(runner, "inc")
    assert second.rows_read == 33  # the lookback window, not the whole table
    assert str(second.cursor) == "2026-01-01 01:41:00+00:00"
    count = f"SELECT count(*), count(DISTINCT id) FROM {schema}.ev"
    assert _trino(server, count) == [(102, 102)]
    got = _trino(server, f"SELECT v FROM {schema}.ev WHERE id IN (95, 101, 1000) ORDER BY id")
    assert got == [("changed",), ("new",), ("late",)]
    _ok(runner, "inc")  # a rerun with nothing new changes nothing
    assert _trino(server, count) == [(102, 102)]


def test_evolve_adds_a_new_column_and_widens(env: Env, tr: tuple[FakeTrino, str]) -> None:
    server, schema = tr
    events(env)
    s = env.schema
    env.pg.execute(f"ALTER TABLE {s}.ev ALTER COLUMN v TYPE varchar(20)")
    runner = _runner(env, server, full=_job(env, schema, merge_keys=["id"]))
    _ok(runner, "full")
    env.pg.execute(f"ALTER TABLE {s}.ev ADD COLUMN amount numeric(12,2)")
    env.pg.execute(f"ALTER TABLE {s}.ev ALTER COLUMN v TYPE varchar(50)")
    env.pg.execute(f"UPDATE {s}.ev SET amount = id * 1.25, v = repeat('x', 45) WHERE id = 3")
    result = _ok(runner, "full")
    assert "add column amount decimal(12,2)" in result.changes, result.changes
    assert any(c.startswith("widen v") for c in result.changes), result.changes
    got = _trino(server, f"SELECT amount, length(v) FROM {schema}.ev WHERE id = 3")
    assert got == [(Decimal("3.75"), 45)]


def _dies(server: FakeTrino, when: str) -> None:
    """The next statement matching ``when`` fails (a kill at that step)."""
    fired = []

    def fail(sql: str) -> bool:
        if not fired and when in sql:
            fired.append(sql)
            return True
        return False

    server.fail = fail


@pytest.mark.parametrize(
    ("step", "merge_keys"),
    [
        ('INSERT INTO "{schema}"."ev"', []),  # the apply of an append: not applied
        ('"phase": "done"', []),  # applied, checkpoint not written
        ('INSERT INTO "{schema}"."ev"', ["id"]),  # the upsert's delete ran, insert not
        ('"phase": "done"', ["id"]),
    ],
    ids=["append-before-apply", "append-after-apply", "upsert-mid-apply", "upsert-after-apply"],
)
def test_a_run_killed_at_any_step_is_finished_by_the_next_each_row_once(
    env: Env, tr: tuple[FakeTrino, str], step: str, merge_keys: list[str]
) -> None:
    server, schema = tr
    events(env)
    runner = _runner(
        env, server, inc=_job(env, schema, mode="incremental", cursor="id", merge_keys=merge_keys)
    )
    _ok(runner, "inc")
    env.pg.execute(
        f"INSERT INTO {env.schema}.ev SELECT g, now(), 'n' FROM generate_series(101, 300) g"
    )
    env.pg.execute(f"UPDATE {env.schema}.ev SET v = 'again' WHERE id = 300")
    _dies(server, step.replace("{schema}", schema))
    with pytest.raises(trino.exceptions.TrinoQueryError):
        runner.run("inc")
    server.fail = lambda sql: False
    rerun = _ok(runner, "inc")
    assert any("interrupted run" in c for c in rerun.changes), rerun.changes
    count = f"SELECT count(*), count(DISTINCT id), sum(id) FROM {schema}.ev"
    assert _trino(server, count) == [(300, 300, 300 * 301 // 2)]
    assert _trino(server, f"SELECT v FROM {schema}.ev WHERE id = 300") == [("again",)]
    assert _ok(runner, "inc").rows_read == (1 if merge_keys else 0)  # nothing left to move
    tables = _trino(
        server,
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' "
        "ORDER BY 1",
    )
    assert tables == [("_portkey_sync_log",), ("ev",)]  # the staging table went with the run


def test_trino_as_a_source_with_sql_and_trino_to_trino_runs_inside(
    env: Env, tr: tuple[FakeTrino, str]
) -> None:
    server, schema = tr
    events(env)
    runner = _runner(
        env,
        server,
        into=_job(env, schema),
        copy={
            "source": {"engine": "tr", "table": f"{schema}.ev"},
            "target": {"engine": "tr", "table": f"{schema}.ev_copy"},
            "merge_keys": ["id"],
            "verify": "counts",
        },
        out={
            "source": {
                "engine": "tr",
                "sql": f"SELECT id, v, at FROM {schema}.ev WHERE id % 2 = 0",
            },
            "target": {"engine": "pg", "table": f"{env.schema}.even"},
            "merge_keys": ["id"],
            "verify": "checksums",
        },
    )
    _ok(runner, "into")
    result = _ok(runner, "copy")
    assert result.same_engine and result.rows_written == 100
    assert _trino(server, f"SELECT count(*) FROM {schema}.ev_copy") == [(100,)]
    assert _ok(runner, "out").rows_written == 50
    assert env.pg_rows(f"SELECT count(*), min(id) FROM {env.schema}.even") == [(50, 2)]
