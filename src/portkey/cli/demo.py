"""``portkey demo``: the gateway beside a local fake upstream, driven through routed requests.

Needs no network and no keys: the fake upstream's model names script failures, so the demo
shows fallback, retries, load balancing, conditional routing and streaming failover.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from importlib.resources import files
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp
import orjson
import uvicorn
from rich.console import Console
from rich.table import Table

from portkey.cli.demo_control import control_tour
from portkey.cli.demo_more import demo_data, observe_tour, query_tour
from portkey.devtools.fake_upstream import start_fake_upstream
from portkey.server import create_app

console = Console(width=max(120, Console().width))
MESSAGES = [{"role": "user", "content": "Say hello"}]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_demo(balanced_requests: int = 20) -> int:
    runner, upstream_port = await start_fake_upstream()
    os.environ["DEMO_UPSTREAM"] = f"http://127.0.0.1:{upstream_port}/v1"
    with TemporaryDirectory() as tmp:
        # the demo's control plane lives in the temp dir: it leaves no key or database behind
        os.environ["PORTKEY_DATA_DIR"] = tmp
        os.environ.pop("PORTKEY_MASTER_KEY", None)
        os.environ.pop("PORTKEY_DATABASE_URL", None)
        config = Path(tmp) / "portkey.yaml"
        demo_yaml = files("portkey.cli").joinpath("demo.yaml").read_text()
        extra = "store: {refresh_interval_s: 0.1}\nlogs: {flush_interval_s: 0.05}\n"
        config.write_text(demo_yaml + extra + demo_data(Path(tmp)))
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                "portkey.server:create_app",  # replaced below, once the temp config exists
                host="127.0.0.1",
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
        )
        app = create_app(str(config))
        server.config.app = app
        serving = asyncio.ensure_future(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.02)
            console.print(
                f"[bold]Portkey gateway[/bold] on http://127.0.0.1:{port}/v1, "
                f"fake upstream on :{upstream_port}\n"
            )
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                failures = await _tour(http, balanced_requests)
                console.print()
                failures += await observe_tour(http, console)
                console.print()
                failures += await query_tour(http, console)
                console.print()
                failures += await control_tour(http, app.gateway.control.store, console)
        finally:
            server.should_exit = True
            await serving
            await runner.cleanup()
    return 1 if failures else 0


async def _chat(
    http: aiohttp.ClientSession,
    config: str,
    *,
    stream: bool = False,
    meta: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    headers = {"x-portkey-config": config}
    if meta:
        headers["x-portkey-metadata"] = orjson.dumps(meta).decode()
    body = {"messages": MESSAGES, "stream": stream}
    async with http.post("/v1/chat/completions", json=body, headers=headers) as resp:
        text = await resp.text()
        payload: Any = text if stream else orjson.loads(text)
        return resp.status, dict(resp.headers), payload


def _content(payload: Any) -> str:
    if isinstance(payload, dict) and "choices" in payload:
        return str(payload["choices"][0]["message"]["content"])
    if isinstance(payload, dict):
        return str(payload.get("error", {}).get("message", payload))[:80]
    tokens, error = [], None
    for event in str(payload).split("\n\n"):
        if not event.startswith("data: {"):
            continue
        chunk = orjson.loads(event[6:])
        if "error" in chunk:
            error = chunk["error"]["message"]
        for choice in chunk.get("choices", []):
            tokens.append(choice.get("delta", {}).get("content") or "")
    return "".join(tokens) + (f"  [red]✗ {error}[/red]" if error else "  [green]✓ [DONE][/green]")


async def _tour(http: aiohttp.ClientSession, balanced_requests: int) -> int:
    table = Table(title="Routed requests")
    for column in ("scenario", "status", "answered by", "option", "retries"):
        table.add_column(column, no_wrap=True)
    table.add_column("answer", overflow="fold")
    failures = 0
    scenarios: list[tuple[str, str, bool, dict[str, str] | None, int]] = [
        ("fallback: primary 503", "resilient", False, None, 200),
        ("retry: flaky upstream", "retrying", False, None, 200),
        ("conditional: security_auditor", "by-role", False, {"role": "security_auditor"}, 200),
        ("conditional: default", "by-role", False, {"role": "intern"}, 200),
        ("stream: failover before 1st byte", "stream-failover", True, None, 200),
        ("stream: cut mid-way (honest error)", "stream-cut", True, None, 200),
    ]
    for title, config, stream, meta, expected in scenarios:
        status, headers, payload = await _chat(http, config, stream=stream, meta=meta)
        failures += status != expected
        table.add_row(
            title,
            str(status),
            headers.get("x-portkey-provider", "-"),
            headers.get("x-portkey-last-used-option-index", "-"),
            headers.get("x-portkey-retry-attempt-count", "-"),
            _content(payload),
        )
    console.print(table)
    counts: Counter[str] = Counter()
    overheads = []
    for _ in range(balanced_requests):
        status, headers, _payload = await _chat(http, "balanced")
        counts[headers.get("x-portkey-provider", "?")] += 1
        overheads.append(float(headers.get("x-portkey-gateway-overhead-ms", "nan")))
    share = ", ".join(f"{p}: {n}" for p, n in counts.most_common())
    overheads.sort()
    console.print(f"\nloadbalance 70/30 over {balanced_requests} requests → {share}")
    console.print(
        f"gateway overhead p50 {overheads[len(overheads) // 2]:.3f} ms "
        "(x-portkey-gateway-overhead-ms)"
    )
    return failures
