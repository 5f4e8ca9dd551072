"""Good answers of the scripted model, end to end through the gateway: results equal TPC-H's."""

from __future__ import annotations

import json
from typing import Any

from tests.orchestrator.nl.conftest import ask
from tests.orchestrator.nl.fake_llm import ScriptedLLM
from tests.orchestrator.tpch import same_rows
from tests.support import GatewayServer

JOIN = (
    "SELECT c_mktsegment, count(*) AS n, sum(o_totalprice) AS total "
    "FROM customer JOIN orders ON c_custkey = o_custkey "
    "WHERE c_nationkey = 7 AND o_orderdate >= DATE '1997-01-01' "
    "GROUP BY c_mktsegment ORDER BY c_mktsegment"
)
QUESTION = "Orders since 1997 of German customers: count and total price per market segment?"


def sql_answer(sql: str) -> str:
    return json.dumps({"sql": sql, "rationale": "join customers to their orders"})


PLAN = {
    "subqueries": [
        {
            "engine": "pg",
            "sql": "SELECT c_custkey, c_mktsegment FROM customer WHERE c_nationkey = 7",
            "output": "cust",
            "columns": ["c_custkey", "c_mktsegment"],
        },
        {
            "engine": "duck",
            "sql": "SELECT o_custkey, o_totalprice FROM orders "
            "WHERE o_orderdate >= DATE '1997-01-01'",
            "output": "ord",
            "columns": ["o_custkey", "o_totalprice"],
        },
    ],
    "combine": "SELECT c_mktsegment, count(*) AS n, sum(o_totalprice) AS total "
    "FROM cust JOIN ord ON c_custkey = o_custkey GROUP BY c_mktsegment ORDER BY c_mktsegment",
    "rationale": "filter customers on PostgreSQL and orders on DuckDB, join locally",
}


def test_sql_answer_runs_and_equals_the_reference(
    sql_server: GatewayServer, llm: ScriptedLLM, reference: Any
) -> None:
    llm.script([sql_answer(JOIN)])
    response = ask(sql_server, question=QUESTION)
    assert response.status_code == 200, response.text
    body = response.json()
    want = reference.execute(JOIN).fetchall()
    assert same_rows([tuple(r) for r in body["rows"]], want, ordered=True) is None
    meta = body["llm"]
    assert meta["answer"]["sql"] == JOIN and meta["attempts"] == []
    assert {"json", "schema", "read_only", "catalog", "engine_accepts"} <= set(meta["validations"])
    assert meta["model"] == "gpt-4o-mini" and meta["tokens"]["total"] > 0
    assert meta["cost_usd"] > 0  # priced by the gateway (x-portkey-cost-usd)
    assert body["stats"]["bytes_moved"] > 0
    sent = llm.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert "customer" in sent["messages"][0]["content"]  # the schema digest


def test_plan_answer_runs_and_equals_the_deterministic_plan(
    plan_server: GatewayServer, llm: ScriptedLLM, reference: Any
) -> None:
    llm.script([json.dumps(PLAN)])
    response = ask(plan_server, question=QUESTION)
    assert response.status_code == 200, response.text
    body = response.json()
    want = reference.execute(JOIN).fetchall()
    assert same_rows([tuple(r) for r in body["rows"]], want, ordered=True) is None
    meta = body["llm"]
    assert meta["form"] == "plan" and meta["answer"]["subqueries"][0]["engine"] == "pg"
    assert meta["validations"][-1] == "result_matches"
    assert {"engine_scope", "outputs", "join_types", "bounded", "engine_accepts"} <= set(
        meta["validations"]
    )
    # the subqueries ran as written, one per engine; bytes are compared with the baseline
    engines = {e["engine"]: e for e in body["stats"]["engines"]}
    assert set(engines) == {"pg", "duck"} and "c_nationkey = 7" in engines["pg"]["sql"]
    assert meta["baseline"]["plan_bytes_moved"] == body["stats"]["bytes_moved"]
    assert meta["baseline"]["bytes_moved"] > 0
    # the model's plan ships every recent order; ours ships only the German customers' ones
    assert meta["baseline"]["bytes_moved"] < meta["baseline"]["plan_bytes_moved"]
    assert any("deterministic plan is cheaper" in n for n in body["plan"]["notes"])


THREE_ENGINES = {
    "subqueries": [
        {
            "engine": "my",
            "sql": "SELECT p_partkey, p_brand FROM part WHERE p_size < 10",
            "output": "parts",
            "columns": ["p_partkey", "p_brand"],
        },
        {
            "engine": "lite",
            "sql": "SELECT s_suppkey, s_name FROM supplier WHERE s_nationkey IN (1, 2, 3)",
            "output": "supp",
            "columns": ["s_suppkey", "s_name"],
        },
        {
            "engine": "duck",
            "sql": "SELECT l_partkey, l_suppkey, l_quantity FROM lineitem "
            "WHERE l_shipdate >= DATE '1998-01-01'",
            "output": "li",
            "columns": ["l_partkey", "l_suppkey", "l_quantity"],
        },
    ],
    "combine": "SELECT p_brand, s_name, sum(l_quantity) AS qty FROM li "
    "JOIN parts ON l_partkey = p_partkey JOIN supp ON l_suppkey = s_suppkey "
    "GROUP BY p_brand, s_name",
    "rationale": "each filter on its own engine, the joins locally",
}
THREE_SQL = (
    "SELECT p_brand, s_name, sum(l_quantity) AS qty FROM lineitem "
    "JOIN part ON l_partkey = p_partkey JOIN supplier ON l_suppkey = s_suppkey "
    "WHERE p_size < 10 AND s_nationkey IN (1, 2, 3) AND l_shipdate >= DATE '1998-01-01' "
    "GROUP BY p_brand, s_name"
)


def test_plan_over_three_engines_equals_the_reference(
    plan_server: GatewayServer, llm: ScriptedLLM, reference: Any
) -> None:
    llm.script([json.dumps(THREE_ENGINES)])
    response = ask(plan_server, question="Quantity shipped in 1998 per brand of small parts?")
    assert response.status_code == 200, response.text
    body = response.json()
    want = reference.execute(THREE_SQL).fetchall()
    assert want and same_rows([tuple(r) for r in body["rows"]], want, ordered=False) is None
    assert {e["engine"] for e in body["stats"]["engines"]} == {"my", "lite", "duck"}


def test_retry_with_feedback_first_bad_then_good(
    sql_server: GatewayServer, llm: ScriptedLLM, reference: Any
) -> None:
    bad = sql_answer(JOIN.replace("FROM customer", "FROM customers_v2"))
    llm.script([bad, sql_answer(JOIN)])
    response = ask(sql_server, question=QUESTION)
    assert response.status_code == 200, response.text
    meta = response.json()["llm"]
    assert [a["reasons"][0]["code"] for a in meta["attempts"]] == ["unknown_table"]
    assert meta["answer"]["sql"] == JOIN
    retry = llm.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": bad}
    assert "unknown_table" in retry[-1]["content"] and "customers_v2" in retry[-1]["content"]
    # tokens of both attempts are counted
    assert meta["tokens"]["prompt"] > llm.requests[0]["messages"][0]["content"].count(" ") // 8
    assert len(meta["trace_ids"]) == 2
    want = reference.execute(JOIN).fetchall()
    assert same_rows([tuple(r) for r in response.json()["rows"]], want, ordered=True) is None


def test_all_bad_with_sql_falls_back_to_the_deterministic_plan(
    sql_server: GatewayServer, llm: ScriptedLLM, reference: Any
) -> None:
    llm.script(["not json", "still not json"])
    response = ask(sql_server, question="make this faster", sql=JOIN)
    assert response.status_code == 200, response.text
    meta = response.json()["llm"]
    assert meta["fallback"] == "deterministic" and len(meta["attempts"]) == 2
    want = reference.execute(JOIN).fetchall()
    assert same_rows([tuple(r) for r in response.json()["rows"]], want, ordered=True) is None


def test_explain_returns_the_validated_plan_without_running(
    plan_server: GatewayServer, llm: ScriptedLLM
) -> None:
    llm.script([json.dumps(PLAN)])
    response = ask(plan_server, question=QUESTION, explain=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "rows" not in body
    assert [f["engine"] for f in body["plan"]["fragments"]] == ["pg", "duck"]
    assert "result_matches" not in body["llm"]["validations"]
    assert "engine_accepts" in body["llm"]["validations"]
    # what our own plan of the same query would move, estimated without running anything
    baseline = body["llm"]["baseline"]
    assert baseline["deterministic_estimated_bytes"] > 0
    assert {f["engine"] for f in baseline["deterministic_plan"]["fragments"]} == {"pg", "duck"}


def test_question_without_llm_config_is_a_400(server: GatewayServer) -> None:
    from tests.orchestrator.test_api import error_of, post

    response = post(server, "/query", {"question": "how many orders?"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "llm_not_configured"
    missing = post(server, "/query", {"explain": True})
    assert missing.status_code == 400 and "sql or question" in error_of(missing)["message"]


def test_the_gateways_auth_applies_to_the_orchestrators_calls(
    deployment: Any, llm: ScriptedLLM, tmp_path: Any
) -> None:
    import yaml

    from tests.orchestrator.nl.conftest import nl_config

    config = yaml.safe_load(nl_config(deployment, llm, "sql"))
    config["auth"] = {"required": True}  # /v1 wants a key; data.llm.api_key has none
    path = tmp_path / "portkey.yaml"
    path.write_text(yaml.safe_dump(config))
    llm.script([sql_answer(JOIN)])
    with GatewayServer(path) as server:
        response = ask(server, question=QUESTION)
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "missing_api_key"
    assert llm.requests == []  # refused by the gateway before any model was asked


def test_comma_joins_linked_in_where_are_accepted(
    sql_server: GatewayServer, llm: ScriptedLLM, reference: Any
) -> None:
    sql = (
        "SELECT n_name, r_name FROM nation, region, supplier "
        "WHERE n_regionkey = r_regionkey AND s_nationkey = n_nationkey AND s_acctbal > 9000"
    )
    llm.script([sql_answer(sql)])
    response = ask(sql_server, question="regions of rich suppliers")
    assert response.status_code == 200, response.text
    want = reference.execute(sql).fetchall()
    assert same_rows([tuple(r) for r in response.json()["rows"]], want, ordered=False) is None
