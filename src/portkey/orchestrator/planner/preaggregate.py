"""Eager aggregation: aggregate the big side of a cross-engine join on its engine first.

For ``SELECT k, SUM(big.x) ... FROM small JOIN big ON ... GROUP BY k`` where every aggregate
reads one fragment only (the big one), that fragment answers ``GROUP BY`` (its join keys and
other referenced columns) with partial aggregates, and the local step combines them:
SUM -> SUM of sums, COUNT -> SUM of counts, MIN/MAX -> MIN/MAX, AVG -> SUM of sums / SUM of
counts. Each partial row stands for the rows of its group, which all join the same rows of
the other sides, so the combined answer is the same. Joins must be inner, except that the
big side may be the right side of a LEFT JOIN when no aggregate is ``COUNT(*)`` (a left row
without a match then meets one all-NULL partial row: SUM/MIN/MAX stay NULL, COUNT stays 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from portkey.orchestrator.planner.capabilities import pushable
from portkey.orchestrator.planner.plan import Fragment

_DECOMPOSABLE = (exp.Sum, exp.Count, exp.Min, exp.Max, exp.Avg)


@dataclass(slots=True)
class Local:
    """A fragment as the local step sees it: its alias there and its output columns."""

    fragment: Fragment
    alias: str
    #: output column -> the expression inside the fragment that computes it
    outputs: dict[str, exp.Expr]


def _owned(select: exp.Select, node: exp.Expr) -> bool:
    parent = node.parent
    while parent is not None and parent is not select:
        if isinstance(parent, exp.Select | exp.SetOperation):
            return False
        parent = parent.parent
    return parent is select


def _aggregates(select: exp.Select) -> list[exp.AggFunc]:
    return [a for a in select.find_all(exp.AggFunc) if _owned(select, a)]


def _joins_allow(select: exp.Select, alias: str, outer: set[str]) -> bool:
    for join in select.args.get("joins") or []:
        side = (join.side or "").upper()
        if side in ("RIGHT", "FULL") or (side == "LEFT" and join.this.alias_or_name != alias):
            return False
    if alias in outer:
        return not any(
            isinstance(a, exp.Count) and isinstance(a.this, exp.Star) for a in _aggregates(select)
        )
    return True


def _target(select: exp.Select, locals_: Mapping[str, Local], outer: set[str]) -> Local | None:
    """The one fragment every aggregate reads, if the query qualifies."""
    if select.args.get("distinct") or any(select.find_all(exp.Window)):
        return None
    aggs = _aggregates(select)
    if not aggs:
        return None
    aliases: set[str] = set()
    for agg in aggs:
        if not isinstance(agg, _DECOMPOSABLE) or isinstance(agg.this, exp.Distinct):
            return None
        if any(isinstance(n, exp.AggFunc) for n in agg.walk() if n is not agg):
            return None
        aliases |= {c.table for c in agg.find_all(exp.Column)}
    if len(aliases) != 1:
        return None
    (alias,) = aliases
    return locals_.get(alias) if _joins_allow(select, alias, outer) else None


def _pays(target: Local, locals_: Mapping[str, Local]) -> bool:
    big = target.fragment.estimated_rows
    others = [
        lo.fragment.estimated_rows for lo in locals_.values() if lo.fragment is not target.fragment
    ]
    return big is not None and bool(others) and all(o is not None and big >= 2 * o for o in others)


def _inside(node: exp.Expr, target: Local) -> exp.Expr:
    """``node`` over the fragment's own columns instead of the local step's."""

    def swap(n: exp.Expr) -> exp.Expr:
        if isinstance(n, exp.Column) and n.table == target.alias:
            return target.outputs[n.name].copy()
        return n

    return node.transform(swap)


def preaggregate(select: exp.Select, locals_: Mapping[str, Local], outer: set[str]) -> bool:
    """Rewrite ``select`` and its big fragment in place; False (untouched) if it doesn't apply.

    ``outer``: the aliases an outer join of ``select`` may NULL-extend.
    """
    target = _target(select, locals_, outer)
    if target is None or not _pays(target, locals_):
        return False
    body = target.fragment.expression
    if not isinstance(body, exp.Select) or body.args.get("group") or body.args.get("limit"):
        return False
    aggs = _aggregates(select)
    in_aggs = {id(c) for a in aggs for c in a.find_all(exp.Column)}
    keys: list[str] = []
    for col in select.find_all(exp.Column):
        if col.table != target.alias or id(col) in in_aggs:
            continue
        if not _owned(select, col) or col.name not in target.outputs:
            return False  # a nested query reads the fragment's rows: leave it be
        if col.name not in keys:
            keys.append(col.name)
    partials: list[exp.Expr] = []
    replacements: list[tuple[exp.AggFunc, exp.Expr]] = []
    for agg in aggs:
        local, parts = _split(agg, target, len(partials))
        partials += parts
        replacements.append((agg, local))
    if not all(pushable(p, target.fragment.dialect) for p in partials):
        return False
    projections = [exp.alias_(target.outputs[k].copy(), k, quoted=True) for k in keys]
    body.set("expressions", projections + partials)
    if keys:
        body.set("group", exp.Group(expressions=[target.outputs[k].copy() for k in keys]))
    for agg, local in replacements:
        agg.replace(local)
    frag = target.fragment
    frag.types = {k: v for k, v in frag.types.items() if k in keys}
    if frag.estimated_rows is not None:
        frag.estimated_rows = max(1, frag.estimated_rows // 10)
        frag.estimated_bytes = frag.estimated_rows * (len(keys) + len(partials)) * 8
    frag.kind = "preaggregate"
    return True


def _split(agg: exp.AggFunc, target: Local, start: int) -> tuple[exp.Expr, list[exp.Expr]]:
    """The local combination of an aggregate and the partial aggregates it needs."""

    def part(node: exp.Expr, i: int) -> tuple[exp.Column, exp.Expr]:
        name = f"_pa{start + i}"
        return exp.column(name, target.alias, quoted=True), exp.alias_(node, name, quoted=True)

    inner = _inside(agg, target)
    if isinstance(agg, exp.Avg):
        total, total_part = part(exp.Sum(this=_inside(agg.this, target)), 0)
        count, count_part = part(exp.Count(this=_inside(agg.this, target)), 1)
        ratio = exp.Div(
            this=exp.cast(exp.Sum(this=total), "double"), expression=exp.Sum(this=count)
        )
        return ratio, [total_part, count_part]
    ref, partial = part(inner, 0)
    if isinstance(agg, exp.Count):
        summed = exp.Coalesce(this=exp.Sum(this=ref), expressions=[exp.Literal.number(0)])
        return exp.cast(summed, "bigint"), [partial]
    combine = exp.Sum if isinstance(agg, exp.Sum) else type(agg)
    return combine(this=ref), [partial]
