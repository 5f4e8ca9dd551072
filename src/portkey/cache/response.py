"""Stands in for an upstream response when the answer comes from the cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from portkey.transport.http import UpstreamResponse


class CachedResponse(UpstreamResponse):
    """Status 200, no upstream headers, nothing to read or close."""

    def __init__(self) -> None:
        super().__init__(200, cast(Any, None))

    @property
    def headers(self) -> list[tuple[str, str]]:
        return []

    def header(self, name: str) -> str | None:
        return None

    async def read(self) -> bytes:
        return b""

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        return
        yield b""  # pragma: no cover - makes this an async generator

    def close(self) -> None:
        return None
