"""Scopes: the nodes a query owns, apart from those of its derived tables and subqueries."""

from __future__ import annotations

from sqlglot import exp

#: statements that are scopes of their own (a Subquery is only their parenthesised wrapper)
QUERIES = (exp.Select, exp.SetOperation)


def own_nodes(body: exp.Expr) -> list[exp.Expr]:
    """The nodes of ``body``'s own scope: not those inside its derived tables or subqueries
    (an aggregate of a derived table does not make ``body`` an aggregate)."""

    def prune(node: exp.Expr) -> bool:
        return node is not body and isinstance(node, QUERIES)

    return [n for n in body.walk(prune=prune) if n is body or not isinstance(n, QUERIES)]
