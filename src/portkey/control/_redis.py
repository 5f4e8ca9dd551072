"""One Redis client for the counters: Lua scripts by EVALSHA, a hard timeout, an outage policy.

Every call is bounded by ``timeout_ms`` (socket timeouts plus an ``asyncio.timeout`` around the
whole call, NOSCRIPT reload included), and the client never retries on its own. When Redis fails,
the outage is logged once (and its end once); while it lasts, one call per ``probe_s`` tries Redis
and the others answer at once: ``None`` when failing open, ``LimiterUnavailable`` when closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from portkey.config.models import LimitsSettings
from portkey.errors import LimiterUnavailable

log = logging.getLogger("portkey.control")


#: Lua: ``clock(arg)`` is ``arg`` as a number, or Redis ``TIME`` when it is "".
LUA_CLOCK = """
local function clock(arg)
  local now = tonumber(arg)
  if now == nil then
    local t = redis.call('TIME')
    now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  end
  return now
end
"""


@dataclass(frozen=True, slots=True)
class Script:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


class RedisScripts:
    """A pooled ``redis.asyncio`` client that runs Lua scripts under the outage policy."""

    def __init__(
        self,
        url: str,
        *,
        timeout_ms: int,
        fail_open: bool,
        what: str,
        probe_s: float = 1.0,
    ) -> None:
        self.timeout_s = timeout_ms / 1000
        self.fail_open = fail_open
        self.what = what
        self.probe_s = probe_s
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._down_since: float | None = None
        self._next_probe = 0.0

    @classmethod
    def from_settings(cls, settings: LimitsSettings, *, what: str) -> RedisScripts:
        fail_open = settings.on_backend_error == "open"
        return cls(
            settings.redis_url, timeout_ms=settings.timeout_ms, fail_open=fail_open, what=what
        )

    @property
    def down(self) -> bool:
        return self._down_since is not None

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's reply, or ``None`` when Redis failed and the policy is to fail open."""
        if self._down_since is not None:
            now = time.monotonic()
            if now < self._next_probe:
                return self._refuse(None)
            self._next_probe = now + self.probe_s  # this call probes; the others answer at once
        try:
            async with asyncio.timeout(self.timeout_s):
                reply = await self._evalsha(script, keys, args)
        except (RedisError, OSError, TimeoutError) as exc:
            self._outage(exc)
            return self._refuse(exc)
        if self._down_since is not None:
            log.warning(
                "%s: Redis is back after %.1f s", self.what, time.monotonic() - self._down_since
            )
            self._down_since = None
        return reply

    async def _evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await _awaited(self.client.evalsha(script.sha, len(keys), *keys, *args))
        except NoScriptError:  # first use, or Redis restarted / SCRIPT FLUSH: load it and go on
            await _awaited(self.client.script_load(script.source))
            return await _awaited(self.client.evalsha(script.sha, len(keys), *keys, *args))

    def _outage(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._next_probe = self._down_since + self.probe_s
            policy = "letting requests through" if self.fail_open else "refusing requests (503)"
            log.warning(
                "%s: Redis failed (%s: %s); %s until it is back",
                self.what,
                type(exc).__name__,
                exc or "timed out",
                policy,
            )

    def _refuse(self, exc: BaseException | None) -> None:
        if self.fail_open:
            return None
        raise LimiterUnavailable(f"{self.what} unavailable: Redis is not answering") from exc

    async def close(self) -> None:
        await self.client.aclose()


def _awaited(value: Any) -> Awaitable[Any]:
    """redis-py types its commands as sync-or-async; with the asyncio client they are awaitable."""
    return cast(Awaitable[Any], value)
