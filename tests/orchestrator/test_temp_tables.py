"""Join keys too many for an IN-list shipped into a temporary table on the big side's engine."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pymysql
import pytest

from portkey.errors import GatewayError
from portkey.orchestrator.engines import Engine
from portkey.orchestrator.planner import PlanOptions
from portkey.orchestrator.service import Orchestrator, QueryResult
from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.shipping import ship
from tests.orchestrator import tpch

#: IN-lists of at most this many keys: every reduction below needs more
MAX_KEYS = 20

ORDERS_FEW = (
    "o_orderdate >= DATE '1995-03-01' AND o_orderdate < DATE '1995-03-15' "
    "AND o_orderstatus = 'F' AND o_totalprice > 1000"
)
LINEITEM_FEW = (
    "l_shipdate >= DATE '1996-01-01' AND l_shipdate < DATE '1996-01-08' "
    "AND l_quantity < 25 AND l_returnflag = 'N'"
)
#: customers (PostgreSQL, 1,500) of a few orders (DuckDB): the big side is PostgreSQL.
#: No aggregate: the join stays here, the orders' customer keys go to PostgreSQL
PG_JOIN = (
    "SELECT c_name, o_orderkey, o_totalprice FROM customer JOIN orders ON c_custkey = o_custkey "
    f"WHERE {ORDERS_FEW} ORDER BY o_orderkey"
)
PG_KEYS = f"SELECT count(DISTINCT o_custkey) FROM orders WHERE {ORDERS_FEW}"
#: parts (MariaDB, 2,000) of a few line items (DuckDB): the big side is MariaDB
MY_JOIN = (
    "SELECT p_name, l_orderkey, l_linenumber FROM lineitem JOIN part ON l_partkey = p_partkey "
    f"WHERE {LINEITEM_FEW} ORDER BY l_orderkey, l_linenumber"
)
MY_KEYS = f"SELECT count(DISTINCT l_partkey) FROM lineitem WHERE {LINEITEM_FEW}"
#: the same joins aggregated: the join and aggregates can run on the big side's engine
PG_AGG = (
    "SELECT c_mktsegment, count(*) AS n, sum(o_totalprice) AS total "
    f"FROM customer JOIN orders ON c_custkey = o_custkey WHERE {ORDERS_FEW} "
    "GROUP BY c_mktsegment ORDER BY c_mktsegment"
)
MY_AGG = (
    "SELECT p_brand, count(*) AS n, sum(l_extendedprice) AS revenue "
    f"FROM lineitem JOIN part ON l_partkey = p_partkey WHERE {LINEITEM_FEW} "
    "GROUP BY p_brand ORDER BY p_brand"
)
#: orders (DuckDB, 15,000) of the customers of one nation (PostgreSQL): the big side is DuckDB
DUCK_AGG = (
    "SELECT o_orderpriority, count(*) AS n FROM customer JOIN orders ON c_custkey = o_custkey "
    "WHERE c_nationkey = 7 GROUP BY o_orderpriority ORDER BY o_orderpriority"
)


def _orchestrator(deployment: tpch.Deployment, temp_tables: bool) -> Orchestrator:
    engines = {n: {**e, "temp_tables": temp_tables} for n, e in deployment.engines().items()}
    settings = {"engines": engines, "semijoin_max_keys": MAX_KEYS}
    return Orchestrator(DataSettings.model_validate(settings))


@pytest.fixture(scope="module")
def shipping(deployment: tpch.Deployment) -> Orchestrator:
    return _orchestrator(deployment, temp_tables=True)


@pytest.fixture(scope="module")
def unshipped(deployment: tpch.Deployment) -> Orchestrator:
    return _orchestrator(deployment, temp_tables=False)


def _rows(result: QueryResult) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in result.table.to_pylist()]


def _stat(result: QueryResult, engine: str) -> Any:
    (stat,) = [s for s in result.execution.stats if s.engine == engine]
    return stat


def _temp_name(sql: str) -> str:
    found = re.search(r"_pk_keys_[0-9a-f]{12}", sql)
    assert found, sql
    return found.group(0)


def _pg_has(name: str) -> bool:
    with psycopg.connect(tpch.PG_DSN) as pg:
        row = pg.execute(
            "SELECT count(*) FROM pg_class WHERE relname = %s AND relpersistence = 't'", (name,)
        ).fetchone()
    return bool(row and row[0])


def _my_sessions(deployment: tpch.Deployment) -> int:
    """Sessions on the test database other than this one (a temp table lives in one)."""
    my = pymysql.connect(host="127.0.0.1", user="root")
    try:
        with my.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM information_schema.PROCESSLIST "
                "WHERE DB = %s AND ID <> CONNECTION_ID()",
                (deployment.my_db,),
            )
            (count,) = cur.fetchone()
    finally:
        my.close()
    return int(count)


def _eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        threading.Event().wait(0.05)
    return check()


def _check_shipped(
    ours: QueryResult,
    fallback: QueryResult,
    reference: duckdb.DuckDBPyConnection,
    sql: str,
    keys_sql: str,
    engine: str,
) -> str:
    want = reference.execute(sql).fetchall()
    for result in (ours, fallback):
        assert tpch.same_rows(_rows(result), want, ordered=True) is None
    (keys,) = reference.execute(keys_sql).fetchone()
    assert keys > MAX_KEYS
    big = _stat(ours, engine)
    assert big.shipped_rows == keys and big.shipped_bytes > 0
    assert "IN (SELECT k FROM _pk_keys_" in big.sql
    # what left the big engine is only the matching rows; what went in is counted as moved
    assert ours.execution.bytes_moved >= big.shipped_bytes + big.bytes
    assert ours.execution.bytes_moved * 5 < fallback.execution.bytes_moved
    name = _temp_name(big.sql)
    steps = ours.plan.to_dict()["steps"]
    assert any(
        f"shipped {keys} keys of" in s and name in s and f"on engine {engine}" in s for s in steps
    ), steps
    # without temp tables the big side runs unreduced (today's behaviour) and says so
    plain = _stat(fallback, engine)
    assert plain.shipped_rows == 0 and "_pk_keys_" not in plain.sql
    assert any("ran unreduced" in s for s in fallback.plan.to_dict()["steps"])
    return name


def test_postgres_big_side_reads_the_keys_from_a_temp_table(
    shipping: Orchestrator,
    unshipped: Orchestrator,
    reference: duckdb.DuckDBPyConnection,
) -> None:
    ours, fallback = shipping.query(PG_JOIN), unshipped.query(PG_JOIN)
    name = _check_shipped(ours, fallback, reference, PG_JOIN, PG_KEYS, "pg")
    assert ours.plan.join_site is None  # no aggregate above the join: it stays here
    assert _stat(fallback, "pg").rows == 1500  # every customer, unreduced
    assert not _pg_has(name)


def test_mariadb_big_side_reads_the_keys_from_a_temp_table(
    shipping: Orchestrator,
    unshipped: Orchestrator,
    reference: duckdb.DuckDBPyConnection,
    deployment: tpch.Deployment,
) -> None:
    ours, fallback = shipping.query(MY_JOIN), unshipped.query(MY_JOIN)
    _check_shipped(ours, fallback, reference, MY_JOIN, MY_KEYS, "my")
    assert _stat(fallback, "my").rows == 2000
    assert _eventually(lambda: _my_sessions(deployment) == 0)


def _check_site(
    ours: QueryResult,
    fallback: QueryResult,
    reference: duckdb.DuckDBPyConnection,
    sql: str,
    engine: str,
) -> str:
    want = reference.execute(sql).fetchall()
    for result in (ours, fallback):
        assert tpch.same_rows(_rows(result), want, ordered=True) is None
    site = _stat(ours, engine)
    (small,) = [s for s in ours.execution.stats if s.engine != engine]
    assert site.join_site and not small.join_site
    # the small side went whole to the big side's engine; only the answer came back
    assert site.shipped_rows == small.rows > MAX_KEYS
    assert site.rows == len(want) and ours.execution.local_seconds < 0.05
    assert ours.execution.bytes_moved == small.bytes + site.shipped_bytes + site.bytes
    assert ours.execution.bytes_moved * 4 < fallback.execution.bytes_moved
    name = re.search(r"_pk_rows_[0-9a-f]{12}", site.sql)
    assert name, site.sql
    steps = ours.plan.to_dict()["steps"]
    assert any(
        f"shipped {small.rows} rows of {small.name}" in s
        and name.group(0) in s
        and f"on engine {engine}" in s
        and "the join and aggregates ran there" in s
        for s in steps
    ), steps
    assert not _stat(fallback, engine).join_site
    return name.group(0)


def test_postgres_runs_the_join_and_aggregates_next_to_the_big_side(
    shipping: Orchestrator,
    unshipped: Orchestrator,
    reference: duckdb.DuckDBPyConnection,
) -> None:
    ours, fallback = shipping.query(PG_AGG), unshipped.query(PG_AGG)
    name = _check_site(ours, fallback, reference, PG_AGG, "pg")
    assert not _pg_has(name)


def test_mariadb_runs_the_join_and_aggregates_next_to_the_big_side(
    shipping: Orchestrator,
    unshipped: Orchestrator,
    reference: duckdb.DuckDBPyConnection,
    deployment: tpch.Deployment,
) -> None:
    ours, fallback = shipping.query(MY_AGG), unshipped.query(MY_AGG)
    _check_site(ours, fallback, reference, MY_AGG, "my")
    assert _eventually(lambda: _my_sessions(deployment) == 0)


def test_duckdb_runs_the_join_and_aggregates_next_to_the_big_side(
    shipping: Orchestrator,
    unshipped: Orchestrator,
    reference: duckdb.DuckDBPyConnection,
) -> None:
    ours, fallback = shipping.query(DUCK_AGG), unshipped.query(DUCK_AGG)
    _check_site(ours, fallback, reference, DUCK_AGG, "duck")


def test_without_join_sites_the_keys_are_shipped_for_an_aggregate(
    shipping: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    result = shipping.query(DUCK_AGG, options=PlanOptions(join_sites=False))
    assert tpch.same_rows(_rows(result), reference.execute(DUCK_AGG).fetchall(), True) is None
    (customers,) = reference.execute(
        "SELECT count(*) FROM customer WHERE c_nationkey = 7"
    ).fetchone()
    big = _stat(result, "duck")
    assert big.shipped_rows == customers > MAX_KEYS and not big.join_site
    assert "IN (SELECT k FROM _pk_keys_" in big.sql
    assert (
        big.rows
        == reference.execute(
            "SELECT count(*) FROM orders JOIN customer ON o_custkey = c_custkey "
            "WHERE c_nationkey = 7"
        ).fetchone()[0]
    )


def test_explain_shows_the_temp_table_steps(
    shipping: Orchestrator, unshipped: Orchestrator
) -> None:
    planned = shipping.plan(PG_JOIN).to_dict()
    (step,) = planned["steps"]
    assert "into a temporary table on engine pg" in step and "est." in step
    (edge,) = [e for f in planned["fragments"] for e in f["semijoins"]]
    assert edge["temp_table"] is True and planned["join_site"] is None
    (plain,) = unshipped.plan(PG_JOIN).to_dict()["steps"]
    assert "temporary table" not in plain and "runs unreduced" in plain
    site = shipping.plan(PG_AGG).to_dict()
    assert site["join_site"]["engine"] == "pg"
    assert any("join site" in s and "temporary tables on engine pg" in s for s in site["steps"])
    assert unshipped.plan(PG_AGG).to_dict()["join_site"] is None


def test_a_timeout_or_cancel_drops_the_postgres_temp_table(shipping: Orchestrator) -> None:
    pg = shipping.catalog.engines["pg"]
    keys = ship("_f1", pa.array(range(5000), pa.int64()))
    with pytest.raises(GatewayError) as caught:
        pg.fetch(f"SELECT count(*) FROM {keys.name}, pg_sleep(5)", 0.5, [keys])
    assert caught.value.http_status == 504
    assert not _pg_has(keys.name)

    other = ship("_f1", pa.array(range(5000), pa.int64()))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pg.fetch(f"SELECT count(*) FROM {other.name}, pg_sleep(30)", 60, [other])
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert _eventually(lambda: _pg_has(other.name))
    pg.cancel()
    thread.join(10)
    assert not thread.is_alive() and errors
    assert not _pg_has(other.name)


def test_a_timeout_drops_the_mariadb_temp_table(
    shipping: Orchestrator, deployment: tpch.Deployment
) -> None:
    my = shipping.catalog.engines["my"]
    keys = ship("_f1", pa.array(range(2000), pa.int64()))
    n = keys.name
    with pytest.raises(GatewayError) as caught:
        my.fetch(f"SELECT count(*) FROM {n} a, {n} b, {n} c WHERE a.k + b.k > c.k", 0.5, [keys])
    assert caught.value.http_status == 504
    assert _eventually(lambda: _my_sessions(deployment) == 0)


def test_only_our_table_is_written_the_fragment_stays_read_only(
    shipping: Orchestrator, deployment: tpch.Deployment
) -> None:
    pg: Engine = shipping.catalog.engines["pg"]
    keys = ship("_f1", pa.array([1, 2, 3], pa.int64()))
    sql = f"CREATE TABLE {deployment.pg_schema}.stolen AS SELECT k FROM {keys.name}"
    with pytest.raises(GatewayError) as caught:
        pg.fetch(sql, 5, [keys])
    assert caught.value.http_status == 502 and "read-only" in caught.value.message
    assert not _pg_has(keys.name)
    # and a query can never ask for this: writes are refused before any engine is contacted
    with pytest.raises(GatewayError) as refused:
        shipping.query(f"CREATE TABLE x AS SELECT * FROM {keys.name}")
    assert refused.value.http_status == 400


def test_an_engine_without_temp_tables_refuses_shipped_rows(unshipped: Orchestrator) -> None:
    keys = ship("_f1", pa.array([1, 2, 3], pa.int64()))
    with pytest.raises(GatewayError) as caught:
        unshipped.catalog.engines["pg"].fetch(f"SELECT k FROM {keys.name}", 5, [keys])
    assert "may not create temporary tables" in caught.value.message


def test_a_user_that_may_not_create_temp_tables_gets_todays_plan(
    deployment: tpch.Deployment, reference: duckdb.DuckDBPyConnection
) -> None:
    user = f"pk_nt_{deployment.tag}"
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%'")
            cur.execute(f"GRANT SELECT ON `{deployment.my_db}`.* TO '{user}'@'%'")
        engines = {n: {**e, "temp_tables": True} for n, e in deployment.engines().items()}
        engines["my"]["user"] = user
        orch = Orchestrator(
            DataSettings.model_validate({"engines": engines, "semijoin_max_keys": MAX_KEYS})
        )
        for sql in (MY_JOIN, MY_AGG):
            result = orch.query(sql)
            want = reference.execute(sql).fetchall()
            assert tpch.same_rows(_rows(result), want, ordered=True) is None
            stat = _stat(result, "my")
            assert stat.shipped_rows == 0 and not stat.join_site and stat.rows == 2000
            steps = " | ".join(result.plan.to_dict()["steps"])
            assert "would not take temporary table" in steps and "ran unreduced" in steps
        assert "join site on my refused" in steps
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


@pytest.mark.parametrize("number", sorted(tpch.queries()))
def test_tpch_query_matches_single_duckdb_with_temp_tables(
    number: int, shipping: Orchestrator, reference: duckdb.DuckDBPyConnection
) -> None:
    # IN-lists of at most 20 keys: most reductions go through temporary tables or join sites
    sql = tpch.queries()[number]
    result = shipping.query(sql)
    want = reference.execute(sql).fetchall()
    got = _rows(result)
    diff = tpch.same_rows(got, want, ordered="order by" in sql.lower())
    assert diff is None, f"q{number}: {diff}\nplan: {result.plan.to_dict()}"
    assert result.table.column_names == [d[0] for d in reference.execute(sql).description]


def test_tpch_queries_really_use_temp_tables_and_join_sites(shipping: Orchestrator) -> None:
    sites: set[int] = set()
    keys: set[int] = set()
    for number, sql in tpch.queries().items():
        stats = shipping.query(sql).execution.stats
        sites |= {number for s in stats if s.join_site}
        keys |= {number for s in stats if s.shipped_rows and not s.join_site}
    # keys of a whole table are never shipped (they reduce nothing): q13, q18 read customer whole
    assert len(sites) >= 3 and len(keys) >= 4, (sites, keys)
    assert not {13, 18} & keys
