"""Engine adapters, one module each, behind one registry: ``type`` in portkey.yaml -> class."""

from __future__ import annotations

import importlib
from typing import Any

from portkey.orchestrator.engines.base import ColumnInfo, Engine, Fetched, TableInfo
from portkey.orchestrator.errors import EngineUnavailable
from portkey.orchestrator.settings import EngineSettings

#: engine ``type`` -> "module:Class", imported on first use (drivers load lazily)
REGISTRY: dict[str, str] = {
    "duckdb": "portkey.orchestrator.engines.duckdb:DuckDB",
    "sqlite": "portkey.orchestrator.engines.sqlite:SQLite",
    "postgres": "portkey.orchestrator.engines.postgres:Postgres",
    "mysql": "portkey.orchestrator.engines.mysql:MySQL",
    "trino": "portkey.orchestrator.engines.trino:Trino",
    "chdb": "portkey.orchestrator.engines.chdb:ChDB",
    "clickhouse": "portkey.orchestrator.engines.clickhouse:ClickHouse",
    "snowflake": "portkey.orchestrator.engines.snowflake:Snowflake",
}


#: engine ``type`` -> the pip extra that brings its driver, when it is not a core dependency
EXTRAS = {"chdb": "clickhouse", "clickhouse": "clickhouse", "snowflake": "snowflake"}


class MissingDriver(Engine):
    """An engine whose driver is not installed: every use is a 503 saying what to install."""

    def __init__(self, name: str, settings: EngineSettings, error: ImportError) -> None:
        super().__init__(name, settings)
        extra = EXTRAS.get(settings.type)
        hint = f"pip install 'portkey-gateway[{extra}]'" if extra else "reinstall portkey"
        self.reason = f"engine {name!r} ({settings.type}) needs a driver: {error} ({hint})"

    def _connect(self) -> Any:
        raise EngineUnavailable(self.reason, code="engine_driver_missing", param=self.name)

    def _run(self, conn: Any, sql: str, timeout_s: float) -> Any:
        raise AssertionError("never connected")

    def _introspect(self, conn: Any) -> list[TableInfo]:
        raise AssertionError("never connected")


def create_engine(name: str, settings: EngineSettings) -> Engine:
    module, _, cls = REGISTRY[settings.type].partition(":")
    try:
        engine_cls: type[Engine] = getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        return MissingDriver(name, settings, exc)
    return engine_cls(name, settings)


__all__ = ["REGISTRY", "ColumnInfo", "Engine", "Fetched", "TableInfo", "create_engine"]
