"""Snowflake as an engine: the real connector against fakesnow (tests/fakes/snowflake.py).

customer, nation and region move from PostgreSQL to "Snowflake" (created with upper-case,
unquoted names, as Snowflake users make them); lineitem/orders stay on DuckDB, part/partsupp
on MariaDB, supplier on SQLite. All 22 TPC-H queries must still match one DuckDB.

Timeouts and cancels: fakesnow never stops a statement (tests/fakes/snowflake.py says why), so
these tests see what the orchestrator answers and that it sends Snowflake the cancel, not that
Snowflake stops; Snowflake's own statement timeout (errno 604/630) cannot be produced here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from portkey.errors import GatewayError
from portkey.orchestrator.engines import create_engine
from portkey.orchestrator.engines.snowflake import normalized, snowflake_sql, snowflake_type
from portkey.orchestrator.service import Orchestrator
from portkey.orchestrator.settings import DataSettings, SnowflakeEngine
from tests.fakes.snowflake import FakeSnowflake, load
from tests.orchestrator import tpch

QUERIES = tpch.queries()
MOVED = ("customer", "nation", "region")
#: rows of SLOW.BIG and of DuckDB's PAIRS: a count of their pairs whose product is 7 (no
#: equi-join, no statistics to prune it) keeps an engine busy for seconds
SLOW_ROWS = 45_000
SLOW_SF = "SELECT count(*) AS n FROM big x, big y WHERE x.a * y.a = 7"
SLOW_DUCK = "SELECT count(*) AS n FROM pairs p, pairs q WHERE p.b * q.b = 7"
CANCEL = "SYSTEM$CANCEL_ALL_QUERIES"


@pytest.fixture(scope="module")
def fake_snowflake(deployment: tpch.Deployment) -> Iterator[FakeSnowflake]:
    with FakeSnowflake() as server:
        conn = server.connect()
        try:
            for name in MOVED:
                load(conn, "TPCH", name.upper(), deployment.tables[name])
        finally:
            conn.close()
        yield server


@pytest.fixture(scope="module")
def with_snowflake(deployment: tpch.Deployment, fake_snowflake: FakeSnowflake) -> Orchestrator:
    engines = {k: v for k, v in deployment.engines().items() if k != "pg"}
    engines["sf"] = fake_snowflake.engine(schemas=["tpch"])
    return Orchestrator(DataSettings.model_validate({"engines": engines}))


def test_catalog_shows_snowflake_names_folded_with_types_and_row_counts(
    with_snowflake: Orchestrator,
) -> None:
    tables = {t.name: t for t in with_snowflake.catalog.tables() if t.engine == "sf"}
    assert set(tables) == set(MOVED)
    customer = tables["customer"]
    assert customer.qualified == "sf.tpch.customer"
    assert customer.rows == 1500
    assert customer.column("c_acctbal").type == "DECIMAL(15, 2)"  # type: ignore[union-attr]
    assert customer.column("c_custkey").type == "BIGINT"  # type: ignore[union-attr]


@pytest.mark.parametrize("number", sorted(QUERIES))
def test_tpch_over_snowflake_matches_single_duckdb(
    number: int, with_snowflake: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = QUERIES[number]
    result = with_snowflake.query(sql)
    got = [tuple(row.values()) for row in result.table.to_pylist()]
    diff = tpch.same_rows(got, reference.execute(sql).fetchall(), "order by" in sql.lower())
    assert diff is None, f"q{number}: {diff}"


def test_a_join_and_aggregate_on_snowflake_alone_run_inside_it(
    with_snowflake: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = (
        "SELECT n_name, count(*) AS customers FROM customer JOIN nation "
        "ON c_nationkey = n_nationkey WHERE c_mktsegment = 'BUILDING' GROUP BY n_name"
    )
    result = with_snowflake.query(sql)
    (fragment,) = [f for f in result.execution.stats if f.engine == "sf"]
    assert "GROUP BY" in fragment.sql.upper()  # the join and aggregate ran inside Snowflake
    assert fragment.rows == result.table.num_rows <= 25
    got = sorted((r["n_name"], r["customers"]) for r in result.table.to_pylist())
    assert got == sorted(reference.execute(sql).fetchall())


def test_unreachable_snowflake_is_a_503_naming_the_engine() -> None:
    settings = DataSettings.model_validate(
        {
            "engines": {
                "sf": {
                    "type": "snowflake",
                    "account": "nowhere",
                    "user": "u",
                    "password": "p",
                    "database": "D",
                    "host": "127.0.0.1",
                    "port": 1,
                    "protocol": "http",
                    "network_timeout_s": 3,
                }
            }
        }
    )
    engine = create_engine("sf", settings.engines["sf"])
    with pytest.raises(GatewayError) as info:
        engine.fetch("SELECT 1")
    assert info.value.status == 503
    assert "'sf'" in info.value.message


def test_lower_case_names_reach_snowflake_unquoted_so_they_fold_to_its_upper_case() -> None:
    sql, names = snowflake_sql(
        'SELECT "c"."c_name" AS "name", "Mixed" FROM "tpch"."customer" AS "c"'
    )
    assert sql == 'SELECT c.c_name AS name, "Mixed" FROM tpch.customer AS c'
    assert names == ["name", "Mixed"]


def test_answers_get_the_asked_for_names_and_microsecond_timestamps() -> None:
    raw = pa.table(
        {
            "NAME": pa.array(["a"]),
            "TS": pa.array([1_700_000_000_123_456_000], pa.timestamp("ns")),
            "TSTZ": pa.array([1_700_000_000_123_456_000], pa.timestamp("ns", tz="+02:00")),
        }
    )
    table = normalized(raw, ["name", "ts", "tstz"])
    assert table.column_names == ["name", "ts", "tstz"]
    assert table.schema.field("ts").type == pa.timestamp("us")
    assert table.schema.field("tstz").type == pa.timestamp("us", tz="UTC")
    assert table.column("ts")[0].as_py() == raw.column("TS")[0].as_py().to_pydatetime()


@pytest.mark.parametrize(
    ("declared", "duckdb_type"),
    [
        (("NUMBER", 38, 0), "BIGINT"),
        (("NUMBER", 38, 9), "DECIMAL(38, 9)"),
        (("FLOAT", None, None), "DOUBLE"),
        (("TEXT", None, None), "VARCHAR"),
        (("TIMESTAMP_NTZ", None, None), "TIMESTAMP"),
        (("TIMESTAMP_TZ", None, None), "TIMESTAMPTZ"),
        (("VARIANT", None, None), "JSON"),
    ],
)
def test_snowflake_types_in_the_planners_spelling(
    declared: tuple[str, int | None, int | None], duckdb_type: str
) -> None:
    assert snowflake_type(*declared) == duckdb_type


def test_settings_keep_the_password_out_of_reprs() -> None:
    settings = SnowflakeEngine.model_validate(
        {"type": "snowflake", "account": "a", "user": "u", "password": "s3cret", "database": "d"}
    )
    assert "s3cret" not in repr(settings)


@pytest.fixture(scope="module")
def slow_snowflake(fake_snowflake: FakeSnowflake) -> FakeSnowflake:
    conn = fake_snowflake.connect()
    try:
        cur = conn.cursor()
        cur.execute("CREATE SCHEMA IF NOT EXISTS SLOW")
        cur.execute(
            "CREATE OR REPLACE TABLE SLOW.BIG AS SELECT seq4() AS A "
            f"FROM TABLE(GENERATOR(ROWCOUNT => {SLOW_ROWS}))"
        )
    finally:
        conn.close()
    return fake_snowflake


@pytest.fixture
def slow(slow_snowflake: FakeSnowflake, tmp_path: Path) -> Iterator[Orchestrator]:
    """Snowflake's SLOW schema beside a DuckDB whose statements may run 0.3 s."""
    path = tmp_path / "pairs.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE pairs AS SELECT range AS b FROM range({SLOW_ROWS})")
    con.close()
    engines = {
        "sf": slow_snowflake.engine(schemas=["slow"]),
        "duck": {"type": "duckdb", "path": str(path), "statement_timeout_s": 0.3},
    }
    orch = Orchestrator(DataSettings.model_validate({"engines": engines}))
    orch.catalog.ensure_loaded()
    yield orch
    # fakesnow cannot stop what these tests leave running: let it end before the server does
    # (the connector keeps retrying a statement the server's exit cut, for minutes)
    sf = orch.catalog.engines["sf"]
    deadline = time.monotonic() + 60
    while sf._active and time.monotonic() < deadline:
        time.sleep(0.1)  # noqa: TID251 - test thread


def _cancels_sent(fake: FakeSnowflake, more_than: int) -> bool:
    """Whether Snowflake got more than ``more_than`` cancel statements (within 5 s)."""
    deadline = time.monotonic() + 5
    while fake.log().count(CANCEL) <= more_than and time.monotonic() < deadline:
        time.sleep(0.05)  # noqa: TID251 - test thread
    return fake.log().count(CANCEL) > more_than


def test_a_timed_out_snowflake_fragment_is_a_504_saying_what_ran(
    slow: Orchestrator, slow_snowflake: FakeSnowflake
) -> None:
    sent = slow_snowflake.log().count(CANCEL)
    start = time.perf_counter()
    with pytest.raises(GatewayError) as caught:
        slow.query(SLOW_SF, timeout_s=0.5)
    assert time.perf_counter() - start < 2  # the deadline's answer, not Snowflake's
    assert caught.value.http_status == 504 and caught.value.type == "query_timeout"
    assert "still running (cancelled)" in caught.value.message
    assert "on sf" in caught.value.message
    assert _cancels_sent(slow_snowflake, sent)


def test_a_failing_branch_answers_at_once_and_cancels_snowflake(
    slow: Orchestrator, slow_snowflake: FakeSnowflake
) -> None:
    # the DuckDB branch hits its 0.3 s statement timeout while Snowflake still counts
    sql = f"SELECT s.n AS sf_pairs, d.n AS duck_pairs FROM ({SLOW_SF}) AS s, ({SLOW_DUCK}) AS d"
    assert {f.engine for f in slow.plan(sql).fragments} == {"sf", "duck"}
    sent = slow_snowflake.log().count(CANCEL)
    start = time.perf_counter()
    with pytest.raises(GatewayError) as caught:
        slow.query(sql)
    assert time.perf_counter() - start < 2
    assert caught.value.http_status == 504 and caught.value.param == "duck"
    assert "statement timeout" in caught.value.message
    assert _cancels_sent(slow_snowflake, sent)
