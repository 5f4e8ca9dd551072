"""Join sites: the whole local step may run on the engine that holds the big side.

When the keys of a join are too many for an IN-list the big side's intermediate is big; rather
than pull it through us, the executor may ship the small sides whole into temporary tables on
the big side's engine and run the local step (join and aggregates) there, so that only the
answer moves. ``join_site`` only marks a plan where that is sound; the executor decides with
the real sizes once the small sides have run, and falls back to shipping keys.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from portkey.orchestrator.engines import Engine
from portkey.orchestrator.planner.capabilities import pushable
from portkey.orchestrator.planner.plan import JoinSite, Plan, PlanOptions


def join_site(
    plan: Plan, engines: Mapping[str, Engine], options: PlanOptions, types: dict[str, str]
) -> JoinSite | None:
    """The fragment whose engine may run the local step, or None.

    Sound when: one fragment is the target of key shipping into temporary tables; the local
    step is one SELECT (no subqueries or CTEs) that reads every fragment exactly once and
    aggregates or limits (so the answer is smaller than what it joins); and that SELECT means
    the same in the engine's dialect. ``types``: the query's output columns, planned types.
    """
    local = plan.local
    if not (options.temp_tables and options.join_sites) or plan.passthrough or options.refused:
        return None
    if not isinstance(local, exp.Select) or local.args.get("with_"):
        return None
    targets = [f for f in plan.fragments if any(e.temp_table for e in f.semijoins)]
    if len(targets) != 1 or not engines[targets[0].engine].temp_tables:
        return None
    (big,) = targets
    if any(e.source == big.name for f in plan.fragments for e in f.semijoins):
        return None  # it would wait for a fragment that waits for it
    if sum(1 for _ in local.find_all(exp.Select)) != 1:
        return None
    shrinks = local.args.get("group") or local.args.get("limit") or local.find(exp.AggFunc)
    if not shrinks:
        return None
    tables = list(local.find_all(exp.Table))
    if sorted(t.name for t in tables) != sorted(f.name for f in plan.fragments):
        return None
    if any(t.db or t.catalog for t in tables) or not pushable(local, big.dialect):
        return None
    return JoinSite(big.name, big.engine, big.dialect, types)


def site_sql(plan: Plan, site: JoinSite, names: Mapping[str, str]) -> str:
    """The local step in the site engine's dialect: the big fragment inlined as a derived
    table, every other fragment read from the temporary table ``names[fragment]``."""
    tree = plan.local.copy()
    big = plan.fragment(site.fragment)
    for table in list(tree.find_all(exp.Table)):
        alias = exp.TableAlias(this=exp.to_identifier(table.alias_or_name, quoted=True))
        if table.name == site.fragment:
            table.replace(exp.Subquery(this=big.expression.copy(), alias=alias))
        else:
            table.replace(exp.Table(this=exp.to_identifier(names[table.name]), alias=alias))
    return tree.sql(dialect=site.dialect, comments=False)
