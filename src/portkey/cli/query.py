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
    sql: Annotated[str | None, typer.Argument(help="a read-only SELECT/WITH query")] = None,
    ask: Annotated[
        str | None,
        typer.Option("--ask", help="a question in natural language (needs data.llm)"),
    ] = None,
    explain: Annotated[bool, typer.Option(help="show the plan, run nothing")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="output format")] = Format.table,
    limit: Annotated[int | None, typer.Option(min=1, help="rows at most")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.001, help="seconds at most")] = None,
    config: ConfigOption = None,
) -> None:
    """Run one SQL query over every engine of portkey.yaml (pushdown, minimal data movement)."""
    if ask is not None:
        _ask(ask, sql, explain, fmt, limit, timeout, config)
        return
    if sql is None:
        err.print("[red]error[/red] give a SQL query or --ask QUESTION")
        raise typer.Exit(2)
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


def _ask(
    question: str,
    sql: str | None,
    explain: bool,
    fmt: Format,
    limit: int | None,
    timeout: float | None,
    config: Path | None,
) -> None:
    from portkey.orchestrator import render
    from portkey.orchestrator.nl import local

    try:
        with err.status("asking the model, validating its answer…", spinner="dots"):
            answered = local.ask(
                config, question, sql=sql, explain=explain, limit=limit, timeout_s=timeout
            )
    except GatewayError as exc:
        raise fail(exc) from exc
    meta = answered.llm()
    if answered.result is None or fmt is Format.json:
        assert answered.checked is not None
        body = render.body(answered.result) if answered.result else {}
        body |= {"plan": answered.checked.plan.to_dict(), "llm": meta}
        typer.echo(json.dumps(body, default=render._default))
        return
    _print(answered.result, fmt)
    err.print(
        f"model {meta['model']} ({meta['form']}), {meta['tokens']['total']} tokens, "
        f"${meta['cost_usd']}; {len(meta['attempts'])} rejected answer(s); "
        f"passed: {', '.join(meta['validations'])}"
    )


def advise(
    sql: Annotated[str, typer.Argument(help="a read-only SELECT/WITH query")],
    config: ConfigOption = None,
) -> None:
    """Recommendations for a query: data moved per edge, local work, big cross-engine joins."""
    from portkey.orchestrator.nl.advisor import advise as compute

    orch = orchestrator(config)
    try:
        advice = compute(orch, sql)
    except GatewayError as exc:
        raise fail(exc) from exc
    for edge in advice["edges"]:
        err.print(
            f"{edge['fragment']} on {edge['engine']}: ~{edge['estimated_rows']} rows, "
            f"{edge['estimated_bytes']} bytes (engine estimate {edge['engine_estimated_rows']})"
        )
    for rec in advice["recommendations"]:
        out.print(
            f"[bold]{rec['kind']}[/bold] {escape(rec['detail'])}\n  -> {escape(rec['suggestion'])}"
            f" (saves up to {rec['savings_bytes_at_most']} bytes)"
        )
    if not advice["recommendations"]:
        out.print("no recommendations: the plan already pushes the work down")
