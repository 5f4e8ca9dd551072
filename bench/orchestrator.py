"""Orchestrator benchmark: data moved and wall time of our plans on TPC-H spread over 4 engines.

Per TPC-H query: rows and bytes moved by our plan and by the naive plan (pull every
referenced table whole, join locally), and wall time against the same query on one DuckDB
holding every table (the baseline, measured in the same run). The tables are spread as in
the tests: DuckDB (lineitem, orders), PostgreSQL (customer, nation, region), MariaDB (part,
partsupp), SQLite (supplier). Bytes are Arrow bytes of what the engines answered.

    .venv/bin/python bench/orchestrator.py              # SF 0.1
    .venv/bin/python bench/orchestrator.py --scale 1    # SF 1 (loading takes minutes)
    .venv/bin/python bench/orchestrator.py --queries 3,5,10 --repeat 5

A developer tool: not part of the unit tests, not run by CI. Needs the PostgreSQL and MariaDB
servers of this machine (127.0.0.1:5432, 127.0.0.1:3306).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.orchestrator import tpch  # noqa: E402

from portkey.orchestrator.planner import NAIVE, PlanOptions  # noqa: E402
from portkey.orchestrator.service import Orchestrator  # noqa: E402
from portkey.orchestrator.settings import DataSettings  # noqa: E402


def _kb(n: int) -> str:
    return f"{n / 1024:,.1f}"


def _median(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--queries", default="", help="comma-separated numbers (default all)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per query (median)")
    args = parser.parse_args()
    wanted = {int(q) for q in args.queries.split(",") if q}
    with tempfile.TemporaryDirectory(prefix="pk-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        parquet = tpch.generate(args.scale, work / "parquet")
        dep = tpch.deploy(parquet, work)
        print(f"TPC-H SF {args.scale}: generated and loaded in {time.perf_counter() - t0:.1f} s")
        try:
            run(dep, wanted, args.repeat)
        finally:
            dep.drop()


JOIN = (
    "SELECT c_mktsegment, count(*) AS orders, sum(o_totalprice) AS total "
    "FROM customer JOIN orders ON c_custkey = o_custkey "
    "WHERE c_nationkey = 7 AND o_orderdate >= DATE '1997-01-01' GROUP BY c_mktsegment"
)
LADDER = (
    ("pull-all (naive)", NAIVE),
    ("+ pushdown (projections, filters)", PlanOptions(semijoins=False, preaggregate=False)),
    ("+ semi-join", PlanOptions(preaggregate=False)),
    ("+ pre-aggregation (our plan)", PlanOptions()),
)


def ladder(orch: Orchestrator) -> None:
    """customer (PostgreSQL) x orders (DuckDB): what each rule saves."""
    print(f"customer JOIN orders over two engines: {JOIN}")
    for name, options in LADDER:
        result = orch.query(JOIN, options=options)
        ex = result.execution
        print(f"  {name:<36} {ex.rows_moved:>9,} rows {_kb(ex.bytes_moved):>10} KB")
    print()


def run(dep: tpch.Deployment, wanted: set[int], repeat: int) -> None:
    orch = Orchestrator(DataSettings.model_validate({"engines": dep.engines()}))
    orch.catalog.ensure_loaded()
    ref = dep.reference()
    ladder(orch)
    header = (
        f"{'q':>3} {'ours rows':>10} {'ours KB':>10} {'naive rows':>11} {'naive KB':>11} "
        f"{'less':>7} {'ours ms':>9} {'duckdb ms':>10} {'x duckdb':>9} {'ok':>3}"
    )
    print(header)
    print("-" * len(header))
    total_ours = total_naive = 0
    walls: list[float] = []
    for number, sql in tpch.queries().items():
        if wanted and number not in wanted:
            continue
        ours = orch.query(sql)
        naive = orch.query(sql, options=NAIVE)
        got = [tuple(r.values()) for r in ours.table.to_pylist()]
        ok = tpch.same_rows(got, ref.execute(sql).fetchall(), "order by" in sql.lower()) is None
        wall = _median(lambda sql=sql: orch.query(sql), repeat)
        base = _median(lambda sql=sql: ref.execute(sql).fetchall(), repeat)
        o, n = ours.execution, naive.execution
        total_ours += o.bytes_moved
        total_naive += n.bytes_moved
        walls.append(wall / base)
        less = n.bytes_moved / max(1, o.bytes_moved)
        print(
            f"{number:>3} {o.rows_moved:>10,} {_kb(o.bytes_moved):>10} {n.rows_moved:>11,} "
            f"{_kb(n.bytes_moved):>11} {less:>6.0f}x {wall * 1000:>9.1f} {base * 1000:>10.1f} "
            f"{wall / base:>8.1f}x {'yes' if ok else 'NO':>3}"
        )
    print("-" * len(header))
    print(
        f"all: ours {_kb(total_ours)} KB, naive {_kb(total_naive)} KB "
        f"({total_naive / max(1, total_ours):.0f}x less); wall vs one DuckDB: median "
        f"{statistics.median(walls):.1f}x, max {max(walls):.1f}x"
    )


if __name__ == "__main__":
    main()
