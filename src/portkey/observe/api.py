"""Admin routes over the request log: ``GET /admin/logs`` (filters, cursor) and one record."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from portkey.control.api.deps import Admin
from portkey.errors import NotFound, StoreUnavailable
from portkey.observe.logstore import MAX_PAGE, LogStore

router = APIRouter(tags=["logs"], dependencies=[Admin])
Text = Annotated[str | None, Query(max_length=200)]


def log_store(request: Request) -> LogStore:
    gateway = request.app.state.gateway
    observer = gateway.router.observer if gateway.router is not None else None
    store = getattr(observer, "logs", None)
    if not isinstance(store, LogStore):
        raise StoreUnavailable("request logs are off (logs.enabled: false) or not started yet")
    return store


@router.get("/logs")
async def search_logs(  # noqa: PLR0913 - one query parameter per filter
    request: Request,
    trace_id: Text = None,
    provider: Text = None,
    model: Text = None,
    status: Annotated[int | None, Query(ge=100, le=999)] = None,
    api_key_id: Text = None,
    virtual_key: Text = None,
    config: Text = None,
    cache_status: Text = None,
    error_type: Text = None,
    since: Annotated[float | None, Query(description="epoch seconds, inclusive")] = None,
    until: Annotated[float | None, Query(description="epoch seconds, exclusive")] = None,
    errors: Annotated[bool, Query(description="only status >= 400")] = False,
    cursor: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9a-f-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Request logs, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    filters = {
        "trace_id": trace_id, "provider": provider, "model": model, "status": status,
        "api_key_id": api_key_id, "virtual_key": virtual_key, "config": config,
        "cache_status": cache_status, "error_type": error_type, "since": since, "until": until,
    }  # fmt: skip
    store = log_store(request)
    page = await asyncio.to_thread(store.search, filters, cursor, limit, errors)
    return {"object": "list", "data": page.data, "next_cursor": page.next_cursor}


@router.get("/logs/{log_id}")
async def get_log(request: Request, log_id: str) -> dict[str, Any]:
    """One request log record, by the ``id`` the list returned."""
    record = await asyncio.to_thread(log_store(request).get, log_id)
    if record is None:
        raise NotFound(f"no request log {log_id!r}")
    return record
