"""ClickHouse (embedded chdb) as an engine: part and partsupp move from MariaDB to it.

All 22 TPC-H queries must still match one DuckDB holding every table, with the pushed
fragments written in ClickHouse's dialect and refused writes enforced by ClickHouse itself.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from portkey.orchestrator.service import Orchestrator
from portkey.orchestrator.settings import DataSettings
from tests.orchestrator import tpch

QUERIES = tpch.queries()
KEYS = {"part": "p_partkey", "partsupp": "(ps_partkey, ps_suppkey)"}


@pytest.fixture(scope="module")
def with_clickhouse(
    deployment: tpch.Deployment, tpch_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Orchestrator:
    from chdb import session

    path = tmp_path_factory.mktemp("chdb") / "data"
    loader = session.Session(str(path))
    loader.query("CREATE DATABASE tpch")
    for table, key in KEYS.items():
        loader.query(
            f"CREATE TABLE tpch.{table} ENGINE = MergeTree ORDER BY {key} AS "
            f"SELECT * FROM file('{tpch_dir / table}.parquet', Parquet)"
        )
    loader.close()
    engines = {k: v for k, v in deployment.engines().items() if k != "my"}
    engines["ch"] = {"type": "chdb", "path": str(path)}
    return Orchestrator(DataSettings.model_validate({"engines": engines}))


def test_catalog_comes_from_clickhouse(with_clickhouse: Orchestrator) -> None:
    tables = {t.name: t for t in with_clickhouse.catalog.tables() if t.engine == "ch"}
    assert set(tables) == {"part", "partsupp"}
    assert tables["partsupp"].rows == 8000
    assert tables["part"].column("p_retailprice").type == "DECIMAL(15, 2)"  # type: ignore[union-attr]


@pytest.mark.parametrize("number", sorted(QUERIES))
def test_tpch_over_clickhouse_matches_single_duckdb(
    number: int, with_clickhouse: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = QUERIES[number]
    result = with_clickhouse.query(sql)
    got = [tuple(row.values()) for row in result.table.to_pylist()]
    diff = tpch.same_rows(got, reference.execute(sql).fetchall(), "order by" in sql.lower())
    assert diff is None, f"q{number}: {diff}"


def test_clickhouse_enforces_read_only_itself(with_clickhouse: Orchestrator) -> None:
    engine = with_clickhouse.catalog.engines["ch"]
    with pytest.raises(Exception, match="readonly"):
        engine.fetch("CREATE TABLE tpch.x (a Int64) ENGINE = Memory")
