"""Orchestrator benchmark: data moved and wall time of our plans on TPC-H spread over 4 engines.

Per TPC-H query: rows and bytes moved by our plan, by the naive plan (pull every
referenced table whole, join locally) and by a hand-written split (``hand_splits.py``, run on
the same engine adapters; a hand split whose answer differs fails the bench), and wall time
against the same query on one DuckDB holding every table (the baseline, measured in the same
run). The wall is split into the engine floor (the longest path of our fragments' engine
times), the local step and the rest (ours); first-sight planning is shown apart. The tables
are spread as in the tests: DuckDB (lineitem, orders), PostgreSQL (customer, nation, region),
MariaDB (part, partsupp), SQLite (supplier). Bytes are Arrow bytes of what the engines
answered plus what was shipped into their temporary tables.

    .venv/bin/python bench/orchestrator.py              # SF 0.1
    .venv/bin/python bench/orchestrator.py --scale 1    # SF 1 (loading takes minutes)
    .venv/bin/python bench/orchestrator.py --queries 3,5,10 --repeat 5
    .venv/bin/python bench/orchestrator.py --no-keys    # no data.foreign_keys declared

A developer tool: not part of the unit tests, not run by CI. Needs the PostgreSQL and MariaDB
servers of this machine (127.0.0.1:5432, 127.0.0.1:3306).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from hand_splits import SPLITS, HandRun, run_split  # noqa: E402
from tests.orchestrator import tpch  # noqa: E402

from portkey.orchestrator.engines import Engine, create_engine  # noqa: E402
from portkey.orchestrator.executor import Execution, FragmentStats  # noqa: E402
from portkey.orchestrator.planner import NAIVE, Fragment, Plan, PlanOptions  # noqa: E402
from portkey.orchestrator.service import Orchestrator, QueryResult  # noqa: E402
from portkey.orchestrator.settings import DataSettings  # noqa: E402

#: our plan may move at most this many times the hand split's bytes (the issue's target)
OVER_HAND = 1.1


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
    parser.add_argument(
        "--no-keys",
        action="store_true",
        help="plan without TPC-H's foreign keys (data.foreign_keys, declared by default)",
    )
    args = parser.parse_args()
    wanted = {int(q) for q in args.queries.split(",") if q}
    with tempfile.TemporaryDirectory(prefix="pk-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        parquet = tpch.generate(args.scale, work / "parquet")
        dep = tpch.deploy(parquet, work)
        print(f"TPC-H SF {args.scale}: generated and loaded in {time.perf_counter() - t0:.1f} s")
        try:
            run(dep, wanted, args.repeat, keys=not args.no_keys)
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


def hand_engines(dep: tpch.Deployment) -> dict[str, Engine]:
    """The same adapters for the hand splits, allowed temporary tables (q9 ships rows)."""
    cfg = {name: {**c, "temp_tables": True} for name, c in dep.engines().items()}
    settings = DataSettings.model_validate({"engines": cfg})
    return {name: create_engine(name, s) for name, s in settings.engines.items()}


def engine_floor(plan: Plan, stats: list[FragmentStats]) -> float:
    """The longest path of fragment engine times: a fragment starts when its semi-join
    sources are done (a join site when every other fragment is), as the executor runs them."""
    seconds = {s.name: s.seconds for s in stats}
    site = plan.join_site.fragment if plan.join_site else None
    names = [f.name for f in plan.fragments]
    finish: dict[str, float] = {}

    def done(fragment: Fragment) -> float:
        if fragment.name not in finish:
            deps = [e.source for e in fragment.semijoins]
            if fragment.name == site:
                deps = [n for n in names if n != fragment.name]
            start = max((done(plan.fragment(d)) for d in deps), default=0.0)
            finish[fragment.name] = start + seconds.get(fragment.name, 0.0)
        return finish[fragment.name]

    return max((done(f) for f in plan.fragments), default=0.0)


@dataclass
class Row:
    number: int
    ours: Execution
    naive: Execution
    hand: HandRun | None
    hand_error: str | None
    ok: bool
    plan_s: float
    wall: float
    floor: float
    local: float
    base: float


def _timed(orch: Orchestrator, sql: str, repeat: int) -> tuple[float, QueryResult]:
    """Median wall of ``repeat`` runs and the run that took it."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = orch.query(sql)
        runs.append((time.perf_counter() - start, result))
    runs.sort(key=lambda r: r[0])
    return runs[len(runs) // 2]


def _hand(
    dep: tpch.Deployment,
    engines: dict[str, Engine],
    number: int,
    want: list[tuple[Any, ...]],
    ordered: bool,
) -> tuple[HandRun | None, str | None]:
    try:
        run = run_split(SPLITS[number], engines, pg=dep.pg_schema, my=dep.my_db)
    except Exception as exc:  # a broken hand split fails the bench below
        return None, f"{type(exc).__name__}: {exc}"
    got = [tuple(r.values()) for r in run.table.to_pylist()]
    diff = tpch.same_rows(got, want, ordered)
    return (run, None) if diff is None else (None, diff)


def measure(
    orch: Orchestrator,
    dep: tpch.Deployment,
    engines: dict[str, Engine],
    ref: Any,
    number: int,
    sql: str,
    repeat: int,
) -> Row:
    ordered = "order by" in sql.lower()
    want = ref.execute(sql).fetchall()
    start = time.perf_counter()
    orch.plan(sql)  # first sight: parse and optimize (later runs reuse the plan)
    plan_s = time.perf_counter() - start
    ours = orch.query(sql)
    naive = orch.query(sql, options=NAIVE)
    got = [tuple(r.values()) for r in ours.table.to_pylist()]
    ok = tpch.same_rows(got, want, ordered) is None
    hand, error = _hand(dep, engines, number, want, ordered)
    wall, timed = _timed(orch, sql, repeat)
    base = _median(lambda: ref.execute(sql).fetchall(), repeat)
    ex = timed.execution
    floor = engine_floor(timed.plan, ex.stats)
    return Row(
        number,
        ours.execution,
        naive.execution,
        hand,
        error,
        ok,
        plan_s,
        wall,
        floor,
        ex.local_seconds,
        base,
    )


HEADER = (
    f"{'q':>3} {'ours rows':>9} {'ours KB':>9} {'hand rows':>9} {'hand KB':>9} {'o/h':>7} "
    f"{'naive rows':>10} {'naive KB':>10} {'n/o':>10} {'ours ms':>8} {'floor ms':>8} "
    f"{'local ms':>8} {'rest ms':>8} {'plan ms':>7} {'hand ms':>8} {'duckdb ms':>9} "
    f"{'x duckdb':>8} {'ok':>3}"
)


def _line(r: Row) -> str:
    o, n = r.ours, r.naive
    if r.hand is not None:
        fk = "*" if SPLITS[r.number].foreign_keys else " "
        ratio = o.bytes_moved / max(1, r.hand.bytes_moved)
        flag = "!" if ratio > OVER_HAND else " "
        hand = f"{r.hand.rows_moved:>9,} {_kb(r.hand.bytes_moved):>8}{fk} {ratio:>6.1f}{flag}"
        hand_ms = f"{r.hand.seconds * 1000:>8.1f}"
    else:
        hand, hand_ms = f"{'WRONG':>9} {'-':>9} {'-':>7}", f"{'-':>8}"
    less = n.bytes_moved / max(1, o.bytes_moved)
    rest = r.wall - r.floor - r.local
    return (
        f"{r.number:>3} {o.rows_moved:>9,} {_kb(o.bytes_moved):>9} {hand} "
        f"{n.rows_moved:>10,} {_kb(n.bytes_moved):>10} {less:>9,.0f}x {r.wall * 1000:>8.1f} "
        f"{r.floor * 1000:>8.1f} {r.local * 1000:>8.1f} {rest * 1000:>8.1f} "
        f"{r.plan_s * 1000:>7.1f} {hand_ms} {r.base * 1000:>9.1f} {r.wall / r.base:>7.1f}x "
        f"{'yes' if r.ok else 'NO':>3}"
    )


def _summary(rows: list[Row]) -> None:
    ours = sum(r.ours.bytes_moved for r in rows)
    naive = sum(r.naive.bytes_moved for r in rows)
    ratios = {r.number: r.ours.bytes_moved / max(1, r.hand.bytes_moved) for r in rows if r.hand}
    hand = sum(r.hand.bytes_moved for r in rows if r.hand)
    checked = sum(r.ours.bytes_moved for r in rows if r.hand)
    over = sorted(q for q, x in ratios.items() if x > OVER_HAND)
    print(
        f"all: ours {_kb(ours)} KB, naive {_kb(naive)} KB ({naive / max(1, ours):.0f}x less); "
        f"on the {len(ratios)} queries with a correct hand split: ours {_kb(checked)} KB, "
        f"hand {_kb(hand)} KB ({checked / max(1, hand):.1f}x)"
    )
    print(
        f"ours > {OVER_HAND}x hand on {len(over)} of {len(ratios)} queries: "
        + ", ".join(f"q{q} {ratios[q]:.1f}x" for q in over)
    )
    spread = [r for r in rows if len({s.engine for s in r.ours.stats}) > 1]
    if spread:
        least = min(spread, key=lambda r: r.naive.bytes_moved / max(1, r.ours.bytes_moved))
        print(
            f"least reduction vs naive over the {len(spread)} queries spanning engines: "
            f"q{least.number} {least.naive.bytes_moved / max(1, least.ours.bytes_moved):.0f}x"
        )
    walls = [r.wall / r.base for r in rows]
    share = [r.floor / r.wall for r in rows]
    print(
        f"wall vs one DuckDB: median {statistics.median(walls):.1f}x, max {max(walls):.1f}x; "
        f"engine floor / wall: median {statistics.median(share):.0%} "
        f"(range {min(share):.0%} - {max(share):.0%})"
    )
    print(
        "floor = longest path of our fragments' engine times (connect, run, answer read into "
        "Arrow); local = the local DuckDB step; rest = wall - floor - local (key lists built "
        "and SQL rendered, scheduling, conforming, plan copy); plan = first-sight planning, "
        "not in the wall. "
        "hand KB * = the hand split uses TPC-H's foreign keys; o/h ! = over "
        f"{OVER_HAND}x the hand split."
    )


def run(dep: tpch.Deployment, wanted: set[int], repeat: int, *, keys: bool = True) -> None:
    data: dict[str, Any] = {"engines": dep.engines()}
    if keys:
        data["foreign_keys"] = dep.foreign_keys()
    orch = Orchestrator(DataSettings.model_validate(data))
    orch.catalog.ensure_loaded()
    print(f"our plans {'with' if keys else 'without'} TPC-H's foreign keys (data.foreign_keys)")
    engines = hand_engines(dep)
    ref = dep.reference()
    ladder(orch)
    print(HEADER)
    print("-" * len(HEADER))
    rows: list[Row] = []
    for number, sql in tpch.queries().items():
        if wanted and number not in wanted:
            continue
        row = measure(orch, dep, engines, ref, number, sql, repeat)
        rows.append(row)
        print(_line(row), flush=True)
    print("-" * len(HEADER))
    _summary(rows)
    wrong = [f"q{r.number}: {r.hand_error}" for r in rows if r.hand_error]
    wrong += [f"q{r.number}: our plan's answer differs" for r in rows if not r.ok]
    if wrong:
        raise SystemExit("wrong answers (the bench fails):\n  " + "\n  ".join(wrong))


if __name__ == "__main__":
    main()
