"""The PostgreSQL adapter reads answers as COPY CSV parsed by Arrow: every value exact."""

from __future__ import annotations

import math
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest

from portkey.orchestrator.engines import create_engine
from portkey.orchestrator.settings import DataSettings
from tests.orchestrator.tpch import PG_DSN


@pytest.fixture(scope="module")
def pg() -> object:
    settings = DataSettings.model_validate({"engines": {"pg": {"type": "postgres", "dsn": PG_DSN}}})
    return create_engine("pg", settings.engines["pg"])


def test_tricky_values_come_back_exact(pg: object) -> None:
    table = pg.fetch(  # type: ignore[attr-defined]
        "SELECT * FROM (VALUES "
        "(1, 12345678901234.56::numeric(16,2), 'NaN'::float8, ''::text, 'a,\"b\"\n\\N ü'::varchar(20),"
        " '2024-02-29 23:59:59.999999+05:30'::timestamptz, '1900-01-01 00:00:00'::timestamp,"
        " '9999-12-31'::date, true),"
        "(2, NULL, '-Infinity'::float8, NULL, NULL, NULL, NULL, NULL, NULL)"
        ") AS t(id, n, f, s, v, tz, ts, d, b)"
    ).table
    rows = table.to_pylist()
    assert rows[0]["n"] == Decimal("12345678901234.56")
    assert math.isnan(rows[0]["f"]) and rows[1]["f"] == -math.inf
    assert rows[0]["s"] == "" and rows[1]["s"] is None  # '' stays '', NULL stays NULL
    assert rows[0]["v"] == 'a,"b"\n\\N ü'
    assert rows[0]["tz"] == datetime(2024, 2, 29, 18, 29, 59, 999999, tzinfo=UTC)
    assert rows[0]["ts"] == datetime(1900, 1, 1)
    assert rows[0]["d"] == date(9999, 12, 31)
    assert rows[0]["b"] is True and rows[1]["b"] is None
    assert str(table.schema.field("n").type) == "decimal128(16, 2)"


def test_values_no_arrow_type_holds_are_fetched_as_rows(pg: object) -> None:
    table = pg.fetch(  # type: ignore[attr-defined]
        "SELECT 'NaN'::numeric(10,2) AS n, '{\"a\": 1}'::jsonb AS j, 2 AS two"
    ).table
    row = table.to_pylist()[0]
    assert math.isnan(row["n"]) and row["two"] == 2  # a numeric NaN: only a double holds it
    assert row["j"] == {"a": 1}


def test_an_empty_answer_keeps_its_columns(pg: object) -> None:
    table = pg.fetch("SELECT 1::int8 AS a, 'x'::text AS b WHERE false").table  # type: ignore[attr-defined]
    assert table.num_rows == 0 and table.column_names == ["a", "b"]


def _backend(engine: object) -> int:
    table = engine.fetch("SELECT pg_backend_pid() AS pid").table  # type: ignore[attr-defined]
    return int(table.column("pid")[0].as_py())


def _fresh() -> object:
    settings = DataSettings.model_validate({"engines": {"pg": {"type": "postgres", "dsn": PG_DSN}}})
    return create_engine("pg", settings.engines["pg"])


def test_fetches_reuse_a_pooled_session_that_is_left_clean() -> None:
    engine = _fresh()
    first = _backend(engine)
    assert _backend(engine) == first  # no new connection (and login) per fragment
    read_only = engine.fetch("SHOW transaction_read_only").table  # type: ignore[attr-defined]
    assert read_only.column(0).to_pylist() == ["on"]
    with pytest.raises(Exception, match="statement timeout"):
        engine.fetch("SELECT pg_sleep(2)", timeout_s=0.2)  # type: ignore[attr-defined]
    assert _backend(engine) != first  # the session of a failed fetch is not reused


def test_a_pooled_session_the_server_closed_is_not_handed_out() -> None:
    engine = _fresh()
    pid = _backend(engine)
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 5
    while True:  # the server closes the socket a moment after it answers
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            gone = not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchall()
        if gone or time.monotonic() > deadline:
            break
    assert _backend(engine) != pid  # a fresh session, not a 503
