"""PostgreSQL for sync: rows move as CSV over COPY both ways, parsed by Arrow's C++ reader."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from portkey.orchestrator.engines.postgres import copy_csv_conversions
from portkey.orchestrator.settings import PostgresEngine
from portkey.orchestrator.sync.endpoints.base import Endpoint, Stored
from portkey.orchestrator.sync.types import LType, TypeProblem

_DDL: dict[str, str] = {
    "int8": "smallint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "float32": "real",
    "float64": "double precision",
    "json": "jsonb",
    "uuid": "uuid",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp(6)",
    "timestamptz": "timestamptz(6)",
    "binary": "bytea",
}
_UNBOUNDED = LType("string")


def _block(batch_rows: int) -> int:
    """Bytes Arrow parses at once: ~batch_rows rows, and at least 16 MB (one row must fit)."""
    return max(16 << 20, min(batch_rows * 160, 256 << 20))


def _csv_options(schema: pa.Schema, batch_rows: int) -> dict[str, Any]:
    return {
        "read_options": pacsv.ReadOptions(column_names=schema.names, block_size=_block(batch_rows)),
        "parse_options": pacsv.ParseOptions(newlines_in_values=True),
        "convert_options": copy_csv_conversions(schema),
    }


class PostgresEndpoint(Endpoint):
    dialect = "postgres"
    settings: PostgresEngine
    #: bytea comes out of CSV COPY as \\x-hex text: not decoded yet
    unreadable = ("binary",)
    #: no WAL for rows that only live until the merge
    staging_create = "CREATE UNLOGGED TABLE"

    def connect(self) -> Any:
        conn = psycopg.connect(self.settings.dsn, connect_timeout=10, autocommit=True)
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO, YMD'")
        conn.execute("SET extra_float_digits = 3")
        return conn

    def columns(self, conn: Any, table: str) -> list[tuple[str, str]] | None:
        schema, _, name = table.rpartition(".")
        rows = conn.execute(
            "SELECT column_name, data_type, character_maximum_length, numeric_precision, "
            "numeric_scale FROM information_schema.columns WHERE table_schema = "
            "COALESCE(%s, current_schema()) AND table_name = %s ORDER BY ordinal_position",
            (schema or None, name),
        ).fetchall()
        if not rows:
            return None
        return [(n, _spelled(t, length, p, s)) for n, t, length, p, s in rows]

    def describe(self, conn: Any, sql: str) -> list[tuple[str, str]]:
        view = "_portkey_sync_describe"
        with conn.transaction(force_rollback=True):
            conn.execute(f"CREATE TEMP VIEW {view} AS {sql}")
            found = self.columns(conn, f"pg_temp.{view}")
            if found is None:  # the temp schema is named pg_temp_N
                rows = conn.execute(
                    "SELECT column_name, data_type, character_maximum_length, "
                    "numeric_precision, numeric_scale FROM information_schema.columns "
                    "WHERE table_name = %s AND table_schema LIKE 'pg_temp%%' "
                    "ORDER BY ordinal_position",
                    (view,),
                ).fetchall()
                found = [(n, _spelled(t, length, p, s)) for n, t, length, p, s in rows]
        return found

    def stored(self, ltype: LType) -> Stored:
        if ltype.kind == "decimal":
            return Stored(f"numeric({ltype.precision},{ltype.scale})", ltype)
        if ltype.kind == "string":
            ddl = f"varchar({ltype.length})" if ltype.length else "text"
            return Stored(ddl, ltype)
        if ltype.kind == "int8":
            return Stored("smallint", LType("int16"))
        return Stored(_DDL[ltype.kind], ltype)

    def read(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """COPY out in a thread into an OS pipe; Arrow parses the other end as rows arrive."""
        cur = conn.cursor()
        with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            chunks = iter(copy)
            first = next(chunks, None)
            if first is None:  # no rows: Arrow's reader refuses an empty file
                return
            r, w = os.pipe()
            failed: list[BaseException] = []

            def pump() -> None:
                try:
                    with open(w, "wb", buffering=1 << 20) as out:
                        out.write(first)
                        for chunk in chunks:
                            out.write(chunk)
                except BaseException as exc:  # the consumer stopped, or the copy failed
                    failed.append(exc)

            thread = threading.Thread(target=pump, name="portkey-copy-out", daemon=True)
            thread.start()
            try:
                with open(r, "rb", buffering=1 << 20) as src:  # full blocks, not short reads
                    try:
                        yield from pacsv.open_csv(src, **_csv_options(schema, batch_rows))
                    except pa.ArrowInvalid as exc:
                        if "straddl" not in str(exc):
                            raise
                        raise TypeProblem(
                            f"a row is larger than the read block ({_block(batch_rows) >> 20} "
                            "MB): raise batch_rows"
                        ) from exc
            finally:
                thread.join()
            if failed and not isinstance(failed[0], BrokenPipeError):
                raise failed[0]

    def write(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=False))
        cols = ", ".join(self.quote(n) for n in batch.schema.names)
        cur = conn.cursor()
        with cur.copy(
            f"COPY {self.table_sql(table)} ({cols}) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            copy.write(buf.getbuffer())

    def literal(self, value: Any, ltype: LType) -> str:
        if ltype.kind in ("timestamp", "timestamptz", "date"):
            text = value.isoformat(sep=" ") if hasattr(value, "isoformat") else str(value)
            return f"'{text}'::{self.stored(ltype).ddl}"
        return super().literal(value, ltype)

    def transaction(self, conn: Any) -> Any:
        return conn.transaction()


def _spelled(dtype: str, length: int | None, precision: int | None, scale: int | None) -> str:
    if dtype == "numeric":
        return f"numeric({precision},{scale or 0})" if precision is not None else "numeric"
    if dtype in ("character varying", "character") and length:
        return f"varchar({length})"
    return dtype
