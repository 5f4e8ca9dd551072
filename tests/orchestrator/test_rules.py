"""The planner's pure rules on fixture SQL: the expected rewrite, and the same rows on DuckDB.

Plus the rules that need the whole splitter (pre-aggregation, semi-joins): their answers
match DuckDB's and they move less than the plan without them.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from portkey.orchestrator.planner import rules
from portkey.orchestrator.service import Orchestrator
from tests.orchestrator import tpch

FIXTURES = Path(__file__).parent.parent / "data" / "orchestrator" / "rules.sql"


def _cases() -> list[tuple[str, str, str]]:
    text = "\n".join(
        line
        for line in FIXTURES.read_text().splitlines()
        if not line.startswith("-- ") or line.startswith(("-- rule:", "-- expected:"))
    )
    out = []
    for block in re.split(r"^-- rule: ", text, flags=re.M)[1:]:
        name, rest = block.split("\n", 1)
        given, expected = rest.split("-- expected:")
        out.append((name.strip(), given.strip().rstrip(";"), expected.strip().rstrip(";")))
    return out


def _apply(rule: str, sql: str) -> exp.Select:
    select = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(select, exp.Select)
    name, _, alias = rule.partition(" ")
    if name == "implied_by_or":
        for cond in rules.conjuncts(select.args["where"].this):
            implied = rules.implied_by_or(cond, {alias})
            if implied is not None:
                return select.where(implied)
    elif name == "inner_when_null_rejected":
        rules.inner_when_null_rejected(select)
    elif name == "implied_equalities":
        for implied in rules.implied_equalities(rules.conjuncts(select.args["where"].this)):
            select = select.where(implied)
    return select


def _shape(select: exp.Select) -> tuple[str, list[str]]:
    """The query without its WHERE, and WHERE's conjuncts as a sorted list (quotes dropped)."""
    plain = select.transform(
        lambda n: exp.to_identifier(n.name) if isinstance(n, exp.Identifier) else n
    )
    where = plain.args.get("where")
    conds = sorted(c.sql() for c in rules.conjuncts(where.this)) if where else []
    plain.set("where", None)
    return plain.sql(dialect="duckdb"), conds


@pytest.mark.parametrize(("rule", "given", "expected"), _cases(), ids=lambda v: str(v)[:40])
def test_rule_fixture(
    rule: str, given: str, expected: str, reference: duckdb.DuckDBPyConnection
) -> None:
    rewritten = _apply(rule, given)
    want = sqlglot.parse_one(expected, read="duckdb")
    assert isinstance(want, exp.Select)
    assert _shape(rewritten) == _shape(want)
    before = reference.execute(given).fetchall()
    after = reference.execute(rewritten.sql(dialect="duckdb")).fetchall()
    assert before and sorted(before) == sorted(after)


def test_null_rejection_needs_a_strict_predicate() -> None:
    where = sqlglot.parse_one(
        "SELECT 1 FROM a WHERE COALESCE(b.x, 0) = 1 AND c.y + 1 > 2 AND d.z IS NULL"
    ).args["where"]
    assert rules.null_rejected(rules.conjuncts(where.this)) == {"c"}


PREAGG = (
    "SELECT c_mktsegment, count(*) AS n, sum(l_quantity) AS qty, avg(l_discount) AS disc, "
    "min(l_shipdate) AS first, max(l_extendedprice) AS top FROM customer, orders, lineitem "
    "WHERE c_custkey = o_custkey AND o_orderkey = l_orderkey AND c_nationkey < 3 "
    "GROUP BY c_mktsegment ORDER BY c_mktsegment"
)


def test_preaggregation_gives_the_same_answer_and_moves_less(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    result = orch.query(PREAGG)
    kinds = {f.engine: f.kind for f in result.plan.fragments}
    assert kinds == {"pg": "scan", "duck": "preaggregate"}
    duck = next(f for f in result.plan.fragments if f.engine == "duck")
    assert "GROUP BY" in duck.sql() and "SUM" in duck.sql()
    got = [tuple(r.values()) for r in result.table.to_pylist()]
    assert tpch.same_rows(got, reference.execute(PREAGG).fetchall(), ordered=True) is None
    # without the rule (a query the rule does not apply to: count DISTINCT) far more moves
    plain = orch.query(PREAGG.replace("count(*)", "count(DISTINCT l_linenumber)"))
    assert all(f.kind != "preaggregate" for f in plain.plan.fragments)
    assert result.execution.bytes_moved * 3 < plain.execution.bytes_moved


def test_semijoin_is_skipped_when_the_small_side_is_not_small(orch: Orchestrator) -> None:
    sql = (
        "SELECT count(*) FROM customer JOIN orders ON c_custkey = o_custkey WHERE c_acctbal > -1000"
    )
    orch.executor.semijoin_max_keys = 10
    try:
        result = orch.query(sql)
    finally:
        orch.executor.semijoin_max_keys = orch.settings.semijoin_max_keys
    duck = next(s for s in result.execution.stats if s.engine == "duck")
    assert duck.semijoin_keys is None and "IN (" not in duck.sql
    assert result.table.column(0).to_pylist() == [15000]


def test_preaggregation_under_a_left_join(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # TPC-H q13: customers LEFT JOIN their (filtered) orders, count per customer
    sql = tpch.queries()[13]
    result = orch.query(sql)
    orders = next(f for f in result.plan.fragments if f.engine == "duck")
    assert orders.kind == "preaggregate" and "GROUP BY" in orders.sql()
    got = [tuple(r.values()) for r in result.table.to_pylist()]
    assert tpch.same_rows(got, reference.execute(sql).fetchall(), ordered=True) is None
    # one partial row per customer with orders, not one row per order
    (stat,) = [s for s in result.execution.stats if s.engine == "duck"]
    assert stat.rows < 1500 < 15000


def test_count_star_under_a_left_join_is_not_preaggregated(orch: Orchestrator) -> None:
    sql = (
        "SELECT c_custkey, count(*) AS n FROM customer LEFT JOIN orders "
        "ON c_custkey = o_custkey AND o_totalprice > 400000 GROUP BY c_custkey"
    )
    result = orch.query(sql)
    assert all(f.kind != "preaggregate" for f in result.plan.fragments)
    counts = dict(zip(*[c.to_pylist() for c in result.table.columns], strict=True))
    assert len(counts) == 1500 and min(counts.values()) == 1  # unmatched customers count 1
