"""Every tricky type through PostgreSQL -> X -> PostgreSQL, compared value by value."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from tests.sync.conftest import Env

from portkey.orchestrator.sync.runner import Runner

LONG = "ünïcødé ✓ 漢字 🎉 " * 60_000  # ~1.3 MB
TRICKY = f"""
CREATE TABLE {{s}}.tricky (
  id bigint PRIMARY KEY, d numeric(38,9), f double precision, ts timestamp, tz timestamptz,
  s text, v varchar(20), j jsonb, b boolean, dt date, big bigint
);
INSERT INTO {{s}}.tricky VALUES
 (1, 99999999999999999999999999999.999999999, 'NaN', '2024-02-29 23:59:59.999999',
  '2024-03-10 02:30:00-08', '', '', '{{"k": ["ü", 1.5, null, {{"n": true}}]}}', true,
  '2024-02-29', 9223372036854775807),
 (2, -0.000000001, 'Infinity', '1900-01-01 00:00:00', '1969-07-20 20:17:40.123456+00',
  NULL, NULL, NULL, NULL, NULL, -9223372036854775808),
 (3, 1.5, '-Infinity', NULL, NULL, 'tab\there, "quote", comma, new
line \\N back\\slash', 'ünïcødé ✓ 漢字 🎉', '[]', false, '9999-12-31', 0),
 (4, NULL, 1.7976931348623157e308, '2000-01-01 12:00:00', '2000-01-01 12:00:00+05:30',
  '{LONG}', 'x', '"just a string"', NULL, '1970-01-01', NULL),
 (5, 0, 5e-324, NULL, NULL, 'NULL', 'null', 'null', NULL, NULL, 1)
"""
COLS = ["id", "d", "f", "ts", "tz", "s", "v", "j", "b", "dt", "big"]


def _load(env: Env) -> None:
    for statement in TRICKY.replace("{s}", env.schema).split(";\n"):
        env.pg.execute(statement)


def _rows(env: Env, table: str, cols: list[str]) -> list[tuple[Any, ...]]:
    """Rows in id order, NaN spelled "NaN" so that equal rows compare equal in Python."""
    rows = env.pg_rows(f"SELECT {', '.join(cols)} FROM {env.schema}.{table} ORDER BY id")
    nan = lambda v: "NaN" if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
    return [tuple(nan(v) for v in row) for row in rows]


def tricky_in_duckdb_is_exact(env: Env) -> None:
    """The tricky table, synced into the env's DuckDB as ``main.tricky``, kept every value."""
    con = duckdb.connect(str(env.tmp / "sync.duckdb"))
    try:
        got = con.execute(
            "SELECT d, isnan(f), f, s IS NULL, s = '', length(s) FROM tricky ORDER BY id"
        ).fetchall()
    finally:
        con.close()
    assert got[0][:2] == (Decimal("99999999999999999999999999999.999999999"), True)
    assert got[0][3:5] == (False, True)  # '' stayed '', not NULL
    assert got[1][2:4] == (float("inf"), True)  # NULL stayed NULL
    assert got[3][5] == len(_rows(env, "tricky", ["s"])[3][0])  # the 1.3 MB text, whole


def events(env: Env) -> None:
    """100 events (id, at, v) in PostgreSQL: the source of the incremental tests."""
    env.pg.execute(f"CREATE TABLE {env.schema}.ev (id int PRIMARY KEY, at timestamptz, v text)")
    env.pg.execute(
        f"INSERT INTO {env.schema}.ev SELECT g, '2026-01-01'::timestamptz + g * interval '1 minute',"
        f" 'v' || g FROM generate_series(1, 100) g"
    )


def late_arrivals(env: Env) -> None:
    """After ``events``: a late row (inside a 30m lookback), a changed row and a new last one."""
    s = env.schema
    env.pg.execute(f"INSERT INTO {s}.ev VALUES (1000, '2026-01-01 01:20:00+00', 'late')")
    env.pg.execute(f"UPDATE {s}.ev SET v = 'changed' WHERE id = 95")
    env.pg.execute(f"INSERT INTO {s}.ev VALUES (101, '2026-01-01 01:41:00+00', 'new')")


def _there_and_back(env: Env, middle: str, lossy: dict[str, Any]) -> Runner:
    table = "tricky_copy" if middle in ("pg", "pg2") else "tricky"
    there = f"{env.schema}.{table}" if middle in ("pg", "pg2", "duck") else table
    if middle == "duck":
        there = "main.tricky"
    runner = Runner(
        env.settings(
            there={
                "source": {"engine": "pg", "table": f"{env.schema}.tricky"},
                "target": {"engine": middle, "table": there},
                "merge_keys": ["id"],
                "columns": lossy,
                "verify": "checksums",
            },
            back={
                "source": {"engine": middle, "table": there},
                "target": {"engine": "pg", "table": f"{env.schema}.back"},
                "merge_keys": ["id"],
                "verify": "checksums",
            },
        )
    )
    for job in ("there", "back"):
        result = runner.run(job)
        assert result.status == "succeeded", result.verification
        assert result.rows_written == 5
    return runner


@pytest.mark.parametrize("middle", ["pg", "pg2", "duck"])
def test_exact_round_trip(env: Env, middle: str) -> None:
    _load(env)
    runner = _there_and_back(env, middle, {})
    assert runner.run("there").same_engine is (middle == "pg")
    assert _rows(env, "back", COLS) == _rows(env, "tricky", COLS)
    # NaN == NaN in PostgreSQL's ordering: compare the set too, as the engine sees it
    s = env.schema
    assert env.pg_rows(
        f"SELECT count(*) FROM (SELECT {', '.join(COLS)} FROM {s}.tricky EXCEPT "
        f"SELECT {', '.join(COLS)} FROM {s}.back) x"
    ) == [(0,)]
    assert env.pg_rows(
        f"SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns "
        f"WHERE table_schema = '{s}' AND table_name = 'back' AND column_name = 'd'"
    ) == [("numeric", 38, 9)]


@pytest.mark.parametrize(
    ("middle", "lossy"),
    [
        ("lite", {"f": {"allow_lossy": True}}),
        ("my", {"f": {"allow_lossy": True}, "tz": {"allow_lossy": True}}),
    ],
)
def test_round_trip_where_the_engine_cannot_store_everything(
    env: Env, middle: str, lossy: dict[str, Any]
) -> None:
    _load(env)
    _there_and_back(env, middle, lossy)
    exact = [c for c in COLS if c not in lossy]
    assert _rows(env, "back", exact) == _rows(env, "tricky", exact)
    floats = [r[0] for r in _rows(env, "back", ["f"])]
    if middle == "lite":  # SQLite has no NaN: allow_lossy wrote NULL
        assert floats[0] is None and floats[1:3] == [math.inf, -math.inf]
    else:  # MySQL has neither NaN nor infinities
        assert floats[:3] == [None, None, None]
    assert floats[3:] == [1.7976931348623157e308, 5e-324]
    if "tz" in lossy:  # the instant is kept (as UTC); the type lost its zone
        assert [r[0] for r in _rows(env, "back", ["tz::text"])][:2] == [
            "2024-03-10 10:30:00",
            "1969-07-20 20:17:40.123456",
        ]


def test_nan_without_allow_lossy_fails_naming_the_column(env: Env) -> None:
    _load(env)
    runner = Runner(
        env.settings(
            x={
                "source": {"engine": "pg", "table": f"{env.schema}.tricky"},
                "target": {"engine": "lite", "table": "t"},
            }
        )
    )
    with pytest.raises(Exception, match="column f: sqlite cannot store NaN"):
        runner.run("x")
    assert Decimal("1.5") in [r[0] for r in _rows(env, "tricky", ["d"])]
