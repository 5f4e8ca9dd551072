"""Plans of repeated queries are reused as they are (runs never change them) until the
catalog changes."""

from __future__ import annotations

from portkey.orchestrator.service import Orchestrator

SQL = (
    "SELECT n_name, count(*) AS c FROM nation JOIN supplier ON n_nationkey = s_nationkey GROUP BY 1"
)
#: the customers of one nation filter orders (a semi-join edge: keys ship at run time)
SHIPPING = (
    "SELECT c_mktsegment, count(*) AS n FROM customer JOIN orders ON c_custkey = o_custkey "
    "WHERE c_nationkey = 7 GROUP BY c_mktsegment"
)


def test_a_repeated_query_shares_a_plan_that_runs_leave_as_planned(orch: Orchestrator) -> None:
    first = orch.plan(SHIPPING)
    planned = first.to_dict()
    result = orch.query(SHIPPING)
    assert orch.plan(SHIPPING) is first and result.planned is first
    # the run's steps say what it shipped; the shared plan still says what was planned
    assert result.plan.to_dict()["steps"] != planned["steps"]
    assert any(s.startswith("sent ") for s in result.plan.to_dict()["steps"])
    assert first.to_dict() == planned


def test_params_are_part_of_the_key(orch: Orchestrator) -> None:
    sql = "SELECT n_name FROM nation WHERE n_nationkey = ?"
    a = orch.query(sql, [1]).table.to_pylist()
    b = orch.query(sql, [2]).table.to_pylist()
    assert a != b and len(a) == len(b) == 1


def test_a_catalog_refresh_plans_again(orch: Orchestrator) -> None:
    before = orch.catalog.version
    orch.plan(SQL)
    orch.catalog.refresh(["lite"])
    assert orch.catalog.version == before + 1
    assert orch.plan(SQL).to_dict() == orch.plan(SQL).to_dict()
