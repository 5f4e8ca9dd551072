"""``portkey logs search|tail``: a running gateway's request log, through its admin API."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from portkey.cli.control import out
from portkey.cli.remote import DEFAULT_URL, Url, admin

logs_app = typer.Typer(no_args_is_help=True, help="Request logs of a running gateway.")
Filter = Annotated[str | None, typer.Option()]
Limit = Annotated[int, typer.Option(min=1, max=500, help="rows at most")]
Json = Annotated[bool, typer.Option("--json", help="one JSON object per line")]


def _filters(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None and v is not False}


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table("time", "status", "provider", "model", "cache", "tokens", "cost $", "ms")
    table.add_column("trace", overflow="fold")
    for r in rows:
        tokens = f"{r['prompt_tokens']}+{r['completion_tokens']}"
        cost = "" if r["cost_usd"] is None else f"{r['cost_usd']:.6f}"
        when = datetime.fromtimestamp(r["ts"], UTC).strftime("%H:%M:%S")
        style = "red" if r["status"] >= 400 else ""
        table.add_row(
            when,
            f"[{style}]{r['status']}[/{style}]" if style else str(r["status"]),
            escape(r["provider"] or ""),
            escape(r["model"] or ""),
            r["cache_status"],
            tokens,
            cost,
            f"{r['latency_ms']:.0f}",
            escape(r["trace_id"]),
        )
    return table


def _print(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        import json

        for row in rows:
            out.print_json(json.dumps(row))
    elif rows:
        out.print(_table(rows))


@logs_app.command("search")
def search(  # noqa: PLR0913 - one option per filter
    url: Url = DEFAULT_URL,
    provider: Filter = None,
    model: Filter = None,
    trace_id: Filter = None,
    status: Annotated[int | None, typer.Option()] = None,
    api_key_id: Filter = None,
    virtual_key: Filter = None,
    cache_status: Filter = None,
    errors: Annotated[bool, typer.Option(help="only status >= 400")] = False,
    since_minutes: Annotated[float | None, typer.Option(help="only the last N minutes")] = None,
    limit: Limit = 50,
    as_json: Json = False,
) -> None:
    """Newest first, filtered."""
    params = _filters(
        provider=provider, model=model, trace_id=trace_id, status=status,
        api_key_id=api_key_id, virtual_key=virtual_key, cache_status=cache_status,
        errors="true" if errors else None, limit=limit,
        since=None if since_minutes is None else time.time() - since_minutes * 60,
    )  # fmt: skip
    rows = admin("GET", url, "/logs", params)["data"]
    _print(rows, as_json)
    if not as_json:
        out.print(f"{len(rows)} request(s)")


@logs_app.command("tail")
def tail(
    url: Url = DEFAULT_URL,
    provider: Filter = None,
    model: Filter = None,
    errors: Annotated[bool, typer.Option(help="only status >= 400")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new ones")] = False,
    interval_s: Annotated[float, typer.Option(min=0.1)] = 1.0,
    limit: Limit = 20,
    as_json: Json = False,
) -> None:
    """The last requests (oldest of them first); with --follow, then each new one."""
    params = _filters(
        provider=provider, model=model, errors="true" if errors else None, limit=limit
    )
    rows = admin("GET", url, "/logs", params)["data"][::-1]
    _print(rows, as_json)
    seen = rows[-1]["id"] if rows else ""
    while follow:
        time.sleep(interval_s)  # noqa: TID251 - the CLI's own thread
        newer = [r for r in admin("GET", url, "/logs", params)["data"] if r["id"] > seen][::-1]
        if newer:
            _print(newer, as_json)
            seen = newer[-1]["id"]
