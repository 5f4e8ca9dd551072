"""``portkey keys|vk|budgets|limits|audit|admin``: the control plane from the command line.

Commands open the same store the gateway uses (portkey.yaml's ``store``, or
``PORTKEY_DATABASE_URL``); running gateways pick every change up by themselves. Secrets are
never taken as arguments (they would land in the shell history): from an environment
variable, standard input, or a hidden prompt.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from portkey.config.loader import ConfigError, load_file
from portkey.config.models import PortkeyFile
from portkey.control.crypto import MasterKeyError
from portkey.control.models import (
    ApiKeyIn,
    ApiKeyScopes,
    BudgetIn,
    RateLimitIn,
    Rotation,
    VirtualKeyIn,
)
from portkey.control.plane import open_store
from portkey.control.store import ControlStore
from portkey.control.validation import virtual_key_entry
from portkey.errors import GatewayError

ACTOR = "cli"
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

keys_app = typer.Typer(no_args_is_help=True, help="Caller API keys (pk-...).")
vk_app = typer.Typer(no_args_is_help=True, help="Virtual keys: provider credentials, encrypted.")
budgets_app = typer.Typer(no_args_is_help=True, help="Budgets in USD and/or tokens.")
limits_app = typer.Typer(no_args_is_help=True, help="Rate limits (requests and tokens a minute).")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="portkey.yaml (default: $PORTKEY_CONFIG)", dir_okay=False),
]
Many = Annotated[list[str] | None, typer.Option()]


def load_config(path: Path | None) -> PortkeyFile:
    path = path or (
        Path(os.environ["PORTKEY_CONFIG"]) if os.environ.get("PORTKEY_CONFIG") else None
    )
    if path is None:
        return PortkeyFile()
    try:
        return load_file(path)
    except ConfigError as exc:
        err.print(f"[red]invalid config[/red] {escape(exc.source)}")
        for issue in exc.issues:
            err.print(f"  {issue}", markup=False, highlight=False)
        raise typer.Exit(2) from exc


@contextmanager
def opened(config: Path | None) -> Iterator[ControlStore]:
    """The store, with every known failure turned into one clear line and exit status 1."""
    store = None
    try:
        store = open_store(load_config(config).store)
        yield store
    except (MasterKeyError, ValueError) as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    except GatewayError as exc:
        err.print(f"[red]error[/red] {escape(exc.message)}")
        raise typer.Exit(1) from exc
    finally:
        if store is not None:
            store.db.close()


@contextmanager
def bad_input() -> Iterator[None]:
    """Invalid command-line input: one line naming what is wrong, exit status 2."""
    try:
        yield
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        err.print(f"[red]error[/red] {escape(where + ': ' if where else '')}{escape(first['msg'])}")
        raise typer.Exit(2) from exc
    except GatewayError as exc:
        err.print(f"[red]error[/red] {escape(exc.message)} ({escape(str(exc.param))})")
        raise typer.Exit(2) from exc


def read_secret(env: str | None, stdin: bool, what: str) -> str:
    if env:
        value = os.environ.get(env)
        if not value:
            err.print(f"[red]error[/red] environment variable {escape(env)} is not set")
            raise typer.Exit(2)
        return value
    if stdin:
        return sys.stdin.readline().strip()
    return str(typer.prompt(what, hide_input=True))


def pairs(items: list[str] | None, what: str) -> dict[str, str]:
    result = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            err.print(f"[red]error[/red] {what} {escape(item)!r} is not NAME=VALUE")
            raise typer.Exit(2)
        result[name] = value
    return result


def duration_s(text: str) -> float:
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        err.print(f"[red]error[/red] {escape(text)!r} is not a duration like 30d, 12h, 15m")
        raise typer.Exit(2)
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


def table(title: str, columns: list[str], rows: list[list[object]]) -> None:
    t = Table(title=title)
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*("-" if v is None else escape(str(v)) for v in row))
    # never fold ids and key hints: at least 160 columns, more on a wider terminal
    Console(width=max(160, shutil.get_terminal_size().columns)).print(t)


def when(epoch: float | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))


# -- API keys ------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    name: str,
    team: Annotated[str | None, typer.Option()] = None,
    model: Many = None,
    config_name: Annotated[list[str] | None, typer.Option("--use-config")] = None,
    virtual_key: Many = None,
    metadata: Many = None,
    expires_in: Annotated[str | None, typer.Option(help="e.g. 30d, 12h")] = None,
    config: ConfigOption = None,
) -> None:
    """Create a caller key; it is printed once and only its hash is stored."""
    with bad_input():
        spec = ApiKeyIn(
            name=name,
            team=team,
            scopes=ApiKeyScopes(models=model, configs=config_name, virtual_keys=virtual_key),
            metadata=pairs(metadata, "metadata"),
            expires_at=time.time() + duration_s(expires_in) if expires_in else None,
        )
    with opened(config) as store:
        created = store.create_api_key(spec, ACTOR)
    out.print(f"created API key [bold]{escape(name)}[/bold] (id {created.id})")
    out.print(created.key, markup=False, highlight=False)
    out.print("[yellow]store it now: it is not shown again (only its hash is kept)[/yellow]")


@keys_app.command("list")
def keys_list(config: ConfigOption = None) -> None:
    with opened(config) as store:
        keys = store.list_api_keys()
    rows: list[list[object]] = [
        [
            k.id,
            k.name,
            k.key_hint,
            k.team,
            ",".join(k.scopes.models or []) or "any",
            when(k.expires_at),
            "revoked" if k.revoked_at else "active",
        ]
        for k in keys
    ]
    table("API keys", ["id", "name", "key", "team", "models", "expires", "state"], rows)


@keys_app.command("revoke")
def keys_revoke(ref: str, config: ConfigOption = None) -> None:
    """Revoke a key by id or name (gateways refuse it within a second)."""
    with opened(config) as store:
        revoked = store.revoke_api_key(ref, ACTOR)
    out.print(f"revoked {escape(revoked.name)} ({revoked.key_hint})")


@keys_app.command("usage")
def keys_usage(
    ref: Annotated[str | None, typer.Argument()] = None, config: ConfigOption = None
) -> None:
    """Requests, tokens and cost per key and day."""
    with opened(config) as store:
        key_id = store.get_api_key(ref).id if ref else None
        usage = store.key_usage(key_id)
    rows: list[list[object]] = [
        [u.day, u.name or u.api_key_id, u.requests, u.tokens, f"{u.cost_usd:.6f}"] for u in usage
    ]
    table("Usage", ["day", "key", "requests", "tokens", "cost (USD)"], rows)


# -- virtual keys --------------------------------------------------------------------------


@vk_app.command("add")
def vk_add(  # noqa: PLR0913 - one parameter per CLI option
    name: str,
    provider: Annotated[str, typer.Option()],
    secret_env: Annotated[
        str | None, typer.Option(help="read the secret from this variable")
    ] = None,
    secret_stdin: Annotated[bool, typer.Option(help="read the secret from stdin")] = False,
    custom_host: Annotated[str | None, typer.Option()] = None,
    option: Annotated[list[str] | None, typer.Option(help="provider field NAME=VALUE")] = None,
    model: Many = None,
    team: Annotated[str | None, typer.Option()] = None,
    config: ConfigOption = None,
) -> None:
    """Store a provider credential under a name (``virtual_key: NAME`` in configs)."""
    secret = read_secret(secret_env, secret_stdin, f"{provider} API key")
    with bad_input():
        spec = VirtualKeyIn(
            name=name,
            provider=provider,
            api_key=SecretStr(secret) if secret else None,
            custom_host=custom_host,
            options=pairs(option, "option"),
            models=model or [],
            team=team,
        )
        virtual_key_entry(spec)
    with opened(config) as store:
        created = store.create_virtual_key(spec, ACTOR)
    out.print(f"stored virtual key [bold]{escape(name)}[/bold] ({escape(created.secret_hint)})")


@vk_app.command("list")
def vk_list(config: ConfigOption = None) -> None:
    with opened(config) as store:
        vks = store.list_virtual_keys()
    rows: list[list[object]] = [
        [
            v.name,
            v.provider,
            v.secret_hint,
            v.previous_secret_hint,
            v.custom_host,
            ",".join(v.models) or "any",
            v.team,
        ]
        for v in vks
    ]
    table(
        "Virtual keys", ["name", "provider", "secret", "previous", "host", "models", "team"], rows
    )


@vk_app.command("rotate")
def vk_rotate(
    name: str,
    secret_env: Annotated[str | None, typer.Option()] = None,
    secret_stdin: Annotated[bool, typer.Option()] = False,
    finish: Annotated[bool, typer.Option(help="drop the previous secret")] = False,
    config: ConfigOption = None,
) -> None:
    """Serve a new secret now (the old one stays as a fallback until --finish)."""
    rotation = (
        Rotation(finish=True)
        if finish
        else Rotation(api_key=SecretStr(read_secret(secret_env, secret_stdin, "new secret")))
    )
    with opened(config) as store:
        after = store.rotate_virtual_key(name, rotation, ACTOR)
    state = (
        "finished"
        if finish
        else f"serving {after.secret_hint}, fallback {after.previous_secret_hint}"
    )
    out.print(f"rotation of {escape(name)} {escape(state)}")


@vk_app.command("remove")
def vk_remove(name: str, config: ConfigOption = None) -> None:
    with opened(config) as store:
        store.delete_virtual_key(name, ACTOR)
    out.print(f"removed virtual key {escape(name)}")


# -- budgets and limits --------------------------------------------------------------------


@budgets_app.command("add")
def budgets_add(
    scope: Annotated[str, typer.Option(help="api_key | virtual_key | team")],
    target: Annotated[str, typer.Option()],
    usd: Annotated[float | None, typer.Option()] = None,
    tokens: Annotated[int | None, typer.Option()] = None,
    period: Annotated[str, typer.Option(help="day | month | total")] = "month",
    alert_at: Annotated[float, typer.Option(help="soft alert, fraction")] = 0.8,
    config: ConfigOption = None,
) -> None:
    with bad_input():
        spec = BudgetIn.model_validate(
            {
                "scope": scope,
                "target": target,
                "period": period,
                "limit_usd": usd,
                "limit_tokens": tokens,
                "alert_at": alert_at,
            }
        )
    with opened(config) as store:
        created = store.create_budget(spec, ACTOR)
    out.print(f"budget {created.id} for {scope} {escape(target)} ({period})")


@budgets_app.command("list")
def budgets_list(config: ConfigOption = None) -> None:
    with opened(config) as store:
        budgets = store.list_budgets()
    rows: list[list[object]] = [
        [
            b.id,
            b.scope,
            b.target,
            b.period,
            b.limit_usd,
            b.limit_tokens,
            f"{b.spent_usd:.4f}",
            b.spent_tokens,
        ]
        for b in budgets
    ]
    table(
        "Budgets",
        ["id", "scope", "target", "period", "USD", "tokens", "spent USD", "spent tokens"],
        rows,
    )


@budgets_app.command("remove")
def budgets_remove(budget_id: str, config: ConfigOption = None) -> None:
    with opened(config) as store:
        store.delete_budget(budget_id, ACTOR)
    out.print(f"removed budget {escape(budget_id)}")


@limits_app.command("add")
def limits_add(
    scope: Annotated[str, typer.Option(help="api_key | virtual_key | model | team")],
    target: Annotated[str, typer.Option()],
    rpm: Annotated[int | None, typer.Option()] = None,
    tpm: Annotated[int | None, typer.Option()] = None,
    config: ConfigOption = None,
) -> None:
    with bad_input():
        spec = RateLimitIn.model_validate(
            {"scope": scope, "target": target, "rpm": rpm, "tpm": tpm}
        )
    with opened(config) as store:
        created = store.create_rate_limit(spec, ACTOR)
    out.print(f"rate limit {created.id} for {scope} {escape(target)}")


@limits_app.command("list")
def limits_list(config: ConfigOption = None) -> None:
    with opened(config) as store:
        limits = store.list_rate_limits()
    rows: list[list[object]] = [[r.id, r.scope, r.target, r.rpm, r.tpm] for r in limits]
    table("Rate limits", ["id", "scope", "target", "rpm", "tpm"], rows)


@limits_app.command("remove")
def limits_remove(limit_id: str, config: ConfigOption = None) -> None:
    with opened(config) as store:
        store.delete_rate_limit(limit_id, ACTOR)
    out.print(f"removed rate limit {escape(limit_id)}")


def audit(
    kind: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    config: ConfigOption = None,
) -> None:
    """Every admin change, newest first."""
    with opened(config) as store:
        entries = store.audit(limit, kind)
    rows: list[list[object]] = [[when(e.at), e.actor, e.action, e.kind, e.name] for e in entries]
    table("Audit log", ["when (UTC)", "who", "action", "kind", "name"], rows)
