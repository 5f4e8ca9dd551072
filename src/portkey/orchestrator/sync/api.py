"""``/admin/syncs``: list jobs, plan one, start a run (202), read run history.

Runs go to a worker thread (drivers are synchronous); the handler answers at once with the
run id, and ``GET /admin/syncs/{job}/runs/{id}`` follows it. Errors are the admin API's
OpenAI-style objects: unknown job 404, a run already going 409, a plan that cannot run 400.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from portkey.control.api.deps import Admin
from portkey.errors import NotFound, StoreUnavailable
from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.sync.history import History

router = APIRouter(prefix="/syncs", tags=["syncs"], dependencies=[Admin])
_lock = threading.Lock()


def _settings(request: Request) -> DataSettings:
    data: DataSettings = request.app.state.gateway.holder.current.file.data
    return data


def _history(request: Request) -> History:
    gateway = request.app.state.gateway
    control = gateway.control
    if control is None:
        raise StoreUnavailable("the store is not started yet")
    with _lock:
        history = getattr(request.app.state, "sync_history", None)
        if history is None or history.db is not control.store.db:
            history = History(control.store.db)
            request.app.state.sync_history = history
    return history


def _job(request: Request, name: str) -> Any:
    job = _settings(request).syncs.get(name)
    if job is None:
        raise NotFound(f"no sync job {name!r}", param="job", code="unknown_sync")
    return job


@router.get("")
async def list_jobs(request: Request) -> dict[str, Any]:
    history = await asyncio.to_thread(_history, request)
    jobs = []
    for name, job in _settings(request).syncs.items():
        last = await asyncio.to_thread(history.runs, name, 1)
        jobs.append(
            {
                "name": name,
                "config": job.model_dump(mode="json"),
                "last_run": last[0].to_dict() if last else None,
            }
        )
    return {"object": "list", "data": jobs}


@router.get("/{name}/plan")
async def plan_job(request: Request, name: str) -> dict[str, Any]:
    from portkey.orchestrator.sync.runner import Runner

    _job(request, name)
    planned = await asyncio.to_thread(Runner(_settings(request)).plan, name)
    return planned.to_dict()


@router.post("/{name}/runs", status_code=202)
async def start_run(request: Request, name: str) -> JSONResponse:
    from portkey.orchestrator.sync.service import begin, run_job

    _job(request, name)
    settings, history = _settings(request), await asyncio.to_thread(_history, request)
    begun = await asyncio.to_thread(begin, history, name, "api")
    run_id = begun[0]

    def work() -> None:
        try:
            run_job(settings, history, name, begun=begun)
        except Exception:  # recorded in the run's history row
            return

    threading.Thread(target=work, name=f"sync-{name}", daemon=True).start()
    return JSONResponse({"id": run_id, "job": name, "status": "running"}, status_code=202)


@router.get("/{name}/runs")
async def list_runs(
    request: Request, name: str, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> dict[str, Any]:
    _job(request, name)
    history = await asyncio.to_thread(_history, request)
    runs = await asyncio.to_thread(history.runs, name, limit)
    return {"object": "list", "data": [r.to_dict() for r in runs]}


@router.get("/{name}/runs/{run_id}")
async def get_run(request: Request, name: str, run_id: str) -> dict[str, Any]:
    history = await asyncio.to_thread(_history, request)
    record = await asyncio.to_thread(history.get, run_id)
    if record is None or record.job != name:
        raise NotFound(f"no run {run_id!r} of sync {name!r}", param="run_id")
    return record.to_dict()
