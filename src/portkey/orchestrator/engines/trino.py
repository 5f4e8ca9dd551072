"""Trino adapter (the official ``trino`` client): session timeout, cancel via DELETE nextUri.

Trino has no read-only transaction across connectors; queries are read-only by
construction (validate.py) and a configured ``role`` (read-only by policy) is set for the
session. Row counts come from ``SHOW STATS`` (connector statistics; None without them).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import trino
from trino import exceptions as trino_errors

from portkey.orchestrator.engines.base import (
    ColumnInfo,
    Engine,
    TableInfo,
    duckdb_type,
    rows_to_arrow,
)
from portkey.orchestrator.settings import TrinoEngine


def connect(s: TrinoEngine) -> Any:
    """A DB-API connection of the official client (the engine's and the sync endpoint's)."""
    auth = trino.auth.BasicAuthentication(s.user, s.password) if s.password else None
    return trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host=s.host,
        port=s.port,
        user=s.user,
        catalog=s.catalog,
        http_scheme=s.http_scheme,
        auth=auth,
        roles={s.catalog: s.role} if s.role else None,
        session_properties={"query_max_execution_time": f"{int(s.statement_timeout_s)}s"},
        request_timeout=s.statement_timeout_s,
        max_attempts=1,
    )


class Trino(Engine):
    dialect = "trino"
    settings: TrinoEngine
    unreachable = (trino_errors.TrinoConnectionError, trino_errors.Http503Error, OSError)

    def _connect(self) -> Any:
        return connect(self.settings)

    def _interrupt(self, conn: Any) -> None:
        for cursor in getattr(conn, "_portkey_cursors", []):
            cursor.cancel()

    def _is_timeout(self, exc: BaseException) -> bool:
        name = getattr(exc, "error_name", None)
        return name in ("EXCEEDED_TIME_LIMIT", "USER_CANCELED")

    def _cursor(self, conn: Any) -> Any:
        cursor = conn.cursor()
        conn._portkey_cursors = [*getattr(conn, "_portkey_cursors", []), cursor]
        return cursor

    def _run(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        cursor = self._cursor(conn)
        cursor.execute(sql)
        rows = cursor.fetchall()
        names = [d[0] for d in cursor.description or []]
        return rows_to_arrow(names, rows)

    def _introspect(self, conn: Any) -> list[TableInfo]:
        cursor = self._cursor(conn)
        cursor.execute(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns WHERE table_schema <> 'information_schema' "
            "ORDER BY table_schema, table_name, ordinal_position"
        )
        cols: dict[tuple[str, str], list[ColumnInfo]] = {}
        for schema, table, column, dtype in cursor.fetchall():
            if self.wanted(schema):
                cols.setdefault((schema, table), []).append(
                    ColumnInfo(str(column).lower(), duckdb_type(dtype, "trino"))
                )
        tables = []
        for (schema, table), columns in cols.items():
            tables.append(
                TableInfo(self.name, schema, table, tuple(columns), self._rows(conn, schema, table))
            )
        return tables

    def _rows(self, conn: Any, schema: str, table: str) -> int | None:
        cursor = self._cursor(conn)
        try:
            cursor.execute(f'SHOW STATS FOR "{schema}"."{table}"')
            names = [d[0] for d in cursor.description or []]
            for row in cursor.fetchall():
                summary = dict(zip(names, row, strict=False))
                if summary.get("column_name") is None and summary.get("row_count") is not None:
                    return int(summary["row_count"])
        except trino_errors.TrinoQueryError:
            return None
        return None
