"""Admin routes: the response cache's counters, and purging it (all, or one namespace)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from portkey.control.api.deps import Admin
from portkey.errors import StoreUnavailable

router = APIRouter(tags=["cache"], dependencies=[Admin])


def _cache(request: Request) -> Any:
    cache = request.app.state.gateway.cache
    if cache is None:
        raise StoreUnavailable("the cache is not started yet")
    return cache


@router.get("/cache/stats")
async def cache_stats(request: Request) -> dict[str, int | float | str]:
    """Entries, bytes, hits, misses, evictions (this process's view for the memory backend),
    and this process's lookups by cache status (``lookups.HIT``, ``lookups.SEMANTIC MISS``...)."""
    cache = _cache(request)
    stats: dict[str, int | float | str] = await cache.backend.stats()
    stats.update(cache.stats())
    return stats


@router.post("/cache/purge")
async def cache_purge(
    request: Request,
    namespace: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")] = None,
) -> dict[str, int]:
    """Delete cached answers: every one, or those of one namespace."""
    prefix = f"{namespace}:" if namespace else ""
    return {"deleted": await _cache(request).purge(prefix)}
