"""DuckDB for sync: reads stream as Arrow record batches; writes ingest Arrow directly."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from portkey.orchestrator.settings import DuckDBEngine
from portkey.orchestrator.sync.endpoints.base import Endpoint, Stored, as_schema
from portkey.orchestrator.sync.types import LType

_DDL: dict[str, str] = {
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float32": "REAL",
    "float64": "DOUBLE",
    "json": "JSON",
    "uuid": "UUID",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
    "binary": "BLOB",
}
#: DuckDB spellings our parser does not know -> neutral ones
_ALIASES = {
    "HUGEINT": "decimal(38,0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "decimal(20,0)",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_S": "timestamp",
}


MEMORY_LIMIT = "256MB"


class DuckDBEndpoint(Endpoint):
    dialect = "duckdb"
    param = "?"
    settings: DuckDBEngine
    #: appends and full replaces write straight into the target inside the transaction that
    #: moves the checkpoint: DuckDB writes big appends' row groups to the file as they come
    #: (optimistic writes), so memory stays at the buffer pool's limit, and each row is
    #: written once
    direct_writes = True

    def staging_name(self, target: str) -> str:
        # in memory (spilling if large), never written to the database file
        return "temp.main." + target.rpartition(".")[2] + "__portkey_stg"

    def create_sql(
        self, table: str, columns: Sequence[tuple[str, str]], *, staging: bool = False
    ) -> str:
        if not staging:
            return super().create_sql(table, columns)
        cols = ", ".join(f"{self.quote(n)} {ddl}" for n, ddl in columns)
        return f"CREATE TEMP TABLE {self.quote(table.rpartition('.')[2])} ({cols})"

    def connect(self) -> Any:
        conn = duckdb.connect(self.settings.path)
        conn.execute("SET TimeZone = 'UTC'")
        # the staging table is a TEMP table: past this it spills to disk, so a sync's memory
        # stays bounded by the batch size, not the table's
        conn.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        return conn

    def columns(self, conn: Any, table: str) -> list[tuple[str, str]] | None:
        schema, _, name = table.rpartition(".")
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = "
            "COALESCE(?, current_schema()) AND table_name = ? ORDER BY ordinal_position",
            [schema or None, name],
        ).fetchall()
        if not rows:
            return None
        return [(n, _ALIASES.get(t, t)) for n, t in rows]

    def describe(self, conn: Any, sql: str) -> list[tuple[str, str]]:
        rel = conn.sql(sql)
        return [
            (n, _ALIASES.get(str(t), str(t))) for n, t in zip(rel.columns, rel.types, strict=True)
        ]

    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> None:
        # a DuckDB cursor() is a new connection: run on this one so transactions hold
        (conn.execute(sql, list(params)) if params else conn.execute(sql)).fetchall()

    def scalar(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = (conn.execute(sql, list(params)) if params else conn.execute(sql)).fetchall()
        return rows[0][0] if rows else None

    def stored(self, ltype: LType) -> Stored:
        if ltype.kind == "decimal":
            if ltype.precision > 38:
                return Stored(
                    "DOUBLE",
                    LType("float64"),
                    f"DuckDB decimals hold 38 digits at most, not {ltype.precision}",
                )
            return Stored(f"DECIMAL({ltype.precision},{ltype.scale})", ltype)
        if ltype.kind == "string":
            # DuckDB's VARCHAR has no length limit: the length is kept as declared
            return Stored(f"VARCHAR({ltype.length})" if ltype.length else "VARCHAR", _UNBOUNDED)
        return Stored(_DDL[ltype.kind], ltype)

    def read(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        reader = conn.sql(sql).to_arrow_reader(batch_rows)
        for batch in reader:
            yield as_schema(batch, schema)

    def write(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
        """Arrow ingest through a replacement scan of the local ``portkey_batch``: a batch
        ``register``-ed inside a transaction stays alive until it commits (a whole run's rows
        held in memory), one found by name is released after its statement."""
        cols = ", ".join(self.quote(n) for n in batch.schema.names)
        portkey_batch = batch  # noqa: F841 - named in the SQL, found by DuckDB in this frame
        conn.execute(
            f"INSERT INTO {self.table_sql(table)} ({cols}) SELECT {cols} FROM portkey_batch"
        )

    def literal(self, value: Any, ltype: LType) -> str:
        if ltype.kind in ("timestamp", "timestamptz", "date"):
            text = value.isoformat(sep=" ") if hasattr(value, "isoformat") else str(value)
            return f"CAST('{text}' AS {self.stored(ltype).ddl})"
        return super().literal(value, ltype)


_UNBOUNDED = LType("string")
