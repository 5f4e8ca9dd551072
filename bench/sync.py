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
    .venv/bin/python bench/sync.py --target mysql  # PostgreSQL -> MariaDB: LOAD DATA vs INSERT

With ``--target mysql`` the jobs are PostgreSQL -> MySQL/MariaDB, once with the endpoint's
LOAD DATA LOCAL INFILE path and once with ``local_infile`` switched off on the server (the
endpoint falls back to batched multi-row INSERTs); the baseline is then
``psql -c "COPY ... TO STDOUT" | mariadb -e "LOAD DATA LOCAL INFILE '/dev/stdin' ..."``
(PostgreSQL's text format is also MySQL's default LOAD DATA format).

A developer tool: not part of the unit tests. Needs PostgreSQL at 127.0.0.1:5432 and psql
(and for ``--target mysql`` MariaDB at 127.0.0.1:3306, root without password, and mariadb).
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

PG = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_sync"
MY_DB = "bench_sync"
JOBS = {
    "duckdb": ("pg_to_duckdb", "duckdb_to_pg"),
    "mysql": ("pg_to_mysql_load_data", "pg_to_mysql_inserts"),
}


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


def _my(sql: str) -> Any:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def mysql_baseline() -> float:
    """PostgreSQL's text COPY piped into MariaDB's LOAD DATA: the cheapest PG -> MariaDB path."""
    _my(f"DROP DATABASE IF EXISTS {MY_DB}")
    _my(f"CREATE DATABASE {MY_DB}")
    con = __import__("psycopg").connect(PG)
    cols = con.execute(
        "SELECT column_name, data_type, numeric_precision, numeric_scale FROM "
        "information_schema.columns WHERE table_schema = %s AND table_name = 'lineitem' "
        "ORDER BY ordinal_position",
        (SCHEMA,),
    ).fetchall()
    con.close()
    spell = {"bigint": "BIGINT", "integer": "INT", "date": "DATE", "text": "LONGTEXT"}
    ddl = ", ".join(
        f"`{n}` " + (f"DECIMAL({p},{s})" if t == "numeric" else spell.get(t, "LONGTEXT"))
        for n, t, p, s in cols
    )
    _my(f"CREATE TABLE {MY_DB}.pipe ({ddl})")
    start = time.perf_counter()
    subprocess.run(
        f'psql {PG} -c "COPY {SCHEMA}.lineitem TO STDOUT" | mariadb -h 127.0.0.1 -u root '
        f"--local-infile=1 {MY_DB} -e \"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE pipe "
        'CHARACTER SET utf8mb4"',
        shell=True,
        check=True,
    )
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not ``getrusage``: on Linux its ``ru_maxrss`` survives
    ``exec``, so a child would report the parent's peak at fork (here: DuckDB's TPC-H load)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(job: str, work: Path, batch_rows: int) -> None:
    """Child process: run one sync job, print its numbers as JSON."""
    from portkey.orchestrator.settings import DataSettings
    from portkey.orchestrator.sync.runner import Runner

    engines = {
        "pg": {"type": "postgres", "dsn": PG},
        "src": {"type": "duckdb", "path": str(work / "source.duckdb")},
        "dst": {"type": "duckdb", "path": str(work / "target.duckdb")},
        "my": {"type": "mysql", "database": MY_DB},
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
        **{
            f"pg_to_mysql_{how}": {
                "source": {"engine": "pg", "table": f"{SCHEMA}.lineitem"},
                "target": {"engine": "my", "table": f"lineitem_{how}"},
                "verify": "none",
                "batch_rows": batch_rows,
            }
            for how in ("load_data", "inserts")
        },
    }
    runner = Runner(DataSettings.model_validate({"engines": engines, "syncs": syncs}))
    start = time.perf_counter()
    result = runner.run(job)
    seconds = time.perf_counter() - start
    rss_mb = peak_rss_mb()
    print(json.dumps({"rows": result.rows_written, "seconds": seconds, "rss_mb": rss_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--target", choices=sorted(JOBS), default="duckdb")
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
        mysql = args.target == "mysql"
        pipe = mysql_baseline() if mysql else baseline()
        name = (
            "COPY TO STDOUT | LOAD DATA (pg->mariadb)"
            if mysql
            else "COPY TO STDOUT | COPY FROM STDIN (pg->pg)"
        )
        print(f"{'path':<44} {'seconds':>8} {'rows/s':>12} {'x pipe':>7} {'peak RSS':>9}")
        print(f"{name:<44} {pipe:8.2f} {rows / pipe:12,.0f} {1:7.2f}")
        for job in JOBS[args.target]:
            refuse = job == "pg_to_mysql_inserts"
            if refuse:  # the server refuses LOAD DATA LOCAL: the endpoint falls back to INSERTs
                was = int(_my("SELECT @@GLOBAL.local_infile")[0][0])
                _my("SET GLOBAL local_infile = 0")
            try:
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
            finally:
                if refuse:
                    _my(f"SET GLOBAL local_infile = {was}")
            r = json.loads(out.strip().splitlines()[-1])
            assert r["rows"] == rows, r
            rate = rows / r["seconds"]
            print(
                f"{'sync ' + job.replace('_', ' '):<44} {r['seconds']:8.2f} {rate:12,.0f} "
                f"{pipe / r['seconds']:7.2f} {r['rss_mb']:7.0f}MB"
            )
        _pg(f"DROP SCHEMA {SCHEMA} CASCADE")
        if mysql:
            _my(f"DROP DATABASE {MY_DB}")


if __name__ == "__main__":
    main()
