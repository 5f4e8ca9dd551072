"""All 22 TPC-H queries over 4 engines give the answer of one DuckDB holding every table."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from portkey.orchestrator.service import Orchestrator
from tests.orchestrator import tpch

QUERIES = tpch.queries()


def test_the_tables_really_are_spread_over_four_engines(orch: Orchestrator) -> None:
    where = {t.name: t.engine for t in orch.catalog.tables()}
    assert where == tpch.PLACEMENT
    assert {s.engine.dialect for s in orch.catalog.states.values()} == {
        "duckdb",
        "postgres",
        "mysql",
        "sqlite",
    }


@pytest.mark.parametrize("keys", [False, True], ids=["no-keys", "foreign-keys"])
@pytest.mark.parametrize("number", sorted(QUERIES))
def test_tpch_query_matches_single_duckdb(
    number: int,
    keys: bool,
    orch: Orchestrator,
    keyed: Orchestrator,
    reference: duckdb.DuckDBPyConnection,
) -> None:
    # with TPC-H's foreign keys declared the planner may push top-Ns through lookups
    orch = keyed if keys else orch
    sql = QUERIES[number]
    result = orch.query(sql)
    got = [tuple(row.values()) for row in result.table.to_pylist()]
    want = reference.execute(sql).fetchall()
    assert want, "the reference answer is empty: the check would prove nothing"
    diff = tpch.same_rows(got, want, ordered="order by" in sql.lower())
    assert diff is None, f"q{number}: {diff}\nplan: {result.plan.to_dict()}"
    assert result.table.column_names == [d[0] for d in reference.execute(sql).description]
    # what ran where is reported, engine by engine
    engines = {s["engine"] for s in result.stats()["engines"]}
    tables = {t.name for t in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)}
    used = {tpch.PLACEMENT[t] for t in tables if t in tpch.PLACEMENT}
    assert engines == used
