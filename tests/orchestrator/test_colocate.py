"""Co-located sources (``planner/colocate.py``): one engine's tables and derived tables,
LEFT JOINs included, run there as one derived table. Pure checks of the rewrite, then
queries on the real engines (TPC-H SF 0.01) whose answers must match DuckDB's."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from portkey.orchestrator.planner import colocate, rules
from portkey.orchestrator.service import Orchestrator
from tests.orchestrator import tpch

_ENGINES = {"a": "duck", "b": "duck", "c": "pg"}


def _engine_of(source: exp.Expr) -> str | None:
    if isinstance(source, exp.Subquery):
        tables = {t.name for t in source.this.find_all(exp.Table)}
        engines = {_ENGINES[t] for t in tables}
        return next(iter(engines)) if len(engines) == 1 else None
    return _ENGINES.get(source.name)


def _nest(sql: str) -> tuple[exp.Select, exp.Subquery | None]:
    select = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(select, exp.Select)
    return select, colocate.nest(select, _engine_of, lambda _: "duckdb")


def test_a_left_joined_derived_table_joins_its_engine_group() -> None:
    select, nested = _nest(
        "SELECT c.n, count(*) FROM c JOIN a ON a.k = c.k "
        "LEFT JOIN (SELECT b.k, max(b.v) AS m FROM b GROUP BY b.k) AS d ON d.k = a.k "
        "WHERE a.x > 1 AND (d.k IS NULL OR d.m < a.v) GROUP BY c.n"
    )
    assert nested is not None
    body = nested.this.sql()
    assert "LEFT JOIN (SELECT" in body and "d.m < a.v" in body and "a.x > 1" in body
    # what stays outside: the join with c, on the nested table's output
    assert select.args["where"].this.sql() == '"_c1"."a__k" = c.k'
    assert [rules.source_alias(s) for s in rules.select_sources(select)] == ["c", "_c1"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a.k FROM a JOIN b ON a.k = b.k JOIN c ON c.k = a.k",  # plain tables: the splitter's
        "SELECT a.k FROM a FULL JOIN (SELECT b.k FROM b) AS d ON d.k = a.k JOIN c ON c.k = a.k",
        "SELECT a.k FROM a JOIN c ON c.k = a.k LEFT JOIN (SELECT b.k FROM b) AS d ON d.k = c.k",
    ],
)
def test_nothing_is_nested_where_the_rule_does_not_hold(sql: str) -> None:
    select, nested = _nest(sql)
    assert nested is None and select.sql() == sqlglot.parse_one(sql).sql()


def test_q21_exists_and_not_exists_stay_with_their_line_items(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    result = tpch.checked(orch, reference, tpch.queries()[21])
    (duck,) = [f for f in result.plan.fragments if f.engine == "duck"]
    # EXISTS became an inner join (WHERE rejects its NULLs), NOT EXISTS stays a LEFT JOIN
    assert duck.kind == "preaggregate" and duck.sql().count("LEFT JOIN") == 1
    (stat,) = [s for s in result.execution.stats if s.engine == "duck"]
    (suppliers,) = reference.execute(
        "SELECT count(*) FROM supplier, nation WHERE s_nationkey = n_nationkey "
        "AND n_name = 'SAUDI ARABIA'"
    ).fetchone()
    # one count per Saudi supplier comes back, not the line items and their orders' lists
    assert stat.semijoin_keys == suppliers and stat.rows <= suppliers
    assert len(result.execution.stats) == 3


#: orders of a few customers with, when they have any, their count of big line items: the
#: NULL-extended orders (no big line item) must stay in the answer
KEEPS_NULLS = (
    "SELECT c_name, o_orderkey, x.n FROM customer, orders LEFT JOIN "
    "(SELECT l_orderkey, count(*) AS n FROM lineitem WHERE l_quantity > 45 GROUP BY l_orderkey)"
    " AS x ON x.l_orderkey = o_orderkey WHERE c_custkey = o_custkey AND c_nationkey = 3 "
    "AND c_acctbal > 9000 ORDER BY o_orderkey"
)


def test_a_left_join_on_one_engine_keeps_its_null_extended_rows(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    result = tpch.checked(orch, reference, KEEPS_NULLS)
    assert any(r["n"] is None for r in result.table.to_pylist())
    (duck,) = [f for f in result.plan.fragments if f.engine == "duck"]
    assert "LEFT JOIN" in duck.sql()
    (stat,) = [s for s in result.execution.stats if s.engine == "duck"]
    assert stat.semijoin_keys is not None and stat.rows == result.table.num_rows


def test_keys_reach_a_nested_group_inside_a_derived_table(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # TPC-H q20: partsupp and its IN (forest parts) nest on MariaDB inside the IN over
    # suppliers; Canada's suppliers still narrow it, and it narrows lineitem's sums
    result = tpch.checked(orch, reference, tpch.queries()[20])
    (my,) = [s for s in result.execution.stats if s.engine == "my"]
    (duck,) = [s for s in result.execution.stats if s.engine == "duck"]
    assert my.semijoin_keys is not None and duck.semijoin_keys is not None
    (canadian,) = reference.execute(
        "SELECT count(*) FROM partsupp, part, supplier, nation WHERE ps_partkey = p_partkey "
        "AND p_name LIKE 'forest%' AND ps_suppkey = s_suppkey AND s_nationkey = n_nationkey "
        "AND n_name = 'CANADA'"
    ).fetchone()
    assert my.rows == canadian


def test_q15_a_cte_read_twice_runs_with_its_max_on_its_engine(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # the revenue CTE and the max over it live on DuckDB: the filter total = max runs there,
    # so one supplier key goes to SQLite and one supplier row comes back
    result = tpch.checked(orch, reference, tpch.queries()[15])
    assert result.table.num_rows == 1
    assert "MAX(" in next(f.sql() for f in result.plan.fragments if f.engine == "duck")
    assert "WITH" not in result.plan.local.sql()  # the CTE is neither run nor fetched
    assert len(result.plan.fragments) == 2
    assert sorted((s.engine, s.rows) for s in result.execution.stats) == [("duck", 1), ("lite", 1)]


def test_a_cte_read_once_in_the_local_step_is_still_reduced(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # one read of big_orders joins the customers of one nation; the other read went into a
    # fragment with the average: the local read may still be narrowed by customer keys
    sql = (
        "WITH big_orders AS (SELECT o_custkey, o_totalprice FROM orders "
        "WHERE o_totalprice > 100000) "
        "SELECT c_name, count(*) AS n FROM customer JOIN big_orders ON c_custkey = o_custkey "
        "WHERE c_nationkey = 7 AND o_totalprice > (SELECT avg(o_totalprice) FROM big_orders) "
        "GROUP BY c_name ORDER BY n DESC, c_name"
    )
    result = tpch.checked(orch, reference, sql)
    (orders,) = reference.execute(
        "SELECT count(*) FROM orders WHERE o_totalprice > 100000 AND o_totalprice > "
        "(SELECT avg(o_totalprice) FROM orders WHERE o_totalprice > 100000)"
    ).fetchone()
    duck_rows = sum(s.rows for s in result.execution.stats if s.engine == "duck")
    assert duck_rows < orders / 4


def test_q17_the_correlated_average_nests_with_line_items_through_part(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # lineitem and the per-part average join only through part (MariaDB): the implied
    # l_partkey = _u_1 puts them together on DuckDB, which answers one sum per part
    result = tpch.checked(orch, reference, tpch.queries()[17])
    (duck,) = [s for s in result.execution.stats if s.engine == "duck"]
    (my,) = [s for s in result.execution.stats if s.engine == "my"]
    assert duck.rows <= my.rows and duck.semijoin_keys == my.rows


def test_an_implied_equality_nests_two_sources_joined_through_another_engine() -> None:
    # a.k = c.k and c.k = d.k: a and d (both DuckDB) join on a.k = d.k inside the group
    select, nested = _nest(
        "SELECT a.v FROM a JOIN c ON c.k = a.k JOIN (SELECT b.k, max(b.v) AS m FROM b "
        "GROUP BY b.k) AS d ON d.k = c.k WHERE a.v < d.m"
    )
    assert nested is not None
    body = nested.this.sql()
    assert '"a"."k" = "d"."k"' in body and "a.v < d.m" in body and " c" not in body
    # both stated equalities stay outside, on the nested table's outputs
    assert select.args["where"].this.sql() == 'c.k = "_c1"."a__k" AND "_c1"."d__k" = c.k'
