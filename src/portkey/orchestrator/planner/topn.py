"""Top-N through lossless joins: ``ORDER BY ... LIMIT n`` also runs in the one fragment whose
columns decide the order, when every other source of the local step only looks its rows up.

A join ``F.k = R.u`` keeps each row of F exactly once when a declared foreign key says every
``F.k`` matches one ``R.u`` (``data.foreign_keys``) and R's fragment reads its table whole,
joined at most to further such lookups. When every other source is reached from F that way,
the local step's rows are F's rows one for one (grouped, when its GROUP BY holds F's group
keys, its groups are F's groups), so its first n rows come from F's first n. F answers only
those, and the keys it ships narrow the lookups to n rows: TPC-H q10's top 20 customers by
revenue come from DuckDB, then only those 20 customers from PostgreSQL. The local step
still orders and limits (ties may pick other rows, as any engine's LIMIT may).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlglot import exp

from portkey.orchestrator.keys import Keys, TableKey
from portkey.orchestrator.planner import _tree as tree
from portkey.orchestrator.planner import rules
from portkey.orchestrator.planner.plan import Fragment
from portkey.orchestrator.planner.scope import own_nodes

#: (a, b, column pairs of a.x = b.y): whether b is a lookup of a's rows
Lookup = Callable[[str, str, list[tuple[str, str]]], bool]

_SHAPING = ("distinct", "having", "qualify", "with_")
#: a final aggregate over one partial of a single-row group is that partial
_PASS_THROUGH = (exp.Sum, exp.Min, exp.Max)


@dataclass(frozen=True, slots=True)
class Pushed:
    fragment: Fragment
    note: str
    #: (output of ``fragment``, a lookup fragment, its output) joined directly: its few
    #: keys are worth shipping now, though they were not when it answered every row
    lookups: list[tuple[str, Fragment, str]]


def push(select: exp.Select, fragments: Mapping[str, Fragment], keys: Keys) -> Pushed | None:
    """Add the local step's ORDER BY/LIMIT to the fragment that decides it (None when the
    rule does not hold)."""
    limit = _count(select, "limit")
    if limit is None or not keys.references or not select.args.get("order"):
        return None
    joins = select.args.get("joins") or []
    if any(select.args.get(k) for k in _SHAPING) or any(
        j.args.get("on") or j.args.get("using") or j.side for j in joins
    ):
        return None
    nodes = own_nodes(select)
    if any(isinstance(n, exp.Window) for n in nodes):
        return None
    sources = fragment_sources(select, fragments)
    if sources is None:
        return None
    where = rules.conjuncts(select.args["where"].this) if select.args.get("where") else []
    grouped = select.args.get("group") is not None
    if not grouped and any(isinstance(n, exp.AggFunc) for n in nodes):
        return None  # one row
    terms = _order_terms(select)
    if terms is None:
        return None
    aliases = {a for t in terms for a in rules.aliases_of(t)}
    if len(aliases) != 1:
        return None
    (alias,) = aliases
    top = fragments[sources[alias]]
    ordered = [_in_fragment(t, alias, top, grouped) for t in terms]
    accepted: list[tuple[str, str, list[tuple[str, str]]]] = []
    lookup = fragment_lookup(sources, fragments, keys, accepted)
    if any(o is None for o in ordered) or not _reaches_all(alias, sources, where, lookup):
        return None
    if grouped and not _groups_kept(select, alias, top, where):
        return None
    body = top.expression
    if not isinstance(body, exp.Select) or any(body.args.get(k) for k in ("order", "limit")):
        return None
    offset = _count(select, "offset") or 0
    body.order_by(*[o for o in ordered if o is not None], copy=False)
    body.limit(limit + offset, copy=False)
    if top.estimated_rows is not None:
        top.estimated_rows = min(top.estimated_rows, limit + offset)
    note = (
        f"top {limit + offset} of {top.name} taken on engine {top.engine}: every other source "
        "looks its rows up by a declared foreign key (data.foreign_keys)"
    )
    direct = [
        (x, fragments[sources[b]], y) for a, b, pairs in accepted if a == alias for x, y in pairs
    ]
    return Pushed(top, note, direct)


def _count(select: exp.Select, arg: str) -> int | None:
    node = select.args.get(arg)
    value = node.args.get("expression") if node is not None else None
    if isinstance(value, exp.Literal) and value.is_int:
        return int(value.this)
    return None


def fragment_sources(
    select: exp.Select, fragments: Mapping[str, Fragment]
) -> dict[str, str] | None:
    """Local alias -> the fragment it reads whole; None if any source is something else."""
    out: dict[str, str] = {}
    for source in rules.select_sources(select):
        name: str | None = None
        if isinstance(source, exp.Table) and not source.catalog and not source.db:
            name = source.name
        elif isinstance(source, exp.Subquery):
            name = tree.ref_name(source.this)
        if name is None or name not in fragments:
            return None
        out[rules.source_alias(source)] = name
    return out


def _order_terms(select: exp.Select) -> list[exp.Ordered] | None:
    """ORDER BY with output aliases replaced by what they compute."""
    outputs = {p.alias: p.unalias() for p in select.selects if p.alias}
    out: list[exp.Ordered] = []
    for term in select.args["order"].expressions:
        if not isinstance(term, exp.Ordered):
            return None
        copied = term.copy()
        inner = copied.this
        if isinstance(inner, exp.Column) and not inner.table and inner.name in outputs:
            copied.set("this", outputs[inner.name].copy())
        elif isinstance(inner, exp.Literal):
            return None  # ORDER BY 2: positions are not resolved here
        out.append(copied)
    return out


def _in_fragment(
    term: exp.Ordered, alias: str, fragment: Fragment, grouped: bool
) -> exp.Ordered | None:
    """``term`` over ``alias``'s columns as the fragment computes it: one of its outputs (no
    arithmetic: the engine's could differ from DuckDB's, e.g. integer division), of a type
    the engine orders as DuckDB does."""
    value = term.this
    if grouped and isinstance(value, _PASS_THROUGH):
        value = value.this
    if not isinstance(value, exp.Column) or value.table != alias:
        return None
    if not _sorts_alike(fragment, value.name):
        return None
    body = fragment.expression
    if not isinstance(body, exp.Select):
        return None
    projection = next((p for p in body.selects if p.alias_or_name == value.name), None)
    if projection is None:
        return None
    out = term.copy()
    out.set("this", projection.unalias().copy())
    return out


def _sorts_alike(fragment: Fragment, output: str) -> bool:
    """Whether the fragment's engine orders ``output`` as DuckDB does: numbers and dates do;
    text only on DuckDB (another engine's collation may order it differently)."""
    dtype = (fragment.types.get(output) or "").split("(")[0].upper()
    return fragment.dialect == "duckdb" or tree.numeric(dtype) or dtype == "DATE"


def _is_aggregate(projection: exp.Expr) -> bool:
    return projection.find(exp.AggFunc) is not None


def base_column(fragment: Fragment, output: str) -> tuple[TableKey, str] | None:
    """The table and column a fragment's output reads as is (not through an outer join)."""
    body = fragment.expression
    if not isinstance(body, exp.Select) or any(j.side for j in body.args.get("joins") or []):
        return None
    projection = next((p for p in body.selects if p.alias_or_name == output), None)
    column = projection.unalias() if projection is not None else None
    if not isinstance(column, exp.Column):
        return None
    for source in rules.select_sources(body):
        if isinstance(source, exp.Table) and rules.source_alias(source) == column.table:
            return (fragment.engine, source.db, source.name), column.name
    return None


def root_table(fragment: Fragment, keys: Keys, *, filtered: bool = False) -> TableKey | None:
    """The table whose rows the fragment answers one for one: it reads one table whole,
    joined only to tables that each of its rows looks up by a declared key. ``filtered``:
    some of its rows, one for one (filters on one table's columns allowed)."""
    body = fragment.expression
    if not isinstance(body, exp.Select):
        return None
    shaping = ("group", "having", "limit", "offset", "distinct", "qualify", "with_", "order")
    if any(body.args.get(k) for k in shaping):
        return None
    if any(j.args.get("on") or j.side for j in body.args.get("joins") or []):
        return None
    sources = [s for s in rules.select_sources(body) if isinstance(s, exp.Table)]
    if len(sources) != len(rules.select_sources(body)):
        return None
    tables = {rules.source_alias(s): (fragment.engine, s.db, s.name) for s in sources}
    where = rules.conjuncts(body.args["where"].this) if body.args.get("where") else []
    if filtered:
        where = [c for c in where if len(rules.aliases_of(c)) > 1]

    def lookup(a: str, b: str, pairs: list[tuple[str, str]]) -> bool:
        return keys.lossless(tables[a], tables[b], pairs)

    return next((t for a, t in tables.items() if _reaches_all(a, tables, where, lookup)), None)


def _reaches_all(start: str, members: Iterable[str], conds: list[exp.Expr], lookup: Lookup) -> bool:
    """Whether every member is a lookup from ``start``, directly or through others
    (``lookup(a, b, column pairs)``), and every conjunct is one of those lookups' conditions."""
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for cond in conds:
        found = rules.equi_pairs([cond]) if isinstance(cond, exp.EQ) else []
        if len(found) != 1:
            return False
        left, right = found[0]
        edges.setdefault((left.table, right.table), []).append((left.name, right.name))
        edges.setdefault((right.table, left.table), []).append((right.name, left.name))
    wanted = set(members)
    reached, used = {start}, 0
    changed = True
    while changed:
        changed = False
        for (a, b), pairs in edges.items():
            if a in reached and b not in reached and b in wanted and lookup(a, b, pairs):
                reached.add(b)
                used += len(pairs)
                changed = True
    return reached == wanted and used == len(conds)


def fragment_lookup(
    sources: Mapping[str, str],
    fragments: Mapping[str, Fragment],
    keys: Keys,
    accepted: list[tuple[str, str, list[tuple[str, str]]]],
) -> Lookup:
    """``a.x = b.y`` looks b up: b's fragment answers its root table's rows one for one,
    and a declared key leads from the table under a's columns to that root (``accepted``
    collects the lookups found)."""

    def lookup(a: str, b: str, pairs: list[tuple[str, str]]) -> bool:
        target = root_table(fragments[sources[b]], keys)
        ours = [base_column(fragments[sources[a]], x) for x, _ in pairs]
        theirs = [base_column(fragments[sources[b]], y) for _, y in pairs]
        if target is None or None in ours or None in theirs:
            return False
        tables = {o[0] for o in ours if o is not None}
        if len(tables) != 1 or any(t is not None and t[0] != target for t in theirs):
            return False
        base_pairs = [(o[1], t[1]) for o, t in zip(ours, theirs, strict=True) if o and t]
        found = keys.lossless(next(iter(tables)), target, base_pairs)
        if found:
            accepted.append((a, b, pairs))
        return found

    return lookup


def _groups_kept(select: exp.Select, alias: str, top: Fragment, where: list[exp.Expr]) -> bool:
    """Whether the local GROUP BY holds (a column equal to) each of ``top``'s group keys, so
    each local group is one of its rows."""
    body = top.expression
    if not isinstance(body, exp.Select) or body.args.get("group") is None:
        return False
    roots = rules.equated(where)
    group = select.args["group"].expressions
    held = {
        roots.get((c.table, c.name), (c.table, c.name)) for c in group if isinstance(c, exp.Column)
    }
    keys_out = [p.alias_or_name for p in body.selects if not _is_aggregate(p)]
    return bool(keys_out) and all(roots.get((alias, k), (alias, k)) in held for k in keys_out)
