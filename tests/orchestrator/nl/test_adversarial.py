"""The adversarial corpus: every answer rejected with the right reason, no engine ever written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from portkey.orchestrator.service import Orchestrator
from tests.orchestrator import tpch
from tests.orchestrator.nl.conftest import ask
from tests.orchestrator.nl.fake_llm import ScriptedLLM
from tests.support import GatewayServer

CORPUS = yaml.safe_load(
    (Path(__file__).parents[2] / "data" / "nl" / "adversarial.yaml").read_text()
)


def text_of(entry: dict[str, Any]) -> str:
    return str(entry["answer"]) if "answer" in entry else json.dumps(entry["json"])


@pytest.mark.parametrize("entry", CORPUS, ids=[e["name"] for e in CORPUS])
def test_rejected_with_the_right_reason(
    entry: dict[str, Any],
    request: pytest.FixtureRequest,
    llm: ScriptedLLM,
) -> None:
    server: GatewayServer = request.getfixturevalue(f"{entry['form']}_server")
    llm.script([text_of(entry)] * 2)  # max_retries 1: two answers, both bad
    response = ask(server, question="Which customers spend most?")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "llm_answer_rejected" and error["param"] == "question"
    assert len(error["attempts"]) == 2
    for attempt in error["attempts"]:
        codes = [r["code"] for r in attempt["reasons"]]
        assert codes and codes[0] == entry["code"], attempt
    # the reasons went back to the model with its answer
    feedback = llm.requests[1]["messages"][-1]["content"]
    assert entry["code"] in feedback and llm.requests[1]["messages"][-2]["role"] == "assistant"


def test_no_engine_was_written(
    deployment: tpch.Deployment,
    orch: Orchestrator,
    request: pytest.FixtureRequest,
    llm: ScriptedLLM,
) -> None:
    # runs after the corpus (file order): the tables and row counts are what was loaded
    for entry in CORPUS:
        server: GatewayServer = request.getfixturevalue(f"{entry['form']}_server")
        llm.script([text_of(entry)] * 2)
        assert ask(server, question="again").status_code == 422
    orch.catalog.refresh()
    names = sorted(t.name for t in orch.catalog.tables())
    assert names == sorted(tpch.TABLES)
    for name, table in deployment.tables.items():
        got = orch.query(f"SELECT count(*) AS n FROM {name}").table.column("n").to_pylist()
        assert got == [table.num_rows], name
    total = orch.query("SELECT sum(c_acctbal) AS s FROM customer").table.column("s")[0].as_py()
    loaded = sum(deployment.tables["customer"].column("c_acctbal").to_pylist())
    assert float(total) == pytest.approx(float(loaded))
