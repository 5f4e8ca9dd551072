"""``POST /query/advise``: recommendations with numbers we computed from our plan and EXPLAIN."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

import httpx
import psycopg
import yaml

from tests.orchestrator.conftest import ADMIN_KEY
from tests.orchestrator.nl.conftest import AUTH
from tests.orchestrator.nl.fake_llm import ScriptedLLM
from tests.orchestrator.test_api import error_of, post
from tests.orchestrator.tpch import PG_DSN
from tests.support import GatewayServer

REGEX = (
    "SELECT s_name, sum(l_quantity) AS q FROM supplier JOIN lineitem ON s_suppkey = l_suppkey "
    "WHERE regexp_matches(s_name, '00[1-5]$') GROUP BY s_name"
)


def test_local_function_and_unfiltered_scan_are_found(server: GatewayServer) -> None:
    response = post(server, "/query/advise", {"sql": REGEX})
    assert response.status_code == 200, response.text
    body = response.json()
    edges = {e["engine"]: e for e in body["edges"]}
    assert set(edges) == {"lite", "duck"}
    assert edges["duck"]["engine_estimated_rows"] and edges["duck"]["estimated_bytes"] > 0
    kinds = {r["kind"]: r for r in body["recommendations"]}
    local = kinds["local_function"]
    assert local["engine"] == "lite" and "REGEXP" in local["detail"].upper()
    assert local["savings_bytes_at_most"] == edges["lite"]["estimated_bytes"]
    # the naive plan (every table whole) moves more than ours, and we say by how much
    assert body["naive_bytes_moved"] >= body["estimated_bytes_moved"]
    assert body["pushdown_saves_bytes"] == body["naive_bytes_moved"] - body["estimated_bytes_moved"]


def test_unfiltered_scan_of_a_big_table(server: GatewayServer) -> None:
    body = post(server, "/query/advise", {"sql": "SELECT l_orderkey, l_quantity FROM lineitem"})
    assert body.status_code == 200, body.text
    advice = body.json()
    scan = next(r for r in advice["recommendations"] if r["kind"] == "unfiltered_scan")
    edge = advice["edges"][0]
    assert scan["engine"] == "duck" and edge["estimated_rows"] > 50_000
    assert scan["savings_bytes_at_most"] == edge["estimated_bytes"]
    assert scan["savings_s_at_most"] == round(
        scan["savings_bytes_at_most"] / advice["assumed_bytes_per_s"], 4
    )


def test_a_filtered_pushed_query_has_no_scan_findings(server: GatewayServer) -> None:
    sql = "SELECT c_name FROM customer WHERE c_custkey = 7"
    body = post(server, "/query/advise", {"sql": sql}).json()
    assert body["edges"][0]["engine"] == "pg" and body["edges"][0]["engine_estimated_rows"] >= 1
    assert [r["kind"] for r in body["recommendations"]] == []


def test_advise_refuses_writes_like_query(server: GatewayServer) -> None:
    response = post(server, "/query/advise", {"sql": "DELETE FROM orders"})
    assert response.status_code == 400 and error_of(response)["param"] == "sql"


def test_the_models_narrative_may_only_state_our_numbers(
    sql_server: GatewayServer, llm: ScriptedLLM
) -> None:
    sql = "SELECT l_orderkey, l_quantity FROM lineitem"
    advice = post(sql_server, "/query/advise", {"sql": sql}).json()
    moved = advice["edges"][0]["estimated_bytes"]
    invented = "Adding a filter saves 987654321 bytes and 42.5 seconds."
    honest = f"lineitem is read whole: {moved:,} bytes move; a filter would cut that."
    llm.script([invented, honest])
    body = post(sql_server, "/query/advise", {"sql": sql, "narrative": True}).json()
    assert body["narrative"] == honest
    assert body["narrative_attempts"] == [
        {"code": "unverified_number", "numbers": ["987654321", "42.5"]}
    ]
    assert body["narrative_llm"]["tokens"]["total"] > 0
    assert "987654321" in llm.requests[1]["messages"][-1]["content"]


def test_a_partitioned_table_read_without_its_partition_key_is_flagged(
    make_gateway: Callable[[str], GatewayServer],
) -> None:
    """PostgreSQL declarative partitioning: the catalog knows the key, the advisor uses it."""
    schema = f"parts_{secrets.token_hex(4)}"
    with psycopg.connect(PG_DSN, autocommit=True) as pg:
        pg.execute(f"CREATE SCHEMA {schema}")
        try:
            pg.execute(f"CREATE TABLE {schema}.events (day date, v int) PARTITION BY RANGE (day)")
            for month in (1, 2):
                pg.execute(
                    f"CREATE TABLE {schema}.events_{month} PARTITION OF {schema}.events "
                    f"FOR VALUES FROM ('2026-0{month}-01') TO ('2026-0{month + 1}-01')"
                )
            pg.execute(
                f"INSERT INTO {schema}.events SELECT DATE '2026-01-01' + (g % 59), g "
                "FROM generate_series(1, 2000) g"
            )
            engines = {"pg": {"type": "postgres", "dsn": PG_DSN, "schemas": [schema]}}
            server = make_gateway(yaml.safe_dump({"admin": {"api_key": ADMIN_KEY},
                                                   "data": {"engines": engines}}))  # fmt: skip
            tables = httpx.get(server.url + "/catalog", headers=AUTH).json()
            listed = json.dumps(tables)
            assert '"partition_keys": ["day"]' in listed

            everything = post(
                server, "/query/advise", {"sql": f"SELECT sum(v) FROM pg.{schema}.events"}
            )
            assert everything.status_code == 200, everything.text
            [finding] = [
                r
                for r in everything.json()["recommendations"]
                if r["kind"] == "missing_partition_filter"
            ]
            assert (
                "partitioned by day" in finding["detail"]
                and "filter on day" in finding["suggestion"]
            )

            pruned = post(
                server,
                "/query/advise",
                {"sql": f"SELECT sum(v) FROM pg.{schema}.events WHERE day >= DATE '2026-02-01'"},
            )
            assert pruned.status_code == 200, pruned.text
            kinds = {r["kind"] for r in pruned.json()["recommendations"]}
            assert "missing_partition_filter" not in kinds
        finally:
            pg.execute(f"DROP SCHEMA {schema} CASCADE")
