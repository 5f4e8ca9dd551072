"""The demo's last two tours: what observability recorded, and one SQL query over two engines.

``demo_data`` writes a DuckDB file (orders) and a SQLite file (customers) into the demo's temp
dir and returns the ``data:`` section that declares them; ``observe_tour`` shows the request
log, cost and Prometheus counters the earlier requests left; ``query_tour`` asks ``/query`` for
revenue by country, a join across both engines, and shows what each engine was sent.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

DEMO_ADMIN_KEY = "demo-admin-key-0123456789"
COUNTRIES = ("FR", "DE", "JP", "BR")


def demo_data(tmp: Path) -> str:
    """Two small databases on two engines; the portkey.yaml lines that declare them."""
    import duckdb

    shop = tmp / "shop.duckdb"
    with duckdb.connect(str(shop)) as con:
        con.execute(
            "CREATE TABLE orders AS SELECT i AS id, i % 40 AS customer_id, "
            "round(10 + (i * 37 % 500) / 3.0, 2) AS amount FROM range(2000) t(i)"
        )
    crm = tmp / "crm.db"
    with sqlite3.connect(crm) as lite:
        lite.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, country TEXT)")
        lite.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(i, f"customer {i}", COUNTRIES[i % len(COUNTRIES)]) for i in range(40)],
        )
    lite.close()
    return (
        f"admin: {{api_key: {DEMO_ADMIN_KEY}}}\n"
        "data:\n  engines:\n"
        f"    shop: {{type: duckdb, path: '{shop}'}}\n"
        f"    crm: {{type: sqlite, path: '{crm}'}}\n"
    )


async def observe_tour(http: aiohttp.ClientSession, console: Console) -> int:
    """The request log and metrics after the routed requests (the log writer is batched)."""
    admin = {"Authorization": f"Bearer {DEMO_ADMIN_KEY}"}
    rows: list[dict[str, Any]] = []
    for _ in range(100):
        async with http.get("/admin/logs", params={"limit": "200"}, headers=admin) as resp:
            rows = (await resp.json())["data"] if resp.status == 200 else []
        if len(rows) >= 20:
            break
        await asyncio.sleep(0.05)
    table = Table(title=f"Request log (last 5 of {len(rows)} rows, written off the hot path)")
    for column in ("status", "provider", "model", "attempts", "tokens", "ms", "trace id"):
        table.add_column(column, no_wrap=True)
    for row in rows[:5]:
        table.add_row(
            str(row["status"]),
            row["provider"] or "-",
            row["model"] or "-",
            str(len(row["attempts"])),
            f"{row['prompt_tokens']}+{row['completion_tokens']}",
            f"{row['latency_ms']:.1f}",
            row["trace_id"],
        )
    console.print(table)
    async with http.get("/metrics") as resp:
        metrics = await resp.text()
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith(("portkey_requests_total", "portkey_fallbacks_total"))
    ]
    console.print("[bold]/metrics[/bold] (Prometheus), a few lines:")
    for line in counted[:6]:
        console.print(f"  {line}")
    return 0 if rows and counted else 1


async def query_tour(http: aiohttp.ClientSession, console: Console) -> int:
    """Revenue by country: orders live in DuckDB, customers in SQLite."""
    sql = (
        "SELECT c.country, count(*) AS orders, sum(o.amount) AS revenue "
        "FROM shop.main.orders o JOIN crm.main.customers c ON o.customer_id = c.id "
        "GROUP BY c.country ORDER BY revenue DESC"
    )
    admin = {"Authorization": f"Bearer {DEMO_ADMIN_KEY}"}
    async with http.post("/query", json={"sql": sql}, headers=admin) as resp:
        answer = await resp.json()
        if resp.status != 200:
            console.print(f"[red]/query failed[/red] {resp.status}: {answer}")
            return 1
    table = Table(
        title="Data orchestrator: one SQL query over DuckDB (orders) + SQLite (customers)"
    )
    for column in answer["columns"]:
        table.add_column(str(column.get("name", column)) if isinstance(column, dict) else column)
    for row in answer["rows"]:
        table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
    stats = answer.get("stats", {})
    for engine in stats.get("engines", []):
        sent = " ".join(str(engine.get("sql", "")).split())
        console.print(
            f"  [bold]{engine.get('engine')}[/bold] sent {engine.get('rows')} rows "
            f"({engine.get('bytes')} bytes) for: {sent[:110]}"
        )
    console.print(
        f"  moved {stats.get('rows_moved')} rows / {stats.get('bytes_moved')} bytes in all; "
        "the join and the final aggregate ran in DuckDB"
    )
    return 0
