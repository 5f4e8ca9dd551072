"""``/query``, ``/query/explain`` and ``/catalog`` over HTTP on the real service."""

from __future__ import annotations

from typing import Any

import httpx
import pyarrow as pa
import pytest

from tests.orchestrator.conftest import ADMIN_KEY
from tests.support import GatewayServer

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
JOIN = (
    "SELECT c_mktsegment, count(*) AS n, sum(o_totalprice) AS total "
    "FROM customer JOIN orders ON c_custkey = o_custkey "
    "WHERE c_nationkey = 7 AND o_orderdate >= DATE '1997-01-01' "
    "GROUP BY c_mktsegment ORDER BY c_mktsegment"
)


def post(server: GatewayServer, path: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={**AUTH, **headers}, timeout=60)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return body


def test_query_answers_columns_rows_plan_and_stats(server: GatewayServer, reference: Any) -> None:
    response = post(server, "/query", {"sql": JOIN})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["name"] for c in body["columns"]] == ["c_mktsegment", "n", "total"]
    want = reference.execute(JOIN).fetchall()
    assert [(r[0], r[1]) for r in body["rows"]] == [(w[0], w[1]) for w in want]
    assert [round(r[2], 2) for r in body["rows"]] == [float(w[2]) for w in want]
    per_engine = {e["engine"]: e for e in body["stats"]["engines"]}
    assert set(per_engine) == {"pg", "duck"}
    assert "c_nationkey" in per_engine["pg"]["sql"] and per_engine["pg"]["rows"] > 0
    # the orders scan was reduced to the keys of the few matching customers
    assert per_engine["duck"]["semijoin_keys"] == per_engine["pg"]["rows"]
    assert body["stats"]["bytes_moved"] == sum(e["bytes"] for e in per_engine.values())


def test_arrow_stream_when_asked(server: GatewayServer) -> None:
    response = post(server, "/query", {"sql": JOIN}, accept="application/vnd.apache.arrow.stream")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.column_names == ["c_mktsegment", "n", "total"] and table.num_rows == 5
    assert int(response.headers["x-portkey-bytes-moved"]) > 0


def test_limit_caps_rows_and_says_so(server: GatewayServer) -> None:
    body = post(server, "/query", {"sql": "SELECT o_orderkey FROM orders", "limit": 7}).json()
    assert body["row_count"] == 7 and body["truncated"] is True


def test_params_are_bound_as_literals(server: GatewayServer) -> None:
    sql = "SELECT n_name FROM nation WHERE n_nationkey = ? OR n_name = ? ORDER BY n_name"
    body = post(server, "/query", {"sql": sql, "params": [7, "CHINA"]}).json()
    assert body["rows"] == [["CHINA"], ["GERMANY"]]


def test_explain_shows_per_engine_sql_without_running(server: GatewayServer) -> None:
    for response in (
        post(server, "/query/explain", {"sql": JOIN}),
        post(server, "/query", {"sql": JOIN, "explain": True}),
    ):
        assert response.status_code == 200
        plan = response.json()["plan"]
        engines = {f["engine"]: f for f in plan["fragments"]}
        assert set(engines) == {"pg", "duck"}
        assert engines["pg"]["sql"].startswith("SELECT")
        assert engines["pg"]["estimated_rows"] and engines["pg"]["estimated_bytes"]
        assert engines["duck"]["semijoins"]
        assert "_f1" in plan["local"] and "_f2" in plan["local"]


def test_catalog_lists_engines_and_tables(server: GatewayServer) -> None:
    response = httpx.get(server.url + "/catalog", headers=AUTH)
    body = response.json()
    tables = {t["qualified"].split(".")[0] + "." + t["name"] for t in body["tables"]}
    assert {"pg.customer", "duck.lineitem", "my.partsupp", "lite.supplier"} <= tables
    lineitem = next(t for t in body["tables"] if t["name"] == "lineitem")
    assert lineitem["rows_estimate"] == 60175
    assert {"name": "l_shipdate", "type": "DATE"} in lineitem["columns"]
    down = next(e for e in body["engines"] if e["name"] == "down")
    assert "unreachable" in down["error"]
    refreshed = post(server, "/catalog/refresh", None)
    assert refreshed.status_code == 200 and len(refreshed.json()["tables"]) == len(body["tables"])


def test_admin_key_is_required(server: GatewayServer) -> None:
    assert httpx.post(server.url + "/query", json={"sql": "SELECT 1"}).status_code == 401
    assert httpx.get(server.url + "/catalog").status_code == 401


@pytest.mark.parametrize(
    ("sql", "needle"),
    [
        ("DROP TABLE orders", "DROP"),
        ("SELECT 1; DELETE FROM orders", "DELETE"),
        ("SELECT * FROM orders -- ; DROP TABLE orders", "comment hides a statement"),
        ("SELECT 1 /*! ; DROP TABLE orders */", "executable"),
        ("COPY orders TO '/tmp/x.csv'", "COPY"),
        ("CALL pg_catalog.something()", "CALL"),
        ("SELECT pg_sleep(10)", "side effects"),
        ("SELECT * FROM orders FOR UPDATE", "UPDATE"),
        ("WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x", "DELETE"),
        ("SELECT * INTO copy FROM orders", "INTO"),
        ("SELEC 1", "does not parse"),
    ],
)
def test_writes_are_rejected_before_any_engine_runs(
    server: GatewayServer, sql: str, needle: str
) -> None:
    response = post(server, "/query", {"sql": sql})
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert needle in error["message"] and error["param"] == "sql"


def test_unknown_table_and_column_name_the_closest(server: GatewayServer) -> None:
    table = error_of(post(server, "/query", {"sql": "SELECT * FROM lineitems"}))
    assert table["code"] == "unknown_table" and "duck.main.lineitem" in table["message"]
    column = post(server, "/query", {"sql": "SELECT o_totalprise FROM orders"})
    assert column.status_code == 400
    assert "o_totalprise" in error_of(column)["message"]
    assert "orders.o_totalprice" in error_of(column)["message"]


def test_unreachable_engine_is_a_503_naming_it(server: GatewayServer) -> None:
    # the catalog knows nothing of "down", so a query naming its tables cannot be planned
    error = error_of(post(server, "/query", {"sql": "SELECT * FROM down.public.t"}))
    assert "engines unavailable: down" in error["message"]


def test_timeout_is_a_504_saying_what_ran(server: GatewayServer) -> None:
    sql = (
        "SELECT count(*) FROM lineitem a, lineitem b, nation "
        "WHERE a.l_orderkey + b.l_orderkey < n_nationkey"
    )
    response = post(server, "/query", {"sql": sql, "timeout_s": 0.5})
    assert response.status_code == 504, response.text
    assert "timed out" in error_of(response)["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"sql": ""}, {"sql": "SELECT 1", "limit": 0}, {"sql": "SELECT 1", "nope": 1}, []],
)
def test_malformed_bodies_are_400s(server: GatewayServer, body: Any) -> None:
    response = post(server, "/query", body)
    assert response.status_code == 400
    error_of(response)


def test_engine_down_at_query_time_is_a_503_naming_it(
    make_gateway: Any, deployment: Any, tmp_path: Any
) -> None:
    import shutil

    from tests.orchestrator.conftest import config_text

    copy = tmp_path / "suppliers.sqlite"
    shutil.copy(deployment.lite_path, copy)
    engines = {**deployment.engines(), "lite": {"type": "sqlite", "path": str(copy)}}
    server = make_gateway(config_text(engines))
    sql = "SELECT s_name, n_name FROM supplier JOIN nation ON s_nationkey = n_nationkey"
    assert post(server, "/query", {"sql": sql}).status_code == 200  # catalog now cached
    copy.unlink()
    response = post(server, "/query", {"sql": sql})
    assert response.status_code == 503, response.text
    error = error_of(response)
    assert error["param"] == "lite" and "engine 'lite' is unreachable" in error["message"]


def test_unknown_dialect_and_type_errors_are_400s(server: GatewayServer) -> None:
    dialect = post(server, "/query", {"sql": "SELECT 1", "dialect": "klingon"})
    assert dialect.status_code == 400 and error_of(dialect)["param"] == "dialect"
    mismatch = post(
        server,
        "/query",
        {"sql": "SELECT count(*) FROM orders JOIN customer ON o_custkey = c_name"},
    )
    assert mismatch.status_code == 400, mismatch.text
    assert "local step" in error_of(mismatch)["message"]


def test_queries_in_another_dialect(server: GatewayServer) -> None:
    sql = "SELECT n_name FROM nation WHERE n_nationkey < 3 ORDER BY n_name LIMIT 2"
    body = post(server, "/query", {"sql": sql.replace("LIMIT 2", "FETCH FIRST 2 ROWS ONLY"),
                                   "dialect": "postgres"}).json()  # fmt: skip
    assert body["rows"] == [["ALGERIA"], ["ARGENTINA"]]
