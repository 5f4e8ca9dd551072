"""The read-write face of one engine for sync: introspect, read Arrow batches, bulk-write.

The orchestrator's ``Engine`` is read-only and answers whole results with inferred types; a
sync needs exact declared types, bounded batches and writes, so each engine also has an
``Endpoint`` here built from the same ``data.engines`` settings. One subclass per engine,
each a table of type spellings plus its bulk path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from portkey.orchestrator.settings import _Engine
from portkey.orchestrator.sync.types import LType, TypeProblem


def bind(sql: str, params: Sequence[Any], literal: Callable[[Any], str]) -> str:
    """``%s`` placeholders replaced by ``literal(value)``, for engines whose client binds no
    parameters (chdb) or binds them at a round trip's cost (Trino)."""
    if not params:
        return sql
    parts = sql.split("%s")
    if len(parts) != len(params) + 1:
        raise ValueError(f"{len(params)} parameters for {len(parts) - 1} placeholders")
    out = [parts[0]]
    for value, part in zip(params, parts[1:], strict=True):
        out += [literal(value), part]
    return "".join(out)


def as_schema(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with each column cast to the planned ``schema`` (the same batch when it fits)."""
    if batch.schema == schema:
        return batch
    columns = [col.cast(field.type) for col, field in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


@dataclass(frozen=True, slots=True)
class Stored:
    """How a target dialect stores a value type: its DDL, what it reads back as, and whether
    that loses anything (``lossy`` says what)."""

    ddl: str
    reads_as: LType
    lossy: str | None = None


class Endpoint(ABC):
    """One engine of ``data.engines`` opened for reading and writing."""

    dialect: str = ""
    quote_char = '"'
    #: the DB-API placeholder
    param = "%s"
    #: floats this engine cannot store (NaN, inf) are lossy: named per engine
    nan_ok = True
    inf_ok = True

    def __init__(self, name: str, settings: _Engine) -> None:
        self.name = name
        self.settings = settings

    # -- what an engine implements ---------------------------------------------------------
    @abstractmethod
    def connect(self) -> Any:
        """A read-write DB-API connection in autocommit; ``transaction`` groups statements."""

    @abstractmethod
    def columns(self, conn: Any, table: str) -> list[tuple[str, str]] | None:
        """The table's columns as (name, declared type), or None when it does not exist."""

    @abstractmethod
    def stored(self, ltype: LType) -> Stored:
        """How this engine stores a column of ``ltype``."""

    @abstractmethod
    def read(
        self, conn: Any, sql: str, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """Run ``sql`` and yield its rows as batches of ``schema`` (at most ~batch_rows)."""

    @abstractmethod
    def write(self, conn: Any, table: str, batch: pa.RecordBatch) -> None:
        """Append ``batch`` (columns named as the table's) with the engine's bulk path."""

    def alter_sql(self, table: str, column: str, ddl: str) -> str | None:
        """The statement widening ``column`` to ``ddl`` (None: this engine cannot)."""
        return f"ALTER TABLE {self.table_sql(table)} ALTER COLUMN {self.quote(column)} TYPE {ddl}"

    def describe(self, conn: Any, sql: str) -> list[tuple[str, str]]:
        """The columns a SELECT answers, as (name, declared type)."""
        raise TypeProblem(f"engine {self.name!r} ({self.dialect}): source.sql is not supported")

    # -- shared ----------------------------------------------------------------------------
    def quote(self, ident: str) -> str:
        q = self.quote_char
        return q + ident.replace(q, q + q) + q

    def table_sql(self, table: str) -> str:
        return ".".join(self.quote(part) for part in table.split("."))

    def execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> None:
        cur = conn.cursor()
        try:
            cur.execute(sql, tuple(params)) if params else cur.execute(sql)
        finally:
            cur.close()

    def scalar(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = conn.cursor()
        try:
            cur.execute(sql, tuple(params)) if params else cur.execute(sql)
            row = cur.fetchone()
        finally:
            cur.close()
        return None if row is None else row[0]

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        self.execute(conn, "BEGIN")
        try:
            yield
        except BaseException:
            self.execute(conn, "ROLLBACK")
            raise
        self.execute(conn, "COMMIT")

    def literal(self, value: Any, ltype: LType) -> str:
        """``value`` as a SQL literal of ``ltype`` in this dialect (cursor bounds)."""
        if ltype.kind in ("int8", "int16", "int32", "int64", "decimal", "float32", "float64"):
            return str(value)
        text = value.isoformat(sep=" ") if hasattr(value, "isoformat") else str(value)
        return "CAST('" + text.replace("'", "''") + f"' AS {self.stored(ltype).ddl})"

    #: kinds this engine's read path cannot yet return exactly (the plan refuses them)
    unreadable: tuple[str, ...] = ()
    #: whether a whole run's rows can go straight into the target inside one transaction
    #: with memory bounded (False: the engine keeps an open transaction's rows in memory)
    direct_writes = True
    #: how a staging table is created (it never has to outlive a crash: a rerun rebuilds it)
    staging_create = "CREATE TABLE"
    #: rows and checkpoint commit in one transaction; False: the checkpoint is a ledger of
    #: one-statement steps and a killed apply is finished by the next run (sync/ledger.py)
    atomic_commit = True

    def ledger_create_sql(self, table_sql: str) -> str:
        """DDL of the ledger table (sync/ledger.py): job, seq, entry (JSON text)."""
        return (
            f"CREATE TABLE IF NOT EXISTS {table_sql} "
            "(job VARCHAR(200) NOT NULL, seq BIGINT NOT NULL, entry TEXT NOT NULL)"
        )

    def staging_name(self, target: str) -> str:
        return target + "__portkey_stg"

    def create_sql(
        self, table: str, columns: Sequence[tuple[str, str]], *, staging: bool = False
    ) -> str:
        cols = ", ".join(f"{self.quote(n)} {ddl}" for n, ddl in columns)
        create = self.staging_create if staging else "CREATE TABLE"
        return f"{create} {self.table_sql(table)} ({cols})"

    def delete_matching_sql(self, target: str, staging: str, keys: Sequence[str]) -> str:
        t, s = self.table_sql(target), self.table_sql(staging)
        on = " AND ".join(f"s.{self.quote(k)} = {t}.{self.quote(k)}" for k in keys)
        return f"DELETE FROM {t} WHERE EXISTS (SELECT 1 FROM {s} s WHERE {on})"

    def check_floats(self, batch: pa.RecordBatch, lossy: set[str]) -> pa.RecordBatch:
        """NaN/inf where this engine cannot store them: an error, or NULL when lossy is allowed."""
        if self.nan_ok and self.inf_ok:
            return batch
        for i, field in enumerate(batch.schema):
            if not pa.types.is_floating(field.type):
                continue
            col = batch.column(i)
            bad = pc.is_nan(col) if not self.nan_ok else pa.array([False] * len(col))
            if not self.inf_ok:
                bad = pc.or_(bad, pc.is_inf(col))
            if not pc.any(bad).as_py():
                continue
            if field.name not in lossy:
                what = "NaN" if self.inf_ok else "NaN/inf"
                raise TypeProblem(
                    f"column {field.name}: {self.dialect} cannot store {what} values "
                    f"(float64 -> {self.dialect} float); set allow_lossy to write them as NULL"
                )
            batch = batch.set_column(i, field, pc.if_else(bad, None, col))
        return batch
