"""``portkey``: serve, demo, config (schema, validate, plan, apply, export), control plane."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from portkey.config.loader import json_schema
from portkey.config.models import PortkeyFile

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Portkey AI gateway.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect and check portkey.yaml.")
app.add_typer(config_app, name="config")
# soft_wrap: one message per line, never broken at the console width
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="portkey.yaml (default: $PORTKEY_CONFIG)", dir_okay=False),
]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default from config)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default from config, 8787)")] = None,
    config: ConfigOption = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Start the gateway."""
    import uvicorn

    path = config or (
        Path(os.environ["PORTKEY_CONFIG"]) if os.environ.get("PORTKEY_CONFIG") else None
    )
    settings = _load(path).server if path else None
    if path:
        os.environ["PORTKEY_CONFIG"] = str(path.resolve())
    uvicorn.run(
        "portkey.server:create_app",
        factory=True,
        host=host or (settings.host if settings else "127.0.0.1"),
        port=port if port is not None else (settings.port if settings else 8787),
        workers=workers or (settings.workers if settings else 1),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        log_level=log_level,
        timeout_keep_alive=30,
        backlog=4096,
    )


@app.command()
def demo(
    requests: Annotated[int, typer.Option(help="load-balanced requests to send")] = 20,
) -> None:
    """Start the gateway beside a local fake upstream and show routing at work (offline)."""
    import asyncio

    from portkey.cli.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(requests)))


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of portkey.yaml."""
    typer.echo(json.dumps(json_schema(), indent=2))


@config_app.command("validate")
def config_validate(file: Annotated[Path, typer.Argument(dir_okay=False)]) -> None:
    """Check a portkey.yaml; errors name the line and field."""
    parsed = _load(file)
    Console(soft_wrap=True).print(
        f"[green]ok[/green] {escape(str(file))}: {len(parsed.providers)} providers, "
        f"{len(parsed.configs)} configs"
    )


def _load(path: Path) -> PortkeyFile:
    from portkey.cli.control import load_config

    return load_config(path)


def _register_control_plane() -> None:
    from portkey.cli import cache, config_as_code, control, doctor, logs
    from portkey.cli import catalog as data_catalog
    from portkey.cli import query as data_query
    from portkey.cli import sync as data_sync

    app.add_typer(control.keys_app, name="keys")
    app.add_typer(control.vk_app, name="vk")
    app.add_typer(control.budgets_app, name="budgets")
    app.add_typer(control.limits_app, name="limits")
    app.add_typer(config_as_code.admin_app, name="admin")
    app.add_typer(cache.cache_app, name="cache")
    app.add_typer(data_catalog.catalog_app, name="catalog")
    app.command("query")(data_query.query)
    app.command("advise")(data_query.advise)
    app.add_typer(data_sync.sync_app, name="sync")
    app.add_typer(logs.logs_app, name="logs")
    from portkey.prompts.cli import prompts_app

    app.add_typer(prompts_app, name="prompts")
    app.command("doctor")(doctor.doctor)
    app.command("audit")(control.audit)
    config_app.command("plan")(config_as_code.config_plan)
    config_app.command("apply")(config_as_code.config_apply)
    config_app.command("export")(config_as_code.config_export)


_register_control_plane()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
