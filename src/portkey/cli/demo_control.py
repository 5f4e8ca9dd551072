"""The demo's control-plane tour: a caller key, its rate limit and its budget, live."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from portkey.control.models import ApiKeyIn, BudgetIn, RateLimitIn
from portkey.control.store import ControlStore

MESSAGES = [{"role": "user", "content": "Say hello"}]


async def _post(http: aiohttp.ClientSession, key: str | None) -> tuple[int, dict[str, str], Any]:
    headers = {"x-portkey-config": "resilient"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = {"messages": MESSAGES, "max_tokens": 20}
    async with http.post("/v1/chat/completions", json=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def _until_keys_required(http: aiohttp.ClientSession) -> None:
    for _ in range(100):
        if (await _post(http, None))[0] == 401:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the gateway never picked up the new API key")


async def control_tour(http: aiohttp.ClientSession, store: ControlStore, console: Console) -> int:
    """Create a key with a 3 rpm limit and a small token budget; show 401, 200, 429."""
    created = await asyncio.to_thread(store.create_api_key, ApiKeyIn(name="demo-app", team="demo"))
    await asyncio.to_thread(
        store.create_rate_limit, RateLimitIn(scope="api_key", target="demo-app", rpm=3)
    )
    await asyncio.to_thread(
        store.create_budget, BudgetIn(scope="team", target="demo", limit_tokens=10_000)
    )
    await _until_keys_required(http)
    table = Table(title=f"Control plane (API key {created.key_hint}, 3 requests/minute)")
    for column in ("request", "status", "remaining", "error"):
        table.add_column(column, no_wrap=True)
    plan: list[tuple[str, str | None, int]] = [("no API key", None, 401)]
    plan += [(f"with the key #{i}", created.key, 200 if i <= 3 else 429) for i in range(1, 5)]
    failures = 0
    for title, key, expected in plan:
        status, headers, payload = await _post(http, key)
        failures += status != expected
        error = payload.get("error", {}) if isinstance(payload, dict) else {}
        table.add_row(
            title,
            str(status),
            headers.get("x-ratelimit-remaining-requests", "-"),
            f"{error.get('type', '')} {error.get('message', '')}"[:70],
        )
    console.print(table)
    return failures
