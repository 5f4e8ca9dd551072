"""Exact and semantic response caching: keys, entries, backends (memory, Redis), the service."""

from __future__ import annotations

from portkey.cache.base import CacheBackend
from portkey.cache.memory import MemoryBackend
from portkey.cache.redis_backend import RedisBackend
from portkey.cache.settings import CacheSettings


def make_backend(settings: CacheSettings) -> CacheBackend:
    if settings.backend == "redis":
        return RedisBackend(
            settings.redis_url, settings.key_prefix, settings.timeout_ms, settings.max_entry_bytes
        )
    return MemoryBackend(settings.max_bytes, settings.max_entry_bytes)


__all__ = ["CacheBackend", "CacheSettings", "MemoryBackend", "RedisBackend", "make_backend"]
