"""A ClickHouse server as an engine: the real ``clickhouse-connect`` against tests/fakes/clickhouse.py.

The fake is ClickHouse's HTTP interface in front of chdb (ClickHouse itself, in a process of
its own). customer, nation and region move from PostgreSQL to it; the other engines stay.
All 22 TPC-H queries must still match one DuckDB holding every table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from portkey.errors import GatewayError
from portkey.orchestrator.engines import create_engine
from portkey.orchestrator.engines.base import Engine
from portkey.orchestrator.engines.clickhouse import clickhouse_type
from portkey.orchestrator.service import Orchestrator
from portkey.orchestrator.settings import ClickHouseEngine, DataSettings
from tests.fakes.clickhouse import FakeClickHouse
from tests.orchestrator import tpch

QUERIES = tpch.queries()
KEYS = {"customer": "c_custkey", "nation": "n_nationkey", "region": "r_regionkey"}
PASSWORD = "s3cret-ch-pw"
KINDS = """CREATE TABLE kinds.t (
    id UInt32, price Decimal(15, 2), day Date, at DateTime, at_ms DateTime64(3),
    at_tokyo DateTime64(6, 'Asia/Tokyo'), maybe Nullable(Int32), tag LowCardinality(String),
    tag_or_null LowCardinality(Nullable(String))
) ENGINE = MergeTree ORDER BY id"""
KIND_ROWS = (
    "INSERT INTO kinds.t VALUES "
    "(1, 12.34, '2024-01-02', '2024-01-02 03:04:05', '2024-01-02 03:04:05.123', "
    "'2024-01-02 03:04:05.123456', NULL, 'a', NULL), "
    "(2, -0.5, '1999-12-31', '1999-12-31 23:59:59', '1999-12-31 23:59:59.999', "
    "'1999-12-31 23:59:59.000001', 7, 'b', 'x')"
)


@pytest.fixture(scope="module")
def fake_clickhouse(
    tpch_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FakeClickHouse]:
    with FakeClickHouse(tmp_path_factory.mktemp("ch-server") / "data", PASSWORD) as server:
        client = server.client()
        try:
            client.command("CREATE DATABASE tpch")
            for table, key in KEYS.items():
                client.command(
                    f"CREATE TABLE tpch.{table} ENGINE = MergeTree ORDER BY {key} AS "
                    f"SELECT * FROM file('{tpch_dir / table}.parquet', Parquet)"
                )
            client.command("CREATE DATABASE kinds")
            client.command(KINDS)
            client.command(KIND_ROWS)
        finally:
            client.close()
        yield server


@pytest.fixture(scope="module")
def with_clickhouse(deployment: tpch.Deployment, fake_clickhouse: FakeClickHouse) -> Orchestrator:
    engines = {k: v for k, v in deployment.engines().items() if k != "pg"}
    engines["ch"] = fake_clickhouse.engine(schemas=["tpch"])
    return Orchestrator(DataSettings.model_validate({"engines": engines}))


def engine(fake: FakeClickHouse, **extra: object) -> Engine:
    settings = DataSettings.model_validate({"engines": {"ch": fake.engine(**extra)}})
    return create_engine("ch", settings.engines["ch"])


def test_catalog_comes_from_clickhouse_with_row_counts(with_clickhouse: Orchestrator) -> None:
    tables = {t.name: t for t in with_clickhouse.catalog.tables() if t.engine == "ch"}
    assert set(tables) == set(KEYS)  # schemas: ["tpch"] leaves the kinds database out
    customer = tables["customer"]
    assert customer.qualified == "ch.tpch.customer"
    assert customer.rows == 1500  # system.tables.total_rows
    assert tables["nation"].rows == 25
    assert customer.column("c_acctbal").type == "DECIMAL(15, 2)"  # type: ignore[union-attr]
    assert customer.column("c_custkey").type == "BIGINT"  # type: ignore[union-attr]


@pytest.mark.parametrize("number", sorted(QUERIES))
def test_tpch_over_clickhouse_server_matches_single_duckdb(
    number: int, with_clickhouse: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = QUERIES[number]
    result = with_clickhouse.query(sql)
    got = [tuple(row.values()) for row in result.table.to_pylist()]
    diff = tpch.same_rows(got, reference.execute(sql).fetchall(), "order by" in sql.lower())
    assert diff is None, f"q{number}: {diff}"


def test_a_join_and_aggregate_on_clickhouse_alone_run_inside_it(
    with_clickhouse: Orchestrator,
    fake_clickhouse: FakeClickHouse,
    reference: duckdb.DuckDBPyConnection,
) -> None:
    sql = (
        "SELECT n_name, count(*) AS customers FROM customer JOIN nation "
        "ON c_nationkey = n_nationkey WHERE c_mktsegment = 'BUILDING' GROUP BY n_name"
    )
    result = with_clickhouse.query(sql)
    (fragment,) = [f for f in result.execution.stats if f.engine == "ch"]
    assert "GROUP BY" in fragment.sql.upper() and "JOIN" in fragment.sql.upper()
    assert fragment.rows == result.table.num_rows <= 25  # only the groups crossed the wire
    assert fragment.bytes > 0
    got = sorted((r["n_name"], r["customers"]) for r in result.table.to_pylist())
    assert got == sorted(reference.execute(sql).fetchall())
    sent = [q for q in fake_clickhouse.received() if "c_mktsegment" in q.sql][-1]
    assert "JOIN" in sent.sql and "GROUP BY" in sent.sql  # one statement did it all
    assert "readonly=1" in sent.sql and "join_use_nulls=1" in sent.sql
    assert "max_execution_time=" in sent.sql and sent.sql.rstrip().endswith("FORMAT Arrow")


def test_clickhouse_enforces_read_only_itself(fake_clickhouse: FakeClickHouse) -> None:
    with pytest.raises(GatewayError, match=r"readonly|READONLY") as info:
        engine(fake_clickhouse).fetch("INSERT INTO kinds.t (id) SELECT 99")
    assert info.value.http_status == 502
    rows = engine(fake_clickhouse).fetch("SELECT count() AS n FROM kinds.t").table
    assert rows.column("n").to_pylist() == [2]


def test_statement_timeout_is_max_execution_time_and_a_504(
    fake_clickhouse: FakeClickHouse,
) -> None:
    slow = engine(fake_clickhouse, statement_timeout_s=1)
    start = time.perf_counter()
    with pytest.raises(GatewayError) as info:
        slow.fetch("SELECT sum(sleepEachRow(0.01)) AS s FROM numbers(250)")  # 2.5 s asleep
    assert info.value.http_status == 504
    assert time.perf_counter() - start < 2.4  # ClickHouse stopped it at 1 s
    sent = [q for q in fake_clickhouse.received() if "sleepEachRow" in q.sql][-1]
    assert "max_execution_time=1" in sent.sql and sent.status == 500


def test_cancel_kills_the_running_query_by_its_id(fake_clickhouse: FakeClickHouse) -> None:
    ch = engine(fake_clickhouse)
    ch.fetch("SELECT 1 AS warm")  # logged in before the fake turns slow
    fake_clickhouse.delay(10)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ch.fetch("SELECT count() AS n FROM tpch.nation WHERE n_name = 'cancel-me'")
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    try:
        worker.start()
        for _ in range(100):
            if any("cancel-me" in q.sql for q in fake_clickhouse.received()):
                break
            time.sleep(0.05)  # noqa: TID251 - test thread
        start = time.perf_counter()
        ch.cancel()
        worker.join(5)
    finally:
        fake_clickhouse.delay(0)
    assert not worker.is_alive() and time.perf_counter() - start < 3
    (query,) = [q for q in fake_clickhouse.received() if "cancel-me" in q.sql]
    kills = [q for q in fake_clickhouse.received() if q.sql.startswith("KILL QUERY")]
    assert query.killed and any(query.id in k.sql for k in kills)
    assert isinstance(errors[0], GatewayError) and errors[0].http_status == 504


def test_orchestrator_timeout_is_a_504_and_kills_the_clickhouse_query(
    with_clickhouse: Orchestrator, fake_clickhouse: FakeClickHouse
) -> None:
    fake_clickhouse.delay(5)
    try:
        with pytest.raises(GatewayError) as caught:
            with_clickhouse.query("SELECT count(*) AS n FROM region", timeout_s=0.5)
    finally:
        fake_clickhouse.delay(0)
    assert caught.value.http_status == 504
    for _ in range(60):
        sent = [
            q for q in fake_clickhouse.received() if "region" in q.sql and "count" in q.sql.lower()
        ]
        if sent and sent[-1].killed:
            break
        time.sleep(0.05)  # noqa: TID251 - test thread
    assert sent[-1].killed, "the executor did not kill the ClickHouse query"


def test_unreachable_clickhouse_is_a_503_naming_the_engine() -> None:
    settings = DataSettings.model_validate(
        {"engines": {"ch": {"type": "clickhouse", "port": 1, "connect_timeout_s": 3}}}
    )
    ch = create_engine("ch", settings.engines["ch"])
    with pytest.raises(GatewayError) as info:
        ch.fetch("SELECT 1")
    assert info.value.http_status == 503
    assert "'ch'" in info.value.message


def test_a_wrong_password_is_refused_by_the_server(fake_clickhouse: FakeClickHouse) -> None:
    with pytest.raises(GatewayError) as info:
        engine(fake_clickhouse, password="wrong").fetch("SELECT 1")
    assert info.value.http_status in (502, 503)
    assert "516" in info.value.message or "Authentication" in info.value.message


def test_clickhouse_types_reach_arrow_and_the_catalog(fake_clickhouse: FakeClickHouse) -> None:
    ch = engine(fake_clickhouse, schemas=["kinds"])
    (table,) = ch.introspect()
    assert table.rows == 2
    types = {c.name: c.type for c in table.columns}
    assert types == {
        "id": "UINTEGER",
        "price": "DECIMAL(15, 2)",
        "day": "DATE",
        "at": "TIMESTAMP",
        "at_ms": "TIMESTAMP",
        "at_tokyo": "TIMESTAMP",
        "maybe": "INT",
        "tag": "TEXT",
        "tag_or_null": "TEXT",
    }
    got = ch.fetch("SELECT * FROM kinds.t ORDER BY id").table
    schema = got.schema
    assert schema.field("id").type == pa.uint32()  # a UInt32 that is no time stays one
    assert schema.field("price").type == pa.decimal128(15, 2)
    assert schema.field("day").type == pa.date32()
    for name in ("at", "at_ms", "at_tokyo"):
        assert schema.field(name).type == pa.timestamp("us"), name
    assert pa.types.is_string(schema.field("tag").type)
    first, second = got.to_pylist()
    assert first["price"] == Decimal("12.34") and second["price"] == Decimal("-0.50")
    assert first["day"] == date(2024, 1, 2)
    assert first["at"] == datetime(2024, 1, 2, 3, 4, 5)
    assert first["at_ms"] == datetime(2024, 1, 2, 3, 4, 5, 123000)
    assert first["at_tokyo"] == datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert second["at"] == datetime(1999, 12, 31, 23, 59, 59)
    assert (first["maybe"], second["maybe"]) == (None, 7)
    assert (first["tag"], first["tag_or_null"], second["tag_or_null"]) == ("a", None, "x")


@pytest.mark.parametrize(
    ("declared", "planned"),
    [
        ("Nullable(Decimal(15, 2))", "DECIMAL(15, 2)"),
        ("LowCardinality(Nullable(String))", "TEXT"),
        ("DateTime('Europe/Berlin')", "TIMESTAMP"),
        ("DateTime64(9, 'UTC')", "TIMESTAMP"),
        ("Date32", "DATE"),
        ("Enum8('a' = 1, 'b' = 2)", "VARCHAR"),
        ("Int64", "BIGINT"),
        ("Float64", "DOUBLE"),
    ],
)
def test_clickhouse_types_in_the_planners_spelling(declared: str, planned: str) -> None:
    assert clickhouse_type(declared) == planned


def test_settings_keep_the_password_out_of_reprs(fake_clickhouse: FakeClickHouse) -> None:
    settings = ClickHouseEngine.model_validate(
        {"type": "clickhouse", "username": "u", "password": PASSWORD, "secure": True}
    )
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    assert settings.port == 8123
    ch = engine(fake_clickhouse)
    assert PASSWORD not in repr(ch.settings)
