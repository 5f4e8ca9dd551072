"""Sync to and from Snowflake (the real connector against fakesnow): exact round trips,
incremental upserts with late rows, drift, same-engine runs and all-or-nothing writes.

fakesnow answers a NULL timestamp as 1970-01-01 (its bug, not Snowflake's): the round trip
gives the tricky table's NULL timestamps values first and checks, inside Snowflake, that a NULL
timestamp is stored as NULL.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes.snowflake import FakeSnowflake
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
from portkey.orchestrator.sync.endpoints import snowflake as sf_endpoint
from portkey.orchestrator.sync.runner import Runner


@pytest.fixture(scope="module")
def fake_snowflake() -> Iterator[FakeSnowflake]:
    with FakeSnowflake() as server:
        yield server


@pytest.fixture
def sf(fake_snowflake: FakeSnowflake) -> Iterator[tuple[FakeSnowflake, str]]:
    """A fresh Snowflake schema per test (created as users do: unquoted, so upper case)."""
    schema = f"sync_{secrets.token_hex(4)}"
    conn = fake_snowflake.connect()
    conn.cursor().execute(f"CREATE SCHEMA {schema}")
    try:
        yield fake_snowflake, schema
    finally:
        conn.cursor().execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()


def _runner(env: Env, server: FakeSnowflake, **syncs: Any) -> Runner:
    engines = {**env.engines(), "sf": server.engine()}
    return Runner(DataSettings.model_validate({"engines": engines, "syncs": syncs}))


def _ok(runner: Runner, job: str) -> Any:
    result = runner.run(job)
    assert result.status == "succeeded", (result.error, result.verification)
    return result


def _sf(server: FakeSnowflake, sql: str) -> list[tuple[Any, ...]]:
    conn = server.connect()
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        conn.close()


def test_round_trip_pg_to_snowflake_to_pg_and_duckdb_loses_nothing(
    env: Env, sf: tuple[FakeSnowflake, str]
) -> None:
    server, schema = sf
    _load(env)
    s = env.schema
    env.pg.execute(
        f"UPDATE {s}.tricky SET ts = '2001-02-03 04:05:06.7', tz = '2001-02-03 04:05+02'"
    )
    there = f"{schema}.tricky"
    runner = _runner(
        env,
        server,
        there={
            "source": {"engine": "pg", "table": f"{s}.tricky"},
            "target": {"engine": "sf", "table": there},
            "merge_keys": ["id"],
            "verify": "checksums",
        },
        back={
            "source": {"engine": "sf", "table": there},
            "target": {"engine": "pg", "table": f"{s}.back"},
            "merge_keys": ["id"],
            "verify": "checksums",
        },
        duck={
            "source": {"engine": "sf", "table": there},
            "target": {"engine": "duck", "table": "main.tricky"},
        },
    )
    for job in ("there", "back", "duck"):
        assert _ok(runner, job).rows_written == 5
    assert _rows(env, "back", COLS) == _rows(env, "tricky", COLS)
    types = dict(
        _sf(
            server,
            "SELECT column_name, data_type || coalesce('(' || numeric_precision || ',' || "
            "numeric_scale || ')', '') FROM information_schema.columns "
            f"WHERE table_schema = '{schema.upper()}' AND table_name = 'TRICKY'",
        )
    )
    assert types["D"] == "NUMBER(38,9)"
    assert types["TZ"] == "TIMESTAMP_TZ"
    assert types["TS"] == "TIMESTAMP_NTZ"
    assert types["J"] == "VARIANT"
    tricky_in_duckdb_is_exact(env)


def test_a_null_timestamp_is_stored_as_null(env: Env, sf: tuple[FakeSnowflake, str]) -> None:
    server, schema = sf
    env.pg.execute(f"CREATE TABLE {env.schema}.t (id int PRIMARY KEY, seen timestamptz)")
    env.pg.execute(f"INSERT INTO {env.schema}.t VALUES (1, now()), (2, NULL)")
    runner = _runner(
        env,
        server,
        x={
            "source": {"engine": "pg", "table": f"{env.schema}.t"},
            "target": {"engine": "sf", "table": f"{schema}.t"},
        },
    )
    _ok(runner, "x")
    assert _sf(server, f"SELECT id FROM {schema}.t WHERE seen IS NULL") == [(2,)]


def _job(env: Env, schema: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": {"engine": "pg", "table": f"{env.schema}.ev"},
        "target": {"engine": "sf", "table": f"{schema}.ev"},
        "verify": "checksums",
        **extra,
    }


def test_incremental_upsert_catches_a_late_row_without_duplicates(
    env: Env, sf: tuple[FakeSnowflake, str]
) -> None:
    server, schema = sf
    events(env)
    inc = _job(env, schema, mode="incremental", cursor="at", lookback="30m", merge_keys=["id"])
    runner = _runner(env, server, inc=inc)
    assert _ok(runner, "inc").rows_written == 100
    late_arrivals(env)
    second = _ok(runner, "inc")
    assert second.rows_read == 33  # the lookback window, not the whole table
    assert str(second.cursor) == "2026-01-01 01:41:00+00:00"
    count = f"SELECT count(*), count(DISTINCT id) FROM {schema}.ev"
    assert _sf(server, count) == [(102, 102)]
    assert _sf(server, f"SELECT v FROM {schema}.ev WHERE id IN (95, 101, 1000) ORDER BY id") == [
        ("changed",),
        ("new",),
        ("late",),
    ]
    _ok(runner, "inc")  # a rerun with nothing new changes nothing
    assert _sf(server, count) == [(102, 102)]


def test_evolve_adds_a_new_column_and_widens(env: Env, sf: tuple[FakeSnowflake, str]) -> None:
    server, schema = sf
    events(env)
    s = env.schema
    env.pg.execute(f"ALTER TABLE {s}.ev ALTER COLUMN v TYPE varchar(20)")
    runner = _runner(env, server, full=_job(env, schema, merge_keys=["id"]))
    _ok(runner, "full")
    env.pg.execute(f"ALTER TABLE {s}.ev ADD COLUMN amount numeric(12,2)")
    env.pg.execute(f"ALTER TABLE {s}.ev ALTER COLUMN v TYPE varchar(50)")
    env.pg.execute(f"UPDATE {s}.ev SET amount = id * 1.25, v = repeat('x', 45) WHERE id = 3")
    result = _ok(runner, "full")
    assert "add column amount NUMBER(12,2)" in result.changes, result.changes
    assert any(c.startswith("widen v") for c in result.changes), result.changes
    assert _sf(server, f"SELECT amount, length(v) FROM {schema}.ev WHERE id = 3") == [
        (Decimal("3.75"), 45)
    ]


def test_a_failed_write_leaves_target_and_checkpoint_untouched(
    env: Env, sf: tuple[FakeSnowflake, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, schema = sf
    events(env)
    runner = _runner(env, server, inc=_job(env, schema, mode="incremental", cursor="id"))
    _ok(runner, "inc")
    env.pg.execute(
        f"INSERT INTO {env.schema}.ev SELECT g, now(), 'n' FROM generate_series(101, 300) g"
    )
    real = sf_endpoint.SnowflakeEndpoint.write

    def dies_after_writing(self: Any, conn: Any, table: str, batch: Any) -> None:
        real(self, conn, table, batch)  # the rows are in, the checkpoint not yet
        raise RuntimeError("killed")

    monkeypatch.setattr(sf_endpoint.SnowflakeEndpoint, "write", dies_after_writing)
    with pytest.raises(RuntimeError, match="killed"):
        runner.run("inc")
    monkeypatch.undo()
    assert _sf(server, f"SELECT count(*) FROM {schema}.ev") == [(100,)]  # rolled back
    assert _ok(runner, "inc").rows_written == 200  # the rerun moves each row exactly once
    assert _sf(server, f"SELECT count(*), count(DISTINCT id) FROM {schema}.ev") == [(300, 300)]


def test_snowflake_to_snowflake_runs_inside_snowflake(
    env: Env, sf: tuple[FakeSnowflake, str]
) -> None:
    server, schema = sf
    events(env)
    runner = _runner(
        env,
        server,
        into=_job(env, schema),
        copy={
            "source": {"engine": "sf", "table": f"{schema}.ev"},
            "target": {"engine": "sf", "table": f"{schema}.ev_copy"},
            "merge_keys": ["id"],
            "verify": "counts",
        },
    )
    _ok(runner, "into")
    result = _ok(runner, "copy")
    assert result.same_engine and result.rows_written == 100
    assert _sf(server, f"SELECT count(*) FROM {schema}.ev_copy") == [(100,)]
