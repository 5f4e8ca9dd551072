"""What our plans move compared to pulling every table whole (the naive federation)."""

from __future__ import annotations

import duckdb
import pytest

from portkey.orchestrator.planner import NAIVE
from portkey.orchestrator.service import Orchestrator
from tests.orchestrator import tpch

JOIN = (
    "SELECT c_mktsegment, count(*) AS n, sum(o_totalprice) AS total "
    "FROM customer JOIN orders ON c_custkey = o_custkey "
    "WHERE c_nationkey = 7 AND o_orderdate >= DATE '1997-01-01' "
    "GROUP BY c_mktsegment ORDER BY c_mktsegment"
)


def test_customer_join_orders_moves_a_fraction_of_pull_all(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    ours = orch.query(JOIN)
    naive = orch.query(JOIN, options=NAIVE)
    want = reference.execute(JOIN).fetchall()
    for result in (ours, naive):
        got = [tuple(r.values()) for r in result.table.to_pylist()]
        assert tpch.same_rows(got, want, ordered=True) is None
    # pull-all moves both tables whole: every row and column of customer and orders
    assert naive.execution.rows_moved == 1500 + 15000
    assert ours.execution.bytes_moved * 50 < naive.execution.bytes_moved
    by_engine = {s.engine: s for s in ours.execution.stats}
    # only the customers of nation 7 left PostgreSQL, and their keys filtered orders in DuckDB
    (customers,) = reference.execute(
        "SELECT count(*) FROM customer WHERE c_nationkey = 7"
    ).fetchone()
    assert by_engine["pg"].rows == customers
    assert by_engine["duck"].semijoin_keys == customers
    assert by_engine["duck"].rows < 200 and "IN (" in by_engine["duck"].sql


def test_a_join_on_one_engine_is_pushed_whole(orch: Orchestrator) -> None:
    sql = (
        "SELECT o_orderpriority, count(*) AS n FROM orders JOIN lineitem ON o_orderkey = l_orderkey"
        " WHERE l_shipmode = 'MAIL' GROUP BY o_orderpriority"
    )
    result = orch.query(sql)
    assert result.plan.passthrough and len(result.plan.fragments) == 1
    assert result.execution.rows_moved == 5  # only the aggregated answer moved


def test_limit_and_aggregates_run_on_the_engine(orch: Orchestrator) -> None:
    result = orch.query("SELECT p_partkey, p_name FROM part ORDER BY p_retailprice DESC LIMIT 3")
    (stat,) = result.execution.stats
    assert stat.engine == "my" and stat.rows == 3 and "LIMIT 3" in stat.sql


def test_a_function_the_engine_lacks_is_evaluated_locally(
    orch: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # sqlglot writes levenshtein() for SQLite as EDITDIST3() (an extension SQLite here lacks):
    # the engine refuses the fragment, the predicate is kept local and the rest re-runs
    sql = (
        "SELECT s_suppkey, s_name FROM supplier "
        "WHERE levenshtein(s_name, 'Supplier#000000042') <= 1 AND s_suppkey < 60 ORDER BY 1"
    )
    result = orch.query(sql)
    assert [tuple(r.values()) for r in result.table.to_pylist()] == reference.execute(
        sql
    ).fetchall()
    assert result.table.num_rows > 1
    assert any("lite refused" in n and "no such function" in n for n in result.plan.notes)
    (stat,) = result.execution.stats
    assert "editdist3" not in stat.sql.lower() and "< 60" in stat.sql


def test_postgres_runs_as_the_configured_read_only_role(deployment: tpch.Deployment) -> None:
    import psycopg

    from portkey.errors import GatewayError
    from portkey.orchestrator.settings import DataSettings

    role = f"pk_ro_{deployment.tag}"
    schema = deployment.pg_schema
    with psycopg.connect(tpch.PG_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} NOLOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        admin.execute(f"GRANT SELECT ON {schema}.nation TO {role}")
    try:
        engines = {"pg": {**deployment.engines()["pg"], "role": role}}
        ro = Orchestrator(DataSettings.model_validate({"engines": engines}))
        assert ro.query("SELECT count(*) AS n FROM nation").table.column(0).to_pylist() == [25]
        # introspection runs as the role too: the catalog holds only what it may read
        assert [t.name for t in ro.catalog.tables()] == ["nation"]
        with pytest.raises(GatewayError) as caught:
            ro.query("SELECT count(*) AS n FROM customer")
        assert (
            caught.value.http_status == 400 and "unknown table 'customer'" in caught.value.message
        )
        # and a statement the role may not run fails on the server, whatever we sent
        with pytest.raises(GatewayError) as refused:
            ro.catalog.engines["pg"].fetch(f"SELECT count(*) FROM {schema}.customer")
        assert refused.value.http_status == 502 and "permission denied" in refused.value.message
    finally:
        with psycopg.connect(tpch.PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
