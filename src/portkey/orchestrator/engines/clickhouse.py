"""ClickHouse server adapter (``clickhouse-connect``, HTTP interface): answers as Arrow.

Every query carries ``SETTINGS join_use_nulls=1, max_execution_time=N, readonly=1`` in its own
SQL, as the embedded adapter (chdb.py) does: SQL's outer-join NULLs, the statement timeout, and
a read-only guard ClickHouse enforces itself. A query-level ``SETTINGS`` clause is applied
before the query runs with the connecting user's rights, so the user needs ``readonly=0`` or
``2`` in its profile (``readonly=1`` users may not change settings at all).

One client per engine (no HTTP session, so it is thread-safe; it logs in once). Each query
gets its own ``query_id``; ``cancel`` sends ``KILL QUERY WHERE query_id = ...`` through the
same client. That is what a server honours whatever its settings (closing the HTTP connection
cancels only with ``cancel_http_readonly_queries_on_client_close``).

ClickHouse's Arrow writer sends ``DateTime`` as UInt32 seconds: when an answer has UInt32
columns, ``DESCRIBE (query)`` says which are times, and those become timestamps. Timestamps
become naive wall-clock time of their column's time zone, in microseconds (the planner's and
DuckDB's resolution).
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import clickhouse_connect
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver import exceptions as ch_errors

from portkey.orchestrator.engines.base import ColumnInfo, Engine, TableInfo, duckdb_type
from portkey.orchestrator.settings import ClickHouseEngine

#: ClickHouse error codes: TIMEOUT_EXCEEDED, QUERY_WAS_CANCELLED (our own KILL QUERY)
_TIMEOUT_CODES = {159, 394}
_WRAPPERS = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")
_DATETIME_TZ = re.compile(r"^DateTime(?:64)?\((?:\s*\d+\s*,)?\s*'([^']+)'\s*\)$")
_SIMPLE = {
    "DateTime": "TIMESTAMP",
    "DateTime64": "TIMESTAMP",
    "Date32": "DATE",
    "Enum8": "VARCHAR",
    "Enum16": "VARCHAR",
    "FixedString": "VARCHAR",
    "UUID": "UUID",
    "Int128": "HUGEINT",
    "UInt128": "UHUGEINT",
}


def unwrapped(type_sql: str) -> str:
    """A ClickHouse type without its ``Nullable``/``LowCardinality`` wrappers."""
    while match := _WRAPPERS.match(type_sql.strip()):
        type_sql = match.group(1)
    return type_sql.strip()


def clickhouse_type(type_sql: str) -> str:
    """A ClickHouse column type in DuckDB's spelling (the planner's lingua franca)."""
    inner = unwrapped(type_sql)
    base = inner.split("(")[0]
    if base in _SIMPLE:
        return _SIMPLE[base]
    return duckdb_type(inner, "clickhouse")


def with_settings(sql: str, timeout_s: float) -> str:
    """``sql`` with the settings every query of ours carries (see the module docstring)."""
    limit = max(1, int(timeout_s))
    return (
        f"{sql}\nSETTINGS join_use_nulls=1, max_execution_time={limit}, "
        "output_format_arrow_fixed_string_as_fixed_byte_array=0, readonly=1"
    )


def normalized(table: pa.Table, types: list[str] | None, server_tz: str) -> pa.Table:
    """Times as naive microsecond timestamps; ``types`` (from DESCRIBE) name DateTime columns."""
    for i, field in enumerate(table.schema):
        column = table.column(i)
        kind = unwrapped(types[i]) if types is not None and i < len(types) else ""
        if pa.types.is_uint32(field.type) and kind.startswith("DateTime"):
            match = _DATETIME_TZ.match(kind)
            zone = match.group(1) if match else server_tz
            column = column.cast(pa.int64()).cast(pa.timestamp("s", tz=zone))
        if not pa.types.is_timestamp(column.type):
            continue
        if column.type.tz:
            column = pc.local_timestamp(column)
        table = table.set_column(i, field.name, column.cast(pa.timestamp("us"), safe=False))
    return table


class _Query:
    """The engine's client lent for one statement, with the id that statement runs under."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.query_id: str | None = None

    def close(self) -> None:
        return None  # the client is the engine's (a pool of HTTP connections)


class ClickHouse(Engine):
    dialect = "clickhouse"
    settings: ClickHouseEngine
    #: transport failures (refused, reset, DNS): ClickHouse's own errors are DatabaseError
    unreachable = (ch_errors.OperationalError, ch_errors.InterfaceError)

    def __init__(self, name: str, settings: ClickHouseEngine) -> None:
        super().__init__(name, settings)
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _shared(self) -> Any:
        with self._client_lock:
            if self._client is None:
                s = self.settings
                self._client = clickhouse_connect.get_client(
                    host=s.host,
                    port=s.port,
                    username=s.username,
                    password=s.password,
                    database=s.database,
                    secure=s.secure,
                    connect_timeout=s.connect_timeout_s,
                    # the server ends a statement at max_execution_time; this bounds a hang
                    send_receive_timeout=int(s.statement_timeout_s) + 30,
                    autogenerate_session_id=False,
                    query_retries=0,
                    client_name="portkey",
                )
            return self._client

    def _connect(self) -> Any:
        return _Query(self._shared())

    def close(self) -> None:
        """Close the client's HTTP connections."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _interrupt(self, conn: Any) -> None:
        if conn.query_id:
            conn.client.command(f"KILL QUERY WHERE query_id = '{conn.query_id}' ASYNC")

    def _is_timeout(self, exc: BaseException) -> bool:
        code = getattr(exc, "code", None)
        text = str(exc)
        return (
            code in _TIMEOUT_CODES
            or "TIMEOUT_EXCEEDED" in text
            or "QUERY_WAS_CANCELLED" in text
            or "Read timed out" in text
        )

    def _arrow(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        conn.query_id = str(uuid.uuid4())
        table: pa.Table = conn.client.query_arrow(
            with_settings(sql, timeout_s), settings={"query_id": conn.query_id}
        )
        return table

    def _run(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        table = self._arrow(conn, sql, timeout_s)
        types = None
        if any(pa.types.is_uint32(f.type) for f in table.schema):
            described = self._arrow(conn, f"DESCRIBE ({sql})", timeout_s)
            types = [str(t) for t in described.column("type").to_pylist()]
        zone = getattr(conn.client.server_tz, "key", None) or "UTC"
        return normalized(table, types, zone)

    def _introspect(self, conn: Any) -> list[TableInfo]:
        limit = self.settings.statement_timeout_s
        cols = self._arrow(
            conn,
            "SELECT database, table, name, type FROM system.columns "
            "WHERE database NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA') "
            "ORDER BY database, table, position",
            limit,
        ).to_pylist()
        rows = {
            (r["database"], r["name"]): r["total_rows"]
            for r in self._arrow(
                conn, "SELECT database, name, total_rows FROM system.tables", limit
            ).to_pylist()
        }
        tables: dict[tuple[str, str], list[ColumnInfo]] = {}
        for c in cols:
            if self.wanted(c["database"]):
                tables.setdefault((c["database"], c["table"]), []).append(
                    ColumnInfo(c["name"].lower(), clickhouse_type(c["type"]))
                )
        return [
            TableInfo(self.name, db, t, tuple(columns), rows.get((db, t)))
            for (db, t), columns in tables.items()
        ]
