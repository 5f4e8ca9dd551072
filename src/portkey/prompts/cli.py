"""``portkey prompts list|show|diff|label|ab``: the prompt registry of a running gateway."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Annotated

import typer
from rich.markup import escape

from portkey.cli.control import err, out
from portkey.cli.remote import DEFAULT_URL, Url, admin

prompts_app = typer.Typer(no_args_is_help=True, help="Versioned prompts of a running gateway.")


@prompts_app.command("list")
def list_prompts(url: Url = DEFAULT_URL) -> None:
    for prompt in admin("GET", url, "/prompts"):
        labels = ", ".join(f"{k}={v}" for k, v in sorted(prompt["labels"].items()))
        out.print(f"{escape(prompt['id'])}  versions {prompt['versions']}  {escape(labels)}")


@prompts_app.command("show")
def show(prompt_id: str, url: Url = DEFAULT_URL) -> None:
    out.print_json(json.dumps(admin("GET", url, f"/prompts/{prompt_id}")))


@prompts_app.command("diff")
def diff(prompt_id: str, from_version: int, to_version: int, url: Url = DEFAULT_URL) -> None:
    result = admin(
        "GET", url, f"/prompts/{prompt_id}/diff", {"from": from_version, "to": to_version}
    )
    out.print(escape(result["diff"]) if result["diff"] else "(messages are the same)")
    for name, change in result["changes"].items():
        if change:
            out.print(f"{name}: {escape(json.dumps(change))}")


@prompts_app.command("label")
def label(
    prompt_id: str,
    name: Annotated[str, typer.Argument(help="the label, e.g. production")],
    version: int,
    url: Url = DEFAULT_URL,
) -> None:
    """Point a label at a version (the gateway serves the move at once)."""
    key = os.environ.get("PORTKEY_ADMIN_KEY")
    if not key:
        err.print("[red]error[/red] set PORTKEY_ADMIN_KEY to the gateway's admin key")
        raise typer.Exit(2)
    target = f"{url.rstrip('/')}/admin/prompts/{prompt_id}/labels/{name}"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    request = urllib.request.Request(
        target, data=json.dumps({"version": version}).encode(), method="PUT", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            result = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        message = json.loads(exc.read() or b"{}").get("error", {}).get("message", str(exc))
        err.print(f"[red]error[/red] {escape(message)}")
        raise typer.Exit(1) from exc
    except OSError as exc:
        err.print(f"[red]error[/red] cannot reach {escape(url)}: {escape(str(exc))}")
        raise typer.Exit(1) from exc
    out.print(f"{escape(prompt_id)}: {escape(name)} -> {result['labels'][name]}")


@prompts_app.command("ab")
def ab(
    prompt_id: str,
    url: Url = DEFAULT_URL,
    since_s: Annotated[float, typer.Option(help="look back this many seconds")] = 86_400,
) -> None:
    """Per variant: requests, errors, p50 latency, cost, feedback mean and its 95% interval."""
    for v in admin("GET", url, f"/prompts/{prompt_id}/ab", {"since_s": since_s})["variants"]:
        fb = v["feedback"]
        ci = "" if not fb["ci95"] else f" [{fb['ci95'][0]:.2f}, {fb['ci95'][1]:.2f}]"
        mean = "-" if fb["mean"] is None else f"{fb['mean']:.2f}"
        out.print(f"{v['label']}@{v['version']}: {v['requests']} requests, {v['errors']} errors, "
                  f"p50 {v['latency_ms']['p50']:.1f} ms, ${v['cost_usd']:.6f}, "
                  f"feedback {mean}{ci} (n={fb['count']})")  # fmt: skip
