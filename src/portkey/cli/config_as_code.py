"""``portkey config plan|apply|export`` and ``portkey admin``: config as code and master keys."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.markup import escape
from rich.progress import Progress

from portkey.cli.control import ConfigOption, err, load_config, opened, out
from portkey.control import as_code
from portkey.control.crypto import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    Keyring,
    MasterKeyError,
    generate_key,
    load_keyring,
    parse_key,
)
from portkey.control.plane import data_dir
from portkey.errors import GatewayError

admin_app = typer.Typer(no_args_is_help=True, help="Master key management.")
#: `portkey config plan` exits with this status when the store differs from the file
DRIFT = 2


def _plan(config: Path | None) -> tuple[list[as_code.Change], object]:
    file = load_config(config)
    with opened(config) as store:
        try:
            return as_code.plan(file, store), file
        except GatewayError as exc:
            err.print(f"[red]error[/red] {escape(exc.message)}")
            raise typer.Exit(1) from exc


def config_plan(config: ConfigOption = None) -> None:
    """Show how the store differs from portkey.yaml; exit 2 when it does (drift), 0 when not."""
    changes, _ = _plan(config)
    if not changes:
        out.print("[green]in sync[/green]: the store matches the file")
        return
    for change in changes:
        out.print(escape(change.describe()))
    out.print(f"{len(changes)} change(s); `portkey config apply` makes the store match")
    raise typer.Exit(DRIFT)


def config_apply(
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    delete: Annotated[bool, typer.Option(help="delete what the file does not have")] = True,
) -> None:
    """Make the store match portkey.yaml (every change audited)."""
    file = load_config(config)
    with opened(config) as store:
        try:
            changes = as_code.plan(file, store)
            as_code.check(changes)
        except GatewayError as exc:
            err.print(f"[red]error[/red] {escape(exc.message)}")
            raise typer.Exit(1) from exc
        todo = [c for c in changes if delete or c.action != "delete"]
        if not todo:
            out.print("[green]in sync[/green]: nothing to apply")
            return
        for change in todo:
            out.print(escape(change.describe()))
        if not yes and not typer.confirm(f"apply {len(todo)} change(s)?"):
            raise typer.Exit(1)
        with Progress(console=out, transient=True) as progress:
            task = progress.add_task("applying", total=len(todo))
            done = as_code.apply(store, changes, delete, lambda _c: progress.advance(task))
    out.print(f"[green]applied[/green] {done} change(s)")


def config_export(
    config: ConfigOption = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", dir_okay=False)] = None,
) -> None:
    """Write the store as portkey.yaml data (secrets as ${NAME_API_KEY} references)."""
    with opened(config) as store:
        data = as_code.export(store)
    text = yaml.safe_dump(data, sort_keys=False)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        out.print(f"wrote {escape(str(output))}")


@admin_app.command("gen-master-key")
def gen_master_key() -> None:
    """Print a new master key (set it as PORTKEY_MASTER_KEY)."""
    typer.echo(generate_key())


@admin_app.command("rotate-master-key")
def rotate_master_key(
    new_key_env: Annotated[str, typer.Option(help="variable holding the new master key")],
    config: ConfigOption = None,
) -> None:
    """Re-encrypt every stored secret under a new master key, in one transaction."""
    text = os.environ.get(new_key_env)
    if not text:
        err.print(f"[red]error[/red] environment variable {escape(new_key_env)} is not set")
        raise typer.Exit(2)
    try:
        new = parse_key(text, new_key_env)
        old = load_keyring(data_dir())
    except MasterKeyError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    with opened(config) as store:  # opening proves the current key is the store's
        count = store.rewrap_secrets(Keyring(new, (old.current, *old.previous)), "cli")
    out.print(f"re-encrypted {count} secret(s) under key {Keyring(new).current_id}")
    if os.environ.get(MASTER_KEY_ENV) or os.environ.get(MASTER_KEY_FILE_ENV):
        out.print(f"now set {MASTER_KEY_ENV} to the new key on every gateway and restart them")
        return
    path = data_dir() / "master.key"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text.strip() + "\n")
    tmp.replace(path)
    out.print(f"the key file {escape(str(path))} now holds the new key")
