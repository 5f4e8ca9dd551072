"""MySQL/MariaDB for sync: unbuffered reads in batches; writes with LOAD DATA LOCAL INFILE.

Each batch is written as a tab-separated file (``\\N`` for NULL, backslash escapes for ``\\``,
tab, newline, CR and NUL, binary as hex through ``UNHEX``) and loaded in one statement. With
LOCAL the server turns data errors (truncation, bad values, duplicate keys, failed CHECKs) into
warnings and keeps going, so a load that warns is an error here: the run's transaction rolls
back. A server that refuses LOCAL INFILE gets batched multi-row INSERTs (decided once per
connection).
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
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
#: "LOAD DATA LOCAL is disabled": MySQL 1148 / 3948, MariaDB 4166, the client library 2068
_NO_LOCAL_INFILE = frozenset({1148, 2068, 3948, 4166})
#: what the load file's escaping turns back into the raw character (backslash first)
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\x00", "\\0"))
_SPECIAL = "[\\\\\t\n\r\x00]"
_TEXT = pa.large_string()


_send_local_file = pymysql.connections._send_local_file


def _only_the_batch_file(filename: str, conn: Any) -> None:
    """LOCAL INFILE lets the *server* name the client file it reads: on our connections only
    the batch file of the running LOAD DATA may be sent (a hostile server gets nothing else)."""
    if not hasattr(conn, "_portkey_infile"):
        _send_local_file(filename, conn)  # not a connection of ours
        return
    asked = os.fsdecode(filename)
    if asked != conn._portkey_infile:  # a loud failure, not a fallback to INSERTs
        raise pymysql.err.OperationalError(
            0, f"the server asked for local file {asked!r}, not the batch being loaded"
        )
    _send_local_file(filename, conn)


pymysql.connections._send_local_file = _only_the_batch_file


class MySQLEndpoint(Endpoint):
    dialect = "mysql"
    quote_char = "`"
    nan_ok = False
    inf_ok = False
    settings: MySQLEngine

    def __init__(self, name: str, settings: MySQLEngine) -> None:
        super().__init__(name, settings)
        #: connections whose server refused LOAD DATA LOCAL: they write with INSERTs
        self._no_load: weakref.WeakSet[Any] = weakref.WeakSet()

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
            local_infile=s.local_infile,
        )
        conn._portkey_infile = None  # no local file may be read but a batch being loaded
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
        if batch.num_rows == 0:
            return
        if self.settings.local_infile and conn not in self._no_load:
            try:
                self._load(conn, table, batch)
                return
            except pymysql.err.MySQLError as exc:
                if not exc.args or exc.args[0] not in _NO_LOCAL_INFILE:
                    raise
                self._no_load.add(conn)
        self._insert(conn, table, batch)

    def _load(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
        """One LOAD DATA LOCAL INFILE of ``batch``; any warning fails it (nothing is lossy)."""
        targets, sets = [], []
        for i, field in enumerate(batch.schema):
            if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
                targets.append(f"@b{i}")
                sets.append(f"{self.quote(field.name)} = UNHEX(@b{i})")
            else:
                targets.append(self.quote(field.name))
        sql = (
            f"LOAD DATA LOCAL INFILE {{file}} INTO TABLE {self.table_sql(table)} "
            "CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
            f"({', '.join(targets)})" + (f" SET {', '.join(sets)}" if sets else "")
        )
        with tempfile.NamedTemporaryFile(prefix="portkey-load-", suffix=".tsv") as file:
            file.write(_tsv(batch))
            file.flush()
            with conn.cursor() as cur:
                conn._portkey_infile = file.name
                try:
                    loaded = cur.execute(sql.replace("{file}", conn.escape(file.name), 1))
                finally:
                    conn._portkey_infile = None
                warnings = cur.warning_count
                problems: list[tuple[Any, ...]] = []
                if warnings:
                    cur.execute("SHOW WARNINGS")
                    problems = [w for w in cur.fetchall() if str(w[0]) != "Note"]
        if problems or loaded != batch.num_rows:
            said = "; ".join(f"{w[2]} ({str(w[0]).lower()} {w[1]})" for w in problems[:3])
            raise pymysql.err.DataError(
                problems[0][1] if problems else 0,
                f"LOAD DATA into {table} refused a batch of {batch.num_rows} rows "
                f"({loaded} loaded, {warnings} warnings)" + (f": {said}" if said else ""),
            )

    def _insert(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
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


def _tsv(batch: pa.RecordBatch) -> pa.Buffer:
    """``batch`` as LOAD DATA's default text format: one line a row, tab-separated."""
    columns = [_field_text(col) for col in batch.columns]
    lines = pc.binary_join_element_wise(*columns, pa.scalar("\t", _TEXT))
    lines = pc.binary_join_element_wise(lines, pa.scalar("\n", _TEXT), pa.scalar("", _TEXT))
    _, offsets, data = lines.buffers()
    ends = pa.Array.from_buffers(pa.int64(), len(lines) + 1, [None, offsets], offset=lines.offset)
    return data[ends[0].as_py() : ends[-1].as_py()]


def _field_text(col: pa.Array) -> pa.Array:
    """One column as escaped text, ``\\N`` for NULL; exact for every type this endpoint writes."""
    dtype = col.type
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        text = pa.array([None if v is None else v.hex() for v in col.to_pylist()], _TEXT)
    elif pa.types.is_boolean(dtype):
        text = pc.if_else(col, "1", "0").cast(_TEXT)
    elif pa.types.is_timestamp(dtype):
        # a zoned timestamp's values are UTC instants: dropping the zone keeps them as UTC
        text = col.cast(pa.timestamp(dtype.unit)).cast(_TEXT) if dtype.tz else col.cast(_TEXT)
    elif pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        text = col.cast(_TEXT)
        if pc.any(pc.match_substring_regex(text, _SPECIAL)).as_py():  # one pass when none
            for raw, escaped in _ESCAPES:
                text = pc.replace_substring(text, raw, escaped)
    else:  # integers, decimals (exact digits), floats (shortest round-trip), dates
        text = col.cast(_TEXT)
    return pc.fill_null(text, "\\N") if text.null_count else text
