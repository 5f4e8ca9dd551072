"""Sync to and from embedded ClickHouse (chdb): exact round trips, incremental runs, drift, upserts,
and the EXCHANGE-based commit with its ledger (a run killed before or after the swap is finished
by the next, each row delivered once)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from chdb import session
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
from portkey.orchestrator.sync.endpoints import chdb as chdb_endpoint
from portkey.orchestrator.sync.ledger import LedgerConflict
from portkey.orchestrator.sync.runner import Runner


def _runner(env: Env, **syncs: Any) -> Runner:
    engines = {**env.engines(), "ch": {"type": "chdb", "path": str(env.tmp / "ch")}}
    return Runner(DataSettings.model_validate({"engines": engines, "syncs": syncs}))


def _ch(env: Env, sql: str) -> list[dict[str, Any]]:
    s: Any = session.Session(str(env.tmp / "ch"))  # type: ignore[no-untyped-call]
    try:
        rows: list[dict[str, Any]] = s.query(sql, "ArrowTable").to_pylist()
        return rows
    finally:
        s.close()


def _dies_when(monkeypatch: pytest.MonkeyPatch, when: Callable[[str], bool]) -> None:
    """Every chdb statement ``when`` picks raises, as a kill at that step would stop the run."""
    real = chdb_endpoint._Conn.query

    def query(self: Any, sql: str, fmt: str = "CSV") -> Any:
        if when(sql):
            raise RuntimeError("killed")
        return real(self, sql, fmt)

    monkeypatch.setattr(chdb_endpoint._Conn, "query", query)


def _ok(runner: Runner, job: str) -> Any:
    result = runner.run(job)
    assert result.status == "succeeded", (result.error, result.verification)
    return result


def test_round_trip_pg_to_chdb_to_pg_and_duckdb_loses_nothing(env: Env) -> None:
    _load(env)
    s = env.schema
    tricky = {"source": {"engine": "ch", "table": "tricky"}, "verify": "checksums"}
    runner = _runner(
        env,
        there={
            "source": {"engine": "pg", "table": f"{s}.tricky"},
            "target": {"engine": "ch", "table": "tricky"},
            "merge_keys": ["id"],
            "verify": "checksums",
        },
        back={**tricky, "target": {"engine": "pg", "table": f"{s}.back"}, "merge_keys": ["id"]},
        duck={**tricky, "target": {"engine": "duck", "table": "main.tricky"}},
    )
    for job in ("there", "back", "duck"):
        assert _ok(runner, job).rows_written == 5
    # ClickHouse keeps JSON as String: it comes back as text, byte for byte
    as_text = [c + "::text" if c == "j" else c for c in COLS]
    assert _rows(env, "back", as_text) == _rows(env, "tricky", as_text)
    types = {
        r["name"]: r["type"]
        for r in _ch(env, "SELECT name, type FROM system.columns WHERE table = 'tricky'")
    }
    assert types["d"] == "Nullable(Decimal(38, 9))"
    assert types["tz"] == "Nullable(DateTime64(6, 'UTC'))"
    assert types["ts"] == "Nullable(DateTime64(6))"
    tricky_in_duckdb_is_exact(env)


def _job(env: Env, **extra: Any) -> dict[str, Any]:
    return {
        "source": {"engine": "pg", "table": f"{env.schema}.ev"},
        "target": {"engine": "ch", "table": "ev"},
        "verify": "checksums",
        **extra,
    }


def test_incremental_upsert_catches_a_late_row_without_duplicates(env: Env) -> None:
    events(env)
    inc = _job(env, mode="incremental", cursor="at", lookback="30m", merge_keys=["id"])
    runner = _runner(env, inc=inc)
    assert _ok(runner, "inc").rows_written == 100
    late_arrivals(env)
    second = _ok(runner, "inc")
    assert second.rows_read == 33  # the lookback window, not the whole table
    assert str(second.cursor) == "2026-01-01 01:41:00+00:00"
    assert _ch(env, "SELECT count() AS n, uniqExact(id) AS u FROM ev") == [{"n": 102, "u": 102}]
    assert [
        r["v"] for r in _ch(env, "SELECT v FROM ev WHERE id IN (95, 101, 1000) ORDER BY id")
    ] == ["changed", "new", "late"]
    _ok(runner, "inc")  # a rerun with nothing new changes nothing
    assert _ch(env, "SELECT count() AS n FROM ev") == [{"n": 102}]


def test_incremental_append_writes_only_new_rows(env: Env) -> None:
    events(env)
    runner = _runner(env, app=_job(env, mode="incremental", cursor="id"))
    _ok(runner, "app")
    env.pg.execute(f"INSERT INTO {env.schema}.ev VALUES (101, now(), 'x'), (102, now(), 'y')")
    assert _ok(runner, "app").rows_written == 2
    assert _ch(env, "SELECT count() AS n, uniqExact(id) AS u FROM ev") == [{"n": 102, "u": 102}]


def test_evolve_adds_a_new_column_and_widens(env: Env) -> None:
    events(env)
    runner = _runner(env, full=_job(env, merge_keys=["id"]))
    _ok(runner, "full")
    s = env.schema
    env.pg.execute(f"ALTER TABLE {s}.ev ADD COLUMN amount numeric(12,2)")
    env.pg.execute(f"UPDATE {s}.ev SET amount = id * 1.25")
    result = _ok(runner, "full")
    assert "add column amount Nullable(Decimal(12, 2))" in result.changes
    assert _ch(env, "SELECT amount FROM ev WHERE id = 3") == [{"amount": Decimal("3.75")}]
    env.pg.execute(f"ALTER TABLE {s}.ev ALTER COLUMN id TYPE bigint")
    env.pg.execute(f"INSERT INTO {s}.ev VALUES (9000000000, now(), 'big', 1)")
    result = _ok(runner, "full")
    assert any(c.startswith("widen id") for c in result.changes), result.changes
    assert _ch(env, "SELECT max(id) AS m FROM ev") == [{"m": 9000000000}]


def test_merge_keys_upsert_replaces_rows_and_leaves_no_duplicates(env: Env) -> None:
    events(env)
    runner = _runner(env, up=_job(env, merge_keys=["id"]))
    _ok(runner, "up")
    env.pg.execute(f"UPDATE {env.schema}.ev SET v = 'again' WHERE id <= 10")
    result = _ok(runner, "up")
    assert result.verification["ok"] and result.verification["differing_ranges"] == []
    assert _ch(
        env, "SELECT count() AS n, uniqExact(id) AS u, countIf(v = 'again') AS a FROM ev"
    ) == [{"n": 100, "u": 100, "a": 10}]


def test_a_failure_before_the_exchange_leaves_target_and_checkpoint_untouched(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    events(env)
    runner = _runner(env, inc=_job(env, mode="incremental", cursor="id"))
    _ok(runner, "inc")
    env.pg.execute(f"INSERT INTO {env.schema}.ev VALUES (101, now(), 'x')")
    _dies_when(monkeypatch, lambda sql: sql.startswith("EXCHANGE TABLES"))
    with pytest.raises(RuntimeError, match="killed"):
        runner.run("inc")
    monkeypatch.undo()
    assert _ch(env, "SELECT count() AS n FROM ev") == [{"n": 100}]
    rerun = _ok(runner, "inc")
    assert rerun.rows_written == 1  # the rerun finishes the apply: the row goes in once
    assert any("interrupted run" in change for change in rerun.changes)
    assert _ch(env, "SELECT count() AS n, uniqExact(id) AS u FROM ev") == [{"n": 101, "u": 101}]
    assert _ok(runner, "inc").rows_written == 0
    assert _ch(env, "SELECT name FROM system.tables WHERE name LIKE '%portkey%'") == [
        {"name": "_portkey_sync_log"}
    ]  # no staging or shadow table is left behind


@pytest.mark.parametrize("merge_keys", [[], ["id"]], ids=["append", "upsert"])
def test_a_kill_after_the_rows_went_in_but_before_the_checkpoint_delivers_them_once(
    env: Env, monkeypatch: pytest.MonkeyPatch, merge_keys: list[str]
) -> None:
    """The window an EXCHANGE of rows and checkpoint together left open: rows swapped in,
    checkpoint not. The ledger's pending entry tells the rerun the rows are already there."""
    events(env)
    job = _job(env, mode="incremental", cursor="id", merge_keys=merge_keys)
    runner = _runner(env, inc=job)
    _ok(runner, "inc")
    env.pg.execute(f"INSERT INTO {env.schema}.ev VALUES (101, now(), 'x'), (102, now(), 'y')")
    _dies_when(
        monkeypatch,
        lambda sql: "_portkey_sync_log" in sql and sql.startswith("INSERT") and '"done"' in sql,
    )
    with pytest.raises(RuntimeError, match="killed"):
        runner.run("inc")
    monkeypatch.undo()
    assert _ch(env, "SELECT count() AS n FROM ev") == [{"n": 102}]  # the rows went in
    rerun = _ok(runner, "inc")
    assert _ch(env, "SELECT count() AS n, uniqExact(id) AS u FROM ev") == [{"n": 102, "u": 102}]
    assert any("interrupted run" in change for change in rerun.changes)
    assert rerun.rows_written == (0 if not merge_keys else 2 + 2)  # re-applied, then re-read


def test_an_append_whose_target_was_changed_meanwhile_stops_instead_of_guessing(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    events(env)
    runner = _runner(env, inc=_job(env, mode="incremental", cursor="id"))
    _ok(runner, "inc")
    env.pg.execute(f"INSERT INTO {env.schema}.ev VALUES (101, now(), 'x')")
    _dies_when(monkeypatch, lambda sql: sql.startswith("EXCHANGE TABLES"))
    with pytest.raises(RuntimeError, match="killed"):
        runner.run("inc")
    monkeypatch.undo()
    _ch(env, "INSERT INTO ev (id, v) VALUES (5000, 'someone'), (5001, 'else')")
    with pytest.raises(LedgerConflict, match="something else wrote it"):
        runner.run("inc")


def test_chdb_as_an_incremental_source_with_a_tz_cursor(env: Env) -> None:
    events(env)
    runner = _runner(
        env,
        into=_job(env),
        out={
            "source": {"engine": "ch", "table": "ev"},
            "target": {"engine": "pg", "table": f"{env.schema}.ev_back"},
            "mode": "incremental",
            "cursor": "at",
            "merge_keys": ["id"],
            "verify": "checksums",
        },
    )
    _ok(runner, "into")
    assert _ok(runner, "out").rows_written == 100
    env.pg.execute(f"INSERT INTO {env.schema}.ev VALUES (101, '2026-01-01 02:00:00+00', 'n')")
    _ok(runner, "into")
    assert _ok(runner, "out").rows_written == 2  # >= the cursor: the last row again, and the new
    assert env.pg_rows(f"SELECT count(*), count(DISTINCT id) FROM {env.schema}.ev_back") == [
        (101, 101)
    ]
