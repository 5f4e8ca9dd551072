"""bench/hand_splits.py at SF 0.01: every hand split answers as one DuckDB holding all tables,
and what it moves is counted the way the executor counts our plan's fragments."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
from tests.orchestrator import tpch

from portkey.orchestrator.engines import Engine
from portkey.orchestrator.service import Orchestrator
from portkey.orchestrator.settings import DataSettings

BENCH = Path(__file__).resolve().parents[2] / "bench"
QUERIES = tpch.queries()


def _load_bench() -> tuple[ModuleType, ModuleType]:
    """bench/hand_splits.py and bench/orchestrator.py (scripts, not a package)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # bench/orchestrator.py imports hand_splits so
    hand = importlib.import_module("hand_splits")
    spec = importlib.util.spec_from_file_location("_bench_orchestrator", BENCH / "orchestrator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return hand, module


hand, bench = _load_bench()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tpch.Deployment]:
    parquet = tpch.generate(0.01, tmp_path_factory.mktemp("tpch-sf0.01"))
    dep = tpch.deploy(parquet, tmp_path_factory.mktemp("engines"))
    try:
        yield dep
    finally:
        dep.drop()


@pytest.fixture(scope="module")
def reference(deployment: tpch.Deployment) -> duckdb.DuckDBPyConnection:
    return deployment.reference()


@pytest.fixture(scope="module")
def engines(deployment: tpch.Deployment) -> dict[str, Engine]:
    engines: dict[str, Engine] = bench.hand_engines(deployment)
    return engines


def test_a_split_for_every_query() -> None:
    assert set(hand.SPLITS) == set(QUERIES)
    for split in hand.SPLITS.values():
        remote = {s.engine for s in split.steps} - {hand.LOCAL}
        assert remote <= set(tpch.PLACEMENT.values())


@pytest.mark.parametrize("number", sorted(QUERIES))
def test_hand_split_answers_as_one_duckdb(
    number: int,
    deployment: tpch.Deployment,
    engines: dict[str, Engine],
    reference: duckdb.DuckDBPyConnection,
) -> None:
    sql = QUERIES[number]
    run = hand.run_split(hand.SPLITS[number], engines, pg=deployment.pg_schema, my=deployment.my_db)
    got = [tuple(r.values()) for r in run.table.to_pylist()]
    want = reference.execute(sql).fetchall()
    assert tpch.same_rows(got, want, "order by" in sql.lower()) is None
    assert run.rows_moved == sum(s.rows + s.shipped_rows for s in run.steps) > 0


def test_shipped_rows_count_as_moved(
    deployment: tpch.Deployment, engines: dict[str, Engine]
) -> None:
    """q9 ships partsupp's answer to DuckDB: its bytes count once fetched and once shipped."""
    run = hand.run_split(hand.SPLITS[9], engines, pg=deployment.pg_schema, my=deployment.my_db)
    steps = {s.name: s for s in run.steps}
    assert steps["r"].shipped_rows == steps["ps"].rows > 0
    assert steps["r"].shipped_bytes == steps["ps"].bytes
    assert run.bytes_moved == sum(s.bytes for s in run.steps) + steps["ps"].bytes


def test_engine_floor_is_the_longest_fragment_path(deployment: tpch.Deployment) -> None:
    orch = Orchestrator(DataSettings.model_validate({"engines": deployment.engines()}))
    result = orch.query(QUERIES[2])  # semi-join chains: nation -> supplier -> partsupp
    ex = result.execution
    floor: float = bench.engine_floor(result.plan, ex.stats)
    seconds = {s.name: s.seconds for s in ex.stats}
    edges: list[Any] = [(e.source, f.name) for f in result.plan.fragments for e in f.semijoins]
    assert edges
    for source, target in edges:  # a fragment waits for its sources: their times add up
        assert floor >= seconds[source] + seconds[target]
    assert floor <= ex.seconds
    assert floor < sum(seconds.values())  # fragments without edges ran side by side
