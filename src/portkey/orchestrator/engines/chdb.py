"""ClickHouse embedded (chdb): answers straight as Arrow, ``readonly=1`` on every query.

Each query carries ``SETTINGS join_use_nulls=1, max_execution_time=N, readonly=1``: SQL's
outer-join NULLs (ClickHouse fills defaults otherwise), the statement timeout, and a
read-only guard ClickHouse itself enforces. chdb runs one session per process and per data
directory, so this engine keeps one session and runs its queries one at a time.
"""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa
from chdb import session

from portkey.orchestrator.engines.base import ColumnInfo, Engine, TableInfo, duckdb_type
from portkey.orchestrator.settings import ChDBEngine


class _Shared:
    """The engine's one session, handed out as a connection that is never really closed."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def close(self) -> None:
        return None

    def interrupt(self) -> None:
        return None  # chdb cannot interrupt: max_execution_time bounds every query


class ChDB(Engine):
    dialect = "clickhouse"
    settings: ChDBEngine

    def __init__(self, name: str, settings: ChDBEngine) -> None:
        super().__init__(name, settings)
        self._session: Any = None
        self._run_lock = threading.Lock()

    def _connect(self) -> Any:
        if self._session is None:
            self._session = session.Session(self.settings.path)  # type: ignore[no-untyped-call]
        return _Shared(self._session)

    def _is_timeout(self, exc: BaseException) -> bool:
        return "TIMEOUT_EXCEEDED" in str(exc)

    def _query(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        settings = f"join_use_nulls=1, max_execution_time={max(1, int(timeout_s))}, readonly=1"
        with self._run_lock:
            table: pa.Table = conn.session.query(f"{sql} SETTINGS {settings}", "ArrowTable")
        return table

    def _run(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        return self._query(conn, sql, timeout_s)

    def _introspect(self, conn: Any) -> list[TableInfo]:
        limit = self.settings.statement_timeout_s
        cols = self._query(
            conn,
            "SELECT database, table, name, type FROM system.columns "
            "WHERE database NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA') "
            "ORDER BY database, table, position",
            limit,
        ).to_pylist()
        rows = {
            (r["database"], r["name"]): r["total_rows"]
            for r in self._query(
                conn, "SELECT database, name, total_rows FROM system.tables", limit
            ).to_pylist()
        }
        tables: dict[tuple[str, str], list[ColumnInfo]] = {}
        for c in cols:
            if self.wanted(c["database"]):
                tables.setdefault((c["database"], c["table"]), []).append(
                    ColumnInfo(c["name"].lower(), duckdb_type(c["type"], "clickhouse"))
                )
        return [
            TableInfo(self.name, db, t, tuple(columns), rows.get((db, t)))
            for (db, t), columns in tables.items()
        ]
