"""Co-located sources: the joins of one engine's sources run there, as one derived table.

A SELECT over several engines keeps its joins local, and the splitter already joins the
plain tables of one engine on that engine. Its derived tables (sqlglot's unnesting turns
``EXISTS`` and ``IN`` into grouped derived tables) and the tables LEFT JOINed to them would
each come back whole, though they often live on the same engine as what they join. This
rule nests such a group into ``(SELECT <columns the rest reads> FROM <group> WHERE <its own
conjuncts>)``, which the splitter then sends to that engine as one fragment (later narrowed
by keys and pre-aggregated like any derived table).

Sound when no join is RIGHT or FULL: inner join conditions may then move to WHERE, a WHERE
conjunct over the group's sources alone commutes with the joins of the others, and a LEFT
JOIN whose ON reads the group alone joins the group before the others (associativity).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from portkey.orchestrator.planner import rules
from portkey.orchestrator.planner.capabilities import pushable


def _kind(join: exp.Join) -> str | None:
    """``inner``, ``left``, or None for a join this rule leaves alone."""
    side, kind = (join.side or "").upper(), (join.kind or "").upper()
    if join.args.get("using") or join.args.get("method"):
        return None
    if side == "LEFT" and kind in ("", "OUTER"):
        return "left"
    if not side and kind in ("", "INNER", "CROSS"):
        return "inner"
    return None


def _group(
    sources: dict[str, exp.Expr],
    kinds: dict[str, str],
    engines: dict[str, str | None],
    conds: list[exp.Expr],
    ons: dict[str, list[exp.Expr]],
) -> set[str]:
    """The largest set of one engine's inner sources joined by equalities, with the LEFT
    JOINed sources of that engine whose ON reads only them; empty if none holds a derived
    table or a LEFT JOIN (plain table groups are the splitter's own)."""
    root_of = rules.joined_roots(
        sources,
        conds,
        lambda a, b: (
            kinds[a] == kinds[b] == "inner" and bool(engines[a]) and engines[a] == engines[b]
        ),
    )
    best: set[str] = set()
    for root in {root_of[a] for a in sources if kinds[a] == "inner" and engines[a]}:
        group = {a for a in sources if root_of[a] == root and kinds[a] == "inner"}
        for alias in sources:  # in order: a LEFT JOIN may read one joined before it
            if kinds[alias] != "left" or engines[alias] != engines[root]:
                continue
            read = set().union(*(rules.aliases_of(c) for c in ons.get(alias, []))) or set()
            if read and alias in read and read - {alias} and read <= group | {alias}:
                group.add(alias)
        nested = any(isinstance(sources[a], exp.Subquery) or kinds[a] == "left" for a in group)
        if len(group) > 1 and nested and len(group) > len(best):
            best = group
    return best if len(best) < len(sources) else set()


def nest(
    select: exp.Select,
    engine_of: Callable[[exp.Expr], str | None],
    dialect_of: Callable[[str], str],
) -> exp.Subquery | None:
    """Nest the co-located group of ``select`` (rewritten in place); None if there is none.

    ``engine_of``: the one engine a source lives on (None: several, or correlated).
    """
    joins = list(select.args.get("joins") or [])
    from_ = select.args.get("from_")
    if not joins or from_ is None or any(_kind(j) is None for j in joins):
        return None
    order = rules.select_sources(select)
    sources = {rules.source_alias(s): s for s in order}
    if len(sources) != len(order):
        return None
    kinds = {rules.source_alias(from_.this): "inner"}
    kinds.update({rules.source_alias(j.this): _kind(j) or "" for j in joins})
    engines = {a: engine_of(s) for a, s in sources.items()}
    where = rules.conjuncts(select.args["where"].this) if select.args.get("where") else []
    ons = {rules.source_alias(j.this): rules.conjuncts(j.args.get("on")) for j in joins}
    inner_ons = [c for a, cs in ons.items() if kinds[a] == "inner" for c in cs]
    # a.x = b.y AND b.y = c.z joins a and c too, though b lives elsewhere (TPC-H q17)
    implied = [
        c
        for c in rules.implied_equalities(where + inner_ons)
        if all(kinds.get(a) == "inner" for a in rules.aliases_of(c))
    ]
    group = _group(sources, kinds, engines, where + inner_ons + implied, ons)
    if not group:
        return None
    dialect = dialect_of(engines[next(iter(group))] or "")
    if not all(pushable(c, dialect) for a in group if kinds[a] == "left" for c in ons[a]):
        return None
    # inner join conditions move to WHERE; the group's own conjuncts move into the group
    for join in joins:  # CROSS, not a comma: a LEFT JOIN after it may still read its left
        if kinds[rules.source_alias(join.this)] == "inner":
            join.set("on", None)
            join.set("kind", "CROSS")
    conds = where + inner_ons
    mine = [c for c in conds + implied if rules.is_local_predicate(c, group)]
    moved = [c for c in mine if pushable(c, dialect)]
    kept = [c for c in conds if not any(c is m for m in moved)]
    select.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    members = [s for s in order if rules.source_alias(s) in group]
    name = _fresh(set(sources))
    body = _body(members, kinds, ons, moved)
    # the columns the rest of the query reads, renamed to the derived table's outputs
    dropped = [m.parent for m in members[1:]]
    read = [
        c
        for c in select.find_all(exp.Column)
        if c.table in group
        and _owner(c) is select
        and not any(c.find_ancestor(exp.Join) is j for j in dropped)
    ]
    for join in dropped:
        assert isinstance(join, exp.Join)
        join.pop()
    outputs: dict[str, str] = {}
    for col in read:
        out = f"{col.table}__{col.name}"
        if out not in outputs:
            outputs[out] = col.name
            projection = exp.alias_(col.copy(), out, quoted=True)
            projection.type = col.type  # the planned type (the optimizer annotated it)
            body.select(projection, copy=False)
        col.replace(exp.column(out, name, quoted=True))
    if not outputs:
        body.select(exp.alias_(exp.Literal.number(1), "_one"), copy=False)
    nested = exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(name)))
    members[0].replace(nested)
    return nested


def _owner(col: exp.Column) -> exp.Select | None:
    """The SELECT whose sources define ``col``'s table."""
    node = col.parent
    while node is not None:
        if isinstance(node, exp.Select) and any(
            rules.source_alias(s) == col.table for s in rules.select_sources(node)
        ):
            return node
        node = node.parent
    return None


def _fresh(taken: set[str]) -> str:
    i = 1
    while f"_c{i}" in taken:
        i += 1
    return f"_c{i}"


def _body(
    members: list[exp.Expr],
    kinds: dict[str, str],
    ons: dict[str, list[exp.Expr]],
    moved: list[exp.Expr],
) -> exp.Select:
    inner = [m for m in members if kinds[rules.source_alias(m)] == "inner"]
    left = [m for m in members if kinds[rules.source_alias(m)] == "left"]
    body = exp.Select().from_(inner[0].copy(), copy=False)
    for member in inner[1:]:
        body = body.join(member.copy(), join_type="CROSS", copy=False)
    for member in left:
        on = exp.and_(*[c.copy() for c in ons[rules.source_alias(member)]])
        body = body.join(member.copy(), on=on, join_type="LEFT", copy=False)
    if moved:
        body = body.where(exp.and_(*[c.copy() for c in moved]), copy=False)
    return body
