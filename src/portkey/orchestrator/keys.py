"""Declared foreign keys (``data.foreign_keys``), resolved against the catalog's tables.

A key says every row of one table matches exactly one row of another on some columns. The
planner asks ``lossless``: does joining ``table`` to ``target`` on exactly these column
pairs keep each of ``table``'s rows once? A declaration that names a table or column the
catalog lacks is reported (``errors``, shown by ``GET /catalog``) and never trusted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from portkey.orchestrator.engines import TableInfo
from portkey.orchestrator.settings import ForeignKey

#: engine, schema, table
TableKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Reference:
    table: TableKey
    target: TableKey
    #: (column of ``table``, column of ``target``) pairs
    pairs: frozenset[tuple[str, str]]


@dataclass(slots=True)
class Keys:
    references: list[Reference] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def lossless(self, table: TableKey, target: TableKey, pairs: Iterable[tuple[str, str]]) -> bool:
        """Whether ``table JOIN target ON <pairs>`` keeps every row of ``table`` exactly once:
        a declared key with exactly these pairs (more conditions could drop rows)."""
        wanted = frozenset(pairs)
        return any(
            r.table == table and r.target == target and r.pairs == wanted for r in self.references
        )

    def unique(self, table: TableKey, column: str) -> bool:
        """Whether ``column`` alone is a key of ``table``: a declared foreign key points at it."""
        return any(
            r.target == table and {b for _, b in r.pairs} == {column} for r in self.references
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "foreign_keys": [
                {
                    "from": [f"{'.'.join(r.table)}.{a}" for a, _ in sorted(r.pairs)],
                    "to": [f"{'.'.join(r.target)}.{b}" for _, b in sorted(r.pairs)],
                }
                for r in self.references
            ],
            "errors": self.errors,
        }


def resolve_keys(declared: list[ForeignKey], tables: Iterable[TableInfo]) -> Keys:
    """The declared keys whose tables and columns the catalog has; errors name the others."""
    by_name = {t.qualified.lower(): t for t in tables}
    out = Keys()
    for i, key in enumerate(declared):
        sides: list[tuple[TableInfo, list[str]]] = []
        for side, paths in (("from", key.from_), ("to", key.to)):
            qualified = paths[0].rsplit(".", 1)[0]
            info = by_name.get(qualified)
            columns = [p.rsplit(".", 1)[1] for p in paths]
            if info is None:
                out.errors.append(f"data.foreign_keys[{i}].{side}: unknown table {qualified!r}")
                break
            names = {c.name.lower(): c.name for c in info.columns}
            missing = [c for c in columns if c not in names]
            if missing:
                out.errors.append(
                    f"data.foreign_keys[{i}].{side}: {qualified} has no column {missing[0]!r}"
                )
                break
            sides.append((info, [names[c] for c in columns]))
        if len(sides) != 2:
            continue
        (src, src_cols), (dst, dst_cols) = sides
        out.references.append(
            Reference(
                (src.engine, src.schema, src.name),
                (dst.engine, dst.schema, dst.name),
                frozenset(zip(src_cols, dst_cols, strict=True)),
            )
        )
    return out
