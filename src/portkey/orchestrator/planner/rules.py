"""Small pure rules the splitter applies to one SELECT: what may move into a scan or a join.

Each function looks at expressions only; none contacts an engine. Columns are qualified
(sqlglot's ``qualify`` ran first), so a column's table is its source alias.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlglot import exp


def conjuncts(condition: exp.Expr | None) -> list[exp.Expr]:
    """``a AND b AND c`` -> ``[a, b, c]`` (parentheses unwrapped)."""
    if condition is None:
        return []
    node = condition.unnest()
    if isinstance(node, exp.And):
        return [*conjuncts(node.left), *conjuncts(node.right)]
    return [node]


def aliases_of(node: exp.Expr) -> set[str]:
    return {c.table for c in node.find_all(exp.Column) if c.table}


def is_local_predicate(node: exp.Expr, aliases: set[str]) -> bool:
    """References some columns, all of them of ``aliases``; no subquery, aggregate or window."""
    refs = aliases_of(node)
    if not refs or not refs <= aliases:
        return False
    return not any(isinstance(n, exp.Query | exp.AggFunc | exp.Window) for n in node.walk())


def source_alias(source: exp.Expr) -> str:
    return source.alias_or_name


def select_sources(select: exp.Select) -> list[exp.Expr]:
    """The FROM source and the JOIN sources of ``select``, in order."""
    from_ = select.args.get("from_") or select.args.get("from")
    first = [from_.this] if from_ is not None else []
    return first + [j.this for j in select.args.get("joins") or []]


def null_supplying(select: exp.Select) -> set[str]:
    """Aliases whose rows an outer join may replace by NULLs (WHERE cannot move into them)."""
    out: set[str] = set()
    seen: list[str] = []
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None:
        seen.append(source_alias(from_.this))
    for join in select.args.get("joins") or []:
        alias = source_alias(join.this)
        side = (join.side or "").upper()
        if side in ("LEFT", "FULL"):
            out.add(alias)
        if side in ("RIGHT", "FULL"):
            out.update(seen)
        seen.append(alias)
    return out


def all_inner(select: exp.Select) -> bool:
    """Every join is inner or cross (joins may be reordered and ON moved to WHERE)."""
    for join in select.args.get("joins") or []:
        if join.side or (join.kind or "").upper() not in ("", "INNER", "CROSS"):
            return False
        if join.args.get("using") or join.args.get("method"):
            return False
    return True


def equi_pairs(conds: Iterable[exp.Expr]) -> list[tuple[exp.Column, exp.Column]]:
    """``a.x = b.y`` conjuncts between two different aliases, as column pairs."""
    out = []
    for cond in conds:
        if isinstance(cond, exp.EQ):
            left, right = cond.left, cond.right
            if (
                isinstance(left, exp.Column)
                and isinstance(right, exp.Column)
                and left.table
                and right.table
                and left.table != right.table
            ):
                out.append((left, right))
    return out


def joined_roots(
    aliases: Iterable[str], conds: Iterable[exp.Expr], links: Callable[[str, str], bool]
) -> dict[str, str]:
    """Each alias's component (a root alias) under the ``a.x = b.y`` conjuncts of ``conds``
    whose two sides ``links`` accepts (union-find)."""
    parent = {a: a for a in aliases}

    def find(a: str) -> str:
        while parent[a] != a:
            a = parent[a]
        return a

    for left, right in equi_pairs(conds):
        if left.table in parent and right.table in parent and links(left.table, right.table):
            parent[find(left.table)] = find(right.table)
    return {a: find(a) for a in parent}


def estimate_rows(rows: int | None, predicates: int) -> int | None:
    """Rows left after ``predicates`` filters: each is taken to keep a quarter (no histograms)."""
    if rows is None:
        return None
    return max(1, int(rows * 0.25**predicates))


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Paren, exp.Neg, exp.Cast)


def _strict_operand(node: exp.Expr) -> set[str]:
    """Aliases whose NULL makes ``node`` NULL: a column, or arithmetic over columns/literals."""
    if isinstance(node, exp.Column):
        return {node.table} if node.table else set()
    if isinstance(node, exp.Literal):
        return set()
    if isinstance(node, _ARITHMETIC):
        out: set[str] = set()
        for child in node.iter_expressions():
            if not isinstance(child, exp.Expr):
                continue
            if isinstance(child, exp.DataType):
                continue
            part = _strict_operand(child)
            if not part and not isinstance(child, exp.Literal):
                return set()
            out |= part
        return out
    return set()


def null_rejected(where: Iterable[exp.Expr]) -> set[str]:
    """Aliases whose NULL-extended rows WHERE drops.

    ``NOT a.x IS NULL``, or a comparison whose operand is NULL whenever ``a``'s columns are
    (``a.x > 3``, ``a.x * 2 = b.y``); anything with COALESCE, CASE, OR or IS is not.
    """
    out: set[str] = set()
    for cond in where:
        if isinstance(cond, exp.Not) and isinstance(cond.this, exp.Is):
            col = cond.this.this
            if isinstance(col, exp.Column) and isinstance(cond.this.expression, exp.Null):
                out.add(col.table)
        elif isinstance(cond, _COMPARISONS):
            out |= _strict_operand(cond.left) | _strict_operand(cond.right)
    return out


def inner_when_null_rejected(select: exp.Select) -> None:
    """``a LEFT JOIN b ... WHERE <rejects NULL b>`` is ``a JOIN b``: rewrite it so."""
    where = select.args.get("where")
    rejected = null_rejected(conjuncts(where.this)) if where is not None else set()
    joins = select.args.get("joins") or []
    if any((j.side or "").upper() in ("RIGHT", "FULL") for j in joins):
        return
    for join in joins:
        if (join.side or "").upper() == "LEFT" and source_alias(join.this) in rejected:
            join.set("side", None)
            join.set("kind", None)


def implied_by_or(cond: exp.Expr, aliases: set[str]) -> exp.Expr | None:
    """From ``(a1 AND b1) OR (a2 AND b2)`` the filter ``a1 OR a2`` on ``aliases`` alone.

    Every answer row satisfies the derived predicate, so it may be pushed to the scan of
    ``aliases`` while the original stays in the local step. None if some disjunct says
    nothing about ``aliases``.
    """
    node = cond.unnest()
    if not isinstance(node, exp.Or):
        return None
    parts: list[exp.Expr] = []
    for disjunct in node.flatten():
        mine = [c for c in conjuncts(disjunct) if is_local_predicate(c, aliases)]
        if not mine:
            return None
        parts.append(exp.and_(*[m.copy() for m in mine]) if len(mine) > 1 else mine[0].copy())
    return exp.or_(*[exp.paren(p, copy=False) if isinstance(p, exp.And) else p for p in parts])


def equated(conds: Iterable[exp.Expr]) -> dict[tuple[str, str], tuple[str, str]]:
    """Each (alias, column) that the ``a.x = b.y`` conjuncts of ``conds`` name, mapped to
    the root of the columns they make equal (union-find)."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(key: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(key, key)
        while parent[key] != key:
            key = parent[key]
        return key

    for left, right in equi_pairs(conds):
        parent[find((left.table, left.name))] = find((right.table, right.name))
    return {key: find(key) for key in list(parent)}


def implied_equalities(where: Iterable[exp.Expr]) -> list[exp.Expr]:
    """Equalities between columns that WHERE's equi-joins imply but do not state.

    ``a.x = b.y AND b.y = c.z`` gives ``a.x = c.z`` (columns are compared as the query
    compares them, so the equality holds on every answer row).
    """
    conds = list(where)
    roots = equated(conds)
    stated = {frozenset(((a.table, a.name), (b.table, b.name))) for a, b in equi_pairs(conds)}
    classes: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key, root in roots.items():
        classes.setdefault(root, []).append(key)
    out: list[exp.Expr] = []
    for members in classes.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a[0] != b[0] and frozenset((a, b)) not in stated:
                    left = exp.column(a[1], a[0], quoted=True)
                    out.append(exp.EQ(this=left, expression=exp.column(b[1], b[0], quoted=True)))
    return out


def common_to_or(where: Iterable[exp.Expr]) -> list[exp.Expr]:
    """Conjuncts that every disjunct of an OR in ``where`` states: each holds on every row.

    ``(a.x = b.y AND a.q < 3) OR (a.x = b.y AND a.q > 9)`` gives ``a.x = b.y`` (TPC-H q19),
    an equi-join whose keys a semi-join may ship.
    """
    out: list[exp.Expr] = []
    for cond in where:
        node = cond.unnest()
        if not isinstance(node, exp.Or):
            continue
        disjuncts = [{c.sql(): c for c in conjuncts(d)} for d in node.flatten()]
        for sql, found in disjuncts[0].items():
            if all(sql in d for d in disjuncts[1:]):
                out.append(found.copy())
    return out


#: ``src <op> dst`` -> the bound on ``dst`` every row satisfying it meets (never stricter)
_BOUNDS: dict[type[exp.Expr], str] = {exp.LT: ">=", exp.LTE: ">=", exp.GT: "<=", exp.GTE: "<="}
_FLIPPED = {">=": "<=", "<=": ">="}


def bound_pairs(conds: Iterable[exp.Expr]) -> list[tuple[exp.Column, str, exp.Column]]:
    """``a.x < b.y`` conjuncts between two aliases, both ways round: ``(a.x, ">=", b.y)``
    says ``b.y >= a.x`` holds on every row where the conjunct does (and its mirror)."""
    out: list[tuple[exp.Column, str, exp.Column]] = []
    for cond in conds:
        op = _BOUNDS.get(type(cond))
        left, right = cond.args.get("this"), cond.args.get("expression")
        if op is None or not isinstance(left, exp.Column) or not isinstance(right, exp.Column):
            continue
        if left.table and right.table and left.table != right.table:
            out.append((left, op, right))
            out.append((right, _FLIPPED[op], left))
    return out
