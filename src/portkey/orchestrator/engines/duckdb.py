"""DuckDB adapter: a database file opened read-only, answers straight as Arrow.

Shipped join keys are registered on the connection as an Arrow view: nothing is written.
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb
import pyarrow as pa

from portkey.orchestrator.engines.base import ColumnInfo, Engine, TableInfo, duckdb_type
from portkey.orchestrator.settings import DuckDBEngine
from portkey.orchestrator.shipping import Shipment


class DuckDB(Engine):
    dialect = "duckdb"
    settings: DuckDBEngine
    unreachable = (duckdb.IOException,)
    holds_keys = True

    def _connect(self) -> Any:
        path = self.settings.path
        return duckdb.connect(path, read_only=path != ":memory:")

    def _run(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        timer = threading.Timer(timeout_s, conn.interrupt)
        timer.start()
        try:
            table: pa.Table = conn.sql(sql).to_arrow_table()
        finally:
            timer.cancel()
        return table

    def _load_keys(self, conn: Any, shipment: Shipment, timeout_s: float) -> None:
        conn.register(shipment.name, shipment.table)

    def _drop_keys(self, conn: Any, shipment: Shipment) -> None:
        conn.unregister(shipment.name)

    def _is_timeout(self, exc: BaseException) -> bool:
        return isinstance(exc, duckdb.InterruptException)

    def _introspect(self, conn: Any) -> list[TableInfo]:
        cols: dict[tuple[str, str], list[ColumnInfo]] = {}
        for schema, table, column, dtype in conn.execute(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns WHERE table_catalog = current_database() "
            "ORDER BY table_schema, table_name, ordinal_position"
        ).fetchall():
            if self.wanted(schema):
                cols.setdefault((schema, table), []).append(
                    ColumnInfo(column.lower(), duckdb_type(dtype, "duckdb"))
                )
        sizes = {
            (s, t): n
            for s, t, n in conn.execute(
                "SELECT schema_name, table_name, estimated_size FROM duckdb_tables()"
            ).fetchall()
        }
        return [
            TableInfo(self.name, s, t, tuple(c), sizes.get((s, t))) for (s, t), c in cols.items()
        ]
