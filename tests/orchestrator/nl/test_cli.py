"""``portkey query --ask`` and ``portkey advise`` as a user runs them (a real process)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.orchestrator import tpch
from tests.orchestrator.nl.conftest import nl_config
from tests.orchestrator.nl.fake_llm import ScriptedLLM
from tests.orchestrator.nl.test_answers import JOIN, sql_answer
from tests.orchestrator.test_cli import PORTKEY
from tests.orchestrator.tpch import same_rows


def portkey(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PORTKEY_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [*PORTKEY, *args, "--config", str(config)], env=env, capture_output=True, timeout=90
    )


def test_query_ask_goes_through_the_gateway_in_process(
    deployment: tpch.Deployment, llm: ScriptedLLM, tmp_path: Path, reference: Any
) -> None:
    config = tmp_path / "portkey.yaml"
    config.write_text(nl_config(deployment, llm, "sql"))
    llm.script(["no JSON here", sql_answer(JOIN)])
    done = portkey(tmp_path, config, "query", "--ask", "segments of German customers", "-f", "json")
    assert done.returncode == 0, done.stderr.decode()
    body = json.loads(done.stdout)
    assert [a["reasons"][0]["code"] for a in body["llm"]["attempts"]] == ["not_json"]
    want = reference.execute(JOIN).fetchall()
    assert same_rows([tuple(r) for r in body["rows"]], want, ordered=True) is None
    assert len(llm.requests) == 2  # the scripted model was reached through the gateway


def test_query_ask_exits_1_when_every_answer_is_rejected(
    deployment: tpch.Deployment, llm: ScriptedLLM, tmp_path: Path
) -> None:
    config = tmp_path / "portkey.yaml"
    config.write_text(nl_config(deployment, llm, "sql"))
    drop = sql_answer("SELECT 1; DROP TABLE orders")
    llm.script([drop, drop])
    done = portkey(tmp_path, config, "query", "--ask", "drop it")
    assert done.returncode == 1 and "422" in done.stderr.decode()


def test_advise_prints_recommendations(
    deployment: tpch.Deployment, llm: ScriptedLLM, tmp_path: Path
) -> None:
    config = tmp_path / "portkey.yaml"
    config.write_text(nl_config(deployment, llm, "sql"))
    done = portkey(tmp_path, config, "advise", "SELECT l_orderkey, l_quantity FROM lineitem")
    assert done.returncode == 0, done.stderr.decode()
    assert "unfiltered_scan" in done.stdout.decode() and "bytes" in done.stderr.decode()
