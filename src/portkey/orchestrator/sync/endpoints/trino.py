"""Trino for sync (the official ``trino`` client): rows out page by page, rows in as INSERTs.

Writes are multi-row ``INSERT ... VALUES`` with every value spelled as an exact typed literal
(``CAST('1.5' AS decimal(38,9))``, ``CAST('NaN' AS double)``, ``from_hex(..)``, ``JSON '..'``,
timestamps to the microsecond, zoned ones in UTC), kept under Trino's query length limit.
Values are inlined, not bound: the client binds parameters with a PREPARE/EXECUTE pair per
statement. Most Trino connectors have no multi-statement write transaction, so every run
stages and the checkpoint is a ledger of one-statement steps (sync/ledger.py); the target's
connector must support CREATE TABLE, INSERT and (for upserts and full replaces) DELETE.
Tables are ``schema.table`` in the engine's ``catalog``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from portkey.orchestrator.engines.trino import connect
from portkey.orchestrator.settings import TrinoEngine
from portkey.orchestrator.sync.endpoints.base import Endpoint, Stored, bind
from portkey.orchestrator.sync.types import LType

_DDL: dict[str, str] = {
    "int8": "tinyint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "float32": "real",
    "float64": "double",
    "json": "json",
    "uuid": "uuid",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp(6)",
    "timestamptz": "timestamp(6) with time zone",
    "binary": "varbinary",
}
#: ``timestamp(3) with time zone`` -> ``timestamp with time zone``: precision up to 6 reads exact
_PRECISION = re.compile(r"^(timestamp|time)\((\d+)\)")
_TEXT = pa.large_string()


def spelled(data_type: str) -> str:
    """A Trino ``data_type`` in the neutral spelling sync/types.py parses."""
    text = data_type.strip().lower()
    match = _PRECISION.match(text)
    if match:
        text = match.group(1) + text[match.end() :]
    return "text" if text == "varchar" else text


class TrinoEndpoint(Endpoint):
    dialect = "trino"
    settings: TrinoEngine
    direct_writes = False
    atomic_commit = False

    def __init__(self, name: str, settings: TrinoEngine) -> None:
        super().__init__(name, settings)
        #: table -> its columns' declared types, for the literals' casts
        self._declared: dict[str, dict[str, str]] = {}

    def connect(self) -> Any:
        return connect(self.settings)

    # -- statements (values inlined: see the module docstring) -----------------------------
    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> None:
        cur = conn.cursor()
        try:
            cur.execute(bind(sql, params, _literal))
            cur.fetchall()  # a Trino statement runs until its result is read
        finally:
            cur.close()

    def scalar(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = conn.cursor()
        try:
            cur.execute(bind(sql, params, _literal))
            rows = cur.fetchall()
        finally:
            cur.close()
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        yield  # each statement commits on its own; sync/ledger.py makes the steps safe

    def ledger_create_sql(self, table_sql: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {table_sql} (job varchar, seq bigint, entry varchar)"

    # -- schema ----------------------------------------------------------------------------
    def columns(self, conn: Any, table: str) -> list[tuple[str, str]] | None:
        schema, _, name = table.rpartition(".")
        where = f"table_schema = {_literal(schema)}" if schema else "table_schema = current_schema"
        cur = conn.cursor()
        try:
            cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE {where} AND table_name = {_literal(name)} ORDER BY ordinal_position"
            )
            rows = cur.fetchall()
        finally:
            cur.close()
        if not rows:
            return None
        return [(str(n), spelled(str(t))) for n, t in rows]

    def describe(self, conn: Any, sql: str) -> list[tuple[str, str]]:
        cur = conn.cursor()
        try:
            cur.execute(f"SELECT * FROM ({sql}) AS _portkey_q LIMIT 0")
            cur.fetchall()
            description = cur.description or []
        finally:
            cur.close()
        return [(str(d[0]), spelled(str(d[1]))) for d in description]

    def stored(self, ltype: LType) -> Stored:
        kind = ltype.kind
        if kind == "decimal":
            if ltype.precision > 38:
                return Stored(
                    "double",
                    LType("float64"),
                    f"Trino decimals hold 38 digits, not {ltype.precision}",
                )
            return Stored(f"decimal({ltype.precision},{ltype.scale})", ltype)
        if kind == "string":
            if ltype.length:
                return Stored(f"varchar({ltype.length})", ltype)
            return Stored("varchar", LType("string"))
        return Stored(_DDL[kind], ltype)

    def alter_sql(self, table: str, column: str, ddl: str) -> str | None:
        col = self.quote(column)
        return f"ALTER TABLE {self.table_sql(table)} ALTER COLUMN {col} SET DATA TYPE {ddl}"

    def literal(self, value: Any, ltype: LType) -> str:
        return _literal(value, self.stored(ltype).ddl)

    # -- rows ------------------------------------------------------------------------------
    def read(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        cur = conn.cursor()
        try:
            cur.execute(sql)
            while rows := cur.fetchmany(batch_rows):
                yield _to_batch(rows, schema)
        finally:
            cur.close()

    def write(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        cols = ", ".join(self.quote(n) for n in batch.schema.names)
        head = f"INSERT INTO {self.table_sql(table)} ({cols}) VALUES "
        ddls = self._ddls(conn, table, batch.schema)
        values = [_literals(batch.column(i), ddls[i]) for i in range(batch.num_columns)]
        rows = _join("(", _join(*values, sep=", "), ")")
        lengths = pc.binary_length(rows).to_pylist()
        texts = rows.to_pylist()
        limit = self.settings.max_statement_chars
        if len(head) + max(lengths) > limit:
            raise ValueError(
                f"a row of {max(lengths):,} characters does not fit in one INSERT into {table}: "
                f"Trino's query.max-length is {limit:,} (raise it on the cluster and set the "
                f"engine's max_statement_chars to match)"
            )
        start, size = 0, len(head)
        for i, n in enumerate(lengths):
            if i > start and size + n + 2 > limit:
                self.execute(conn, head + ", ".join(texts[start:i]))
                start, size = i, len(head)
            size += n + 2
        self.execute(conn, head + ", ".join(texts[start:]))

    def _ddls(self, conn: Any, table: str, schema: pa.Schema) -> list[str]:
        """The target columns' declared types (the literals are cast to exactly those),
        looked up once per table."""
        declared = self._declared.get(table)
        if declared is None:
            declared = self._declared[table] = dict(self.columns(conn, table) or [])
        out = []
        for field in schema:
            spelled_type = declared.get(field.name)
            out.append(_as_ddl(spelled_type) if spelled_type else _arrow_ddl(field.type))
        return out


def _as_ddl(spelled_type: str) -> str:
    """Our spelling of a Trino column type back as Trino DDL."""
    if spelled_type == "text":
        return "varchar"
    if spelled_type == "timestamp":
        return "timestamp(6)"
    if spelled_type == "timestamp with time zone":
        return "timestamp(6) with time zone"
    return spelled_type


def _arrow_ddl(dtype: pa.DataType) -> str:
    if pa.types.is_decimal(dtype):
        return f"decimal({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "timestamp(6) with time zone" if dtype.tz else "timestamp(6)"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "varbinary"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "varchar"
    return {
        pa.int8(): "tinyint",
        pa.int16(): "smallint",
        pa.int32(): "integer",
        pa.int64(): "bigint",
        pa.float32(): "real",
        pa.float64(): "double",
        pa.bool_(): "boolean",
        pa.date32(): "date",
    }.get(dtype, "varchar")


def _join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    """Element-wise concatenation of columns and constants (NULL when a column is NULL)."""
    args = [pa.scalar(p, _TEXT) if isinstance(p, str) else p.cast(_TEXT) for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar(sep, _TEXT))


def _quoted(text: pa.Array) -> pa.Array:
    """Text values as SQL string literals (quotes doubled)."""
    escaped = pc.replace_substring(text.cast(_TEXT), "'", "''")
    return _join("'", escaped, "'")


def _literals(col: pa.Array, ddl: str) -> pa.Array:
    """One column as Trino literals of type ``ddl``, ``NULL`` for nulls."""
    dtype = col.type
    if pa.types.is_integer(dtype):
        text = col.cast(_TEXT)
        if not ddl.startswith(("tinyint", "smallint", "integer", "bigint")):
            text = _join("CAST(", text, f" AS {ddl})")
    elif pa.types.is_boolean(dtype):
        text = pc.if_else(col, "true", "false").cast(_TEXT)
    elif pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        hexed = pa.array([None if v is None else v.hex() for v in col.to_pylist()], _TEXT)
        text = _join("from_hex('", hexed, "')")
    elif ddl == "json":
        text = _join("JSON ", _quoted(col))
    else:
        if pa.types.is_floating(dtype):
            plain = pa.array([None if v is None else _float(v) for v in col.to_pylist()], _TEXT)
        elif pa.types.is_timestamp(dtype):
            plain = _timestamps(col)
        else:
            plain = col.cast(_TEXT)
        text = _join("CAST(", _quoted(plain), f" AS {ddl})")
    return pc.fill_null(text, "NULL")


def _timestamps(col: pa.Array) -> pa.Array:
    """Timestamps to the microsecond; zoned ones as UTC instants (``... UTC``)."""
    zoned = col.type.tz is not None
    return pa.array([None if v is None else _timestamp(v, zoned) for v in col.to_pylist()], _TEXT)


def _timestamp(value: datetime, zoned: bool) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` (years below 1000 zero-padded, unlike strftime's)."""
    if zoned:
        plain = value.astimezone(UTC).replace(tzinfo=None)
        return plain.isoformat(sep=" ", timespec="microseconds") + " UTC"
    return value.isoformat(sep=" ", timespec="microseconds")


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _to_batch(rows: list[Any], schema: pa.Schema) -> pa.RecordBatch:
    """Rows of the client's Python values (Decimal, datetime, bytes...) as one batch."""
    arrays = []
    for i, field in enumerate(schema):
        values = [r[i] for r in rows]
        if pa.types.is_string(field.type):
            values = [None if v is None else str(v) for v in values]  # uuid, json
        arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _literal(value: Any, ddl: str | None = None) -> str:
    """One Python value as a Trino literal (cast to ``ddl`` when given)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and ddl is None:
        return str(value)
    if isinstance(value, float) and ddl is None and math.isfinite(value):
        return repr(value)
    if isinstance(value, datetime):
        text = _timestamp(value, value.tzinfo is not None)
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, float):
        text = _float(value)
    else:
        text = str(value)
    quoted = "'" + text.replace("'", "''") + "'"
    return f"CAST({quoted} AS {ddl})" if ddl else quoted
