"""``POST /query/advise {sql}``: recommendations computed from our plan and the engines' EXPLAIN.

Every number here is ours: the planner's estimates (rows and bytes per edge, from the
engines' statistics), the engines' own row estimates (EXPLAIN, nothing runs) and the bytes
the naive plan (every table pulled whole) would move. Findings:

* ``local_function``: a filter the engine cannot run (a function outside its capability
  table) is evaluated locally, so every row of that fragment moves;
* ``cross_engine_join``: a join whose both sides are big and on different engines (a sync of
  the smaller side would let the engine join and move only the result);
* ``unfiltered_scan``: a large table read with no filter at all;
* ``full_scan``: the engine's EXPLAIN scans the whole table although the fragment filters
  (an index on the filter columns would help the engine, not the bytes moved).

Time is estimated from bytes at ``ASSUMED_BYTES_PER_S`` (stated in the answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from portkey.errors import GatewayError
from portkey.orchestrator.planner import NAIVE, Fragment, Plan
from portkey.orchestrator.service import Orchestrator

#: transfer rate assumed to turn bytes into seconds (a conservative cross-network figure)
ASSUMED_BYTES_PER_S = 50_000_000
#: a join side at least this big is worth keeping on one engine
BIG_SIDE_BYTES = 1_000_000
#: a table at least this long read with no filter is worth a look
BIG_TABLE_ROWS = 10_000

_PG_ROWS = re.compile(r"rows=(\d+)")
_DUCK_ROWS = re.compile(r"~([\d,]+) rows")


@dataclass(slots=True)
class EngineView:
    """What the engine said about one fragment (EXPLAIN, nothing run)."""

    rows: int | None
    full_scan: bool
    error: str | None = None


def _explain(orch: Orchestrator, fragment: Fragment) -> EngineView:
    engine = orch.catalog.engines[fragment.engine]
    try:
        table = engine.explain(fragment.sql(), timeout_s=30)
    except GatewayError as exc:
        return EngineView(None, False, exc.message)
    text = "\n".join(" ".join(str(v) for v in row.values()) for row in table.to_pylist())
    rows: int | None = None
    if engine.dialect == "postgres" and (m := _PG_ROWS.search(text)):
        rows = int(m.group(1))
    elif engine.dialect == "duckdb" and (m := _DUCK_ROWS.search(text)):
        rows = int(m.group(1).replace(",", ""))
    elif engine.dialect == "mysql" and "rows" in table.column_names:
        found = [int(r) for r in table.column("rows").to_pylist() if r is not None]
        rows = max(found) if found else None
    full = "Seq Scan" in text if engine.dialect == "postgres" else False
    if engine.dialect == "mysql" and "type" in table.column_names:
        full = "ALL" in table.column("type").to_pylist()
    return EngineView(rows, full)


def _seconds(nbytes: int) -> float:
    return round(nbytes / ASSUMED_BYTES_PER_S, 4)


def _aliases(plan: Plan) -> dict[str, Fragment]:
    names = {f.name: f for f in plan.fragments}
    out = {}
    for table in plan.local.find_all(exp.Table):
        if table.name in names:
            out[table.alias_or_name] = names[table.name]
    return out


def _local_functions(plan: Plan) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    aliases = _aliases(plan)
    where = plan.local.args.get("where")
    if where is None:
        return found
    for cond in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        tables = {c.table for c in cond.find_all(exp.Column)}
        funcs = [f for f in cond.find_all(exp.Func) if not isinstance(f, exp.Cast)]
        if len(tables) != 1 or not funcs:
            continue
        fragment = aliases.get(next(iter(tables)))
        if fragment is None:
            continue
        moved = fragment.estimated_bytes or 0
        found.append(
            {
                "kind": "local_function",
                "fragment": fragment.name,
                "engine": fragment.engine,
                "detail": f"{cond.sql('duckdb')} runs locally: {fragment.engine} "
                f"({fragment.dialect}) cannot run {funcs[0].sql_name()}, so all "
                f"{fragment.estimated_rows} rows of {fragment.name} move first",
                "suggestion": "express the filter with functions the engine supports "
                "(e.g. LIKE instead of a regular expression) so it is pushed down",
                "savings_bytes_at_most": moved,
                "savings_s_at_most": _seconds(moved),
            }
        )
    return found


def _cross_joins(plan: Plan) -> list[dict[str, Any]]:
    aliases = _aliases(plan)
    out = []
    for eq in plan.local.find_all(exp.EQ):
        left, right = eq.this, eq.expression
        if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
            continue
        a, b = aliases.get(left.table), aliases.get(right.table)
        if a is None or b is None or a.engine == b.engine:
            continue
        small, big = sorted((a, b), key=lambda f: f.estimated_bytes or 0)
        if (small.estimated_bytes or 0) < BIG_SIDE_BYTES:
            continue
        saved = big.estimated_bytes or 0
        out.append(
            {
                "kind": "cross_engine_join",
                "fragment": big.name,
                "engine": big.engine,
                "detail": f"{eq.sql('duckdb')} joins {small.estimated_bytes} bytes from "
                f"{small.engine} with {big.estimated_bytes} bytes from {big.engine} locally",
                "suggestion": f"sync {small.name}'s table from {small.engine} to "
                f"{big.engine} (data.syncs) so {big.engine} joins and only the result moves",
                "savings_bytes_at_most": saved,
                "savings_s_at_most": _seconds(saved),
            }
        )
    return out


def _scans(plan: Plan, views: dict[str, EngineView]) -> list[dict[str, Any]]:
    out = []
    for f in plan.fragments:
        filtered = f.expression.args.get("where") is not None or bool(f.semijoins)
        rows = f.estimated_rows or 0
        if not filtered and rows >= BIG_TABLE_ROWS:
            out.append(
                {
                    "kind": "unfiltered_scan",
                    "fragment": f.name,
                    "engine": f.engine,
                    "detail": f"{f.name} reads every one of ~{rows} rows of {f.engine} "
                    f"({f.estimated_bytes} bytes move)",
                    "suggestion": "add a filter on this table (a date range, a key) if the "
                    "question allows",
                    "savings_bytes_at_most": f.estimated_bytes or 0,
                    "savings_s_at_most": _seconds(f.estimated_bytes or 0),
                }
            )
        if filtered and views[f.name].full_scan:
            out.append(
                {
                    "kind": "full_scan",
                    "fragment": f.name,
                    "engine": f.engine,
                    "detail": f"{f.engine}'s EXPLAIN scans the whole table for {f.name} "
                    "although it filters",
                    "suggestion": "an index on the filter columns lets the engine skip rows "
                    "(data moved is unchanged)",
                    "savings_bytes_at_most": 0,
                    "savings_s_at_most": None,
                }
            )
    return out


def _partition_filters(orch: Orchestrator, plan: Plan) -> list[dict[str, Any]]:
    """Scans of partitioned tables with no filter on a partition key: every partition is read."""
    out = []
    for f in plan.fragments:
        filtered = {c.name.lower() for c in f.expression.find_all(exp.Column) if _in_where(c)}
        filtered |= {s.target_column.name.lower() for s in f.semijoins}
        for table in f.expression.find_all(exp.Table):
            parts = tuple(p for p in (table.catalog, table.db, table.name) if p)
            try:
                info = orch.catalog.resolve((f.engine, *parts[-2:]))
            except Exception:  # a CTE or a name the catalog does not hold
                continue
            keys = list(info.partition_keys)
            if not keys or any(k.lower() in filtered for k in keys):
                continue
            out.append(
                {
                    "kind": "missing_partition_filter",
                    "fragment": f.name,
                    "engine": f.engine,
                    "detail": f"{info.qualified} is partitioned by {', '.join(keys)} and "
                    f"{f.name} filters on none of them: {f.engine} reads every partition",
                    "suggestion": f"filter on {keys[0]} (a range the question allows) so the "
                    "engine prunes partitions",
                    "savings_bytes_at_most": 0,  # rows read inside the engine, not moved
                    "savings_s_at_most": None,
                }
            )
    return out


def _in_where(column: exp.Column) -> bool:
    node: exp.Expr | None = column.parent
    while node is not None:
        if isinstance(node, exp.Where):
            return True
        node = node.parent
    return False


def advise(orch: Orchestrator, sql: str, dialect: str = "duckdb") -> dict[str, Any]:
    """The plan's edges and the recommendations, every number computed here."""
    plan = orch.plan(sql, dialect=dialect)
    naive = orch.plan(sql, dialect=dialect, options=NAIVE)
    views = {f.name: _explain(orch, f) for f in plan.fragments}
    edges = [
        {
            "fragment": f.name,
            "engine": f.engine,
            "to": "result" if plan.passthrough else "local",
            "sql": f.sql(),
            "estimated_rows": f.estimated_rows,
            "estimated_bytes": f.estimated_bytes,
            "engine_estimated_rows": views[f.name].rows,
            "engine_full_scan": views[f.name].full_scan,
            "engine_error": views[f.name].error,
        }
        for f in plan.fragments
    ]
    planned = sum(f.estimated_bytes or 0 for f in plan.fragments)
    pulled = sum(f.estimated_bytes or 0 for f in naive.fragments)
    recommendations = [
        *_local_functions(plan),
        *_cross_joins(plan),
        *_scans(plan, views),
        *_partition_filters(orch, plan),
    ]
    recommendations.sort(key=lambda r: -(r["savings_bytes_at_most"] or 0))
    return {
        "plan": plan.to_dict(),
        "edges": edges,
        "estimated_bytes_moved": planned,
        "naive_bytes_moved": pulled,
        "pushdown_saves_bytes": max(0, pulled - planned),
        "recommendations": recommendations,
        "assumed_bytes_per_s": ASSUMED_BYTES_PER_S,
    }


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(value: Any) -> set[str]:
    """Every number in the advice, as digits (``1,234.5`` and ``1234.5`` alike)."""
    if isinstance(value, dict):
        return {n for v in value.values() for n in _numbers(v)}
    if isinstance(value, list):
        return {n for v in value for n in _numbers(v)}
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, int | float):
        return {str(value).removesuffix(".0")}
    return {m.replace(",", "").removesuffix(".0") for m in _NUMBER.findall(str(value))}


def unverified_numbers(text: str, advice: dict[str, Any]) -> list[str]:
    """Numbers the narrative states that the advice does not hold (small counts excepted)."""
    known = _numbers(advice)
    found = [m.replace(",", "").removesuffix(".0") for m in _NUMBER.findall(text)]
    return [n for n in found if n not in known and not (n.isdigit() and int(n) <= 10)]


NARRATIVE_TASK = (
    "Explain these query-plan recommendations to a data engineer in at most 5 sentences of "
    "plain text. Use ONLY numbers that appear in the JSON; do not compute new ones."
)
