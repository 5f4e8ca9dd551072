"""ClickHouse embedded (chdb) for sync: Arrow both ways; a "transaction" is shadow tables swapped
in with one ``EXCHANGE TABLES`` statement.

ClickHouse has no multi-statement transactions. Inside ``transaction`` the statements the runner
sends are not run on their tables: each table they touch gets a shadow copy (``CREATE TABLE ...
AS``; its parts hard-linked by ``ATTACH PARTITION tuple() FROM``, or a filtered copy when the
first statement is a DELETE), the statements run on the shadows, and the commit swaps every
shadow in with one ``EXCHANGE TABLES a AND a_tx`` statement (Atomic-style database: an atomic
rename of metadata). The server applies the pairs of one EXCHANGE one after another, so the
checkpoint is not swapped in with the rows: it is a ledger of one-statement steps
(sync/ledger.py), and a run killed between the rows and the checkpoint is finished by the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from chdb import session

from portkey.orchestrator.settings import ChDBEngine
from portkey.orchestrator.sync.endpoints.base import Endpoint, Stored, as_schema, bind
from portkey.orchestrator.sync.types import LType

#: ``DELETE FROM "db"."t" [WHERE ...]`` / ``INSERT INTO "t" ...`` as the runner spells them
_DML = re.compile(
    r'^\s*(DELETE FROM|INSERT INTO)\s+((?:"(?:[^"]|"")*"\.)?"(?:[^"]|"")*")(.*)$', re.DOTALL
)
_TX = "__portkey_tx"
_UNBOUNDED = LType("string")

#: how ClickHouse stores each kind (decimals, strings and nullability are spelled by the
#: endpoint); DateTime64's range is 1900-01-01 .. 2299-12-31, Date32's reaches 9999-12-31
_DDL: dict[str, str] = {
    "int8": "Int8",
    "int16": "Int16",
    "int32": "Int32",
    "int64": "Int64",
    "float32": "Float32",
    "float64": "Float64",
    "json": "String",
    "uuid": "String",
    "bool": "Bool",
    "date": "Date32",
    "timestamp": "DateTime64(6)",
    "timestamptz": "DateTime64(6, 'UTC')",
    "binary": "String",
}
_CH_WRAPPERS = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")
_CH_NAMES: dict[str, str] = {
    "int8": "tinyint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "uint8": "smallint",
    "uint16": "integer",
    "uint32": "bigint",
    "uint64": "decimal(20,0)",
    "int128": "decimal(39,0)",
    "uint128": "decimal(39,0)",
    "float32": "real",
    "float64": "double",
    "bool": "boolean",
    "string": "text",
    "uuid": "uuid",
    "json": "json",
    "date": "date",
    "date32": "date",
    "datetime": "timestamp",
}
_CH_DECIMAL_N = {"decimal32": 9, "decimal64": 18, "decimal128": 38, "decimal256": 76}


def _spelling(text: str) -> str:
    """A ClickHouse type (``Nullable(Decimal(38, 9))``, ``DateTime64(6, 'UTC')``...) -> the
    neutral spelling ``parse`` reads; an unknown type comes back as is (parse then names it)."""
    spelled = text.strip()
    while (wrapped := _CH_WRAPPERS.match(spelled)) is not None:
        spelled = wrapped.group(1).strip()
    low = spelled.lower()
    head, _, rest = low.partition("(")
    args = [a.strip() for a in rest.rstrip(")").split(",")] if rest else []
    if head == "decimal" and len(args) == 2:
        return f"decimal({args[0]},{args[1]})"
    if head in _CH_DECIMAL_N and len(args) == 1:
        return f"decimal({_CH_DECIMAL_N[head]},{args[0]})"
    if head in ("datetime", "datetime64"):
        zone = [a for a in args if a.startswith("'")]
        return "timestamptz" if zone else "timestamp"
    if head == "fixedstring" and len(args) == 1:
        return f"varchar({args[0]})"
    return _CH_NAMES.get(low, spelled)


class _Conn:
    """One chdb session; ``pending`` collects the statements of an open transaction."""

    def __init__(self, path: str) -> None:
        self.session: Any = session.Session(path)  # type: ignore[no-untyped-call]
        self.pending: list[str] | None = None

    def query(self, sql: str, fmt: str = "CSV") -> Any:
        return self.session.query(sql, fmt)

    def close(self) -> None:
        self.session.close()


class ChDBEndpoint(Endpoint):
    dialect = "clickhouse"
    settings: ChDBEngine
    #: every run stages first: there is no transaction to roll a half-written append back
    direct_writes = False
    #: one EXCHANGE of target and checkpoint is applied pair by pair: a ledger instead
    atomic_commit = False
    #: ClickHouse String holds bytes, but its Arrow output is utf8 text: not exact yet
    unreadable = ("binary",)

    def connect(self) -> Any:
        conn = _Conn(self.settings.path)
        conn.query("SET session_timezone = 'UTC'")
        return conn

    # -- statements ------------------------------------------------------------------------
    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> None:
        text = bind(sql, params, _lit)
        if conn.pending is not None:
            conn.pending.append(text)
        else:
            conn.query(text)

    def scalar(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        table: pa.Table = conn.query(bind(sql, params, _lit), "ArrowTable")
        if table.num_rows == 0:
            return None
        return table.column(0)[0].as_py()

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        conn.pending = []
        try:
            yield
            statements = conn.pending
        finally:
            conn.pending = None
        self._commit(conn, statements)

    def _commit(self, conn: Any, statements: list[str]) -> None:
        """Run ``statements`` on shadow tables, then swap them all in with one EXCHANGE."""
        shadows: dict[str, str] = {}  # table_sql -> shadow table_sql, in first-touch order
        try:
            for sql in statements:
                match = _DML.match(sql)
                if match is None:
                    conn.query(sql)  # DDL: ClickHouse runs it at once anyway
                    continue
                verb, table, rest = match.groups()
                shadow = shadows.get(table)
                if shadow is None:
                    shadow = shadows[table] = self._shadow(conn, table, verb, rest)
                    if verb == "DELETE FROM":
                        continue  # the filtered copy already left those rows out
                conn.query(f"{verb} {shadow}{rest}")
            if shadows:
                pairs = ", ".join(f"{t} AND {s}" for t, s in shadows.items())
                conn.query(f"EXCHANGE TABLES {pairs}")
        finally:
            for shadow in shadows.values():
                with suppress(Exception):
                    conn.query(f"DROP TABLE IF EXISTS {shadow}")

    def _shadow(self, conn: Any, table: str, verb: str, rest: str) -> str:
        shadow = table[:-1] + _TX + '"'
        conn.query(f"DROP TABLE IF EXISTS {shadow}")
        conn.query(f"CREATE TABLE {shadow} AS {table}")
        where = rest.strip()
        if verb == "DELETE FROM":
            if where:  # keep the rows the DELETE would keep (a NULL condition keeps a row)
                cond = where[len("WHERE") :] if where.upper().startswith("WHERE") else where
                conn.query(
                    f"INSERT INTO {shadow} SELECT * FROM {table} WHERE NOT ifNull(({cond}), 0)"
                )
            return shadow
        try:  # hard links of the parts: no rows are copied
            conn.query(f"ALTER TABLE {shadow} ATTACH PARTITION tuple() FROM {table}")
        except Exception:  # a partitioned table (not made by sync): copy the rows
            conn.query(f"INSERT INTO {shadow} SELECT * FROM {table}")
        return shadow

    # -- schema ----------------------------------------------------------------------------
    def columns(self, conn: Any, table: str) -> list[tuple[str, str]] | None:
        db, _, name = table.rpartition(".")
        where = f"database = {_lit(db)}" if db else "database = currentDatabase()"
        rows = conn.query(
            f"SELECT name, type FROM system.columns WHERE {where} AND table = {_lit(name)} "
            "ORDER BY position",
            "ArrowTable",
        ).to_pylist()
        if not rows:
            return None
        return [(r["name"], _spelling(r["type"])) for r in rows]

    def describe(self, conn: Any, sql: str) -> list[tuple[str, str]]:
        rows = conn.query(f"DESCRIBE TABLE ({sql})", "ArrowTable").to_pylist()
        return [(r["name"], _spelling(r["type"])) for r in rows]

    def stored(self, ltype: LType) -> Stored:
        if ltype.kind == "decimal":
            return Stored(f"Nullable(Decimal({ltype.precision}, {ltype.scale}))", ltype)
        if ltype.kind == "string":
            # String has no length limit: a varchar's length is not kept
            return Stored("Nullable(String)", _UNBOUNDED)
        return Stored(f"Nullable({_DDL[ltype.kind]})", ltype)

    def create_sql(
        self, table: str, columns: Sequence[tuple[str, str]], *, staging: bool = False
    ) -> str:
        return super().create_sql(table, columns) + " ENGINE = MergeTree ORDER BY tuple()"

    def ledger_create_sql(self, table_sql: str) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {table_sql} (job String, seq Int64, entry String) "
            "ENGINE = MergeTree ORDER BY (job, seq)"
        )

    def alter_sql(self, table: str, column: str, ddl: str) -> str | None:
        return f"ALTER TABLE {self.table_sql(table)} MODIFY COLUMN {self.quote(column)} {ddl}"

    def delete_matching_sql(self, target: str, staging: str, keys: Sequence[str]) -> str:
        cols = ", ".join(self.quote(k) for k in keys)
        return (
            f"DELETE FROM {self.table_sql(target)} WHERE ({cols}) IN "
            f"(SELECT {cols} FROM {self.table_sql(staging)})"
        )

    # -- rows ------------------------------------------------------------------------------
    def read(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        stream = conn.session.send_query(sql, "Arrow")
        try:
            for batch in stream.record_batch(rows_per_batch=batch_rows):
                yield as_schema(batch, schema)
        finally:
            with suppress(Exception):
                stream.close()

    def write(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
        """Arrow ingest: chdb's ``Python()`` table function reads ``portkey_batch`` in place."""
        cols = ", ".join(self.quote(n) for n in batch.schema.names)
        portkey_batch = batch  # noqa: F841 - named in the SQL, found by chdb in this frame
        # chdb looks the name up in its caller's frame: call the session from here
        conn.session.query(
            f"INSERT INTO {self.table_sql(table)} ({cols}) SELECT {cols} FROM Python(portkey_batch)"
        )

    def literal(self, value: Any, ltype: LType) -> str:
        if ltype.kind == "decimal":
            return f"CAST('{value}' AS Decimal({ltype.precision}, {ltype.scale}))"
        return super().literal(value, ltype)


def _lit(value: Any) -> str:
    """A ClickHouse literal for a DB-API parameter."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime | date):
        value = value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
