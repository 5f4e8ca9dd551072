"""``portkey catalog list|refresh``: the tables of every engine in portkey.yaml's ``data:``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from portkey.cli.query import ConfigOption, err, orchestrator, out

catalog_app = typer.Typer(no_args_is_help=True, help="The data orchestrator's catalog.")


@catalog_app.command("list")
def list_tables(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Every table of every engine (from the cache; introspected when there is none)."""
    orch = orchestrator(config)
    with err.status("reading catalogs…", spinner="dots"):
        data = orch.catalog.to_dict()
    if as_json:
        typer.echo(json.dumps(data))
        return
    grid = Table("table", "rows (est.)", "columns")
    for t in data["tables"]:
        rows = "?" if t["rows_estimate"] is None else f"{t['rows_estimate']:,}"
        grid.add_row(t["qualified"], rows, ", ".join(c["name"] for c in t["columns"]))
    out.print(grid)
    _engine_errors(data["engines"])


@catalog_app.command("refresh")
def refresh(config: ConfigOption = None) -> None:
    """Introspect every engine again and update the cached catalog."""
    orch = orchestrator(config)
    with err.status("introspecting engines…", spinner="dots"):
        orch.catalog.refresh()
    engines = orch.catalog.to_dict()["engines"]
    for e in engines:
        if e["error"] is None:
            out.print(f"[green]ok[/green] {e['name']} ({e['type']}): {e['tables']} tables")
    if _engine_errors(engines):
        raise typer.Exit(1)


def _engine_errors(engines: list[dict[str, object]]) -> bool:
    bad = [e for e in engines if e["error"]]
    for e in bad:
        err.print(f"[red]unreachable[/red] {e['name']}: {e['error']}", markup=True)
    return bool(bad)
