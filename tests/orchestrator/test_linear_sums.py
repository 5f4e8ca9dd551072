"""Pre-aggregation of SUMs over several sides (``planner/linear.py``) and of grouping by a
function of the big side's columns: pure checks of the term split, then queries on the real
engines (TPC-H SF 0.01) whose answers must match DuckDB's while fewer rows move."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from portkey.orchestrator.planner import PlanOptions, linear
from portkey.orchestrator.service import Orchestrator
from tests.orchestrator import tpch


def _sum_of(sql: str) -> exp.Expr:
    node = sqlglot.parse_one(sql, read="duckdb")
    found = node.find(exp.Sum)
    assert found is not None
    return found.this


@pytest.mark.parametrize(
    ("sql", "want"),
    [
        ("SELECT sum(l.x * (1 - l.d) - p.c * l.q) FROM l, p", {"l", "p"}),
        ("SELECT sum(p.c * l.q) FROM l, p", {"l", "p"}),
        ("SELECT sum(-(p.c * l.q) + 2 * l.x) FROM l, p", {"l", "p"}),
        ("SELECT sum((p.c - l.q) * l.x) FROM l, p", set()),  # a factor reads both sides
        ("SELECT sum(p.c / l.q) FROM l, p", set()),  # not a product
        ("SELECT sum(l.x * l.q) FROM l, p", set()),  # one side only: the plain split
    ],
)
def test_the_sides_a_sum_splits_on(sql: str, want: set[str]) -> None:
    assert linear.sides(_sum_of(sql)) == want


def test_terms_keep_their_signs() -> None:
    found = linear.terms(_sum_of("SELECT sum(a.x - (b.y * a.z) + -a.w) FROM a, b"))
    assert [(s, [f.sql() for f in fs]) for s, fs in found] == [
        (1, ["a.x"]),
        (-1, ["b.y", "a.z"]),
        (-1, ["a.w"]),
    ]


def test_q9_profit_is_summed_on_the_engine_by_year(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # SUM(l_extendedprice * (1 - l_discount) - ps_supplycost * l_quantity) over lineitem
    # (DuckDB) x partsupp (MariaDB), grouped by EXTRACT(YEAR FROM o_orderdate)
    sql = tpch.queries()[9]
    result = tpch.checked(orch, reference, sql)
    duck = next(f for f in result.plan.fragments if f.engine == "duck")
    assert duck.kind == "preaggregate" and "EXTRACT" in duck.sql()
    assert "o_orderdate" not in duck.types  # grouped by the year, not the day
    plain = orch.query(sql, options=PlanOptions(preaggregate=False))
    (ours,) = [s for s in result.execution.stats if s.engine == "duck"]
    (theirs,) = [s for s in plain.execution.stats if s.engine == "duck"]
    assert ours.rows < theirs.rows
    assert result.execution.bytes_moved < plain.execution.bytes_moved


#: terms that are NULL on some line items (NULLIF) and a term over partsupp alone: a row
#: whose one term is NULL must count for none of them
NULLS = (
    "SELECT p_size, sum(NULLIF(l_discount, 0.0) * l_quantity - ps_supplycost * l_tax "
    "+ ps_availqty) AS s, sum(ps_supplycost * l_quantity) AS c, count(*) AS n "
    "FROM lineitem, partsupp, part WHERE l_partkey = ps_partkey AND l_suppkey = ps_suppkey "
    "AND p_partkey = ps_partkey AND p_size < 4 GROUP BY p_size ORDER BY p_size"
)


def test_a_split_sum_skips_the_rows_the_original_skips(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    (nulls,) = reference.execute(
        "SELECT count(*) FROM lineitem, part WHERE l_partkey = p_partkey AND p_size < 4 "
        "AND l_discount = 0"
    ).fetchone()
    assert nulls > 0
    result = tpch.checked(orch, reference, NULLS)
    duck = next(f for f in result.plan.fragments if f.engine == "duck")
    assert duck.kind == "preaggregate" and "IS NULL" in duck.sql()


def test_grouping_by_a_function_of_the_big_side(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = (
        "SELECT c_mktsegment, EXTRACT(YEAR FROM o_orderdate) AS y, sum(o_totalprice) AS t "
        "FROM customer, orders WHERE c_custkey = o_custkey AND c_nationkey = 7 "
        "GROUP BY c_mktsegment, EXTRACT(YEAR FROM o_orderdate) ORDER BY c_mktsegment, y"
    )
    result = tpch.checked(orch, reference, sql)
    duck = next(f for f in result.plan.fragments if f.engine == "duck")
    assert duck.kind == "preaggregate" and "EXTRACT" in duck.sql()
    plain = orch.query(sql, options=PlanOptions(preaggregate=False))
    assert result.execution.bytes_moved < plain.execution.bytes_moved
