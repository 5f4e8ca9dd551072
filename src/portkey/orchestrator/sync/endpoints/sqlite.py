"""SQLite for sync: executemany in one connection; exact types kept as text where it has none.

SQLite has five storage classes. Decimals, timestamps and JSON are stored as text under
declared types ending in ``_TEXT`` (text affinity, so SQLite never turns them into REAL) and
read back to their exact Arrow types by the declared name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from portkey.orchestrator.settings import SQLiteEngine
from portkey.orchestrator.sync.endpoints.base import Endpoint, Stored
from portkey.orchestrator.sync.types import LType

_DDL: dict[str, str] = {
    "int8": "INTEGER",
    "int16": "INTEGER",
    "int32": "INTEGER",
    "int64": "INTEGER",
    "float32": "REAL",
    "float64": "REAL",
    "json": "JSON_TEXT",
    "uuid": "UUID_TEXT",
    "bool": "BOOLEAN_INT",
    "date": "DATE_TEXT",
    "timestamp": "TIMESTAMP_TEXT",
    "timestamptz": "TIMESTAMPTZ_TEXT",
    "binary": "BLOB",
}


class SQLiteEndpoint(Endpoint):
    dialect = "sqlite"
    param = "?"
    nan_ok = False  # SQLite stores NaN as NULL
    settings: SQLiteEngine

    def connect(self) -> Any:
        conn = sqlite3.connect(self.settings.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def columns(self, conn: Any, table: str) -> list[tuple[str, str]] | None:
        name = table.rpartition(".")[2]
        rows = conn.execute(f"PRAGMA table_info({self.quote(name)})").fetchall()
        if not rows:
            return None
        return [(str(r[1]), _affinity(str(r[2] or ""))) for r in rows]

    def table_sql(self, table: str) -> str:
        return self.quote(table.rpartition(".")[2])

    def stored(self, ltype: LType) -> Stored:
        if ltype.kind == "decimal":
            return Stored(f"DECIMAL_TEXT({ltype.precision},{ltype.scale})", ltype)
        if ltype.kind == "string":
            return Stored("TEXT", LType("string"))
        if ltype.kind in ("int8", "int16", "int32"):
            return Stored("INTEGER", LType("int64"))
        if ltype.kind == "float32":
            return Stored("REAL", LType("float64"))
        return Stored(_DDL[ltype.kind], ltype)

    def alter_sql(self, table: str, column: str, ddl: str) -> str | None:
        return None

    def read(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        cur = conn.execute(sql)
        while rows := cur.fetchmany(batch_rows):
            arrays = []
            for i, field in enumerate(schema):
                values = [r[i] for r in rows]
                arrays.append(_array(values, field.type))
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    def write(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
        cols = ", ".join(self.quote(n) for n in batch.schema.names)
        marks = ", ".join(["?"] * batch.num_columns)
        columns = [
            c.to_pylist() if _plain(c.type) else [_value(v) for v in c.to_pylist()]
            for c in batch.columns
        ]
        insert = f"INSERT INTO {self.table_sql(table)} ({cols}) VALUES ({marks})"
        if conn.in_transaction:  # the run's own transaction (rows straight into the target)
            conn.executemany(insert, zip(*columns, strict=True))
            return
        conn.execute("BEGIN")  # one commit per batch, not one per row
        try:
            conn.executemany(insert, zip(*columns, strict=True))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def literal(self, value: Any, ltype: LType) -> str:
        if ltype.kind in ("timestamp", "timestamptz", "date", "decimal"):
            return "'" + str(_value(value)) + "'"
        return super().literal(value, ltype)


def _affinity(declared: str) -> str:
    """A declared type -> a neutral spelling (ours, or what SQLite's affinity stores)."""
    upper = declared.upper()
    if upper.startswith(("DECIMAL_TEXT", "JSON_TEXT", "UUID_TEXT", "TIMESTAMP", "DATE_TEXT")):
        return declared
    if upper == "BOOLEAN_INT":
        return "boolean"
    if "INT" in upper:
        return "bigint"
    if any(k in upper for k in ("CHAR", "CLOB", "TEXT")) or not upper:
        return "text"
    if "BLOB" in upper:
        return "blob"
    if any(k in upper for k in ("REAL", "FLOA", "DOUB")):
        return "double"
    return "double"  # NUMERIC affinity: SQLite keeps such values as REAL


def _plain(dtype: pa.DataType) -> bool:
    """Values SQLite's driver takes as they come out of Arrow."""
    return bool(
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_binary(dtype)
    )


def _value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC)
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    return v


def _array(values: list[Any], dtype: pa.DataType) -> pa.Array:
    if pa.types.is_decimal(dtype):
        return pa.array([None if v is None else Decimal(str(v)) for v in values], type=dtype)
    if pa.types.is_timestamp(dtype):
        parsed = [None if v is None else datetime.fromisoformat(str(v)) for v in values]
        if dtype.tz:
            parsed = [None if v is None else v.astimezone(UTC) for v in parsed]
        return pa.array(parsed, type=dtype)
    if pa.types.is_date(dtype):
        return pa.array([None if v is None else date.fromisoformat(str(v)) for v in values], dtype)
    if pa.types.is_boolean(dtype):
        return pa.array([None if v is None else bool(v) for v in values], type=dtype)
    return pa.array(values, type=dtype)
