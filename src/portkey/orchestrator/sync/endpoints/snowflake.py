"""Snowflake for sync: Arrow batches out of the connector; writes as typed multi-row INSERTs.

Names: a lower-case name in a job (``analytics.orders``) means Snowflake's upper-case,
unquoted one (``ANALYTICS.ORDERS``), as everywhere else in Portkey; names in mixed case are
used exactly. Writes bind every value as text and cast it in SQL
(``INSERT ... SELECT column1::NUMBER(38,9), PARSE_JSON(column2), ... FROM VALUES ...``), so
decimals, timestamps, NaN/inf, JSON and binary arrive exact; the rows and the checkpoint go
in one transaction (DML only: Snowflake commits DDL implicitly, so every DDL runs before it).
Staging tables are TRANSIENT (no fail-safe storage for rows that live minutes).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import snowflake.connector
from snowflake.connector.constants import FIELD_ID_TO_NAME

from portkey.orchestrator.engines.snowflake import connect_args, folded, unfolded
from portkey.orchestrator.settings import SnowflakeEngine
from portkey.orchestrator.sync.endpoints.base import Endpoint, Stored, as_schema
from portkey.orchestrator.sync.types import LType

#: Snowflake's VARCHAR holds at most this many characters (and is that long undeclared)
MAX_VARCHAR = 16_777_216
#: rows in one INSERT (Snowflake's VALUES limit is 16,384) and bound text per statement
_CHUNK_ROWS = 4_000
_CHUNK_BYTES = 8 << 20

_DDL: dict[str, str] = {
    "float32": "FLOAT",
    "float64": "FLOAT",
    "json": "VARIANT",
    "uuid": "VARCHAR(36)",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP_NTZ(6)",
    "timestamptz": "TIMESTAMP_TZ(6)",
    "binary": "BINARY",
}
_INTS = {"int8": 3, "int16": 5, "int32": 10, "int64": 19}
#: information_schema / describe type names -> our spelling (NUMBER and TEXT handled apart)
_SPELLED = {
    "FLOAT": "double",
    "REAL": "double",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP_NTZ": "timestamp",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_TZ": "timestamptz",
    "TIMESTAMP_LTZ": "timestamptz",
    "BINARY": "binary",
    "VARIANT": "json",
    "OBJECT": "json",
    "ARRAY": "json",
}


def spelled(dtype: str, precision: int | None, scale: int | None, length: int | None) -> str:
    """A Snowflake column type in the neutral spelling sync/types.py parses."""
    kind = dtype.upper()
    if kind in ("NUMBER", "FIXED", "DECIMAL", "NUMERIC"):
        p, s = precision or 38, scale or 0
        if s == 0 and p <= 18:  # the narrowest integer that holds every value of NUMBER(p,0)
            return "smallint" if p <= 4 else "integer" if p <= 9 else "bigint"
        return f"decimal({p},{s})"
    if kind == "TEXT":
        return f"varchar({length})" if length and length < MAX_VARCHAR else "text"
    return _SPELLED.get(kind, kind.lower())


class SnowflakeEndpoint(Endpoint):
    dialect = "snowflake"
    settings: SnowflakeEngine
    staging_create = "CREATE TRANSIENT TABLE"

    def __init__(self, name: str, settings: SnowflakeEngine) -> None:
        super().__init__(name, settings)
        self._json_columns: dict[str, set[str]] = {}

    def connect(self) -> Any:
        return snowflake.connector.connect(**connect_args(self.settings))

    def quote(self, ident: str) -> str:
        return super().quote(unfolded(ident))  # what Snowflake made of the name unquoted

    def columns(self, conn: Any, table: str) -> list[tuple[str, str]] | None:
        schema, _, name = table.rpartition(".")
        cur = conn.cursor()
        try:
            cur.execute(
                "SELECT column_name, data_type, numeric_precision, numeric_scale, "
                "character_maximum_length FROM information_schema.columns "
                "WHERE table_schema = COALESCE(%s, CURRENT_SCHEMA()) AND table_name = %s "
                "ORDER BY ordinal_position",
                (unfolded(schema) if schema else None, unfolded(name)),
            )
            rows = cur.fetchall()
        finally:
            cur.close()
        if not rows:
            return None
        return [(folded(n), spelled(t, p, s, length)) for n, t, p, s, length in rows]

    def describe(self, conn: Any, sql: str) -> list[tuple[str, str]]:
        cur = conn.cursor()
        try:
            meta = cur.describe(sql)
        finally:
            cur.close()
        return [
            (
                folded(m.name),
                spelled(FIELD_ID_TO_NAME[m.type_code], m.precision, m.scale, m.internal_size),
            )
            for m in meta or []
        ]

    def stored(self, ltype: LType) -> Stored:
        kind = ltype.kind
        if kind in _INTS:  # NUMBER(p,0) reads back as the narrowest type holding all of it
            digits = _INTS[kind]
            reads = LType("decimal", digits, 0) if digits > 18 else _wider(kind)
            return Stored(f"NUMBER({digits},0)", reads)
        if kind == "decimal":
            if ltype.precision > 38:
                return Stored(
                    "FLOAT",
                    LType("float64"),
                    f"Snowflake numbers hold 38 digits, not {ltype.precision}",
                )
            return Stored(f"NUMBER({ltype.precision},{ltype.scale})", ltype)
        if kind == "string":
            if 0 < ltype.length < MAX_VARCHAR:
                return Stored(f"VARCHAR({ltype.length})", ltype)
            return Stored("VARCHAR", LType("string"))
        if kind == "float32":
            return Stored("FLOAT", LType("float64"))
        return Stored(_DDL[kind], ltype)

    def alter_sql(self, table: str, column: str, ddl: str) -> str | None:
        col = self.quote(column)
        return f"ALTER TABLE {self.table_sql(table)} ALTER COLUMN {col} SET DATA TYPE {ddl}"

    def read(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        cur = conn.cursor()
        try:
            cur.execute(sql)
            for table in cur.fetch_arrow_batches():
                table = table.rename_columns(schema.names)
                for batch in table.to_batches(max_chunksize=batch_rows):
                    yield as_schema(_plain_timestamps(batch), schema)
        finally:
            cur.close()

    def write(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
        names = batch.schema.names
        variant = self._variants(conn, table)
        casts = ", ".join(
            f"PARSE_JSON(column{i + 1})"
            if field.name in variant
            else _cast(f"column{i + 1}", field.type)
            for i, field in enumerate(batch.schema)
        )
        cols = ", ".join(self.quote(n) for n in names)
        head = f"INSERT INTO {self.table_sql(table)} ({cols}) SELECT {casts} FROM VALUES "
        row_marks = "(" + ", ".join(["%s"] * len(names)) + ")"
        columns = [_as_text(batch.column(i)) for i in range(batch.num_columns)]
        cur = conn.cursor()
        try:
            for rows in _chunks(list(zip(*columns, strict=True))):
                values = [v for row in rows for v in row]
                cur.execute(head + ", ".join([row_marks] * len(rows)), values)
        finally:
            cur.close()

    def literal(self, value: Any, ltype: LType) -> str:
        if ltype.kind in ("timestamp", "timestamptz", "date"):
            text = value.isoformat(sep=" ") if hasattr(value, "isoformat") else str(value)
            return f"'{text}'::{self.stored(ltype).ddl}"
        return super().literal(value, ltype)

    def _variants(self, conn: Any, table: str) -> set[str]:
        """The table's VARIANT columns (JSON text is parsed into them), looked up once."""
        known = self._json_columns.get(table)
        if known is None:
            known = {n for n, t in self.columns(conn, table) or [] if t == "json"}
            self._json_columns[table] = known
        return known


def _wider(kind: str) -> LType:
    return LType({"int8": "int16", "int16": "int32", "int32": "int64"}[kind])


def _cast(column: str, dtype: pa.DataType) -> str:
    """The SQL turning one bound text value back into its type."""
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return f"TO_BINARY({column}, 'HEX')"
    if pa.types.is_decimal(dtype):
        return f"{column}::NUMBER({dtype.precision},{dtype.scale})"
    if pa.types.is_integer(dtype):
        return f"{column}::NUMBER(38,0)"
    if pa.types.is_floating(dtype):
        return f"{column}::FLOAT"
    if pa.types.is_boolean(dtype):
        return f"{column}::BOOLEAN"
    if pa.types.is_date(dtype):
        return f"{column}::DATE"
    if pa.types.is_timestamp(dtype):
        return f"{column}::TIMESTAMP_TZ(6)" if dtype.tz else f"{column}::TIMESTAMP_NTZ(6)"
    return column


def _as_text(column: pa.Array) -> list[str | None]:
    """Values as the exact text Snowflake casts back (floats keep every digit, NaN/inf)."""
    dtype = column.type
    if pa.types.is_floating(dtype):
        return [None if v is None else _float(v) for v in column.to_pylist()]
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return [None if v is None else v.hex() for v in column.to_pylist()]
    if pa.types.is_boolean(dtype):
        return [None if v is None else ("true" if v else "false") for v in column.to_pylist()]
    if pa.types.is_timestamp(dtype) and dtype.tz:
        return [None if v is None else v.isoformat() for v in column.to_pylist()]
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return column.to_pylist()  # type: ignore[no-any-return]
    return column.cast(pa.string()).to_pylist()  # type: ignore[no-any-return]


def _float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _chunks(rows: Sequence[tuple[Any, ...]]) -> Iterator[Sequence[tuple[Any, ...]]]:
    start, size = 0, 0
    for i, row in enumerate(rows):
        size += sum(len(v) for v in row if v is not None) + len(row)
        if i - start + 1 >= _CHUNK_ROWS or size >= _CHUNK_BYTES:
            yield rows[start : i + 1]
            start, size = i + 1, 0
    if start < len(rows):
        yield rows[start:]


def _plain_timestamps(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Snowflake answers timestamps in nanoseconds; the plan's schema is in microseconds."""
    arrays, changed = [], False
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(field.type) and field.type.tz not in (None, "UTC"):
            column = column.cast(pa.timestamp(field.type.unit, tz="UTC"))
            changed = True
        arrays.append(column)
    if not changed:
        return batch
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
