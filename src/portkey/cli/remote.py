"""Calls from the CLI to a running gateway: its admin API (with PORTKEY_ADMIN_KEY) and /ready."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.markup import escape

from portkey.cli.control import err

Url = Annotated[str, typer.Option(help="the gateway", envvar="PORTKEY_URL")]
DEFAULT_URL = "http://127.0.0.1:8787"


def admin(method: str, url: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
    """The admin API's JSON answer; a clear message and exit code 1 or 2 otherwise."""
    key = os.environ.get("PORTKEY_ADMIN_KEY")
    if not key:
        err.print("[red]error[/red] set PORTKEY_ADMIN_KEY to the gateway's admin key")
        raise typer.Exit(2)
    query = {k: v for k, v in (params or {}).items() if v is not None}
    target = url.rstrip("/") + "/admin" + path
    if query:
        target += "?" + urllib.parse.urlencode(query)
    return fetch_json(method, target, {"Authorization": f"Bearer {key}"})


def fetch_json(
    method: str, url: str, headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = ()
) -> Any:
    """GET/POST ``url`` and parse its JSON; statuses in ``ok`` are answers, not errors."""
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read() or b"{}"
        if exc.code in ok:
            return json.loads(body)
        message = json.loads(body).get("error", {}).get("message", str(exc))
        err.print(f"[red]error[/red] {escape(message)}")
        raise typer.Exit(1) from exc
    except OSError as exc:
        err.print(f"[red]error[/red] cannot reach {escape(url)}: {escape(str(exc))}")
        raise typer.Exit(1) from exc
