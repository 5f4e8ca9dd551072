"""``portkey cache stats|purge``: through a running gateway's admin API (its cache lives there)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated, Any

import typer
from rich.markup import escape

from portkey.cli.control import err, out

cache_app = typer.Typer(no_args_is_help=True, help="The response cache of a running gateway.")
Url = Annotated[str, typer.Option(help="the gateway", envvar="PORTKEY_URL")]


def _admin(method: str, url: str, path: str) -> Any:
    key = os.environ.get("PORTKEY_ADMIN_KEY")
    if not key:
        err.print("[red]error[/red] set PORTKEY_ADMIN_KEY to the gateway's admin key")
        raise typer.Exit(2)
    request = urllib.request.Request(
        url.rstrip("/") + "/admin" + path, method=method, headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        message = json.loads(exc.read() or b"{}").get("error", {}).get("message", str(exc))
        err.print(f"[red]error[/red] {escape(message)}")
        raise typer.Exit(1) from exc
    except OSError as exc:
        err.print(f"[red]error[/red] cannot reach {escape(url)}: {escape(str(exc))}")
        raise typer.Exit(1) from exc


@cache_app.command("stats")
def stats(url: Url = "http://127.0.0.1:8787") -> None:
    for name, value in _admin("GET", url, "/cache/stats").items():
        out.print(f"{escape(name)}: {value}")


@cache_app.command("purge")
def purge(
    url: Url = "http://127.0.0.1:8787",
    namespace: Annotated[str | None, typer.Option(help="only this namespace")] = None,
) -> None:
    query = "?" + urllib.parse.urlencode({"namespace": namespace}) if namespace else ""
    deleted = _admin("POST", url, "/cache/purge" + query)["deleted"]
    out.print(f"deleted {deleted} cached answer(s)")
