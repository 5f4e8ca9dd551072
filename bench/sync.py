"""Sync benchmark: rows/s of ``portkey sync`` on TPC-H lineitem against a plain COPY pipe.

Measured in the same run, on this machine's PostgreSQL:
- baseline: ``psql -c "COPY lineitem TO STDOUT" | psql -c "COPY copy FROM STDIN"`` (text format),
  PostgreSQL -> PostgreSQL: the cheapest way rows leave and enter PostgreSQL;
- PostgreSQL -> DuckDB and DuckDB -> PostgreSQL with the sync runner (full mode: staged, then
  moved into the target with the checkpoint in one transaction), each in its own process so
  its peak RSS is its own.

    .venv/bin/python bench/sync.py                 # SF 0.1 (600,572 rows)
    .venv/bin/python bench/sync.py --scale 1       # SF 1 (6,001,215 rows)
    .venv/bin/python bench/sync.py --scale 1.67    # ~10M rows (the issue's size)

A developer tool: not part of the unit tests. Needs PostgreSQL at 127.0.0.1:5432 and psql.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

PG = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_sync"


def _pg(sql: str) -> None:
    subprocess.run(["psql", PG, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True)


def prepare(scale: float, work: Path) -> int:
    import duckdb

    exe = Path(sys.executable).parent / "tpchgen-cli"
    subprocess.run(
        [str(exe), "parquet", "-s", str(scale), "--tables=lineitem", f"--output-dir={work}"],
        check=True,
        capture_output=True,
    )
    parquet = work / "lineitem.parquet"
    con = duckdb.connect(str(work / "source.duckdb"))
    con.execute(f"CREATE TABLE lineitem AS SELECT * FROM read_parquet('{parquet}')")
    rows = int(con.execute("SELECT count(*) FROM lineitem").fetchone()[0])  # type: ignore[index]
    types = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'lineitem' ORDER BY ordinal_position"
    ).fetchall()
    csv = work / "lineitem.csv"
    con.execute(f"COPY lineitem TO '{csv}' (FORMAT csv, HEADER false)")
    con.close()
    cols = ", ".join(f"{n} {t}" for n, t in types)
    _pg(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    _pg(f"CREATE SCHEMA {SCHEMA}")
    _pg(f"CREATE TABLE {SCHEMA}.lineitem ({cols})")
    _pg(f"\\copy {SCHEMA}.lineitem FROM '{csv}' WITH (FORMAT csv)")
    _pg(f"VACUUM ANALYZE {SCHEMA}.lineitem")
    csv.unlink()
    return rows


def baseline() -> float:
    _pg(f"DROP TABLE IF EXISTS {SCHEMA}.pipe")
    _pg(f"CREATE TABLE {SCHEMA}.pipe (LIKE {SCHEMA}.lineitem)")
    start = time.perf_counter()
    subprocess.run(
        f'psql {PG} -c "COPY {SCHEMA}.lineitem TO STDOUT" | '
        f'psql {PG} -q -c "COPY {SCHEMA}.pipe FROM STDIN"',
        shell=True,
        check=True,
    )
    return time.perf_counter() - start


def one(job: str, work: Path, batch_rows: int) -> None:
    """Child process: run one sync job, print its numbers as JSON."""
    from portkey.orchestrator.settings import DataSettings
    from portkey.orchestrator.sync.runner import Runner

    engines = {
        "pg": {"type": "postgres", "dsn": PG},
        "src": {"type": "duckdb", "path": str(work / "source.duckdb")},
        "dst": {"type": "duckdb", "path": str(work / "target.duckdb")},
    }
    syncs = {
        "pg_to_duckdb": {
            "source": {"engine": "pg", "table": f"{SCHEMA}.lineitem"},
            "target": {"engine": "dst", "table": "lineitem"},
            "verify": "none",
            "batch_rows": batch_rows,
        },
        "duckdb_to_pg": {
            "source": {"engine": "src", "table": "lineitem"},
            "target": {"engine": "pg", "table": f"{SCHEMA}.synced"},
            "verify": "none",
            "batch_rows": batch_rows,
        },
    }
    runner = Runner(DataSettings.model_validate({"engines": engines, "syncs": syncs}))
    start = time.perf_counter()
    result = runner.run(job)
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": result.rows_written, "seconds": seconds, "rss_mb": rss_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, Path(args.work), args.batch_rows)
        return
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        rows = prepare(args.scale, work)
        print(
            f"TPC-H SF {args.scale}: lineitem {rows:,} rows (loaded in {time.perf_counter() - t:.1f}s)"
        )
        pipe = baseline()
        print(f"{'path':<44} {'seconds':>8} {'rows/s':>12} {'x pipe':>7} {'peak RSS':>9}")
        print(
            f"{'COPY TO STDOUT | COPY FROM STDIN (pg->pg)':<44} {pipe:8.2f} {rows / pipe:12,.0f} {1:7.2f}"
        )
        for job in ("pg_to_duckdb", "duckdb_to_pg"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    job,
                    "--work",
                    str(work),
                    "--batch-rows",
                    str(args.batch_rows),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            assert r["rows"] == rows, r
            rate = rows / r["seconds"]
            print(
                f"{'sync ' + job.replace('_', ' '):<44} {r['seconds']:8.2f} {rate:12,.0f} "
                f"{pipe / r['seconds']:7.2f} {r['rss_mb']:7.0f}MB"
            )
        _pg(f"DROP SCHEMA {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
