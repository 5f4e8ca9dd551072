"""Linear sums over a join: ``SUM(a * x - b * y)`` split into per-side partial sums.

Pre-aggregation groups one side (the target) by every column of it the join reads, so every
row of a partial group meets the same rows of the other sides. A term ``o * t`` of a SUM,
where ``o`` reads other sides only and ``t`` the target only, is then ``o * SUM(t)`` summed
over the partial rows; a term that reads no target column sums ``o`` once per target row:
``o * COUNT``. With more than one term a row counts only when every term is non-NULL, so
each partial sums only the target rows where every term's own factors are non-NULL (the other sides' factors are one value per partial row: a NULL there makes the
local combination NULL, skipped as the original row would be).

Pure functions over sqlglot expressions; columns are qualified (a column's table is its alias).
"""

from __future__ import annotations

from sqlglot import exp

#: one term of a sum: its sign and the factors of its product
Term = tuple[int, list[exp.Expr]]


def terms(node: exp.Expr, sign: int = 1) -> list[Term]:
    """``a - b * c`` -> ``[(1, [a]), (-1, [b, c])]`` (parentheses and negation unwrapped)."""
    node = node.unnest()
    if isinstance(node, exp.Add):
        return terms(node.left, sign) + terms(node.right, sign)
    if isinstance(node, exp.Sub):
        return terms(node.left, sign) + terms(node.right, -sign)
    if isinstance(node, exp.Neg):
        return terms(node.this, -sign)
    return [(sign, factors(node))]


def factors(node: exp.Expr) -> list[exp.Expr]:
    """``a * (b * c)`` -> ``[a, b, c]``."""
    node = node.unnest()
    if isinstance(node, exp.Mul):
        return factors(node.left) + factors(node.right)
    return [node]


def reads(node: exp.Expr) -> set[str]:
    """The aliases of every column in ``node`` ("" for an unqualified one: it counts as a
    side of its own, unlike ``rules.aliases_of``)."""
    return {c.table for c in node.find_all(exp.Column)}


def splits_on(expression: exp.Expr, alias: str) -> bool:
    """Every term's factors each read ``alias`` alone (or nothing) or other aliases alone,
    and some factor reads another alias (else the whole SUM is the target's own)."""
    if any(isinstance(n, exp.AggFunc | exp.Window | exp.Query) for n in expression.walk()):
        return False
    other = False
    for _, parts in terms(expression):
        for part in parts:
            read = reads(part)
            if alias in read and read != {alias}:
                return False
            other = other or bool(read - {alias})
    return other


def sides(expression: exp.Expr) -> set[str]:
    """The aliases whose partial sums ``expression`` splits on (``splits_on``)."""
    return {a for a in reads(expression) if splits_on(expression, a)}


def product(parts: list[exp.Expr]) -> exp.Expr:
    out = parts[0].copy()
    for part in parts[1:]:
        out = exp.Mul(this=_wrap(out), expression=_wrap(part.copy()))
    return out


def _wrap(node: exp.Expr) -> exp.Expr:
    return exp.paren(node, copy=False) if isinstance(node, exp.Add | exp.Sub) else node


def split(
    expression: exp.Expr, alias: str
) -> tuple[list[tuple[int, list[exp.Expr], exp.Expr]], exp.Expr | None]:
    """Per term: its sign, the other sides' factors, and what the target sums for it (its
    own factors, ``1`` for none); and the guard each partial sums under (None: one term)."""
    found = terms(expression)
    out: list[tuple[int, list[exp.Expr], exp.Expr]] = []
    for sign, parts in found:
        mine = [p for p in parts if alias in reads(p) or not reads(p)]
        theirs = [p for p in parts if reads(p) and alias not in reads(p)]
        out.append((sign, theirs, product(mine) if mine else exp.Literal.number(1)))
    guard = None
    if len(found) > 1:
        # a row counts when every term is non-NULL: the other sides' factors are checked
        # locally (one value per partial row), the target's here
        checks = [
            exp.Not(this=exp.Is(this=_wrap(mine.copy()), expression=exp.Null()))
            for _, _, mine in out
            if mine.find(exp.Column) is not None
        ]
        guard = exp.and_(*checks) if checks else None
    return out, guard


def combine(pieces: list[tuple[int, exp.Expr]]) -> exp.Expr:
    """``[(1, a), (-1, b), (1, c)]`` -> ``a - b + c``."""
    sign, first = pieces[0]
    out: exp.Expr = first if sign > 0 else exp.Neg(this=_wrap(first))
    for sign, piece in pieces[1:]:
        node = exp.Add if sign > 0 else exp.Sub
        out = node(this=out, expression=_wrap(piece))
    return out
