"""``portkey query "SQL"``: one read-only query over the engines of portkey.yaml, run here."""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from portkey.errors import GatewayError

if TYPE_CHECKING:
    from portkey.orchestrator.service import Orchestrator, QueryResult

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    arrow = "arrow"


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="portkey.yaml (default: $PORTKEY_CONFIG)", dir_okay=False),
]


def orchestrator(config: Path | None) -> Orchestrator:
    """The orchestrator of portkey.yaml's ``data:``, sharing the catalog cache of the data dir."""
    from portkey.cli.control import load_config
    from portkey.control.plane import data_dir
    from portkey.orchestrator.service import Orchestrator

    settings = load_config(config).data
    if not settings.engines:
        err.print("[red]error[/red] no engines: declare them in portkey.yaml under data.engines")
        raise typer.Exit(2)
    return Orchestrator(settings, cache_path=data_dir() / "catalog.json")


def fail(exc: GatewayError) -> typer.Exit:
    err.print(f"[red]error[/red] ({exc.http_status} {exc.code or exc.type}) {escape(exc.message)}")
    return typer.Exit(1)


def _cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _print(result: QueryResult, fmt: Format) -> None:
    from portkey.orchestrator import render

    table = result.table
    if fmt is Format.arrow:
        sys.stdout.buffer.write(render.arrow_bytes(table))
        return
    if fmt is Format.json:
        body = render.body(result)
        typer.echo(json.dumps(body, default=render._default))
        return
    names = table.column_names
    rows = render.rows(table)
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(names)
        writer.writerows([[("" if v is None else v) for v in r] for r in rows])
        typer.echo(buf.getvalue(), nl=False)
        return
    grid = Table(*names, show_lines=False)
    for row in rows:
        grid.add_row(*(escape(_cell(v)) for v in row))
    out.print(grid)
    stats = result.stats()
    more = " (truncated)" if stats["truncated"] else ""
    err.print(
        f"{stats['rows']} rows{more} in {stats['ms']:.0f} ms; moved {stats['rows_moved']} rows, "
        f"{stats['bytes_moved']:,} bytes from {len(stats['engines'])} subqueries"
    )


def query(
    sql: Annotated[str, typer.Argument(help="a read-only SELECT/WITH query")],
    explain: Annotated[bool, typer.Option(help="show the plan, run nothing")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="output format")] = Format.table,
    limit: Annotated[int | None, typer.Option(min=1, help="rows at most")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.001, help="seconds at most")] = None,
    config: ConfigOption = None,
) -> None:
    """Run one SQL query over every engine of portkey.yaml (pushdown, minimal data movement)."""
    orch = orchestrator(config)
    try:
        with err.status("planning and running…", spinner="dots"):
            if explain:
                typer.echo(json.dumps(orch.plan(sql).to_dict(), indent=2))
                return
            result = orch.query(sql, limit=limit, timeout_s=timeout)
    except GatewayError as exc:
        raise fail(exc) from exc
    _print(result, fmt)
