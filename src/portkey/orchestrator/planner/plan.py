"""What the planner decides: per-engine fragments, semi-join edges and the local step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlglot import exp

FragmentKind = Literal["query", "scan", "join", "preaggregate"]


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Which rewrites the planner may use (all, by default); the benchmark turns them off."""

    #: False: the naive baseline (pull every referenced table whole, do all work locally)
    pushdown: bool = True
    semijoins: bool = True
    preaggregate: bool = True
    #: expressions (their SQL) an engine refused to compile: they are evaluated locally
    refused: frozenset[str] = frozenset()


ALL_RULES = PlanOptions()
NAIVE = PlanOptions(pushdown=False, semijoins=False, preaggregate=False)


@dataclass(slots=True)
class SemiJoin:
    """Ship the distinct ``source_column`` values of ``source`` to ``target`` as an IN-list."""

    source: str
    source_column: str
    #: the column inside the target fragment's SQL that the IN-list filters
    target_column: exp.Column


@dataclass(slots=True)
class Fragment:
    """One subquery that runs on one engine; its answer is registered locally as ``name``."""

    name: str
    engine: str
    dialect: str
    kind: FragmentKind
    #: the subquery in DuckDB's dialect with real table names (the engine's SQL is made from it)
    expression: exp.Query
    estimated_rows: int | None = None
    estimated_bytes: int | None = None
    #: output column -> planned type (DuckDB spelling), used to conform loose engine answers
    types: dict[str, str] = field(default_factory=dict)
    semijoins: list[SemiJoin] = field(default_factory=list)
    #: SQL of what this fragment took from the query (a subquery, pushed predicates): if the
    #: engine refuses the fragment, these are kept local when the query is planned again
    origins: list[str] = field(default_factory=list)

    def sql(self, extra: exp.Expr | None = None) -> str:
        tree = self.expression
        if extra is not None:
            tree = tree.copy()
            assert isinstance(tree, exp.Select)
            tree = tree.where(extra, copy=False)
        return tree.sql(dialect=self.dialect, comments=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "engine": self.engine,
            "kind": self.kind,
            "sql": self.sql(),
            "estimated_rows": self.estimated_rows,
            "estimated_bytes": self.estimated_bytes,
            "semijoins": [
                {"from": s.source, "column": s.source_column, "filters": s.target_column.sql()}
                for s in self.semijoins
            ],
        }


@dataclass(slots=True)
class Plan:
    fragments: list[Fragment]
    #: the final step, in DuckDB's dialect, over the fragments' local tables
    local: exp.Query
    #: the whole query went to one engine: its answer is the answer
    passthrough: bool = False
    notes: list[str] = field(default_factory=list)

    def fragment(self, name: str) -> Fragment:
        return next(f for f in self.fragments if f.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fragments": [f.to_dict() for f in self.fragments],
            "local": None if self.passthrough else self.local.sql(dialect="duckdb"),
            "passthrough": self.passthrough,
            "notes": self.notes,
        }
