"""Lookups read only in CASE conditions become key lists (``planner/lookups.py``), with
TPC-H's foreign keys declared: answers must match one DuckDB, and only the keys of the
rows where a condition holds may move from the lookup's engine."""

from __future__ import annotations

import duckdb
import pytest

from portkey.orchestrator.service import Orchestrator, QueryResult
from tests.orchestrator import tpch


def _rows(result: QueryResult, engine: str) -> int:
    return sum(s.rows for s in result.execution.stats if s.engine == engine)


def _rewritten(result: QueryResult) -> bool:
    return any("not fetched: the conditions on it are key lists" in n for n in result.plan.notes)


def test_q14_fetches_the_promo_parts_keys_only(
    orch: Orchestrator, keyed: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    plain = tpch.checked(orch, reference, tpch.queries()[14])
    result = tpch.checked(keyed, reference, tpch.queries()[14])
    assert _rewritten(result) and not _rewritten(plain)
    (promo,) = reference.execute("SELECT count(*) FROM part WHERE p_type LIKE 'PROMO%'").fetchone()
    assert _rows(result, "my") == promo
    assert result.execution.bytes_moved < plain.execution.bytes_moved


def test_each_condition_gets_its_own_key_list(
    keyed: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = (
        "SELECT o_orderpriority, "
        "sum(CASE WHEN c_mktsegment = 'BUILDING' THEN o_totalprice ELSE 0 END) AS building, "
        "count(CASE WHEN c_acctbal > 9000 THEN 1 END) AS rich, "
        "sum(CASE WHEN c_mktsegment = 'BUILDING' THEN 1 ELSE 0 END) AS n "
        "FROM orders JOIN customer ON o_custkey = c_custkey GROUP BY 1 ORDER BY 1"
    )
    result = tpch.checked(keyed, reference, sql)
    assert _rewritten(result)
    (building, rich) = reference.execute(
        "SELECT count(*) FILTER (WHERE c_mktsegment = 'BUILDING'), "
        "count(*) FILTER (WHERE c_acctbal > 9000) FROM customer"
    ).fetchone()
    # one key list per distinct condition: the repeated one is fetched once
    assert _rows(result, "pg") == building + rich
    assert sum(1 for s in result.execution.stats if s.engine == "pg") == 2


@pytest.mark.parametrize(
    "sql",
    [
        # the customer's segment is also an output: the lookup is fetched
        "SELECT c_mktsegment, sum(CASE WHEN c_mktsegment = 'BUILDING' THEN o_totalprice END) "
        "AS b FROM orders JOIN customer ON o_custkey = c_custkey GROUP BY 1 ORDER BY 1",
        # a filter on the lookup: it drops orders, so the condition is not all it does
        "SELECT o_orderpriority, sum(CASE WHEN c_mktsegment = 'BUILDING' THEN o_totalprice "
        "ELSE 0 END) AS b FROM orders JOIN customer ON o_custkey = c_custkey "
        "WHERE c_nationkey = 3 GROUP BY 1 ORDER BY 1",
        # the condition also reads the orders' side
        "SELECT o_orderpriority, sum(CASE WHEN c_acctbal > o_totalprice / 100 THEN 1 ELSE 0 "
        "END) AS n FROM orders JOIN customer ON o_custkey = c_custkey GROUP BY 1 ORDER BY 1",
    ],
)
def test_no_key_lists_where_the_lookup_does_more(
    sql: str, keyed: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    assert not _rewritten(tpch.checked(keyed, reference, sql))
