"""Analytics queries on a million logged rows: p95 latency of each query on SQLite and PostgreSQL.

    .venv/bin/python bench/analytics.py                 # 1,000,000 rows, both backends
    .venv/bin/python bench/analytics.py --rows 200000 --runs 10 --backends sqlite

Synthetic rows (a realistic mix: 6 models on 4 providers, 50 API keys, 20 virtual keys, 3 %
errors, 30 % cache lookups, a third of them hits) spread over the 24 hours before now, batch
inserted through ``LogStore.insert`` (the writer's path), with the real migrations (so the
real indexes), then rolled up per minute (``portkey.observe.rollup``; the report gives the
backfill and one steady refresh). Each query runs ``--runs`` times after one warm-up (a
refresh that falls due inside a run counts in it); the report gives p50 and p95 wall time per
query and the target (p95 <= 200 ms). ``--no-rollups`` reads the log only, as exact queries do.
PostgreSQL runs in a throwaway schema. Not a unit test.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from portkey.observe.analytics import Analytics, Window
from portkey.observe.logstore import LogStore
from portkey.observe.record import COLUMNS, new_id
from portkey.store.db import Database, PostgresDatabase, SqliteDatabase
from portkey.store.migrations import migrate

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_MS = 200.0
MODELS = {
    "gpt-4o": "openai",
    "gpt-4o-mini": "openai",
    "claude-sonnet-4": "anthropic",
    "claude-haiku-4": "anthropic",
    "gemini-2.5-flash": "google",
    "llama-3.3-70b": "groq",
}


def synthetic_rows(count: int, until: float, span_s: float, seed: int = 7) -> list[tuple[Any, ...]]:
    rnd = random.Random(seed)
    models = list(MODELS)
    keys = [f"key_{i:03d}" for i in range(50)]
    vks = [f"vk-{i:02d}" for i in range(20)]
    rows = []
    for i in range(count):
        ts = until - span_s + span_s * i / count
        model = models[rnd.randrange(len(models))]
        status = 200 if rnd.random() > 0.03 else rnd.choice((429, 500, 503))
        cache = "DISABLED"
        if rnd.random() < 0.3:
            cache = "HIT" if rnd.random() < 0.33 else "MISS"
        prompt, completion = rnd.randint(10, 2000), rnd.randint(1, 800)
        row = {
            "id": new_id(ts),
            "trace_id": secrets.token_hex(8),
            "ts": ts,
            "route": "/v1/chat/completions",
            "api_key_id": keys[rnd.randrange(len(keys))],
            "virtual_key": vks[rnd.randrange(len(vks))],
            "config": None,
            "provider": MODELS[model],
            "model": model,
            "status": status,
            "error_type": None if status < 400 else "upstream_error",
            "target": "config",
            "retries": 0,
            "attempts": f'[{{"target": "config", "status": {status}}}]',
            "cache_status": cache,
            "stream": int(rnd.random() < 0.4),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cached_tokens": 0,
            "reasoning_tokens": 0,
            "cost_usd": 0.0 if cache == "HIT" else (prompt * 2 + completion * 8) / 1e6,
            "ttft_ms": None,
            "latency_ms": rnd.lognormvariate(6.0, 0.6),
            "overhead_ms": rnd.uniform(0.2, 2.0),
            "metadata": '{"team": "search"}',
            "request_body": None,
            "response_body": None,
        }
        rows.append(tuple(row.get(c) for c in COLUMNS))
    return rows


def load(db: Database, rows: list[tuple[Any, ...]], batch: int = 20_000) -> tuple[float, str]:
    """Rows per second and how: the writer's multi-row INSERTs on SQLite, COPY on PostgreSQL
    (the writer's INSERTs reach only ~6k rows/s there: a million would take minutes)."""
    started = time.perf_counter()
    if db.dialect == "postgres":
        import psycopg

        sql = f"COPY request_logs ({', '.join(COLUMNS)}) FROM STDIN"
        with psycopg.connect(db.url) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows) / (time.perf_counter() - started), "COPY"
    store = LogStore(db)
    for start in range(0, len(rows), batch):
        store.insert(rows[start : start + batch])
    return len(rows) / (time.perf_counter() - started), "LogStore.insert"


def queries(analytics: Analytics, now: float) -> dict[str, Callable[[], Any]]:
    day = Window.of(now - 86_400, now, 900)  # the whole day (every row), 15-minute buckets
    hour = Window.of(now - 3_600, now, 60)  # the last hour, minute buckets
    one_model = Window.of(now - 86_400, now, 900, {"model": "gpt-4o"})
    return {
        "rpm by model (24h/15m)": lambda: analytics.requests_per_minute(day),
        "cache hit rate (24h/15m)": lambda: analytics.cache_hit_rate(day),
        "latency p50/95/99 by provider (24h/15m)": lambda: analytics.latency(day),
        "cost per request (24h/15m)": lambda: analytics.cost_series(day),
        "cost totals by api key (24h)": lambda: analytics.cost_totals(day, "api_key_id"),
        "cost totals by virtual key (24h)": lambda: analytics.cost_totals(day, "virtual_key"),
        "cost totals by model (24h)": lambda: analytics.cost_totals(day, "model"),
        "error rate by provider (24h/15m)": lambda: analytics.error_rate(day),
        "latency by provider, one model (24h/15m)": lambda: analytics.latency(one_model),
        "rpm by model (1h/1m)": lambda: analytics.requests_per_minute(hour),
        "latency by provider (1h/1m)": lambda: analytics.latency(hour),
        "provider health (15m)": lambda: analytics.provider_health(now - 900, now),
    }


def time_queries(analytics: Analytics, now: float, runs: int) -> dict[str, tuple[float, float]]:
    out = {}
    for name, run in queries(analytics, now).items():
        run()  # warm-up
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            run()
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        p95 = samples[min(len(samples) - 1, -(-95 * len(samples) // 100) - 1)]
        out[name] = (statistics.median(samples), p95)
    return out


def open_backend(name: str, workdir: Path) -> tuple[Database, Callable[[], None]]:
    if name == "sqlite":
        db = SqliteDatabase(workdir / "logs.db")
        return db, db.close
    import psycopg

    schema = f"bench_analytics_{secrets.token_hex(4)}"
    admin = psycopg.connect(PG_DSN, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    pg = PostgresDatabase(f"{PG_DSN}?options=-csearch_path%3D{schema}")

    def close() -> None:
        pg.close()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()

    return pg, close


def analyze(db: Database, tables: tuple[str, ...] = ("request_logs",)) -> None:
    """What a long-running store has done on its own (autovacuum after inserts): statistics,
    and PostgreSQL's visibility map, which index-only scans need."""
    if db.dialect == "sqlite":
        with db.transaction() as tx:
            tx.execute("ANALYZE")
        return
    import psycopg

    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {', '.join(tables)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-rollups", action="store_true", help="read the log only (exact)")
    args = parser.parse_args()
    now = time.time()
    print(f"generating {args.rows:,} rows...", file=sys.stderr)
    rows = synthetic_rows(args.rows, now, 86_400)
    report = [f"# Analytics on {args.rows:,} rows ({args.runs} runs per query, target p95 "
              f"<= {TARGET_MS:.0f} ms)", ""]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            db, close = open_backend(backend, Path(tmp))
            try:
                migrate(db)
                print(f"{backend}: inserting...", file=sys.stderr)
                rate, how = load(db, rows)
                analyze(db)
                analytics = Analytics(db, rollups=not args.no_rollups)
                refresh = {}
                if analytics.rollups is not None:
                    print(f"{backend}: rolling up...", file=sys.stderr)
                    for step in ("first rollup (backfill)", "steady refresh"):
                        started = time.perf_counter()
                        analytics.rollups.refresh(force=True)
                        refresh[step] = (time.perf_counter() - started) * 1000
                    analyze(db, ("request_log_minutes", "request_log_minute_dims"))
                print(f"{backend}: querying...", file=sys.stderr)
                timings = time_queries(analytics, now, args.runs)
            finally:
                close()
            report += [f"## {backend}: loaded at {rate:,.0f} rows/s ({how})", "",
                       "| query | p50 ms | p95 ms | target |", "|---|---|---|---|"]  # fmt: skip
            for name, (p50, p95) in timings.items():
                verdict = "ok" if p95 <= TARGET_MS else "MISSED"
                report.append(f"| {name} | {p50:.1f} | {p95:.1f} | {verdict} |")
            report.append("")
            report += [f"- rollups, {step}: {ms:,.0f} ms" for step, ms in refresh.items()]
            report.append("")
    print("\n".join(report))


if __name__ == "__main__":
    main()
