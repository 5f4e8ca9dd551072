"""What the planner decides: per-engine fragments, semi-join edges and the local step."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlglot import exp

FragmentKind = Literal["query", "scan", "join", "preaggregate"]


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Which rewrites the planner may use (all, by default); the benchmark turns them off."""

    #: False: the naive baseline (pull every referenced table whole, do all work locally)
    pushdown: bool = True
    semijoins: bool = True
    #: keys too many for an IN-list may go into a temporary table on the big side's engine
    temp_tables: bool = True
    #: with temp tables: the join and aggregates may run on the big side's engine (join site)
    join_sites: bool = True
    preaggregate: bool = True
    #: expressions (their SQL) an engine refused to compile: they are evaluated locally
    refused: frozenset[str] = frozenset()


ALL_RULES = PlanOptions()
NAIVE = PlanOptions(
    pushdown=False, semijoins=False, temp_tables=False, join_sites=False, preaggregate=False
)


@dataclass(slots=True)
class SemiJoin:
    """Ship the distinct ``source_column`` values of ``source`` to ``target`` as an IN-list
    (or, past the IN-list limit, into a temporary table on the target's engine)."""

    source: str
    source_column: str
    #: the column inside the target fragment's SQL that the IN-list filters
    target_column: exp.Column
    #: the target's engine may hold keys too many for an IN-list in a temporary table
    temp_table: bool = False
    #: ``>=`` or ``<=``: the source answers one row, and its value bounds the target column
    #: (``target_column >= value``) instead of listing keys
    bound: str | None = None

    def step(
        self, target: Fragment, sources: dict[str, Fragment], shipped: str | None = None
    ) -> str:
        """This edge as a line of explain output: what ran (``shipped``), or what is planned."""
        if shipped is not None:
            return shipped
        src = sources.get(self.source)
        est = f" (est. {src.estimated_rows})" if src and src.estimated_rows is not None else ""
        where = f"{target.name} on engine {target.engine}"
        past = (
            f"into a temporary table on engine {target.engine}"
            if self.temp_table
            else f"not shipped ({target.name} runs unreduced)"
        )
        return (
            f"ship the distinct keys of {self.source}{est} to {where} as an IN-list; past "
            f"data.semijoin_max_keys, {past}"
        )


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

    #: the rendered SQL once planning is over (``freeze``): a cached plan's copies reuse it
    rendered: str | None = field(default=None, repr=False, compare=False)

    def freeze(self) -> None:
        """Render the SQL now: the plan is final (nothing changes ``expression`` any more)."""
        self.rendered = None
        self.rendered = self.sql()

    def sql(self, extra: exp.Expr | None = None) -> str:
        if extra is None and self.rendered is not None:
            return self.rendered
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
                {
                    "from": s.source,
                    "column": s.source_column,
                    "filters": s.target_column.sql(),
                    "temp_table": s.temp_table,
                    "bound": s.bound,
                }
                for s in self.semijoins
            ],
        }


@dataclass(slots=True)
class JoinSite:
    """The local step may run on ``engine``, next to fragment ``fragment`` (the big side):
    the other fragments' answers are shipped whole into temporary tables there."""

    fragment: str
    engine: str
    dialect: str
    #: the query's output columns and their planned types (to conform the engine's answer)
    types: dict[str, str] = field(default_factory=dict)

    def step(self, ran: str | None = None) -> str:
        """As a line of explain output: what ran (``ran``), or what is planned."""
        if ran is not None:
            return ran
        return (
            f"join site: when the keys exceed data.semijoin_max_keys, ship the other fragments "
            f"whole into temporary tables on engine {self.engine} and run the join and "
            f"aggregates there, next to {self.fragment}: only the answer moves"
        )

    def to_dict(self, ran: str | None = None) -> dict[str, Any]:
        return {"fragment": self.fragment, "engine": self.engine, "ran": ran}


@dataclass(slots=True)
class RunRecord:
    """What one run of a plan did, kept apart from the plan: a planned ``Plan`` is never
    changed by a run, so one cached plan serves concurrent runs without copies."""

    #: (fragment name, index of the edge in its ``semijoins``) -> what became of its keys
    edges: dict[tuple[str, int], str] = field(default_factory=dict)
    #: what the join site did (used, not used and why, refused)
    site: str | None = None
    #: this run's notes (e.g. re-planned after an engine refused a fragment), listed first
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Plan:
    fragments: list[Fragment]
    #: the final step, in DuckDB's dialect, over the fragments' local tables
    local: exp.Query
    #: the whole query went to one engine: its answer is the answer
    passthrough: bool = False
    notes: list[str] = field(default_factory=list)
    #: where the local step may run instead of here (``site.join_site``)
    join_site: JoinSite | None = None
    #: set only on ``ran``'s view: what that run did (the plan as planned has none)
    run: RunRecord | None = field(default=None, repr=False, compare=False)

    def fragment(self, name: str) -> Fragment:
        return next(f for f in self.fragments if f.name == name)

    def ran(self, record: RunRecord) -> Plan:
        """This plan as one run left it, for explain output: a shallow view (the fragments
        are shared, never copied) whose steps and notes say what that run did."""
        return replace(self, notes=[*record.notes, *self.notes], run=record)

    def steps(self) -> list[str]:
        """How keys move between fragments (semi-joins), in the order fragments run."""
        by_name = {f.name: f for f in self.fragments}
        done = self.run.edges if self.run is not None else {}
        steps = [
            e.step(f, by_name, done.get((f.name, i)))
            for f in self.fragments
            for i, e in enumerate(f.semijoins)
        ]
        return steps + ([self.join_site.step(self._site_ran())] if self.join_site else [])

    def _site_ran(self) -> str | None:
        return self.run.site if self.run is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fragments": [f.to_dict() for f in self.fragments],
            "local": None if self.passthrough else self.local.sql(dialect="duckdb"),
            "passthrough": self.passthrough,
            "steps": self.steps(),
            "join_site": self.join_site.to_dict(self._site_ran()) if self.join_site else None,
            "notes": self.notes,
        }
