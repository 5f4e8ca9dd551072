"""Exact and semantic response caching: keys, entries, backends (memory, Redis), the service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portkey.cache.base import CacheBackend
from portkey.cache.memory import MemoryBackend
from portkey.cache.redis_backend import RedisBackend
from portkey.cache.settings import CacheSettings

if TYPE_CHECKING:
    from portkey.cache.service import CacheService


def make_cache_service(settings: CacheSettings) -> CacheService:
    """The exact cache, plus the semantic engine (its model loads on first semantic use).

    The semantic index is in-process for now, even with the Redis backend: replicas share
    exact entries, each builds its own index of the questions it saw.
    """
    from portkey.cache.semantic.embedder import LocalEmbedder
    from portkey.cache.semantic.guards import Guards
    from portkey.cache.semantic.index_memory import MemoryIndex
    from portkey.cache.service import CacheService

    return CacheService(settings, make_backend(settings), MemoryIndex(), LocalEmbedder(), Guards())


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
]
