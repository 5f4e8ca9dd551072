"""Plans of repeated queries are reused (as copies) until the catalog changes."""

from __future__ import annotations

from portkey.orchestrator.service import Orchestrator

SQL = (
    "SELECT n_name, count(*) AS c FROM nation JOIN supplier ON n_nationkey = s_nationkey GROUP BY 1"
)


def test_a_repeated_query_gets_a_copy_of_the_same_plan(orch: Orchestrator) -> None:
    first = orch.plan(SQL)
    second = orch.plan(SQL)
    assert second is not first and second.to_dict() == first.to_dict()
    second.notes.append("changed by one run")
    assert "changed by one run" not in orch.plan(SQL).notes  # runs never share a plan


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
