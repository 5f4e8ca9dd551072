"""A real gateway with the TPC-H engines and a scripted model behind ``data.llm``, per form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.orchestrator import tpch
from tests.orchestrator.conftest import ADMIN_KEY
from tests.orchestrator.nl.fake_llm import ScriptedLLM
from tests.support import GatewayServer

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="session")
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as fake:
        yield fake


def nl_config(deployment: tpch.Deployment, llm: ScriptedLLM, form: str) -> str:
    route = {"provider": "openai", "api_key": "sk-scripted", "custom_host": llm.base_url}
    data: dict[str, Any] = {
        "engines": deployment.engines(),
        "llm": {"config": "nl", "model": "gpt-4o-mini", "max_retries": 1, "form": form},
    }
    return yaml.safe_dump({"admin": {"api_key": ADMIN_KEY}, "configs": {"nl": route}, "data": data})


def _serve(
    form: str, deployment: tpch.Deployment, llm: ScriptedLLM, tmp: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    path: Path = tmp.mktemp(f"nl-{form}") / "portkey.yaml"
    path.write_text(nl_config(deployment, llm, form))
    with GatewayServer(path) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def sql_server(
    deployment: tpch.Deployment, llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    yield from _serve("sql", deployment, llm, tmp_path_factory)


@pytest.fixture(scope="session")
def plan_server(
    deployment: tpch.Deployment, llm: ScriptedLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    yield from _serve("plan", deployment, llm, tmp_path_factory)


def ask(server: GatewayServer, **body: Any) -> httpx.Response:
    return httpx.post(server.url + "/query", json=body, headers=AUTH, timeout=60)
