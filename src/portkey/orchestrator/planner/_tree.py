"""Expression helpers of the splitter: scopes, references, estimates, join flattening."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlglot import exp

from portkey.orchestrator.planner import rules
from portkey.orchestrator.planner.capabilities import pushable
from portkey.orchestrator.planner.plan import Fragment
from portkey.orchestrator.planner.preaggregate import Local
from portkey.orchestrator.planner.scope import own_nodes

#: statements that are scopes of their own (a Subquery is only their parenthesised wrapper)
QUERIES = (exp.Select, exp.SetOperation)
KEY_FAMILIES = {
    **dict.fromkeys(("BIGINT", "INT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"), "int"),
    **dict.fromkeys(("TEXT", "VARCHAR"), "text"),
}


_NUMBERS = {"BIGINT", "INT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"}
_NUMBERS |= {"DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL"}


def numeric(dtype: str | None) -> bool:
    """A planned type whose values compare as numbers on every engine."""
    return (dtype or "").split("(")[0].upper() in _NUMBERS


def one_row(query: exp.Query) -> bool:
    """A global aggregate: exactly one row (no GROUP BY, HAVING, LIMIT or set operation)."""
    if not isinstance(query, exp.Select) or query.args.get("with_"):
        return False
    if any(query.args.get(k) for k in ("group", "having", "limit", "offset", "qualify")):
        return False
    return all(p.find(exp.AggFunc) is not None for p in query.selects)


def family(dtype: str | None) -> str | None:
    """The kind of value a semi-join key list may hold (integers or text), None otherwise."""
    return KEY_FAMILIES.get((dtype or "").split("(")[0].upper())


def pushdown(
    preds: list[exp.Expr],
    aliases: set[str],
    dialect: str,
    taken: set[int],
    refused: frozenset[str],
) -> list[exp.Expr]:
    """Copies of the predicates (and of what ORs imply) that a scan of ``aliases`` can run.

    The ids of predicates pushed as they are go to ``taken`` (implied ones stay local too);
    predicates an engine refused before (``refused``) are not pushed again.
    """
    out: list[exp.Expr] = []
    for pred in preds:
        if rules.is_local_predicate(pred, aliases):
            if pushable(pred, dialect) and pred.sql() not in refused:
                out.append(pred.copy())
                taken.add(id(pred))
            continue
        implied = rules.implied_by_or(pred, aliases)
        if implied is not None and pushable(implied, dialect) and implied.sql() not in refused:
            out.append(implied)
    return out


def drop_pushed(select: exp.Select, pushed: set[int]) -> None:
    """Conjuncts an engine already applied (in WHERE, or in the ON of the joined table's own
    scan) need not be applied again locally."""
    where = select.args.get("where")
    if where is not None:
        conds = rules.conjuncts(where.this)
        kept = [c for c in conds if id(c) not in pushed]
        if len(kept) != len(conds):
            select.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if on is None:
            continue
        conds = rules.conjuncts(on)
        kept = [c for c in conds if id(c) not in pushed]
        if len(kept) != len(conds):
            join.set("on", exp.and_(*kept) if kept else exp.true())


def locals(produced: Mapping[str, tuple[Fragment, dict[str, str]]]) -> dict[str, Local]:
    """The scan and join fragments of one SELECT, keyed by their alias in the local step."""
    out: dict[str, Local] = {}
    for alias, (fragment, names) in produced.items():
        if names:  # a join fragment: one local alias for all its tables
            local = f"_g{fragment.name[2:]}"
            outputs: dict[str, exp.Expr] = {
                out_name: exp.column(key.split(".", 1)[1], key.split(".", 1)[0], quoted=True)
                for key, out_name in names.items()
            }
            out[local] = Local(fragment, local, outputs)
        else:
            outputs = {c: exp.column(c, alias, quoted=True) for c in fragment.types}
            out[alias] = Local(fragment, alias, outputs)
    return out


def plain(body: exp.Select) -> bool:
    """No grouping, ordering, limit or aggregate: rows in, filtered rows out."""
    shaped = ("group", "having", "order", "limit", "offset", "distinct", "with_", "qualify")
    if any(body.args.get(k) for k in shaped):
        return False
    return not any(isinstance(n, exp.AggFunc | exp.Window | exp.Star) for n in own_nodes(body))


def ref(name: str) -> exp.Select:
    return exp.select("*").from_(exp.to_table(name))


def ref_name(node: exp.Expr) -> str | None:
    """``_fN`` when ``node`` is exactly ``SELECT * FROM _fN``."""
    if not isinstance(node, exp.Select) or len(node.expressions) != 1:
        return None
    if not isinstance(node.expressions[0], exp.Star) or node.args.get("joins"):
        return None
    from_ = node.args.get("from_")
    table = from_.this if from_ is not None else None
    if not isinstance(table, exp.Table) or table.catalog or table.db:
        return None
    others = {k for k, v in node.args.items() if v} - {"expressions", "from_"}
    return table.name if not others and table.name.startswith("_f") else None


def strip_engine(node: exp.Expr) -> exp.Expr:
    """Engine names are ours, not the engine's: drop the catalog part of every table."""
    for table in node.find_all(exp.Table):
        if table.catalog:
            table.set("catalog", None)
    return node


def types(node: exp.Query) -> dict[str, str]:
    out: dict[str, str] = {}
    for proj in node.selects:
        dtype = proj.type
        if proj.alias_or_name and dtype is not None and not dtype.is_type(exp.DType.UNKNOWN):
            out[proj.alias_or_name] = dtype.sql("duckdb")
    return out


def defined(node: exp.Expr) -> set[str]:
    names = {t.alias_or_name for t in node.find_all(exp.Table)}
    names |= {s.alias for s in node.find_all(exp.Subquery) if s.alias}
    names |= {c.alias for c in node.find_all(exp.CTE)}
    return names


def correlated(node: exp.Expr) -> bool:
    names = defined(node)
    return any(c.table and c.table not in names for c in node.find_all(exp.Column))


def child_queries(select: exp.Select) -> list[exp.Query]:
    with_ = select.args.get("with_")
    skip = {id(c.this) for c in with_.expressions} if with_ else set()
    out: list[exp.Query] = []
    for node in select.walk(prune=lambda n: n is not select and isinstance(n, QUERIES)):
        if node is not select and isinstance(node, QUERIES) and id(node) not in skip:
            out.append(node)
    return out


def owner(col: exp.Column, alias: str) -> exp.Select | None:
    """The nearest enclosing SELECT that defines ``alias`` among its own sources."""
    node = col.parent
    while node is not None:
        if isinstance(node, exp.Select) and any(
            rules.source_alias(s) == alias for s in rules.select_sources(node)
        ):
            return node
        node = node.parent
    return None


def referenced_ctes(node: exp.Expr, bodies: Mapping[str, exp.Query]) -> list[str]:
    """CTE names ``node`` reads (transitively), in definition order."""
    wanted: set[str] = set()
    stack = [node]
    while stack:
        for table in stack.pop().find_all(exp.Table):
            if not table.catalog and table.name in bodies and table.name not in wanted:
                wanted.add(table.name)
                stack.append(bodies[table.name])
    inner = {c.alias for c in node.find_all(exp.CTE)}
    return [n for n in bodies if n in wanted and n not in inner]


def estimate(node: exp.Query, rows_of: Callable[[exp.Table], int | None]) -> int | None:
    """A query's rows: LIMIT if any, else its largest table after its filters (crude)."""
    limit = node.args.get("limit")
    if limit is not None and isinstance(limit.expression, exp.Literal):
        return int(limit.expression.this)
    best: int | None = None
    for table in node.find_all(exp.Table):
        if table.catalog:
            rows = rows_of(table)
            if rows is not None:
                best = max(best or 0, rows)
    if best is None or not isinstance(node, exp.Select):
        return best
    factor = 1.0
    factor *= 0.25 if node.args.get("where") else 1.0
    factor *= 0.1 if node.args.get("group") else 1.0
    factor *= 0.25 if node.args.get("having") else 1.0
    if node.args.get("group") is None and any(isinstance(n, exp.AggFunc) for n in own_nodes(node)):
        return 1
    return max(1, int(best * factor))


def flatten_joins(select: exp.Select) -> None:
    """Inner joins only: every ON condition moves to WHERE and joins become cross joins."""
    conds: list[exp.Expr] = []
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if on is not None:
            conds.extend(rules.conjuncts(on))
            join.set("on", None)
        join.set("kind", None)
    if conds:
        select.where(exp.and_(*conds), copy=False)


def on_conjuncts(select: exp.Select) -> dict[str, list[exp.Expr]]:
    return {
        rules.source_alias(j.this): rules.conjuncts(j.args.get("on"))
        for j in select.args.get("joins") or []
        if j.args.get("on") is not None
    }


def engine_groups(remote: list[exp.Table], where: list[exp.Expr]) -> list[list[exp.Table]]:
    """Tables of one engine connected by join predicates among themselves (size >= 2)."""
    by_alias = {rules.source_alias(t): t for t in remote}
    root_of = rules.joined_roots(
        by_alias, where, lambda a, b: by_alias[a].catalog == by_alias[b].catalog
    )
    groups: dict[str, list[exp.Table]] = {}
    for alias, table in by_alias.items():
        groups.setdefault(root_of[alias], []).append(table)
    return [g for g in groups.values() if len(g) > 1]


def filterable_outputs(body: exp.Query) -> dict[str, exp.Column]:
    """Output columns of ``body`` that a WHERE on its own rows can filter by, as columns.

    A plain SELECT: any output that is a column. Grouped: only the GROUP BY columns (keeping
    some groups whole is the same as filtering their rows first). Nothing for LIMIT, window
    functions, set operations or a global aggregate, where filtering first changes answers.
    """
    if not isinstance(body, exp.Select):
        return {}
    if any(body.args.get(k) for k in ("limit", "offset", "qualify")):
        return {}
    if any(isinstance(n, exp.Window) for n in own_nodes(body)):
        return {}
    group = body.args.get("group")
    keys = {e.sql() for e in group.expressions} if group is not None else None
    if keys is None and any(isinstance(n, exp.AggFunc) for n in own_nodes(body)):
        return {}
    out: dict[str, exp.Column] = {}
    for projection in body.selects:
        inner = projection.unalias()
        if isinstance(inner, exp.Column) and (keys is None or inner.sql() in keys):
            out[projection.alias_or_name] = inner
    return out


def through_derived(
    select: exp.Select, by_name: Mapping[str, Fragment]
) -> dict[str, dict[str, tuple[Fragment, str, exp.Column]]]:
    """Derived tables of ``select`` computed locally whose output columns pass straight
    through to a fragment's filterable column: alias -> output -> (fragment, its column).

    Keeping some rows of such a derived table by that output is the same as keeping the
    fragment's rows by its column first, when the derived table is a plain or grouped (by that
    column) inner join with no LIMIT, window or global aggregate, and reads the fragment as
    the one query that reads it.
    """
    out: dict[str, dict[str, tuple[Fragment, str, exp.Column]]] = {}
    root = select.root()
    for source in rules.select_sources(select):
        if not isinstance(source, exp.Subquery) or not isinstance(source.this, exp.Select):
            continue
        body = source.this
        if ref_name(body) is not None or not rules.all_inner(body):
            continue
        if any(body.args.get(k) for k in ("limit", "offset", "qualify", "with_")):
            continue
        group = body.args.get("group")
        aggregates = any(isinstance(n, exp.AggFunc) for n in body.walk())
        if any(isinstance(n, exp.Window) for n in body.walk()) or (aggregates and not group):
            continue
        keys = {e.sql() for e in group.expressions} if group is not None else None
        tables = _fragment_sources(body, by_name)
        mapped: dict[str, tuple[Fragment, str, exp.Column]] = {}
        for projection in body.selects:
            inner = projection.unalias()
            if not isinstance(inner, exp.Column) or inner.table not in tables:
                continue
            if keys is not None and inner.sql() not in keys:
                continue
            name = tables[inner.table]
            if sum(1 for t in root.find_all(exp.Table) if t.name == name) != 1:
                continue
            column = filterable_outputs(by_name[name].expression).get(inner.name)
            if column is not None:
                mapped[projection.alias_or_name] = (by_name[name], inner.name, column)
        if mapped:
            out[rules.source_alias(source)] = mapped
    return out


def _fragment_sources(body: exp.Select, by_name: Mapping[str, Fragment]) -> dict[str, str]:
    """Sources of ``body`` that read one fragment whole (its table, or a derived table that
    is exactly ``SELECT * FROM _fN``): alias -> fragment name."""
    out: dict[str, str] = {}
    for source in rules.select_sources(body):
        if isinstance(source, exp.Table) and not source.catalog:
            name: str | None = source.name
        elif isinstance(source, exp.Subquery):
            name = ref_name(source.this)
        else:
            name = None
        if name is not None and name in by_name:
            out[rules.source_alias(source)] = name
    return out
