"""One cached plan serves concurrent runs: each run keeps its keys, steps and stats to itself."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from portkey.orchestrator.service import Orchestrator, QueryResult
from portkey.orchestrator.settings import DataSettings

SQL = (
    "SELECT n_name, count(*) AS suppliers FROM nation JOIN supplier ON n_nationkey = s_nationkey "
    "WHERE n_regionkey = 1 GROUP BY n_name ORDER BY n_name"
)
ROUNDS = 12


def _site(root: Path, regions: list[int]) -> Orchestrator:
    """Nations (SQLite) with the given regions and suppliers (DuckDB) spread over them: the
    same schema everywhere, so one plan fits every site, but each ships other keys."""
    root.mkdir()
    lite = sqlite3.connect(root / "nation.sqlite")
    lite.execute(
        "CREATE TABLE nation (n_nationkey INTEGER PRIMARY KEY, n_name TEXT, n_regionkey INT)"
    )
    lite.executemany(
        "INSERT INTO nation VALUES (?, ?, ?)",
        [(i, f"nation {i}", region) for i, region in enumerate(regions)],
    )
    lite.commit()
    lite.close()
    duck = duckdb.connect(str(root / "supplier.duckdb"))
    duck.execute(
        f"CREATE TABLE supplier AS SELECT i AS s_suppkey, i % {len(regions)} AS s_nationkey "
        "FROM range(200) t(i)"
    )
    duck.close()
    engines = {
        "lite": {"type": "sqlite", "path": str(root / "nation.sqlite")},
        "duck": {"type": "duckdb", "path": str(root / "supplier.duckdb")},
    }
    return Orchestrator(DataSettings.model_validate({"engines": engines}))


def _expected(root: Path) -> list[dict[str, Any]]:
    con = duckdb.connect()
    con.execute(f"ATTACH '{root / 'supplier.duckdb'}' AS d (READ_ONLY)")
    nation = sqlite3.connect(root / "nation.sqlite").execute("SELECT * FROM nation").fetchall()
    con.execute("CREATE TABLE nation (n_nationkey INT, n_name TEXT, n_regionkey INT)")
    con.executemany("INSERT INTO nation VALUES (?, ?, ?)", nation)
    con.execute("CREATE VIEW supplier AS SELECT * FROM d.supplier")
    columns = ["n_name", "suppliers"]
    return [dict(zip(columns, row, strict=True)) for row in con.execute(SQL).fetchall()]


def _steps(result: QueryResult) -> list[str]:
    steps: list[str] = result.plan.to_dict()["steps"]
    return steps


def test_two_runs_of_one_cached_plan_at_once_keep_their_own_keys(tmp_path: Path) -> None:
    # five nations of region 1 at one site, two at the other: 5 and 2 keys to ship
    one = _site(tmp_path / "one", [1, 1, 0, 1, 1, 2, 1, 0])
    two = _site(tmp_path / "two", [0, 1, 0, 2, 2, 1, 0, 0])
    want = {"one": _expected(tmp_path / "one"), "two": _expected(tmp_path / "two")}
    assert len(want["one"]) == 5 and len(want["two"]) == 2
    plan = one.plan(SQL)
    assert plan is one.plan(SQL)  # the cache hands out the plan itself, not a copy
    assert any(f.semijoins for f in plan.fragments)
    before = plan.to_dict()
    start = threading.Barrier(2)

    def runs(site: str) -> list[tuple[list[dict[str, Any]], list[str], int | None]]:
        start.wait()
        seen = []
        for _ in range(ROUNDS):
            if site == "one":  # through the service and its cache
                result = one.query(SQL)
            else:  # the same plan object, run at the other site's engines
                result = QueryResult(plan, two.executor.run(plan, timeout_s=30, max_rows=100))
            (duck,) = [s for s in result.execution.stats if s.engine == "duck"]
            seen.append((result.table.to_pylist(), _steps(result), duck.semijoin_keys))
        return seen

    with ThreadPoolExecutor(2) as pool:
        answers = dict(zip(["one", "two"], pool.map(runs, ["one", "two"]), strict=True))

    for site, keys in (("one", 5), ("two", 2)):
        for rows, steps, shipped in answers[site]:
            assert rows == want[site]
            assert shipped == keys
            assert any(f"sent {keys} keys of " in s for s in steps), steps
    # what the runs did is theirs: the cached plan still reads as planned
    assert plan.to_dict() == before == one.plan(SQL).to_dict()
    assert not any(s.startswith("sent ") for s in before["steps"])
