"""TPC-H SF 0.01 generated once per session and spread over DuckDB, PostgreSQL, MariaDB, SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from portkey.orchestrator.service import Orchestrator
from portkey.orchestrator.settings import DataSettings
from tests.orchestrator import tpch
from tests.support import GatewayServer

ADMIN_KEY = "admin-key-for-orchestrator-tests-42"


@pytest.fixture(scope="session")
def tpch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tpch.generate(0.01, tmp_path_factory.mktemp("tpch-sf0.01"))


@pytest.fixture(scope="session")
def deployment(
    tpch_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tpch.Deployment]:
    dep = tpch.deploy(tpch_dir, tmp_path_factory.mktemp("engines"))
    try:
        yield dep
    finally:
        dep.drop()


@pytest.fixture(scope="session")
def reference(deployment: tpch.Deployment) -> duckdb.DuckDBPyConnection:
    return deployment.reference()


@pytest.fixture(scope="session")
def orch(deployment: tpch.Deployment) -> Orchestrator:
    return Orchestrator(DataSettings.model_validate({"engines": deployment.engines()}))


@pytest.fixture(scope="session")
def keyed(deployment: tpch.Deployment) -> Orchestrator:
    """The same deployment with TPC-H's foreign keys declared (``data.foreign_keys``)."""
    data = {"engines": deployment.engines(), "foreign_keys": deployment.foreign_keys()}
    return Orchestrator(DataSettings.model_validate(data))


def config_text(engines: dict[str, Any], **data: Any) -> str:
    return yaml.safe_dump({"admin": {"api_key": ADMIN_KEY}, "data": {"engines": engines, **data}})


@pytest.fixture(scope="session")
def server(
    deployment: tpch.Deployment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    """The whole service with the 4 TPC-H engines plus one that cannot be reached."""
    engines = {
        **deployment.engines(),
        "down": {"type": "postgres", "dsn": "postgresql://postgres@127.0.0.1:1/none"},
    }
    path = tmp_path_factory.mktemp("config") / "portkey.yaml"
    path.write_text(config_text(engines))
    with GatewayServer(path) as gateway:
        yield gateway
