"""``portkey sync run|plan|status|history|scheduler``: the sync jobs of portkey.yaml's ``data.syncs``."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from portkey.cli.query import ConfigOption, err, fail, out
from portkey.errors import GatewayError

if TYPE_CHECKING:
    from portkey.config.models import PortkeyFile
    from portkey.orchestrator.sync.history import History

sync_app = typer.Typer(no_args_is_help=True, help="Declarative data sync between engines.")
Job = Annotated[str, typer.Argument(help="the job's name under data.syncs")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _file(config: object) -> PortkeyFile:
    from portkey.cli.control import load_config

    file = load_config(config)  # type: ignore[arg-type]
    if not file.data.syncs:
        err.print("[red]error[/red] no sync jobs: declare them in portkey.yaml under data.syncs")
        raise typer.Exit(2)
    return file


def _history(file: PortkeyFile) -> History:
    from portkey.control.plane import database_url
    from portkey.orchestrator.sync.history import History
    from portkey.store.db import open_database

    return History(open_database(database_url(file.store)))


@sync_app.command("run")
def run(job: Job, config: ConfigOption = None, as_json: AsJson = False) -> None:
    """Run one job now (progress: rows/s and ETA from the source's row count)."""
    from portkey.orchestrator.sync.service import run_job

    file = _file(config)
    history = _history(file)
    total = _estimate(file, job)
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    start = time.perf_counter()
    with Progress(*columns, console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task(job, total=total, rate="")

        def on_progress(rows: int, nbytes: int) -> None:
            rate = rows / max(time.perf_counter() - start, 1e-6)
            bar.update(task, completed=rows, rate=f"{rate:,.0f} rows/s")

        try:
            outcome = run_job(file.data, history, job, progress=on_progress)
        except GatewayError as exc:
            raise fail(exc) from exc
    r = outcome.result
    if as_json:
        typer.echo(json.dumps({"run_id": outcome.run_id, **r.to_dict()}))
    else:
        color = "green" if r.status == "succeeded" else "red"
        rate = r.rows_written / r.seconds if r.seconds else 0.0
        out.print(
            f"[{color}]{r.status}[/{color}] {job}: {r.rows_read:,} rows read, "
            f"{r.rows_written:,} written, {r.bytes / 1e6:,.1f} MB in {r.seconds:.2f}s "
            f"({rate:,.0f} rows/s){' inside the engine' if r.same_engine else ''}"
        )
        for change in r.changes:
            out.print(f"  changed: {escape(change)}")
        if r.verification is not None:
            out.print(f"  verify: {escape(json.dumps(r.verification))}")
    if r.status != "succeeded":
        raise typer.Exit(1)


def _estimate(file: PortkeyFile, job: str) -> int | None:
    from portkey.orchestrator.sync.runner import Runner

    try:
        return Runner(file.data).estimate(job)
    except Exception:
        return None


@sync_app.command("plan")
def plan(job: Job, config: ConfigOption = None, as_json: AsJson = False) -> None:
    """What a run would do: column types on both sides, and the changes to the target."""
    from portkey.orchestrator.sync.runner import Runner

    file = _file(config)
    try:
        planned = Runner(file.data).plan(job)
    except GatewayError as exc:
        raise fail(exc) from exc
    data = planned.to_dict()
    if as_json:
        typer.echo(json.dumps(data))
    else:
        grid = Table("source", "type", "target", "target type", "note")
        for c in data["columns"]:
            grid.add_row(
                c["source"] or "(expr)", c["type"], c["name"], c["target_type"], c["lossy"] or ""
            )
        out.print(grid)
        for change in data["changes"] or ["no changes to the target"]:
            out.print(f"  {escape(change)}")
        for problem in data["errors"]:
            err.print(f"[red]error[/red] {escape(problem)}")
    if data["errors"]:
        raise typer.Exit(1)


@sync_app.command("status")
def status(config: ConfigOption = None, as_json: AsJson = False) -> None:
    """Every job with its schedule and last run."""
    file = _file(config)
    history = _history(file)
    rows: list[dict[str, Any]] = []
    for name, spec in file.data.syncs.items():
        runs = history.runs(name, limit=1)
        rows.append(
            {
                "job": name,
                "source": f"{spec.source.engine}.{spec.source.table or '(sql)'}",
                "target": f"{spec.target.engine}.{spec.target.table}",
                "mode": spec.mode,
                "schedule": spec.schedule,
                "last_run": runs[0].to_dict() if runs else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows))
        return
    grid = Table("job", "source -> target", "mode", "schedule", "last run", "rows")
    for r in rows:
        last = r["last_run"]
        grid.add_row(
            r["job"],
            f"{r['source']} -> {r['target']}",
            r["mode"],
            r["schedule"] or "manual",
            "never" if last is None else f"{last['status']} {_ago(last['started_at'])}",
            "" if last is None else f"{last['rows_written']:,}",
        )
    out.print(grid)


@sync_app.command("history")
def history_(
    job: Job,
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: AsJson = False,
) -> None:
    """The job's last runs, newest first."""
    file = _file(config)
    runs = [r.to_dict() for r in _history(file).runs(job, limit=limit)]
    if as_json:
        typer.echo(json.dumps(runs))
        return
    grid = Table("run", "status", "started", "seconds", "read", "written", "changes", "error")
    for r in runs:
        grid.add_row(
            r["id"],
            r["status"],
            _ago(r["started_at"]),
            f"{r['seconds']:.2f}",
            f"{r['rows_read']:,}",
            f"{r['rows_written']:,}",
            "; ".join(r["changes"]),
            escape(r["error"] or ""),
        )
    out.print(grid)


@sync_app.command("scheduler")
def scheduler(config: ConfigOption = None) -> None:
    """Run scheduled jobs in the foreground (one run per slot across every replica)."""
    from portkey.orchestrator.sync.scheduler import Scheduler

    file = _file(config)
    sched = Scheduler(lambda: file.data, _history(file))
    out.print(
        f"scheduler {sched.holder}: {sum(1 for j in file.data.syncs.values() if j.schedule)} scheduled jobs"
    )
    try:
        while True:
            sched.tick()
            time.sleep(sched.interval_s)  # noqa: TID251 - the CLI's foreground loop
    except KeyboardInterrupt:
        pass


def _ago(ts: float) -> str:
    seconds = max(0.0, time.time() - ts)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
