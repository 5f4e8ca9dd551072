"""The good-answer tests against a real model, when one is configured.

Set ``PORTKEY_NL_LIVE_OPENAI_KEY`` (and optionally ``PORTKEY_NL_LIVE_MODEL``, default
gpt-4o-mini) to run them; they are skipped only when no key is set. The network guard of
tests/conftest.py is lifted for this module alone (the model is not on loopback).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.orchestrator import tpch
from tests.orchestrator.conftest import ADMIN_KEY
from tests.orchestrator.nl.conftest import ask
from tests.orchestrator.nl.test_answers import JOIN, QUESTION
from tests.orchestrator.tpch import same_rows
from tests.support import GatewayServer

KEY = os.environ.get("PORTKEY_NL_LIVE_OPENAI_KEY")
pytestmark = pytest.mark.skipif(not KEY, reason="no PORTKEY_NL_LIVE_OPENAI_KEY: no live model")


@pytest.fixture(autouse=True)
def _no_network() -> None:
    """A live model is reached over the network: this module only."""


@pytest.fixture(params=["sql", "plan"])
def live(
    request: pytest.FixtureRequest, deployment: tpch.Deployment, tmp_path: Path
) -> Iterator[GatewayServer]:
    route = {"provider": "openai", "api_key": KEY}
    model = os.environ.get("PORTKEY_NL_LIVE_MODEL", "gpt-4o-mini")
    data = {
        "engines": deployment.engines(),
        "llm": {"config": "nl", "model": model, "max_retries": 3, "form": request.param},
    }
    path = tmp_path / "portkey.yaml"
    body = {"admin": {"api_key": ADMIN_KEY}, "configs": {"nl": route}, "data": data}
    path.write_text(yaml.safe_dump(body))
    with GatewayServer(path) as server:
        yield server


def test_live_model_answers_like_the_reference(live: GatewayServer, reference: Any) -> None:
    response = ask(live, question=QUESTION + " Order by market segment.")
    assert response.status_code == 200, response.text
    want = reference.execute(JOIN).fetchall()
    got = [tuple(r) for r in response.json()["rows"]]
    assert same_rows(got, want, ordered=False) is None
