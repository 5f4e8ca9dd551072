"""Top-N through lossless joins (``planner/topn.py``) with TPC-H's foreign keys declared
(``data.foreign_keys``): answers must match one DuckDB, and only the top rows may move."""

from __future__ import annotations

import duckdb
import pytest

from portkey.orchestrator.engines import ColumnInfo, TableInfo
from portkey.orchestrator.keys import resolve_keys
from portkey.orchestrator.service import Orchestrator, QueryResult
from portkey.orchestrator.settings import DataSettings, ForeignKey
from tests.orchestrator import tpch


def _rows(result: QueryResult, engine: str) -> int:
    return sum(s.rows for s in result.execution.stats if s.engine == engine)


def _pushed(result: QueryResult) -> bool:
    return any(n.startswith("top ") for n in result.plan.notes)


def test_q10_moves_the_top_20_customers_only(
    orch: Orchestrator, keyed: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    plain = tpch.checked(orch, reference, tpch.queries()[10])
    result = tpch.checked(keyed, reference, tpch.queries()[10])
    assert _pushed(result) and not _pushed(plain)
    assert _rows(result, "duck") == 20 and _rows(result, "pg") == 20
    assert _rows(plain, "pg") > 100  # every customer with a returned item, without the keys
    assert result.execution.bytes_moved * 10 < plain.execution.bytes_moved


@pytest.mark.parametrize(
    ("sql", "top", "lookup"),
    [
        # rows, not groups: the 10 dearest orders, each with its customer
        (
            "SELECT o_orderkey, o_totalprice, c_name FROM orders JOIN customer "
            "ON o_custkey = c_custkey ORDER BY o_totalprice DESC, o_orderkey LIMIT 10",
            ("duck", 10),
            ("pg", 10),
        ),
        # MariaDB decides (its dialect, its NULL ordering), SQLite looks up; OFFSET counts
        (
            "SELECT ps_partkey, ps_suppkey, ps_supplycost, s_name FROM partsupp JOIN supplier "
            "ON ps_suppkey = s_suppkey ORDER BY ps_supplycost, ps_partkey, ps_suppkey "
            "LIMIT 5 OFFSET 3",
            ("my", 8),
            ("lite", 8),
        ),
        # a chain of lookups: supplier -> nation -> region
        (
            "SELECT s_name, s_acctbal, n_name, r_name FROM supplier JOIN nation "
            "ON s_nationkey = n_nationkey JOIN region ON n_regionkey = r_regionkey "
            "ORDER BY s_acctbal DESC LIMIT 3",
            ("lite", 3),
            ("pg", 3),
        ),
    ],
)
def test_the_top_rows_come_from_the_side_that_orders_them(
    sql: str,
    top: tuple[str, int],
    lookup: tuple[str, int],
    keyed: Orchestrator,
    reference: duckdb.DuckDBPyConnection,
) -> None:
    result = tpch.checked(keyed, reference, sql)
    assert _pushed(result)
    assert _rows(result, top[0]) == top[1]
    assert _rows(result, lookup[0]) <= lookup[1]


@pytest.mark.parametrize(
    "sql",
    [
        # a filter on the customer side: the top orders may belong to filtered-out customers
        "SELECT o_orderkey, o_totalprice, c_name FROM orders JOIN customer "
        "ON o_custkey = c_custkey WHERE c_mktsegment = 'BUILDING' "
        "ORDER BY o_totalprice DESC, o_orderkey LIMIT 10",
        # ordered by the lookup's column
        "SELECT o_orderkey, c_name FROM orders JOIN customer ON o_custkey = c_custkey "
        "ORDER BY c_acctbal DESC, o_orderkey LIMIT 10",
        # half of a composite key: several partsupp rows per line item
        "SELECT l_orderkey, l_linenumber, ps_availqty FROM lineitem JOIN partsupp "
        "ON l_partkey = ps_partkey ORDER BY l_extendedprice DESC, l_orderkey, l_linenumber, "
        "ps_availqty LIMIT 5",
        # the reverse direction: a customer has many orders
        "SELECT c_custkey, o_orderkey FROM customer JOIN orders ON o_custkey = c_custkey "
        "ORDER BY c_acctbal DESC, c_custkey, o_orderkey LIMIT 5",
        # text ordered on PostgreSQL: its collation need not order as DuckDB does
        "SELECT c_name, n_name FROM customer JOIN supplier ON c_nationkey = s_nationkey "
        "JOIN nation ON s_nationkey = n_nationkey ORDER BY c_name, n_name LIMIT 5",
    ],
)
def test_no_top_n_where_the_join_could_drop_or_repeat_rows(
    sql: str, keyed: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    result = tpch.checked(keyed, reference, sql)
    assert not _pushed(result)


def _table(engine: str, name: str, *columns: str) -> TableInfo:
    return TableInfo(engine, "main", name, tuple(ColumnInfo(c, "BIGINT") for c in columns))


def test_keys_naming_what_the_catalog_lacks_are_reported_and_not_trusted() -> None:
    tables = [_table("a", "orders", "o_custkey"), _table("b", "customer", "c_custkey")]
    declared = [
        ForeignKey.model_validate(
            {"from": "a.main.orders.o_custkey", "to": "b.main.customer.c_custkey"}
        ),
        ForeignKey.model_validate(
            {"from": "a.main.orders.o_cust", "to": "b.main.customer.c_custkey"}
        ),
        ForeignKey.model_validate(
            {"from": "a.main.order.o_custkey", "to": "b.main.customer.c_custkey"}
        ),
    ]
    keys = resolve_keys(declared, tables)
    assert keys.errors == [
        "data.foreign_keys[1].from: a.main.orders has no column 'o_cust'",
        "data.foreign_keys[2].from: unknown table 'a.main.order'",
    ]
    orders, customer = ("a", "main", "orders"), ("b", "main", "customer")
    assert keys.lossless(orders, customer, [("o_custkey", "c_custkey")])
    assert not keys.lossless(customer, orders, [("c_custkey", "o_custkey")])
    assert not keys.lossless(orders, customer, [("o_custkey", "c_custkey"), ("o_x", "c_x")])


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ({"from": "a.orders.o_custkey", "to": "a.main.c.k"}, "engine.schema.table.column"),
        ({"from": "z.main.orders.o_custkey", "to": "a.main.c.k"}, "no engine 'z'"),
        ({"from": ["a.main.o.x", "a.main.o.y"], "to": "a.main.c.k"}, "from has 2 columns"),
        ({"from": ["a.main.o.x", "a.main.p.y"], "to": ["a.main.c.k", "a.main.c.j"]}, "one table"),
    ],
)
def test_a_malformed_key_is_a_config_error_naming_it(key: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        DataSettings.model_validate({"engines": {"a": {"type": "duckdb"}}, "foreign_keys": [key]})


def test_the_catalog_shows_the_declared_keys(keyed: Orchestrator) -> None:
    shown = keyed.catalog.to_dict()
    assert shown["errors"] == []
    assert len(shown["foreign_keys"]) == len(tpch.FOREIGN_KEYS)
    assert any(k["to"] == [f"pg.{_pg(keyed)}.customer.c_custkey"] for k in shown["foreign_keys"])


def _pg(orch: Orchestrator) -> str:
    return next(t.schema for t in orch.catalog.tables() if t.engine == "pg")
