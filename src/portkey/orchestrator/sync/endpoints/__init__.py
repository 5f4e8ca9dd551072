"""Sync endpoints, one module per engine, behind one registry: engine ``type`` -> class."""

from __future__ import annotations

import importlib

from portkey.orchestrator.settings import EngineSettings
from portkey.orchestrator.sync.endpoints.base import Endpoint, Stored

REGISTRY: dict[str, str] = {
    "duckdb": "portkey.orchestrator.sync.endpoints.duckdb:DuckDBEndpoint",
    "sqlite": "portkey.orchestrator.sync.endpoints.sqlite:SQLiteEndpoint",
    "postgres": "portkey.orchestrator.sync.endpoints.postgres:PostgresEndpoint",
    "mysql": "portkey.orchestrator.sync.endpoints.mysql:MySQLEndpoint",
    "chdb": "portkey.orchestrator.sync.endpoints.chdb:ChDBEndpoint",
    "snowflake": "portkey.orchestrator.sync.endpoints.snowflake:SnowflakeEndpoint",
    "trino": "portkey.orchestrator.sync.endpoints.trino:TrinoEndpoint",
}


def create_endpoint(name: str, settings: EngineSettings) -> Endpoint:
    module, _, cls = REGISTRY[settings.type].partition(":")
    endpoint_cls: type[Endpoint] = getattr(importlib.import_module(module), cls)
    return endpoint_cls(name, settings)


__all__ = ["REGISTRY", "Endpoint", "Stored", "create_endpoint"]
