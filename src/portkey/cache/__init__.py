"""Exact and semantic response caching: keys, entries, backends (memory, Redis), the service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portkey.cache.base import CacheBackend, SemanticIndex
from portkey.cache.memory import MemoryBackend
from portkey.cache.redis_backend import RedisBackend
from portkey.cache.settings import CacheSettings

if TYPE_CHECKING:
    from portkey.cache.service import CacheService


def make_cache_service(settings: CacheSettings) -> CacheService:
    """The exact cache, plus the semantic engine (its model loads on first semantic use)."""
    from portkey.cache.semantic.embedder import LocalEmbedder
    from portkey.cache.semantic.guards import Guards
    from portkey.cache.service import CacheService

    return CacheService(
        settings, make_backend(settings), make_index(settings), LocalEmbedder(), Guards()
    )


#: settings a running service takes as they are; any other change builds a new service
POLICY_FIELDS = frozenset({"threshold", "namespace", "default_ttl_s"})


def reconfigured(service: CacheService, settings: CacheSettings) -> CacheService:
    """The service to use after a config reload.

    A change of lookup policy only (threshold, namespace template, default TTL) keeps the
    running service and its entries; a change of backend, bounds or index builds a new one
    (the caller closes the old one once its in-flight work is done).
    """
    old = service.settings.model_dump(exclude=set(POLICY_FIELDS))
    if old == settings.model_dump(exclude=set(POLICY_FIELDS)):
        service.settings = settings
        return service
    return make_cache_service(settings)


def make_index(settings: CacheSettings) -> SemanticIndex:
    """In-process, or in-process copies kept in step through Redis (shared by replicas)."""
    from portkey.cache.semantic.index_memory import MemoryIndex

    kind = settings.semantic_index
    if kind == "auto":
        kind = "redis" if settings.backend == "redis" else "memory"
    local = MemoryIndex(settings.semantic_max_entries, exact_limit=settings.semantic_exact_limit)
    if kind == "memory":
        return local
    from portkey.cache.semantic.index_shared import ReplicatedIndex

    return ReplicatedIndex(
        settings.redis_url, settings.key_prefix, max_entries=settings.semantic_max_entries,
        timeout_ms=settings.timeout_ms, local=local,
    )  # fmt: skip


def make_backend(settings: CacheSettings) -> CacheBackend:
    if settings.backend == "redis":
        return RedisBackend(
            settings.redis_url, settings.key_prefix, settings.timeout_ms, settings.max_entry_bytes
        )
    return MemoryBackend(settings.max_bytes, settings.max_entry_bytes)


__all__ = [
    "CacheBackend",
    "CacheSettings",
    "MemoryBackend",
    "RedisBackend",
    "make_backend",
    "make_cache_service",
    "make_index",
    "reconfigured",
]
