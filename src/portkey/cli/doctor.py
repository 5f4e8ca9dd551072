"""``portkey doctor``: what a running gateway says of its store, cache, log writer, providers."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from portkey.cli.control import out
from portkey.cli.remote import DEFAULT_URL, Url, fetch_json

STYLES = {"ok": "green", "degraded": "yellow", "unhealthy": "red", "failing": "red"}


def _status(value: str) -> str:
    style = STYLES.get(value, "")
    return f"[{style}]{escape(value)}[/{style}]" if style else escape(value)


def doctor(url: Url = DEFAULT_URL) -> None:
    """Exit 0 when everything is ok, 1 when something is degraded or unhealthy."""
    ready = fetch_json("GET", url.rstrip("/") + "/ready", ok=(503,))
    overall = ready.get("status", "unknown")
    out.print(f"gateway {escape(url)}: {_status(overall)}")
    if ready.get("reason"):
        out.print(f"  {escape(str(ready['reason']))}")
    checks: dict[str, Any] = ready.get("checks", {})
    table = Table("part", "status", "detail")
    bad = overall != "ok"
    for name in ("store", "cache", "logs"):
        check = checks.get(name)
        if check is None:
            continue
        detail = ", ".join(f"{k}={v}" for k, v in check.items() if k != "status")
        table.add_row(name, _status(check["status"]), escape(detail))
    for name, check in sorted(checks.get("providers", {}).items()):
        status = check.get("status", "ok")
        bad = bad or status != "ok"
        detail = ", ".join(f"{k}={v}" for k, v in check.items() if k != "status")
        table.add_row(f"provider {name}", _status(status), escape(detail))
    out.print(table)
    for alert in checks.get("alerts_firing", []):
        out.print(f"[red]alert firing[/red] {escape(alert)}")
        bad = True
    raise typer.Exit(1 if bad else 0)
