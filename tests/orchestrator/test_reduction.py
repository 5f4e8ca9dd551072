"""Semi-join direction: the side that is reduced ships its keys, whichever side is bigger.

Pure checks of ``reduction`` on hand-made fragments, then queries on the real engines (TPC-H
SF 0.01) whose answers must match DuckDB's while the big side's keys flow to the other side;
and key lists written as text, read back by every engine.
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from portkey.orchestrator.planner import Fragment, PlanOptions, SemiJoin, reduction, rules
from portkey.orchestrator.service import Orchestrator, QueryResult
from portkey.orchestrator.shipping import render_keys
from tests.orchestrator import tpch


def _fragment(name: str, sql: str = "SELECT 1") -> Fragment:
    select = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(select, exp.Select)
    return Fragment(name, "duck", "duckdb", "scan", select, estimated_rows=1)


@pytest.mark.parametrize(
    ("sql", "want"),
    [
        ("SELECT a FROM t", 1.0),
        ("SELECT a FROM t WHERE t.x = 1 AND t.y < 2", 0.0625),
        ("SELECT a FROM t JOIN u ON TRUE WHERE t.k = u.k", 1.0),  # a join equality: no filter
        ("SELECT k FROM t GROUP BY k", 1.0),  # grouping keeps every key
        ("SELECT k FROM t GROUP BY k HAVING SUM(q) > 3", 0.25),
        ("SELECT a FROM t ORDER BY a LIMIT 10", 0.01),
        ("SELECT MAX(a) FROM t", 0.001),
        # a derived table's aggregate does not make the query one row
        ("SELECT t.a FROM t JOIN (SELECT k, MAX(v) AS m FROM u GROUP BY k) AS d ON TRUE", 1.0),
        # equal to the one value of a global aggregate (TPC-H q15's max): a point lookup
        ("SELECT t.a FROM t CROSS JOIN (SELECT MAX(v) AS m FROM u) AS d WHERE t.v = d.m", 0.001),
        # ... but not when that derived table is grouped (one row per key)
        ("SELECT t.a FROM t, (SELECT k, MAX(v) AS m FROM u GROUP BY k) AS d WHERE t.v = d.m", 1.0),
    ],
)
def test_own_selectivity(sql: str, want: float) -> None:
    query = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(query, exp.Query)
    assert reduction.own_selectivity(query, 1000) == pytest.approx(want)


def test_a_reduced_big_side_ships_to_a_whole_small_side() -> None:
    # orders grouped with HAVING (a quarter of 600,000 line items) vs customer read whole
    big, small = _fragment("_f1"), _fragment("_f2")
    by_name = {"_f1": big, "_f2": small}
    sizes = {"_f1": reduction.Size(150_000, 600_000), "_f2": reduction.Size(15_000, 15_000)}
    assert reduction.gain("_f2", "_f1", by_name, sizes) is None  # whole: keeps everything
    fanout = reduction.gain("_f1", "_f2", by_name, sizes)
    assert fanout is not None and fanout < 1.0
    # a filter on the fact rows says little about which of few dimension keys remain
    sizes["_f2"] = reduction.Size(1000, 1000)
    sizes["_f1"] = reduction.Size(37_500, 600_000)
    assert reduction.gain("_f1", "_f2", by_name, sizes) is None


def test_no_edge_closes_a_cycle() -> None:
    a, b, c = _fragment("_f1"), _fragment("_f2"), _fragment("_f3")
    by_name = {"_f1": a, "_f2": b, "_f3": c}
    sizes = {n: reduction.Size(10, 1000) for n in by_name}
    b.semijoins.append(SemiJoin("_f1", "k", exp.column("k")))
    c.semijoins.append(SemiJoin("_f2", "k", exp.column("k")))
    assert reduction.feeds("_f1", "_f3", by_name)
    assert reduction.gain("_f3", "_f1", by_name, sizes) is None
    assert reduction.gain("_f1", "_f3", by_name, sizes) is not None
    # keys shipped into a fragment narrow what it ships on, down the chain
    assert reduction.reduced("_f3", by_name, sizes) == pytest.approx(10 * 0.01 * 0.01)


def test_a_conjunct_common_to_every_disjunct_holds_on_every_row(
    reference: duckdb.DuckDBPyConnection,
) -> None:
    sql = (
        "SELECT l_orderkey, p_partkey FROM lineitem, part WHERE "
        "(l_partkey = p_partkey AND p_size < 5 AND l_quantity < 3) OR "
        "(p_partkey = l_partkey AND l_partkey = p_partkey AND p_size > 45 AND l_quantity > 49)"
    )
    select = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(select, exp.Select)
    common = rules.common_to_or(rules.conjuncts(select.args["where"].this))
    assert [c.sql() for c in common] == ["l_partkey = p_partkey"]
    before = reference.execute(sql).fetchall()
    after = reference.execute(select.where(common[0]).sql(dialect="duckdb")).fetchall()
    assert before and sorted(before) == sorted(after)


def _check(orch: Orchestrator, reference: duckdb.DuckDBPyConnection, sql: str) -> QueryResult:
    result = orch.query(sql)
    got = [tuple(r.values()) for r in result.table.to_pylist()]
    want = reference.execute(sql).fetchall()
    assert tpch.same_rows(got, want, ordered="ORDER BY" in sql) is None
    return result


#: a few big orders (DuckDB, HAVING over lineitem) and their customers (PostgreSQL, 1,500)
FEW_BIG_ORDERS = (
    "SELECT c_name, o_orderkey, sum(l_quantity) AS qty FROM customer, orders, lineitem "
    "WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey "
    "HAVING sum(l_quantity) > 280) AND c_custkey = o_custkey AND o_orderkey = l_orderkey "
    "GROUP BY c_name, o_orderkey ORDER BY o_orderkey"
)


def test_keys_flow_from_a_reduced_big_side_to_a_whole_small_side(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    result = _check(orch, reference, FEW_BIG_ORDERS)
    stats = {s.engine: s for s in result.execution.stats}
    (orders,) = reference.execute(
        "SELECT count(*) FROM (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey "
        "HAVING sum(l_quantity) > 280)"
    ).fetchone()
    assert 0 < orders < 100
    # PostgreSQL answered only the customers of those orders, not all 1,500
    assert stats["pg"].semijoin_keys is not None and stats["pg"].rows <= orders
    assert "IN (" in stats["pg"].sql
    plain = orch.query(FEW_BIG_ORDERS, options=PlanOptions(semijoins=False))
    assert result.execution.bytes_moved * 10 < plain.execution.bytes_moved


def test_a_filtered_fact_reduces_a_whole_dimension(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # TPC-H q14: a month of line items (DuckDB) and their parts (MariaDB, 2,000 read whole)
    result = _check(orch, reference, tpch.queries()[14])
    stats = {s.engine: s for s in result.execution.stats}
    (parts,) = reference.execute(
        "SELECT count(DISTINCT l_partkey) FROM lineitem WHERE l_shipdate >= DATE '1995-09-01' "
        "AND l_shipdate < DATE '1995-10-01'"
    ).fetchone()
    assert stats["my"].semijoin_keys == parts and stats["my"].rows == parts < 2000


def test_an_or_of_joins_ships_the_small_sides_keys(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # TPC-H q19: the join equality sits in each of three disjuncts
    result = _check(orch, reference, tpch.queries()[19])
    stats = {s.engine: s for s in result.execution.stats}
    assert stats["duck"].semijoin_keys == stats["my"].rows
    assert "IN (" in stats["duck"].sql


KEYS = ["plain", "it's", "back\\slash", "tab\there", "ünï", "", "a''b", "%_"]


@pytest.mark.parametrize("engine", ["duck", "pg", "my", "lite"])
def test_key_lists_read_back_as_written(orch: Orchestrator, engine: str) -> None:
    target = orch.executor.engines[engine]
    for key in [*KEYS, 0, -7, 2**40]:
        sql = f"SELECT {render_keys([key], target.dialect)} AS v"
        (value,) = target.fetch(sql, 10.0, []).table.column("v").to_pylist()
        assert value == key, (engine, key, sql)
    listed = render_keys(KEYS, target.dialect)
    sql = f"SELECT count(*) AS n FROM (SELECT 'it''s' AS k) AS t WHERE k IN ({listed})"
    assert target.fetch(sql, 10.0, []).table.column("n").to_pylist() == [1]


def test_keys_reach_a_fragment_through_a_grouped_derived_table(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # TPC-H q2: the correlated MIN over partsupp x supplier x nation, grouped by part, is
    # a local derived table; the few parts of the outer query narrow its partsupp fragment
    result = _check(orch, reference, tpch.queries()[2])
    by_name = {f.name: f for f in result.plan.fragments}
    inner = [
        f
        for f in result.plan.fragments
        if f.kind == "preaggregate" and any(by_name[e.source].kind == "join" for e in f.semijoins)
    ]
    assert len(inner) == 1 and "ps_partkey" in inner[0].semijoins[-1].target_column.sql()
    stats = {s.name: s for s in result.execution.stats}
    (parts,) = reference.execute(
        "SELECT count(*) FROM part WHERE p_size = 15 AND p_type LIKE '%BRASS'"
    ).fetchone()
    assert stats[inner[0].name].rows <= 4 * parts  # four suppliers per part at most


def test_a_limited_derived_table_is_not_narrowed(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = (
        "SELECT p_partkey, d.cost FROM part, (SELECT ps_partkey AS k, min(ps_supplycost) AS cost "
        "FROM partsupp, supplier WHERE ps_suppkey = s_suppkey GROUP BY ps_partkey "
        "ORDER BY cost, ps_partkey LIMIT 50) AS d WHERE d.k = p_partkey AND p_size < 25 "
        "ORDER BY p_partkey"
    )
    result = _check(orch, reference, sql)
    partsupp = next(f for f in result.plan.fragments if "partsupp" in f.sql())
    assert not any("ps_partkey" in e.target_column.sql() for e in partsupp.semijoins)


def test_a_max_of_another_side_stays_local_while_the_big_side_preaggregates(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # TPC-H q11: HAVING compares the group's SUM with MAX(<one-row subquery>); the SUM is
    # written twice but computed once by the engine
    result = _check(orch, reference, tpch.queries()[11])
    outer = [
        f for f in result.plan.fragments if f.kind == "preaggregate" and "ps_partkey" in f.sql()
    ]
    assert len(outer) == 1 and outer[0].sql().count("SUM(") == 1
    assert 'MAX("_u_0"' in result.plan.local.sql(dialect="duckdb")


def test_a_max_of_another_side_counts_each_row_once(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = (
        "SELECT c_mktsegment, count(*) AS n, sum(o_totalprice) AS total, max(c_acctbal) AS top, "
        "min(c_name) AS first FROM customer JOIN orders ON c_custkey = o_custkey "
        "WHERE c_nationkey = 3 GROUP BY c_mktsegment ORDER BY c_mktsegment"
    )
    result = _check(orch, reference, sql)
    assert {f.engine: f.kind for f in result.plan.fragments}["duck"] == "preaggregate"


@pytest.mark.parametrize(
    "aggregate",
    [
        # TPC-H q14: the condition reads part, each branch lineitem (or nothing)
        "sum(CASE WHEN p_type LIKE 'PROMO%' THEN l_extendedprice * (1 - l_discount) ELSE 0 END)",
        "sum(CASE WHEN p_size > 25 THEN l_quantity WHEN p_size > 10 THEN NULL "
        "ELSE l_extendedprice END)",
    ],
)
def test_a_sum_of_a_case_on_the_other_side_preaggregates(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection, aggregate: str
) -> None:
    sql = (
        f"SELECT {aggregate} AS promo, sum(l_quantity) AS qty, count(*) AS n "
        "FROM lineitem, part WHERE l_partkey = p_partkey "
        "AND l_shipdate >= DATE '1995-09-01' AND l_shipdate < DATE '1995-10-01'"
    )
    result = _check(orch, reference, sql)
    duck = next(f for f in result.plan.fragments if f.engine == "duck")
    assert duck.kind == "preaggregate" and "GROUP BY" in duck.sql()
    assert "CASE" not in duck.sql()  # the condition stays local, with the part columns
    plain = orch.query(sql, options=PlanOptions(preaggregate=False))
    assert result.execution.bytes_moved < plain.execution.bytes_moved


def test_a_column_only_a_pushed_filter_reads_is_not_shipped(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # TPC-H q3: customers of one market segment; the segment itself is not needed here
    result = _check(orch, reference, tpch.queries()[3])
    customer = next(f for f in result.plan.fragments if f.engine == "pg")
    assert "\"c_mktsegment\" = 'BUILDING'" in customer.sql()
    assert list(customer.types) == ["c_custkey"]
    # a filter kept here (an OR over two tables) still needs its columns shipped
    q19 = orch.query(tpch.queries()[19])
    part = next(f for f in q19.plan.fragments if f.engine == "my")
    assert {"p_brand", "p_container", "p_size"} <= set(part.types)


@pytest.mark.parametrize(
    ("sql", "bound"),
    [
        (tpch.queries()[22], ">="),  # c_acctbal > (SELECT avg(c_acctbal) ...)
        (
            "SELECT c_custkey, c_acctbal FROM customer "
            "WHERE c_acctbal < (SELECT max(o_totalprice) / 100 FROM orders) ORDER BY c_custkey",
            "<=",
        ),
        (  # the aggregate is NULL: no customer compares with it
            "SELECT count(*) AS n FROM customer "
            "WHERE c_acctbal > (SELECT max(o_totalprice) FROM orders WHERE o_orderkey < 0)",
            ">=",
        ),
    ],
)
def test_a_one_row_aggregate_bounds_the_other_side(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection, sql: str, bound: str
) -> None:
    result = _check(orch, reference, sql)
    bounded = [(f, e) for f in result.plan.fragments for e in f.semijoins if e.bound]
    assert [e.bound for _, e in bounded] == [bound] and bounded[0][0].engine == "pg"
    (pg,) = [s for s in result.execution.stats if s.name == bounded[0][0].name]
    plain = orch.query(sql, options=PlanOptions(semijoins=False))
    (plain_pg,) = [s for s in plain.execution.stats if s.engine == "pg" and "AVG" not in s.sql]
    assert f'"c_acctbal" {bound} ' in pg.sql or "FALSE" in pg.sql.upper()
    assert pg.rows < plain_pg.rows
