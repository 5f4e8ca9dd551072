"""The validation layer: nothing the model says reaches an engine before every check passed.

Order (each stage runs only when the ones before passed; a stage reports all it finds):
``json`` -> ``schema`` -> ``parse`` + ``read_only`` (the rules of ``/query``, per declared
dialect) -> ``catalog`` (tables and columns exist; a subquery only touches its own engine;
the combine step only reads declared outputs with the declared columns) -> ``join_types``
-> ``bounded`` (no cross join without a join condition or LIMIT) -> ``engine_accepts``
(the engine's EXPLAIN compiles it, nothing runs). Plans then pass ``result_matches`` in
``nl.run``: their result must equal the deterministic plan's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from portkey.errors import GatewayError
from portkey.orchestrator.catalog import Catalog
from portkey.orchestrator.engines import TableInfo
from portkey.orchestrator.errors import EngineFailed, UnknownName
from portkey.orchestrator.nl.models import PlanAnswer, SqlAnswer
from portkey.orchestrator.nl.reasons import Reason, Rejected
from portkey.orchestrator.planner import Fragment, Plan, resolve
from portkey.orchestrator.service import Orchestrator
from portkey.orchestrator.validate import parse_read_only

_KINDS: tuple[tuple[str, frozenset[Any]], ...] = (
    ("number", frozenset(exp.DataType.NUMERIC_TYPES)),
    ("text", frozenset(exp.DataType.TEXT_TYPES)),
    ("time", frozenset(exp.DataType.TEMPORAL_TYPES)),
    ("boolean", frozenset({exp.DataType.Type.BOOLEAN})),
)


def _kind(node: exp.Expr) -> str | None:
    dtype = node.type if isinstance(node.type, exp.DataType) else None
    if dtype is None:
        return None
    return next((name for name, types in _KINDS if dtype.this in types), None)


@dataclass(slots=True)
class Checked:
    """An answer that passed every static check, and the plan that will run it."""

    answer: SqlAnswer | PlanAnswer
    plan: Plan
    passed: list[str] = field(default_factory=list)
    #: for plans: the same question as one federated query (the deterministic baseline)
    federated_sql: str | None = None


def _typed(tree: exp.Query, schema: Mapping[str, object], dialect: str, where: str) -> exp.Query:
    try:
        qualified = qualify(
            tree.copy(), schema=dict(schema), dialect=dialect, validate_qualify_columns=True
        )
        typed = annotate_types(qualified, schema=dict(schema), dialect=dialect)
    except OptimizeError as exc:
        raise Rejected([Reason("unknown_column", f"{where}: {exc}", where)], []) from exc
    assert isinstance(typed, exp.Query)
    return typed


def join_type_reasons(tree: exp.Query, where: str) -> list[Reason]:
    """Equalities between columns of different tables whose types cannot match."""
    reasons = []
    for eq in tree.find_all(exp.EQ):
        left, right = eq.this, eq.expression
        if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
            continue
        if left.table == right.table:
            continue
        a, b = _kind(left), _kind(right)
        if a and b and a != b:
            reasons.append(
                Reason(
                    "join_type_mismatch",
                    f"{where}: {left.sql()} ({left.type.sql() if left.type else '?'}) = "
                    f"{right.sql()} ({right.type.sql() if right.type else '?'}): "
                    f"{a} compared with {b}",
                    where,
                )
            )
    return reasons


def _conditions(select: exp.Select) -> list[exp.Expr]:
    where = select.args.get("where")
    out = [where.this] if where is not None else []
    return out + [j.args["on"] for j in select.args.get("joins") or () if j.args.get("on")]


def _root(group: dict[str, str], name: str) -> str:
    while group[name] != name:
        name = group[name]
    return name


def _unlinked(select: exp.Select) -> tuple[str, list[str]]:
    """The first table of a SELECT and the tables no join condition links to it."""
    joins = select.args.get("joins") or ()
    source = select.args.get("from_")
    if not joins or source is None:
        return "", []
    names = [source.this.alias_or_name, *(j.this.alias_or_name for j in joins)]
    group = {n: n for n in names}
    for cond in _conditions(select):
        for eq in cond.find_all(exp.EQ):
            a, b = eq.this, eq.expression
            columns = isinstance(a, exp.Column) and isinstance(b, exp.Column)
            if columns and a.table in group and b.table in group:
                group[_root(group, a.table)] = _root(group, b.table)
    for join in joins:
        if join.args.get("using"):
            group[_root(group, join.this.alias_or_name)] = _root(group, names[0])
    first = _root(group, names[0])
    return names[0], [n for n in names[1:] if _root(group, n) != first]


def bounded_reasons(tree: exp.Query, where: str) -> list[Reason]:
    """Tables of a SELECT that no join condition links to the others (a cross product), in a
    query with no LIMIT. ``tree`` is qualified (every column names its table)."""
    if tree.args.get("limit") is not None:
        return []
    reasons = []
    for select in tree.find_all(exp.Select):
        first, alone = _unlinked(select)
        if alone:
            reasons.append(
                Reason(
                    "unbounded_cross_join",
                    f"{where}: {', '.join(alone)} joined with no condition linking it to "
                    f"{first} and no LIMIT (a cross product); join on keys or bound it",
                    where,
                )
            )
    return reasons


def _rejected(exc: GatewayError, where: str) -> Reason:
    return Reason(exc.code or exc.type, f"{where}: {exc.message}", where)


def engine_reasons(
    catalog: Catalog, fragments: Iterable[Fragment], where: Mapping[str, str]
) -> list[Reason]:
    """Each fragment compiled by its engine (EXPLAIN): wrong-dialect functions show up here."""
    todo = list(fragments)

    def one(fragment: Fragment) -> Reason | None:
        try:
            catalog.engines[fragment.engine].explain(fragment.sql(), timeout_s=30)
        except EngineFailed as exc:  # refused; an unreachable engine is no fault of the answer
            at = where.get(fragment.name, fragment.name)
            return Reason("engine_refused", f"{at}: {exc.message}", at)
        return None

    with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:  # engines in parallel
        return [r for r in pool.map(one, todo) if r is not None]


def _stage(reasons: list[Reason], passed: list[str], name: str) -> None:
    if reasons:
        raise Rejected(reasons, list(passed))
    passed.append(name)


def check_sql(answer: SqlAnswer, orch: Orchestrator) -> Checked:
    """A federated query: read-only, names exist, types line up, bounded, engines accept."""
    passed = ["json", "schema"]
    try:
        tree = parse_read_only(answer.sql)
    except GatewayError as exc:
        raise Rejected([_rejected(exc, "sql")], passed) from exc
    passed += ["parse", "read_only"]
    try:
        plan = orch.plan(answer.sql)
        resolved = tree.copy()
        used = resolve(resolved, orch.catalog)
    except GatewayError as exc:
        raise Rejected([_rejected(exc, "sql")], passed) from exc
    passed.append("catalog")
    typed = _typed(resolved, orch.catalog.sqlglot_schema(used.values()), "duckdb", "sql")
    _stage(join_type_reasons(typed, "sql"), passed, "join_types")
    _stage(bounded_reasons(typed, "sql"), passed, "bounded")
    _stage(engine_reasons(orch.catalog, plan.fragments, {}), passed, "engine_accepts")
    return Checked(answer, plan, passed)


@dataclass(slots=True)
class _Sub:
    fragment: Fragment
    #: the subquery in DuckDB's dialect over engine.schema.table (for the federated baseline)
    federated: exp.Query
    #: the subquery qualified and typed (for the join-type and cross-join checks)
    typed: exp.Query


def _table_of(catalog: Catalog, engine: str, table: exp.Table, where: str) -> TableInfo:
    parts = tuple(p for p in (table.catalog, table.db, table.name) if p)
    try:
        return catalog.resolve(parts if len(parts) == 3 else (engine, *parts))
    except UnknownName:
        try:
            info = catalog.resolve(parts)
        except UnknownName as exc:
            raise Rejected([_rejected(exc, where)], []) from exc
    raise Rejected(
        [
            Reason(
                "wrong_engine",
                f"{where}: table {'.'.join(parts)} is on engine {info.engine!r}, not "
                f"{engine!r}; a subquery may only read tables of its own engine",
                where,
            )
        ],
        [],
    )


def _subquery(orch: Orchestrator, index: int, answer: PlanAnswer) -> _Sub:
    sub = answer.subqueries[index]
    where = f"subqueries[{index}]"
    engine = orch.catalog.engines.get(sub.engine)
    if engine is None:
        known = ", ".join(orch.catalog.engines)
        raise Rejected(
            [Reason("unknown_engine", f"{where}: no engine {sub.engine!r} ({known})", where)], []
        )
    try:
        tree = parse_read_only(sub.sql, engine.dialect)
    except GatewayError as exc:
        raise Rejected([_rejected(exc, where)], []) from exc
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    used: dict[str, TableInfo] = {}
    federated = tree.copy()
    for node, fed in zip(
        list(tree.find_all(exp.Table)), list(federated.find_all(exp.Table)), strict=True
    ):
        if not node.name or (not node.db and node.name in ctes):
            continue
        info = _table_of(orch.catalog, sub.engine, node, where)
        for target, catalog in ((node, None), (fed, info.engine)):
            target.set("this", exp.to_identifier(info.name))
            target.set("db", exp.to_identifier(info.schema))
            target.set("catalog", exp.to_identifier(catalog) if catalog else None)
        used[info.qualified] = info
    schema: dict[str, dict[str, dict[str, str]]] = {t.schema: {} for t in used.values()}
    for t in used.values():
        schema[t.schema][t.name] = {c.name: c.type for c in t.columns}
    typed = _typed(tree, schema, "duckdb" if engine.dialect == "duckdb" else engine.dialect, where)
    names = typed.named_selects
    if names != sub.columns:
        raise Rejected(
            [
                Reason(
                    "column_mismatch",
                    f"{where}: declares columns {sub.columns} but selects {names}",
                    where,
                )
            ],
            [],
        )
    types = {s.alias_or_name: (s.type.sql("duckdb") if s.type else "TEXT") for s in typed.selects}
    fragment = Fragment(sub.output, sub.engine, engine.dialect, "query", tree, types=types)
    return _Sub(fragment, federated, typed)


def _combine(answer: PlanAnswer, subs: list[_Sub]) -> tuple[exp.Query, exp.Query]:
    try:
        tree = parse_read_only(answer.combine, "duckdb")
    except GatewayError as exc:
        raise Rejected([_rejected(exc, "combine")], []) from exc
    outputs = {s.fragment.name: s for s in subs}
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.db or table.catalog or (table.name not in outputs and table.name not in ctes):
            raise Rejected(
                [
                    Reason(
                        "unknown_output",
                        f"combine: reads {table.sql()!r}, which is no declared output "
                        f"({', '.join(outputs)}); the combine step reads only subquery outputs",
                        "combine",
                    )
                ],
                [],
            )
    schema = {name: dict(s.fragment.types) for name, s in outputs.items()}
    return tree, _typed(tree, schema, "duckdb", "combine")


def federated(answer: PlanAnswer, subs: list[_Sub], combine: exp.Query) -> str:
    """The plan as one federated query: outputs become CTEs over engine.schema.table."""
    tree = combine.copy()
    existing = tree.args.get("with_")
    ctes = [
        exp.CTE(this=s.federated, alias=exp.TableAlias(this=exp.to_identifier(s.fragment.name)))
        for s in subs
    ]
    tree.set("with_", exp.With(expressions=[*ctes, *(existing.expressions if existing else [])]))
    return tree.sql("duckdb")


def check_plan(answer: PlanAnswer, orch: Orchestrator) -> Checked:
    """An orchestration plan: every subquery and the combine step pass the static checks."""
    passed = ["json", "schema"]
    outputs = [s.output for s in answer.subqueries]
    if len(set(outputs)) != len(outputs):
        raise Rejected(
            [Reason("duplicate_output", f"output names repeat: {outputs}", "subqueries")], passed
        )
    try:
        subs = [_subquery(orch, i, answer) for i in range(len(answer.subqueries))]
        combine, typed = _combine(answer, subs)
    except Rejected as exc:
        raise Rejected(exc.reasons, passed) from exc
    except SqlglotError as exc:
        raise Rejected([Reason("invalid_sql", str(exc)[:300], None)], passed) from exc
    passed += ["parse", "read_only", "catalog", "engine_scope", "outputs"]
    trees = [(s.typed, f"subqueries[{i}]") for i, s in enumerate(subs)] + [(typed, "combine")]
    _stage([r for t, w in trees for r in join_type_reasons(t, w)], passed, "join_types")
    _stage([r for t, w in trees for r in bounded_reasons(t, w)], passed, "bounded")
    where = {s.fragment.name: f"subqueries[{i}]" for i, s in enumerate(subs)}
    fragments = [s.fragment for s in subs]
    _stage(engine_reasons(orch.catalog, fragments, where), passed, "engine_accepts")
    plan = Plan(fragments, combine, notes=[f"plan written by the model: {answer.rationale[:200]}"])
    return Checked(answer, plan, passed, federated(answer, subs, combine))
