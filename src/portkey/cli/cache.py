"""``portkey cache stats|purge``: through a running gateway's admin API (its cache lives there)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from portkey.cli.control import out
from portkey.cli.remote import DEFAULT_URL, Url, admin

cache_app = typer.Typer(no_args_is_help=True, help="The response cache of a running gateway.")


@cache_app.command("stats")
def stats(url: Url = DEFAULT_URL) -> None:
    for name, value in admin("GET", url, "/cache/stats").items():
        out.print(f"{escape(name)}: {value}")


@cache_app.command("purge")
def purge(
    url: Url = DEFAULT_URL,
    namespace: Annotated[str | None, typer.Option(help="only this namespace")] = None,
) -> None:
    deleted = admin("POST", url, "/cache/purge", {"namespace": namespace})["deleted"]
    out.print(f"deleted {deleted} cached answer(s)")
