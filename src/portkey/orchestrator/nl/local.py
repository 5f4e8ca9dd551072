"""Questions from the CLI: the whole gateway started in this process, asked in-process.

``portkey query --ask`` has no server to talk to; it starts the same ``GatewayApp`` that
``portkey serve`` runs (routing, cache, budgets, logs and cost included), asks through it
and shuts it down again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from portkey.orchestrator.nl.service import Answered


async def _ask(
    config: Path | None,
    question: str,
    sql: str | None,
    explain: bool,
    limit: int | None,
    timeout_s: float | None,
) -> Answered:
    from portkey.control.plane import data_dir
    from portkey.orchestrator.nl.api import asker
    from portkey.orchestrator.service import Orchestrator
    from portkey.server import create_app

    app = create_app(str(config) if config else None)
    gateway = app.gateway
    await gateway.startup()
    try:
        settings = gateway.holder.current.file.data
        orch = Orchestrator(settings, cache_path=data_dir() / "catalog.json")
        return await asker(gateway, orch).ask(
            question, sql=sql, explain=explain, limit=limit, timeout_s=timeout_s
        )
    finally:
        await gateway.shutdown()


def ask(
    config: Path | None,
    question: str,
    *,
    sql: str | None = None,
    explain: bool = False,
    limit: int | None = None,
    timeout_s: float | None = None,
) -> Answered:
    return asyncio.run(_ask(config, question, sql, explain, limit, timeout_s))
