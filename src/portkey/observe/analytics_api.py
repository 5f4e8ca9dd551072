"""Admin routes ``/admin/analytics/*``: the dashboard's aggregates over the request log, as JSON.

Every route takes ``since``/``until`` (epoch seconds; default: the last hour), ``bucket``
(seconds, or ``30s``/``5m``/``1h``/``1d``; default: about 120 buckets, at least a minute)
and the equality filters ``provider``, ``model``, ``api_key_id``, ``virtual_key``. Counts and
sums are exact; percentiles are exact for windows the rollups do not reach yet (the last two
minutes, sub-minute buckets) and within 2.5 % otherwise (see ``portkey.observe.analytics``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from portkey.control.api.deps import Admin
from portkey.errors import InvalidRequest, StoreUnavailable
from portkey.observe.analytics import GROUPS, Analytics, Window
from portkey.observe.api import log_store

router = APIRouter(prefix="/analytics", tags=["analytics"], dependencies=[Admin])
Text = Annotated[str | None, Query(max_length=200)]
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
_BUCKET = re.compile(r"^(\d{1,9})([smhd]?)$")


def parse_bucket(text: str | None) -> int | None:
    """``"300"``, ``"5m"``, ``"1h"`` -> seconds; ``None`` -> chosen from the window."""
    if text is None or text == "":
        return None
    match = _BUCKET.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidRequest(
            f"bucket {text!r} is not a positive number of seconds (or 30s, 5m, 1h, 1d)",
            param="bucket",
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def analytics(request: Request) -> Analytics:
    """The analytics over this gateway's log store (cached on the store)."""
    store = log_store(request)
    found = getattr(request.app.state, "analytics", None)
    if not isinstance(found, Analytics) or found.db is not store.db:
        if store.db.dialect not in ("sqlite", "postgres"):  # pragma: no cover - both exist
            raise StoreUnavailable(f"no analytics for a {store.db.dialect} log store")
        found = Analytics(store.db)
        request.app.state.analytics = found
    return found


def health_thresholds(request: Request) -> tuple[float, int]:
    """``health.max_error_rate`` and ``health.min_requests`` of the running config."""
    health = request.app.state.gateway.holder.current.file.health
    return float(health.max_error_rate), int(health.min_requests)


def window(
    since: Annotated[float | None, Query(description="epoch seconds, inclusive")] = None,
    until: Annotated[float | None, Query(description="epoch seconds, exclusive")] = None,
    bucket: Annotated[str | None, Query(max_length=12, description="seconds or 5m, 1h")] = None,
    provider: Text = None,
    model: Text = None,
    api_key_id: Text = None,
    virtual_key: Text = None,
) -> Window:
    filters = {
        "provider": provider, "model": model, "api_key_id": api_key_id,
        "virtual_key": virtual_key,
    }  # fmt: skip
    return Window.of(since, until, parse_bucket(bucket), filters)


Stats = Annotated[Analytics, Depends(analytics)]
Span = Annotated[Window, Depends(window)]


async def _series(fn: Callable[..., list[dict[str, Any]]], span: Window, *args: Any) -> Any:
    data = await asyncio.to_thread(fn, span, *args)
    return {
        "object": "analytics.series",
        "since": span.since,
        "until": span.until,
        "bucket_s": span.bucket_s,
        "data": data,
    }


@router.get("/requests")
async def requests_per_minute(stats: Stats, span: Span) -> dict[str, Any]:
    """Requests per bucket and model, with the rate per minute (``rpm``)."""
    result: dict[str, Any] = await _series(stats.requests_per_minute, span)
    return result


@router.get("/cache")
async def cache_hit_rate(stats: Stats, span: Span) -> dict[str, Any]:
    """Cache lookups, hits and hit rate per bucket (requests with the cache off left out)."""
    result: dict[str, Any] = await _series(stats.cache_hit_rate, span)
    return result


@router.get("/latency")
async def latency(stats: Stats, span: Span) -> dict[str, Any]:
    """Nearest-rank p50/p95/p99 of total latency (ms) per bucket and provider."""
    result: dict[str, Any] = await _series(stats.latency, span)
    return result


@router.get("/cost")
async def cost(
    stats: Stats,
    span: Span,
    group_by: Annotated[str | None, Query(description=" | ".join(GROUPS))] = None,
) -> dict[str, Any]:
    """Cost per bucket (and per request); with ``group_by``, totals over the window per group."""
    if group_by is None:
        result: dict[str, Any] = await _series(stats.cost_series, span)
    else:
        result = await _series(stats.cost_totals, span, group_by)
        result["group_by"] = group_by
    return result


@router.get("/errors")
async def error_rate(stats: Stats, span: Span) -> dict[str, Any]:
    """Requests, errors (status >= 400) and error rate per bucket and provider."""
    result: dict[str, Any] = await _series(stats.error_rate, span)
    return result


@router.get("/providers")
async def provider_health(request: Request, stats: Stats, span: Span) -> dict[str, Any]:
    """Per provider over the window: requests, error rate, p95 latency, last error, and the
    status ``/ready`` would give at that error rate (``health.max_error_rate``, ``min_requests``)."""
    data = await asyncio.to_thread(
        stats.provider_health, span.since, span.until, *health_thresholds(request)
    )
    return {"object": "list", "since": span.since, "until": span.until, "data": data}
