"""Which way a semi-join edge points: the side whose keys keep the smaller fraction goes first.

Each fragment has estimated rows (its tables' rows times a quarter per filter, a quarter for
HAVING, LIMIT n of them; GROUP BY keeps every key) and ``base``, its largest table's rows.
Shipping the distinct keys of S to D keeps about the fraction of S's rows that remain, once
the keys shipped *into* S have narrowed it too; when S is much bigger than D (a fact table
shipping keys to a dimension) a key of D survives if any of its ``fanout`` rows in S does.
So the side that is reduced goes first, whichever side is bigger: a HAVING over lineitem that
leaves a few orders ships their keys to orders, and those orders' customers to customer,
rather than all customers to lineitem; and a filter on lineitem's rows says little about
which of 1,000 suppliers remain. Estimates are crude (no histograms); the executor still
ships no more keys than ``data.semijoin_max_keys`` as an IN-list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from portkey.orchestrator.planner import rules
from portkey.orchestrator.planner._tree import one_row
from portkey.orchestrator.planner.plan import Fragment, SemiJoin
from portkey.orchestrator.planner.scope import own_nodes

#: what one filter is taken to keep
QUARTER = 0.25


@dataclass(frozen=True, slots=True)
class Size:
    """A fragment's estimated rows before any keys reach it, and its largest table's rows."""

    rows: float
    base: float


def own_selectivity(query: exp.Query, base_rows: int | None) -> float:
    """The fraction of its tables' rows (``base_rows``: the largest) ``query`` keeps: a quarter
    per filter that is not a join equality, a quarter for HAVING, LIMIT n of the rows, one
    row for an equality with a global aggregate's value."""
    if not isinstance(query, exp.Select):
        return 1.0
    where = query.args.get("where")
    conds = rules.conjuncts(where.this if where else None)
    out: float = QUARTER ** sum(1 for c in conds if not _column_eq(c))
    if query.args.get("having"):
        out *= QUARTER
    base = max(1, base_rows or 1)
    # x = the one value of a global aggregate (q15's "= (SELECT max(...))"): a point lookup
    single = {
        rules.source_alias(s)
        for s in rules.select_sources(query)
        if isinstance(s, exp.Subquery) and one_row(s.this)
    }
    if any(_column_eq(c) and rules.aliases_of(c) & single for c in conds):
        out = min(out, 1 / base)
    if not query.args.get("group") and any(isinstance(n, exp.AggFunc) for n in own_nodes(query)):
        out = min(out, 1 / base)
    limit = query.args.get("limit")
    if limit is not None and isinstance(limit.expression, exp.Literal):
        out = min(out, int(limit.expression.this) / base)
    return out


def _column_eq(cond: exp.Expr) -> bool:
    return isinstance(cond, exp.EQ) and bool(rules.equi_pairs([cond]))


def kept(
    source: str, target: str, by_name: Mapping[str, Fragment], sizes: Mapping[str, Size]
) -> float:
    """The fraction of ``target``'s rows that ``source``'s keys are expected to keep.

    A source no bigger than the target keeps the fraction of its own rows that survive (its
    keys are taken as unique). A bigger source (a fact table shipping keys to a dimension) has
    ``fanout`` rows per key: a key survives if any of its rows does.
    """
    src = sizes[source]
    fraction = min(1.0, reduced(source, by_name, sizes) / max(1.0, src.base))
    fanout = src.base / max(1.0, sizes[target].base)
    if fanout <= 2:
        return fraction
    return float(1 - (1 - fraction) ** fanout)


def reduced(name: str, by_name: Mapping[str, Fragment], sizes: Mapping[str, Size]) -> float:
    """The rows of ``name`` once the keys shipped into it have narrowed it (edges form a DAG)."""
    out = sizes[name].rows
    for edge in by_name[name].semijoins:
        if edge.bound is not None:
            out *= 0.5  # one side of a comparison
        elif edge.source in sizes:
            out *= kept(edge.source, name, by_name, sizes)
    return out


def feeds(source: str, target: str, by_name: Mapping[str, Fragment]) -> bool:
    """Whether ``source``'s keys reach ``target`` (directly or through other fragments)."""
    stack, seen = [target], set()
    while stack:
        name = stack.pop()
        if name == source:
            return True
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        stack.extend(e.source for e in by_name[name].semijoins)
    return False


def gain(
    source: str, target: str, by_name: Mapping[str, Fragment], sizes: Mapping[str, Size]
) -> float | None:
    """What an edge ``source`` -> ``target`` would keep of the target, None if not worth it
    (too little gain, or the target already feeds the source: a cycle)."""
    if source not in sizes or target not in sizes or feeds(target, source, by_name):
        return None
    fraction = kept(source, target, by_name, sizes)
    return fraction if fraction < 1.0 else None


Candidate = tuple[Fragment, Fragment, SemiJoin]


def choose(
    candidates: list[Candidate], fragments: list[Fragment], sizes: Mapping[str, Size]
) -> None:
    """Add the candidate edges (source, target, edge) worth shipping to their targets, the
    one that keeps the least of its target first: a target that gains keys may then narrow
    others in turn, and no edge closes a cycle."""
    by_name = {f.name: f for f in fragments}
    while candidates:
        scored = [
            (kept, c)
            for c in candidates
            if (kept := gain(c[0].name, c[1].name, by_name, sizes)) is not None
        ]
        if not scored:
            return
        # ties: the source with fewer rows left (the shorter key list) first
        _, best = min(scored, key=lambda s: (round(s[0], 3), reduced(s[1][0].name, by_name, sizes)))
        source, target, edge = best
        target.semijoins.append(edge)
        candidates = [
            c
            for c in candidates
            if c is not best
            and not (c[0] is source and c[1] is target and c[2].target_column == edge.target_column)
        ]
