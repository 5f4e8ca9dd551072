"""portkey.yaml's ``cache:`` section: where entries live and how the semantic lookup behaves."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portkey.config.routing import Strict


class CacheSettings(Strict):
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = Field(default="portkey:cache:", max_length=64)
    #: in-process LRU bound (keys + values)
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    #: answers larger than this are served but not stored
    max_entry_bytes: int = Field(default=4 * 1024 * 1024, ge=256)
    timeout_ms: int = Field(default=100, gt=0)
    #: TTL when the config's ``cache.max_age`` is not set (seconds)
    default_ttl_s: float = Field(default=3600, gt=0)
    #: e.g. "{metadata.domain}:{metadata.agent_id}"; x-portkey-cache-namespace wins
    namespace: str | None = Field(default=None, max_length=200)
    #: semantic lookups: cosine similarity a hit needs (within the same partition)
    threshold: float = Field(default=0.95, gt=0, le=1)
    #: where the semantic index lives: "auto" follows ``backend`` (Redis: shared by replicas)
    semantic_index: Literal["auto", "memory", "redis"] = "auto"
    #: questions the semantic index holds in all (oldest partitions lose their oldest first)
    semantic_max_entries: int = Field(default=100_000, ge=1, le=10_000_000)
    #: partitions up to this size are searched exactly; larger ones through an HNSW index
    semantic_exact_limit: int = Field(default=4096, ge=16, le=1_000_000)
