"""The planner: resolve names against the catalog, optimize with sqlglot, split per engine.

``plan_query`` is pure apart from reading the (cached) catalog: it never contacts an engine.
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer import optimize
from sqlglot.optimizer.optimizer import RULES as SQLGLOT_RULES
from sqlglot.schema import MappingSchema

from portkey.orchestrator.catalog import Catalog, unknown_column
from portkey.orchestrator.engines import TableInfo
from portkey.orchestrator.errors import TranslationFailed
from portkey.orchestrator.planner.plan import (
    ALL_RULES,
    NAIVE,
    Fragment,
    JoinSite,
    Plan,
    PlanOptions,
    SemiJoin,
)
from portkey.orchestrator.planner.split import Splitter

__all__ = [
    "ALL_RULES",
    "NAIVE",
    "Fragment",
    "JoinSite",
    "Plan",
    "PlanOptions",
    "SemiJoin",
    "plan_query",
    "resolve",
]

#: sqlglot's rules, less eliminate_subqueries: it turns repeated derived tables into shared
#: CTEs, and a shared CTE can be neither merged into its readers nor reduced per reader
RULES = tuple(r for r in SQLGLOT_RULES if getattr(r, "__name__", "") != "eliminate_subqueries")

_COLUMN_ERROR = re.compile(r"[Cc]olumn '?\"?([^'\"]+)\"?'? could not be resolved")


def resolve(tree: exp.Query, catalog: Catalog) -> dict[str, TableInfo]:
    """Point every table reference at its catalog entry (engine as catalog); alias -> table."""
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    used: dict[str, TableInfo] = {}
    for table in list(tree.find_all(exp.Table)):
        if not table.name or (not table.db and table.name in ctes):
            continue
        parts = tuple(p for p in (table.catalog, table.db, table.name) if p)
        info = catalog.resolve(parts)
        alias = table.alias or info.name
        table.set("this", exp.to_identifier(info.name))
        table.set("db", exp.to_identifier(info.schema))
        table.set("catalog", exp.to_identifier(info.engine))
        if not table.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        used[alias] = info
    return used


def plan_query(tree: exp.Query, catalog: Catalog, options: PlanOptions = ALL_RULES) -> Plan:
    """The fragments and the local step for one validated read-only query.

    ``options=NAIVE`` gives the baseline the benchmark compares against: every referenced
    table pulled whole and all the work done locally.
    """
    used = resolve(tree, catalog)
    schema = MappingSchema(catalog.sqlglot_schema(used.values()), dialect="duckdb")
    try:
        optimized = optimize(tree, schema=schema, dialect="duckdb", rules=RULES)
    except OptimizeError as exc:
        match = _COLUMN_ERROR.search(str(exc))
        if match:
            raise unknown_column(match.group(1), used) from exc
        raise TranslationFailed(f"cannot plan this query: {exc}", code="unplannable") from exc
    assert isinstance(optimized, exp.Query)
    tables = {(t.engine, t.schema, t.name): t for t in used.values()}
    return Splitter(tables, catalog.engines, options, catalog.keys()).plan(optimized)
