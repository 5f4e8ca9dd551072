"""Data shipped to an engine: key lists in its SQL, or session-scoped temporary tables.

When the distinct join keys of a small side are too many for an IN-list, and the engine of
the big side may create temporary tables (``temp_tables: true``), the executor loads them into
one there and the big side's fragment becomes ``col IN (SELECT k FROM <temp table>)``, run on
the same connection. Where the whole join and its aggregates can run on that engine (a join
site), the small sides are shipped whole instead and only the answer comes back. Only these
tables of ours are ever written; the statement itself still runs read-only, and the tables
are dropped when it ends (their session dies with it anyway).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from portkey.orchestrator.errors import EngineFailed

#: every temporary table of ours starts with one of these (tests and operators look for them)
TEMP_PREFIX = "_pk_keys_"
ROWS_PREFIX = "_pk_rows_"
#: a join site takes small sides of at most this many bytes in all (Arrow), else keys only
SITE_MAX_BYTES = 64 << 20


class ShipmentRefused(EngineFailed):
    """The engine would not take our temporary table (e.g. the role may not create one)."""


@dataclass(frozen=True, slots=True)
class Shipment:
    """Rows of fragment ``source`` bound for temporary table ``name``: its distinct non-NULL
    join keys (one column ``k``, a primary key where it can be) or its whole answer."""

    source: str
    name: str
    table: pa.Table
    keys: bool = True

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes)

    def columns(self, dialect: str) -> list[tuple[str, str]]:
        """Each column's name and SQL type on the receiving engine."""
        return [(f.name, key_type(f.type).sql(dialect=dialect)) for f in self.table.schema]

    def indexable(self) -> bool:
        """A key shipment whose column can be a primary key everywhere (not free-length text)."""
        kind = self.table.schema.field(0).type
        return self.keys and not (pa.types.is_string(kind) or pa.types.is_large_string(kind))

    def values(self) -> list[tuple[Any, ...]]:
        columns = [c.to_pylist() for c in self.table.columns]
        return list(zip(*columns, strict=True))


def ship(source: str, keys: pa.Array) -> Shipment:
    """A shipment of ``keys`` (already distinct and without NULLs) under a fresh name."""
    name = f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}"
    return Shipment(source, name, pa.table({"k": keys}))


def ship_rows(source: str, table: pa.Table) -> Shipment:
    """A shipment of a fragment's whole answer (for a join site) under a fresh name."""
    return Shipment(source, f"{ROWS_PREFIX}{uuid.uuid4().hex[:12]}", table, keys=False)


def key_filter(shipment: Shipment, column: exp.Column) -> exp.Expr:
    """``column IN (SELECT k FROM <temp table>)``: the fragment's reduction."""
    keys = exp.select(exp.column("k")).from_(exp.to_table(shipment.name))
    return exp.In(this=column.copy(), query=exp.Subquery(this=keys))


def key_type(kind: pa.DataType) -> exp.DataType:
    if pa.types.is_integer(kind):
        return exp.DataType.build("BIGINT" if kind.bit_width > 32 else "INT")
    if pa.types.is_decimal(kind):
        return exp.DataType.build(f"DECIMAL({kind.precision}, {kind.scale})")
    if pa.types.is_date(kind):
        return exp.DataType.build("DATE")
    if pa.types.is_timestamp(kind):
        return exp.DataType.build("TIMESTAMP")
    if pa.types.is_floating(kind):
        return exp.DataType.build("DOUBLE")
    if pa.types.is_boolean(kind):
        return exp.DataType.build("BOOLEAN")
    return exp.DataType.build("TEXT")


def describe(shipment: Shipment, target: str, engine: str) -> str:
    """The executed step, as explain output shows it."""
    what = "keys" if shipment.keys else "rows"
    return (
        f"shipped {shipment.rows} {what} of {shipment.source} ({shipment.nbytes} bytes) into "
        f"temporary table {shipment.name} on engine {engine}; {target} read them there"
    )


# -- key lists: keys written into the fragment's SQL text -------------------------------------
#: a text key that reads the same in every dialect between single quotes
_PLAIN_TEXT = re.compile(r"[^'\\\x00-\x1f\x7f]*")


@dataclass(frozen=True, slots=True)
class KeyList:
    """``column IN (<keys>)`` whose keys are rendered as text, not as one sqlglot node each
    (15,000 nodes cost ~100 ms to build and render): the filter carries a placeholder that
    ``fill`` swaps for the literal list once the fragment's SQL is rendered."""

    token: str
    values: pa.Array

    def filter(self, column: exp.Column) -> exp.Expr:
        return exp.In(this=column.copy(), expressions=[exp.var(self.token)])

    def fill(self, sql: str, dialect: str) -> str:
        return sql.replace(self.token, render_keys(self.values.to_pylist(), dialect), 1)


def key_list(values: pa.Array) -> KeyList:
    return KeyList(f"__pk_keys_{uuid.uuid4().hex[:12]}__", values)


def render_keys(values: list[Any], dialect: str) -> str:
    """SQL literals for integer and text keys: integers and plain text directly, anything
    else (quotes, backslashes, control characters, other types) as sqlglot writes it."""
    parts: list[str] = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(str(value))
        elif isinstance(value, str) and _PLAIN_TEXT.fullmatch(value):
            parts.append(f"'{value}'")
        else:
            parts.append(exp.convert(value).sql(dialect=dialect))
    return ", ".join(parts)
