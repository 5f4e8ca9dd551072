"""Lookups read only in a condition become key lists: ``CASE WHEN part.p_type LIKE 'PROMO%'``
over ``lineitem JOIN part`` is ``CASE WHEN l_partkey IN (the promo parts' keys)``.

When a source R of the local step is a lossless lookup (``topn``: a declared foreign key
leads to it, it reads its table whole) and the query reads R's columns only inside CASE
conditions that read nothing else, each such condition P holds for a row exactly when its
key is among the keys of R's rows where P holds (one row per key, and every row has one).
So R is not fetched: one fragment per condition answers those keys (TPC-H q14: the 3,310
promo parts' keys at SF 0.1 instead of all 20,000 parts with their types), the condition
becomes ``key IN (SELECT * FROM _fN)`` and R leaves the local step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlglot import exp

from portkey.orchestrator.keys import Keys
from portkey.orchestrator.planner import rules, topn
from portkey.orchestrator.planner.capabilities import pushable
from portkey.orchestrator.planner.plan import Fragment

#: (engine, expression, types, estimated rows) -> the fragment added for it
AddFragment = Callable[[str, exp.Select, dict[str, str], int | None], Fragment]


def to_key_lists(
    select: exp.Select, fragments: list[Fragment], keys: Keys, add: AddFragment
) -> list[str]:
    """Rewrite every such lookup of ``select`` in place; the notes of what was done."""
    notes: list[str] = []
    if not keys.references or any(j.side for j in select.args.get("joins") or []):
        return notes
    by_name = {f.name: f for f in fragments}
    sources = topn.fragment_sources(select, by_name)
    if sources is None or len(sources) < 2:
        return notes
    for alias, name in list(sources.items()):
        note = _rewrite(select, alias, by_name[name], sources, by_name, keys, add)
        if note is not None:
            fragments.remove(by_name[name])
            del sources[alias]
            notes.append(note)
    return notes


def _rewrite(
    select: exp.Select,
    alias: str,
    lookup: Fragment,
    sources: Mapping[str, str],
    by_name: Mapping[str, Fragment],
    keys: Keys,
    add: AddFragment,
) -> str | None:
    if any(e.source == lookup.name for f in by_name.values() for e in f.semijoins):
        return None  # its keys narrow another fragment: it is fetched anyway
    found = _lookup_join(select, alias, lookup, sources, by_name, keys)
    if found is None:
        return None
    join, ours, theirs = found
    conditions = _conditions(select, alias, join)
    if not conditions:
        return None
    body = lookup.expression
    assert isinstance(body, exp.Select)
    outputs = {p.alias_or_name: p.unalias() for p in body.selects}
    key = outputs.get(theirs.name)
    if key is None:
        return None
    made: dict[str, Fragment] = {}
    for condition in conditions:
        inner = condition.copy()
        for col in list(inner.find_all(exp.Column)):
            if col.name not in outputs:
                return None
            col.replace(outputs[col.name].copy())
        if not pushable(inner, lookup.dialect):
            return None
        text = inner.sql()
        if text not in made:
            keyed = body.copy()
            keyed.set("expressions", [exp.alias_(key.copy(), theirs.name, quoted=True)])
            keyed.set("where", exp.Where(this=inner))
            types = {theirs.name: lookup.types[theirs.name]}
            made[text] = add(lookup.engine, keyed, types, lookup.estimated_rows)
        ref = exp.select("*").from_(exp.to_table(made[text].name))
        condition.replace(exp.In(this=ours.copy(), query=exp.Subquery(this=ref)))
    _drop_source(select, alias, join)
    names = ", ".join(f.name for f in made.values())
    return (
        f"{lookup.name} not fetched: the conditions on it are key lists of {names} "
        "(a declared foreign key leads to it)"
    )


def _lookup_join(
    select: exp.Select,
    alias: str,
    lookup: Fragment,
    sources: Mapping[str, str],
    by_name: Mapping[str, Fragment],
    keys: Keys,
) -> tuple[exp.Expr, exp.Column, exp.Column] | None:
    """The one conjunct joining ``alias``: ``x.c = alias.u``, a lossless lookup of a whole
    table; with x's and the lookup's columns."""
    if topn.root_table(lookup, keys) is None:
        return None
    where = rules.conjuncts(select.args["where"].this) if select.args.get("where") else []
    joins = [c for c in where if alias in rules.aliases_of(c)]
    pairs = rules.equi_pairs(joins)
    if len(joins) != 1 or not isinstance(joins[0], exp.EQ) or len(pairs) != 1:
        return None
    ours, theirs = pairs[0] if pairs[0][1].table == alias else pairs[0][::-1]
    if theirs.table != alias or ours.table not in sources or ours.table == alias:
        return None
    accept = topn.fragment_lookup(sources, by_name, keys, [])
    return (
        (joins[0], ours, theirs) if accept(ours.table, alias, [(ours.name, theirs.name)]) else None
    )


def _conditions(select: exp.Select, alias: str, join: exp.Expr) -> list[exp.Expr] | None:
    """The CASE conditions that read ``alias``, if they are all it is read in (but for the
    join conjunct) and they read nothing else."""
    used = [
        c
        for c in select.find_all(exp.Column)
        if c.table == alias and c.find_ancestor(exp.EQ) is not join
    ]
    found: dict[int, exp.Expr] = {}
    for col in used:
        condition = _case_condition(col)
        if condition is None or rules.aliases_of(condition) != {alias}:
            return None
        found[id(condition)] = condition
    return list(found.values())


def _case_condition(col: exp.Column) -> exp.Expr | None:
    """The condition of the CASE branch (``WHEN <this>``) that ``col`` is in, if any."""
    node: exp.Expr = col
    while node.parent is not None:
        parent = node.parent
        if isinstance(parent, exp.If) and parent.args.get("this") is node:
            return node if isinstance(parent.parent, exp.Case) else None
        if isinstance(parent, exp.Query):
            return None
        node = parent
    return None


def _drop_source(select: exp.Select, alias: str, join: exp.Expr) -> None:
    """Remove ``alias`` from the FROM/joins of ``select`` and its join conjunct."""
    kept = [c for c in rules.conjuncts(select.args["where"].this) if c is not join]
    select.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    sources = [s for s in rules.select_sources(select) if rules.source_alias(s) != alias]
    select.set("from_", exp.From(this=sources[0].copy()))
    select.set("joins", [exp.Join(this=s.copy()) for s in sources[1:]] or None)
