"""Eager aggregation: aggregate the big side of a cross-engine join on its engine first.

For ``SELECT k, SUM(big.x) ... FROM small JOIN big ON ... GROUP BY k`` where every aggregate
reads one fragment only (the big one), that fragment answers ``GROUP BY`` (its join keys and
other referenced columns) with partial aggregates, and the local step combines them:
SUM -> SUM of sums, COUNT -> SUM of counts, MIN/MAX -> MIN/MAX, AVG -> SUM of sums / SUM of
counts. Each partial row stands for the rows of its group, which all join the same rows of
the other sides, so the combined answer is the same (and MIN/MAX of another side's columns,
left to the local step, see the same rows of that side; a SUM of a CASE whose conditions
read another side sums each branch per group). Joins must be inner, except that the
big side may be the right side of a LEFT JOIN when no aggregate is ``COUNT(*)`` (a left row
without a match then meets one all-NULL partial row: SUM/MIN/MAX stay NULL, COUNT stays 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlglot import exp

from portkey.orchestrator.planner import linear
from portkey.orchestrator.planner.capabilities import pushable
from portkey.orchestrator.planner.plan import Fragment

_DECOMPOSABLE = (exp.Sum, exp.Count, exp.Min, exp.Max, exp.Avg)
#: functions whose value is not one of the row's own: never a grouping key
_NOT_KEYS = (exp.AggFunc, exp.Window, exp.Rand)


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


def _shadowed(select: exp.Select, col: exp.Column) -> bool:
    """A nested query of ``select`` names a source of its own as ``col``'s table."""
    parent = col.parent
    while parent is not None and parent is not select:
        if isinstance(parent, exp.Select) and any(
            s.alias_or_name == col.table for s in _sources(parent)
        ):
            return True
        parent = parent.parent
    return False


def _sources(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    return ([from_.this] if from_ is not None else []) + [
        j.this for j in select.args.get("joins") or []
    ]


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
    extremes: set[str] = set()
    #: the sides that each SUM over several sides may be split on (``linear``)
    splits: list[set[str]] = []
    for agg in aggs:
        if not isinstance(agg, _DECOMPOSABLE) or isinstance(agg.this, exp.Distinct):
            return None
        if any(isinstance(n, exp.AggFunc) for n in agg.walk() if n is not agg):
            return None
        read = linear.reads(agg)
        case = _case_sum(agg)
        if case is not None and len(case[1]) == 1:
            aliases |= case[1]  # the conditions read other sides: they stay local
        elif isinstance(agg, exp.Min | exp.Max) and len(read) == 1:
            extremes |= read
        elif isinstance(agg, exp.Sum) and len(read) > 1:
            splits.append(linear.sides(agg.this))
        else:
            aliases |= read
    if len(aliases) > 1 or (not aliases and len(extremes) > 1):
        return None
    return _choose(select, locals_, outer, aliases or extremes, splits)


def _choose(
    select: exp.Select,
    locals_: Mapping[str, Local],
    outer: set[str],
    required: set[str],
    splits: list[set[str]],
) -> Local | None:
    """The biggest side that every aggregate allows: ``required`` (one alias) if any, and
    one that each split SUM splits on. When only COUNT(*) is left (it counts any side's
    rows), a derived table answered whole by one engine (``colocate`` makes them): its
    rows often are the query's whole work, while a scan's count stays as it was planned."""
    candidates = set(required or locals_)
    if not required and not splits:
        candidates = {a for a in candidates if locals_[a].fragment.kind == "query"}
    for sides in splits:
        candidates &= sides
    options = [locals_[a] for a in candidates if a in locals_ and _joins_allow(select, a, outer)]
    if not options:
        return None
    return max(options, key=lambda lo: lo.fragment.estimated_rows or 0)


def _case_sum(agg: exp.AggFunc) -> tuple[set[str], set[str]] | None:
    """``SUM(CASE WHEN c THEN t ... ELSE e END)``: the aliases its conditions read and those
    its branches read, when they are apart and each branch reads columns or is 0 or NULL.

    Per partial row the conditions (other sides' columns) pick one branch for the whole
    group, so the sum is ``SUM(CASE WHEN c THEN SUM(t) ... END)`` over the partial rows.
    """
    case = agg.this
    if not isinstance(agg, exp.Sum) or not isinstance(case, exp.Case) or case.this is not None:
        return None
    conds: set[str] = set()
    branches: set[str] = set()
    for value in _branches(case):
        read = linear.reads(value)
        if not read and not _nothing(value):
            return None
        branches |= read
    for when in case.args.get("ifs") or []:
        conds |= linear.reads(when.this)
    return None if conds & branches else (conds, branches)


def _branches(case: exp.Case) -> list[exp.Expr]:
    values = [w.args["true"] for w in case.args.get("ifs") or []]
    default = case.args.get("default")
    return values + ([default] if default is not None else [])


def _nothing(value: exp.Expr) -> bool:
    """0 or NULL: adds nothing to a sum, however many rows it stands for."""
    node = value.unnest()
    return isinstance(node, exp.Null) or (
        isinstance(node, exp.Literal) and not node.is_string and float(node.this) == 0
    )


def _reads(agg: exp.AggFunc, alias: str) -> bool:
    """``agg`` reads ``alias``, or no column at all (``COUNT(*)`` counts its rows)."""
    tables = linear.reads(agg)
    return not tables or alias in tables


def _pays(target: Local, locals_: Mapping[str, Local]) -> bool:
    big = target.fragment.estimated_rows
    others = [
        lo.fragment.estimated_rows for lo in locals_.values() if lo.fragment is not target.fragment
    ]
    return big is not None and bool(others) and all(o is not None and big >= o for o in others)


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
    # MIN/MAX of another side stay local: fewer, grouped rows meet the same other rows
    aggs = [a for a in _aggregates(select) if _reads(a, target.alias)]
    in_aggs = {id(c) for a in aggs for c in a.find_all(exp.Column)}
    found = _keys(select, target, in_aggs)
    if found is None:
        return False
    keys, computed = found
    partials: list[exp.Expr] = []
    replacements: list[tuple[exp.AggFunc, exp.Expr]] = []
    named = 0  # partial names stay unique even when some are reused
    for agg in aggs:
        local, parts = _split(agg, target, named)
        named += len(parts)
        partials += _reuse(local, parts, partials)
        replacements.append((agg, local))
    grouped = [_inside(nodes[0], target) for nodes in computed.values()]
    if not all(pushable(p, target.fragment.dialect) for p in partials + grouped):
        return False
    projections = [exp.alias_(target.outputs[k].copy(), k, quoted=True) for k in keys]
    names = [f"_pk{i}" for i in range(len(grouped))]
    projections += [
        exp.alias_(g.copy(), n, quoted=True) for g, n in zip(grouped, names, strict=True)
    ]
    body.set("expressions", projections + partials)
    if keys or grouped:
        group = [target.outputs[k].copy() for k in keys] + [g.copy() for g in grouped]
        body.set("group", exp.Group(expressions=group))
    for agg, local in replacements:
        agg.replace(local)
    for name, nodes in zip(names, computed.values(), strict=True):
        for node in nodes:
            node.replace(exp.column(name, target.alias, quoted=True))
    frag = target.fragment
    frag.types = {k: v for k, v in frag.types.items() if k in keys}
    if frag.estimated_rows is not None:
        frag.estimated_rows = max(1, frag.estimated_rows // 10)
        frag.estimated_bytes = frag.estimated_rows * (len(projections) + len(partials)) * 8
    frag.kind = "preaggregate"
    return True


def _keys(
    select: exp.Select, target: Local, in_aggs: set[int]
) -> tuple[list[str], dict[str, list[exp.Expr]]] | None:
    """The target's columns the local step reads outside the aggregates (its grouping keys),
    and the functions of them it reads whole (by SQL); None if a nested query reads them."""
    keys: list[str] = []
    computed: dict[str, list[exp.Expr]] = {}
    for col in select.find_all(exp.Column):
        if col.table != target.alias or id(col) in in_aggs or _shadowed(select, col):
            continue
        if not _owned(select, col) or col.name not in target.outputs:
            return None  # a nested query reads the fragment's rows: leave it be
        node = _key_of(col, target.alias)
        if node is not col:
            computed.setdefault(node.sql(), []).append(node)
        elif col.name not in keys:
            keys.append(col.name)
    return keys, computed


def _key_of(col: exp.Column, alias: str) -> exp.Expr:
    """The largest scalar function around ``col`` that reads ``alias``'s columns only
    (``EXTRACT(YEAR FROM o_orderdate)``): grouping by its value, not by the column, keeps
    what the local step reads; ``col`` itself when it is read bare."""
    node: exp.Expr = col
    while True:
        parent = node.parent
        if not isinstance(parent, exp.Func) or isinstance(parent, _NOT_KEYS):
            return node
        if linear.reads(parent) != {alias}:
            return node
        if any(isinstance(n, exp.Query | exp.Rand) for n in parent.walk()):
            return node
        node = parent


def _reuse(local: exp.Expr, parts: list[exp.Expr], partials: list[exp.Expr]) -> list[exp.Expr]:
    """The new ``parts``; one the fragment computes already is read from there instead."""
    known = {p.unalias().sql(): p.alias_or_name for p in partials}
    fresh: list[exp.Expr] = []
    for part in parts:
        same = known.get(part.unalias().sql())
        if same is None:
            fresh.append(part)
            continue
        for col in local.find_all(exp.Column):
            if col.name == part.alias_or_name:
                col.set("this", exp.to_identifier(same, quoted=True))
    return fresh


def _split(agg: exp.AggFunc, target: Local, start: int) -> tuple[exp.Expr, list[exp.Expr]]:
    """The local combination of an aggregate and the partial aggregates it needs."""

    def part(node: exp.Expr, i: int) -> tuple[exp.Column, exp.Expr]:
        name = f"_pa{start + i}"
        return exp.column(name, target.alias, quoted=True), exp.alias_(node, name, quoted=True)

    if _case_sum(agg) is not None:
        case = agg.this.copy()
        parts: list[exp.Expr] = []
        for value in _branches(case):
            if not _nothing(value):
                ref, partial = part(exp.Sum(this=_inside(value, target)), len(parts))
                value.replace(ref)
                parts.append(partial)
        return exp.Sum(this=case), parts
    if isinstance(agg, exp.Sum) and linear.reads(agg) - {target.alias}:
        return _split_linear(agg, target, part)
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


def _split_linear(
    agg: exp.AggFunc,
    target: Local,
    part: Callable[[exp.Expr, int], tuple[exp.Column, exp.Expr]],
) -> tuple[exp.Expr, list[exp.Expr]]:
    """``SUM(o * t - u)`` over the target's ``t`` and the other sides' ``o``, ``u``:
    ``SUM(o * _pa0 - u * _pa1)`` locally, the target summing ``t`` and ``1`` (``linear``)."""
    pieces, guard = linear.split(agg.this, target.alias)
    local: list[tuple[int, exp.Expr]] = []
    parts: list[exp.Expr] = []
    for sign, theirs, mine in pieces:
        value = _inside(mine, target)
        if guard is not None:
            value = exp.Case(ifs=[exp.If(this=_inside(guard.copy(), target), true=value)])
        ref, partial = part(exp.Sum(this=value), len(parts))
        parts.append(partial)
        local.append((sign, linear.product([*theirs, ref])))
    return exp.Sum(this=linear.combine(local)), parts
