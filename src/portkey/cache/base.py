"""The cache's interfaces: where entries live (exact) and how similar questions are found (semantic).

An entry is the bytes the client got (a chat.completion JSON, or a complete SSE stream) plus a
small header; ``portkey.cache.entry`` encodes it. Backends store opaque bytes under string
keys with a TTL; the semantic index maps a question's vector, within a partition that pins
everything but the wording of the last user turn, to the exact key of its stored answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class CacheBackend(Protocol):
    """Bytes by key, with expiry. In-process LRU (bounded by bytes) or Redis."""

    name: str

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent, expired, or the backend is unreachable."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> bool:
        """Store (False when refused: too large, or the backend is unreachable)."""
        ...

    async def delete(self, key: str) -> None: ...

    async def purge(self, prefix: str = "") -> int:
        """Delete every key starting with ``prefix`` (all when empty); returns how many."""
        ...

    async def stats(self) -> dict[str, int | float | str]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    key: str  # the exact-cache key of the stored answer
    similarity: float
    text: str = ""  # the stored question, for the pairwise checks a partition cannot make


class SemanticIndex(Protocol):
    """Vectors by partition: in-process (numpy) or shared (Redis)."""

    async def search(
        self, partition: str, vector: Sequence[float], threshold: float
    ) -> SemanticMatch | None:
        """The most similar live entry with similarity >= threshold, if any."""
        ...

    async def add(
        self, partition: str, vector: Sequence[float], key: str, ttl_s: float | None, text: str = ""
    ) -> None: ...

    async def purge(self, prefix: str = "") -> int: ...

    async def close(self) -> None: ...
