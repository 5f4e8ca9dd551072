"""Job validation, lossless type mapping, and each schema-drift case, on real engines."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError
from tests.sync.conftest import Env

from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.sync.plan import SyncPlanError
from portkey.orchestrator.sync.runner import Runner


def _job(**extra: object) -> dict[str, object]:
    return {
        "source": {"engine": "pg", "table": "public.t"},
        "target": {"engine": "duck", "table": "t"},
        **extra,
    }


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (_job(mode="incremental"), "mode incremental needs a cursor column"),
        (_job(mode="incremental", cursor="id", lookback="1h"), "needs merge_keys"),
        (_job(schedule="every day"), "not a 5-field cron expression"),
        (_job(lookback="soon"), "use a number or a duration"),
        (_job(columns={"total": {"expr": "a * b"}}), "an expr needs a type"),
        (_job(source={"engine": "nope", "table": "t"}), "no engine 'nope' in data.engines"),
        (_job(source={"engine": "pg"}), "exactly one of source.table or source.sql"),
        (_job(merge_keys=["id", "id"]), "merge_keys repeat a column"),
        (_job(colums={}), "Extra inputs are not permitted"),
    ],
)
def test_invalid_jobs_are_refused_with_the_reason(job: dict[str, object], message: str) -> None:
    engines = {
        "pg": {"type": "postgres", "dsn": "postgresql://x@127.0.0.1/x"},
        "duck": {"type": "duckdb"},
    }
    with pytest.raises(ValidationError, match=message):
        DataSettings.model_validate({"engines": engines, "syncs": {"j": job}})


def test_lossy_mapping_fails_naming_the_column_and_both_types(env: Env) -> None:
    env.pg.execute(f"CREATE TABLE {env.schema}.ev (id int, at timestamptz, x float8)")
    settings = env.settings(
        ev={
            "source": {"engine": "pg", "table": f"{env.schema}.ev"},
            "target": {"engine": "my", "table": "ev"},
        }
    )
    plan = Runner(settings).plan("ev")
    assert any(
        "column at: timestamptz -> mysql DATETIME(6) is lossy" in e and "allow_lossy" in e
        for e in plan.errors
    ), plan.errors
    with pytest.raises(SyncPlanError, match="column at"):
        Runner(settings).run("ev")
    assert env.my_rows("SHOW TABLES") == []  # nothing written, not even the table


def test_an_explicit_narrowing_cast_needs_allow_lossy(env: Env) -> None:
    env.pg.execute(f"CREATE TABLE {env.schema}.p (id int, price numeric(12,4))")
    env.pg.execute(f"INSERT INTO {env.schema}.p VALUES (1, 1.5)")
    job = {
        "source": {"engine": "pg", "table": f"{env.schema}.p"},
        "target": {"engine": "duck", "table": "p"},
        "columns": {"price": {"type": "decimal(10,0)"}},
    }
    plan = Runner(env.settings(p=job)).plan("p")
    assert plan.errors == [
        "column price: casting decimal(12,4) to decimal(10,0) can lose data; set allow_lossy"
    ]


def _sync(env: Env, drift: str) -> Runner:
    return Runner(
        env.settings(
            d={
                "source": {"engine": "pg", "table": f"{env.schema}.src"},
                "target": {"engine": "pg2", "table": f"{env.schema}.dst"},
                "merge_keys": ["id"],
                "schema_drift": drift,
            }
        )
    )


def test_evolve_adds_new_columns_and_widens(env: Env) -> None:
    s = env.schema
    env.pg.execute(f"CREATE TABLE {s}.src (id int, code varchar(20), amount numeric(10,2))")
    env.pg.execute(f"INSERT INTO {s}.src VALUES (1, 'a', 1.25)")
    runner = _sync(env, "evolve")
    assert runner.run("d").status == "succeeded"
    env.pg.execute(f"ALTER TABLE {s}.src ALTER id TYPE bigint, ALTER code TYPE varchar(50)")
    env.pg.execute(f"ALTER TABLE {s}.src ALTER amount TYPE numeric(12,2), ADD note text")
    env.pg.execute(f"INSERT INTO {s}.src VALUES (5000000000, '{'x' * 50}', 1234567890.12, 'new')")
    plan = runner.plan("d")
    assert plan.changes == [
        "widen id: int32 -> bigint",
        "widen code: varchar(20) -> varchar(50)",
        "widen amount: decimal(10,2) -> numeric(12,2)",
        "add column note text",
    ]
    assert runner.run("d").status == "succeeded"
    assert env.pg_rows(f"SELECT * FROM {s}.dst ORDER BY id") == [
        (1, "a", Decimal("1.25"), None),
        (5000000000, "x" * 50, Decimal("1234567890.12"), "new"),
    ]


def test_freeze_ignores_new_columns_and_fail_stops(env: Env) -> None:
    s = env.schema
    env.pg.execute(f"CREATE TABLE {s}.src (id int, a text)")
    env.pg.execute(f"INSERT INTO {s}.src VALUES (1, 'x')")
    assert _sync(env, "freeze").run("d").status == "succeeded"
    env.pg.execute(f"ALTER TABLE {s}.src ADD b text")
    env.pg.execute(f"INSERT INTO {s}.src VALUES (2, 'y', 'dropped')")
    frozen = _sync(env, "freeze")
    assert frozen.plan("d").frozen_out == ["b"]
    assert frozen.run("d").status == "succeeded"
    assert env.pg_rows(f"SELECT * FROM {s}.dst ORDER BY id") == [(1, "x"), (2, "y")]
    with pytest.raises(SyncPlanError, match="column b: new in the source"):
        _sync(env, "fail").run("d")


def test_incompatible_change_stops_before_writing(env: Env) -> None:
    s = env.schema
    env.pg.execute(f"CREATE TABLE {s}.src (id int, qty int)")
    env.pg.execute(f"INSERT INTO {s}.src VALUES (1, 10)")
    runner = _sync(env, "evolve")
    runner.run("d")
    env.pg.execute(f"ALTER TABLE {s}.src ALTER qty TYPE text")
    env.pg.execute(f"INSERT INTO {s}.src VALUES (2, 'many')")
    with pytest.raises(
        SyncPlanError,
        match="column qty: incompatible change: target has int32, source now has text",
    ):
        runner.run("d")
    assert env.pg_rows(f"SELECT * FROM {s}.dst") == [(1, 10)]


def test_plan_cli_prints_the_changes(env: Env) -> None:
    env.pg.execute(f"CREATE TABLE {env.schema}.src (id int, total numeric(38,9), at timestamptz)")
    env.config(
        d={
            "source": {"engine": "pg", "table": f"{env.schema}.src"},
            "target": {"engine": "duck", "table": "dst"},
            "columns": {"total": {"rename": "amount"}},
        }
    )
    text = env.cli("plan", "d").stdout.decode()
    assert "create table dst" in text and "DECIMAL(38,9)" in text and "TIMESTAMPTZ" in text
    data = json.loads(env.cli("plan", "d", "--json").stdout)
    assert [(c["name"], c["type"], c["target_type"]) for c in data["columns"]] == [
        ("id", "int32", "INTEGER"),
        ("amount", "decimal(38,9)", "DECIMAL(38,9)"),
        ("at", "timestamptz", "TIMESTAMPTZ"),
    ]
    env.config(
        e={
            "source": {"engine": "pg", "table": f"{env.schema}.src"},
            "target": {"engine": "my", "table": "x"},
        }
    )
    bad = env.cli("plan", "e", check=False)
    assert bad.returncode == 1 and "column at: timestamptz -> mysql" in bad.stderr.decode()
