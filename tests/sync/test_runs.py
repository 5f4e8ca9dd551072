"""Incremental runs (late rows, lookback, append), idempotent reruns, verification failures."""

from __future__ import annotations

import duckdb
import pytest
from tests.sync.conftest import Env

from portkey.orchestrator.sync.runner import Runner


def _events(env: Env) -> None:
    env.pg.execute(
        f"CREATE TABLE {env.schema}.ev (id int PRIMARY KEY, at timestamptz NOT NULL, v text)"
    )
    env.pg.execute(
        f"INSERT INTO {env.schema}.ev SELECT g, '2026-01-01'::timestamptz + g * interval '1 minute',"
        f" 'v' || g FROM generate_series(1, 100) g"
    )


def _duck(env: Env, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(env.tmp / "sync.duckdb"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_incremental_with_lookback_catches_late_rows_and_updates(env: Env) -> None:
    _events(env)
    runner = Runner(
        env.settings(
            inc={
                "source": {"engine": "pg", "table": f"{env.schema}.ev"},
                "target": {"engine": "duck", "table": "ev"},
                "mode": "incremental",
                "cursor": "at",
                "lookback": "30m",
                "merge_keys": ["id"],
            }
        )
    )
    first = runner.run("inc")
    assert (first.rows_written, str(first.cursor)) == (100, "2026-01-01 01:40:00+00:00")
    s = env.schema
    # a late row (20 min before the cursor), an update inside the window, one new row
    env.pg.execute(f"INSERT INTO {s}.ev VALUES (1000, '2026-01-01 01:20:00+00', 'late')")
    env.pg.execute(f"UPDATE {s}.ev SET v = 'changed' WHERE id = 95")
    env.pg.execute(f"INSERT INTO {s}.ev VALUES (101, '2026-01-01 01:41:00+00', 'new')")
    second = runner.run("inc")
    assert second.rows_read == 33  # 01:10 .. 01:41: the window, not the whole table
    assert second.status == "succeeded"
    assert _duck(env, "SELECT count(*), count(DISTINCT id) FROM ev") == [(102, 102)]
    assert _duck(env, "SELECT v FROM ev WHERE id IN (95, 101, 1000) ORDER BY id") == [
        ("changed",),
        ("new",),
        ("late",),
    ]
    # idempotent: a rerun with nothing new changes nothing
    assert runner.run("inc").status == "succeeded"
    assert _duck(env, "SELECT count(*) FROM ev") == [(102,)]


def test_append_mode_reads_only_new_rows(env: Env) -> None:
    _events(env)
    runner = Runner(
        env.settings(
            app={
                "source": {"engine": "pg", "table": f"{env.schema}.ev"},
                "target": {"engine": "lite", "table": "ev"},
                "mode": "incremental",
                "cursor": "id",
            }
        )
    )
    assert runner.run("app").rows_written == 100
    assert runner.run("app").rows_written == 0
    env.pg.execute(f"INSERT INTO {env.schema}.ev VALUES (101, now(), 'x'), (102, now(), 'y')")
    assert runner.run("app").rows_written == 2
    assert runner.run("app").verification == {
        "mode": "counts",
        "source_rows": 102,
        "target_rows": 102,
        "ok": True,
    }


def test_full_mode_replaces_the_target(env: Env) -> None:
    _events(env)
    runner = Runner(
        env.settings(
            full={
                "source": {"engine": "pg", "table": f"{env.schema}.ev"},
                "target": {"engine": "my", "table": "ev"},
                "columns": {"at": {"allow_lossy": True}, "v": {"rename": "label"}},
            }
        )
    )
    runner.run("full")
    env.pg.execute(f"DELETE FROM {env.schema}.ev WHERE id > 10")
    assert runner.run("full").rows_written == 10
    assert env.my_rows("SELECT count(*), max(label) FROM ev") == [(10, "v9")]


def test_checksums_name_the_key_ranges_that_differ(env: Env) -> None:
    _events(env)
    job = {
        "source": {"engine": "pg", "table": f"{env.schema}.ev"},
        "target": {"engine": "pg2", "table": f"{env.schema}.copy"},
        "merge_keys": ["id"],
        "verify": {"mode": "checksums", "ranges": 10},
    }
    runner = Runner(env.settings(chk=job))
    ok = runner.run("chk")
    assert ok.status == "succeeded" and ok.verification["differing_ranges"] == []  # type: ignore[index]
    # someone else writes to the target: the upsert repairs row 42, verification sees the stray
    env.pg.execute(f"INSERT INTO {env.schema}.copy VALUES (57000, now(), 'stray')")
    env.pg.execute(f"UPDATE {env.schema}.copy SET v = 'tampered' WHERE id = 42")
    bad = runner.run("chk")
    assert env.pg_rows(f"SELECT v FROM {env.schema}.copy WHERE id = 42") == [("v42",)]
    assert bad.status == "failed"
    v = bad.verification
    assert v is not None
    assert (v["source_rows"], v["target_rows"]) == (100, 101)
    assert v["differing_ranges"] == ["id in [51301, 57001)"]
    assert "verification failed" in (bad.error or "")


def test_sql_source_with_a_transform_runs_inside_the_same_engine(env: Env) -> None:
    _events(env)
    runner = Runner(
        env.settings(
            agg={
                "source": {
                    "engine": "pg",
                    "sql": f"SELECT id, v FROM {env.schema}.ev WHERE id <= 3",
                },
                "target": {"engine": "pg", "table": f"{env.schema}.small"},
                "columns": {
                    "shout": {"expr": "upper(v) || '!'", "type": "varchar(10)"},
                    "id": {"type": "bigint"},
                },
            }
        )
    )
    result = runner.run("agg")
    assert result.same_engine and result.rows_written == 3
    assert env.pg_rows(f"SELECT id, v, shout FROM {env.schema}.small ORDER BY id") == [
        (1, "v1", "V1!"),
        (2, "v2", "V2!"),
        (3, "v3", "V3!"),
    ]
    types = env.pg_rows(
        "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns"
        f" WHERE table_schema = '{env.schema}' AND table_name = 'small' ORDER BY 1"
    )
    assert types == [
        ("id", "bigint", None),
        ("shout", "character varying", 10),
        ("v", "text", None),
    ]


def test_unknown_job_is_a_404_error(env: Env) -> None:
    from portkey.errors import NotFound

    with pytest.raises(NotFound, match="no sync job 'nope'"):
        Runner(env.settings()).run("nope")


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_duckdb_writes_straight_into_the_target_all_or_nothing(
    env: Env, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Appends and full replaces into DuckDB skip the staging table: a run that dies after
    writing rows leaves target and checkpoint as they were; the rerun moves each row
    once."""
    from portkey.orchestrator.sync.endpoints import duckdb as duck_endpoint

    _events(env)
    job = {
        "source": {"engine": "pg", "table": f"{env.schema}.ev"},
        "target": {"engine": "duck", "table": "main.ev"},
        "mode": mode,
        "verify": "checksums",
    }
    if mode == "incremental":
        job["cursor"] = "id"
    runner = Runner(env.settings(job=job))
    assert runner.run("job").rows_written == 100
    env.pg.execute(
        f"INSERT INTO {env.schema}.ev SELECT g, now(), 'n' FROM generate_series(101, 150) g"
    )
    real = duck_endpoint.DuckDBEndpoint.write
    written: list[int] = []

    def dies_after_writing(self: object, conn: object, table: str, batch: object) -> None:
        real(self, conn, table, batch)  # type: ignore[arg-type]
        written.append(1)
        raise RuntimeError("killed")  # the rows are in the target, the checkpoint not yet

    monkeypatch.setattr(duck_endpoint.DuckDBEndpoint, "write", dies_after_writing)
    with pytest.raises(RuntimeError, match="killed"):
        runner.run("job")
    monkeypatch.undo()
    assert written and _duck(env, "SELECT count(*) FROM ev") == [(100,)]  # rolled back
    assert _duck(env, "SELECT count(*) FROM information_schema.tables WHERE table_name "
                 "LIKE '%portkey_stg%'") == [(0,)]  # fmt: skip
    result = runner.run("job")
    assert result.status == "succeeded", result.verification
    assert result.rows_written == (150 if mode == "full" else 50)
    assert _duck(env, "SELECT count(*), count(DISTINCT id) FROM ev") == [(150, 150)]
