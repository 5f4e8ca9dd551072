"""MySQL/MariaDB for sync: unbuffered reads in batches; writes as batched multi-row INSERTs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pymysql
import pymysql.cursors

from portkey.orchestrator.settings import MySQLEngine
from portkey.orchestrator.sync.endpoints.base import Endpoint, Stored
from portkey.orchestrator.sync.types import LType

_DDL: dict[str, str] = {
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INT",
    "int64": "BIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "json": "JSON",
    "uuid": "CHAR(36)",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "DATETIME(6)",
    "binary": "LONGBLOB",
}
#: utf8mb4 VARCHAR holds at most this many characters (longer -> LONGTEXT)
_MAX_VARCHAR = 16_383


class MySQLEndpoint(Endpoint):
    dialect = "mysql"
    quote_char = "`"
    nan_ok = False
    inf_ok = False
    settings: MySQLEngine

    def connect(self) -> Any:
        s = self.settings
        conn = pymysql.connect(
            host=s.host,
            port=s.port,
            user=s.user,
            password=s.password,
            database=s.database,
            connect_timeout=10,
            autocommit=True,
            charset="utf8mb4",
        )
        self.execute(conn, "SET time_zone = '+00:00'")
        self.execute(conn, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')")
        return conn

    def columns(self, conn: Any, table: str) -> list[tuple[str, str]] | None:
        schema, _, name = table.rpartition(".")
        with conn.cursor() as cur:
            cur.execute(
                "SELECT column_name, data_type, column_type, character_maximum_length, "
                "numeric_precision, numeric_scale FROM information_schema.columns "
                "WHERE table_schema = COALESCE(%s, DATABASE()) AND table_name = %s "
                "ORDER BY ordinal_position",
                (schema or None, name),
            )
            rows = cur.fetchall()
            # MariaDB's JSON is LONGTEXT with a json_valid() check: read it back as json
            checks = ""
            with suppress(pymysql.err.MySQLError):  # MySQL has no table_name there
                cur.execute(
                    "SELECT check_clause FROM information_schema.check_constraints "
                    "WHERE constraint_schema = COALESCE(%s, DATABASE()) AND table_name = %s",
                    (schema or None, name),
                )
                checks = " ".join(str(c[0]).lower() for c in cur.fetchall())
        if not rows:
            return None
        return [
            (
                str(r[0]),
                "json" if f"json_valid(`{str(r[0]).lower()}`)" in checks else _spelled(*r[1:]),
            )
            for r in rows
        ]

    def stored(self, ltype: LType) -> Stored:
        kind = ltype.kind
        if kind == "decimal":
            if ltype.precision > 65 or ltype.scale > 30:
                return Stored("DOUBLE", LType("float64"), "MySQL decimals hold 65 digits, scale 30")
            return Stored(f"DECIMAL({ltype.precision},{ltype.scale})", ltype)
        if kind == "string":
            if 0 < ltype.length <= _MAX_VARCHAR:
                return Stored(f"VARCHAR({ltype.length})", ltype)
            return Stored("LONGTEXT", LType("string"))
        if kind == "json":
            return Stored("JSON", LType("string"))
        if kind == "timestamptz":
            return Stored(
                "DATETIME(6)",
                LType("timestamp"),
                "MySQL has no time zone type: stored as UTC DATETIME(6), the zone is dropped",
            )
        if kind == "bool":
            return Stored("BOOLEAN", ltype)
        return Stored(_DDL[kind], ltype)

    def alter_sql(self, table: str, column: str, ddl: str) -> str | None:
        return f"ALTER TABLE {self.table_sql(table)} MODIFY COLUMN {self.quote(column)} {ddl}"

    def read(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        with conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(sql)
            while rows := cur.fetchmany(batch_rows):
                yield _to_batch(rows, schema)

    def write(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
        names = batch.schema.names
        cols = ", ".join(self.quote(n) for n in names)
        marks = ", ".join(["%s"] * len(names))
        tz = [pa.types.is_timestamp(f.type) and f.type.tz is not None for f in batch.schema]
        rows = []
        for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
            if any(tz):
                row = tuple(
                    v.astimezone(UTC).replace(tzinfo=None) if z and v is not None else v
                    for v, z in zip(row, tz, strict=True)
                )
            rows.append(row)
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {self.table_sql(table)} ({cols}) VALUES ({marks})", rows)

    def transaction(self, conn: Any) -> Any:
        return _Tx(conn)

    def literal(self, value: Any, ltype: LType) -> str:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if ltype.kind in ("timestamp", "timestamptz", "date"):
            return "'" + str(value.isoformat(sep=" ")) + "'"
        return super().literal(value, ltype)


class _Tx:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.begin()

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is None:
            self.conn.commit()
        else:
            self.conn.rollback()


def _spelled(
    dtype: str, column_type: str, length: int | None, precision: int | None, scale: int | None
) -> str:
    dtype, column_type = str(dtype).lower(), str(column_type).lower()
    if column_type.startswith("tinyint(1)"):
        return "boolean"
    if "unsigned" in column_type:
        wider = {"tinyint": "smallint", "smallint": "integer", "mediumint": "integer"}
        return wider.get(dtype, "bigint" if dtype == "int" else "decimal(20,0)")
    if dtype == "decimal":
        return f"decimal({precision},{scale or 0})"
    if dtype in ("varchar", "char"):
        return f"varchar({length})"
    if dtype in ("text", "tinytext", "mediumtext", "longtext", "enum", "set"):
        return "text"
    if dtype == "timestamp":
        return "datetime"
    return dtype


def _to_batch(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for i, field in enumerate(schema):
        values = [r[i] for r in rows]
        if pa.types.is_boolean(field.type):
            values = [None if v is None else bool(v) for v in values]
        elif pa.types.is_timestamp(field.type) and field.type.tz:
            values = [None if v is None else v.replace(tzinfo=UTC) for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
