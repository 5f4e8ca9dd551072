"""Access tokens cached per credential until shortly before they expire, one refresh at a time.

Keys are whatever identifies a credential (hash secrets before using them as keys). ``clock``
is an attribute so tests can move time forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from portkey.errors import UpstreamUnavailable

#: fetches (token, seconds it lives) from wherever the credential is exchanged
Fetch = Callable[[], Awaitable[tuple[str, float]]]


class TokenCache:
    """``await cache.get(key, fetch)``: the cached token, or one fetched by a single caller."""

    def __init__(self, margin_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.margin_s = margin_s
        self.clock = clock
        #: key -> (token, clock time from which it is no longer handed out)
        self._tokens: dict[Hashable, tuple[str, float]] = {}
        #: one lock per key per event loop (an asyncio.Lock belongs to one loop)
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Hashable, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    async def get(self, key: Hashable, fetch: Fetch) -> str:
        cached = self._fresh(key)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        lock = self._locks.setdefault(loop, {}).setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._fresh(key)  # another request refreshed it meanwhile
            if cached is not None:
                return cached
            token, lifetime = await fetch()
            self._tokens[key] = (token, self.clock() + lifetime - self.margin_s)
            return token

    def _fresh(self, key: Hashable) -> str | None:
        entry = self._tokens.get(key)
        return entry[0] if entry is not None and entry[1] > self.clock() else None


async def post_token_form(
    provider: str, where: str, url: str, form: dict[str, str], timeout_s: float = 10.0
) -> tuple[int, dict[str, Any]]:
    """POST an OAuth token form: (status, JSON object answer or {}).

    Unreachable endpoints and 5xx answers are ``UpstreamUnavailable`` (retryable, may fall
    back); the caller judges 4xx answers. Messages never include the form (it holds secrets).
    """
    import aiohttp
    import orjson

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.post(url, data=form) as response,
        ):
            status, body = response.status, await response.read()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise UpstreamUnavailable(
            f"{provider}: cannot reach {where}: {type(exc).__name__}"
        ) from None
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if status >= 500:
        raise UpstreamUnavailable(f"{provider}: {where} answered {status}")
    return status, answer if isinstance(answer, dict) else {}
