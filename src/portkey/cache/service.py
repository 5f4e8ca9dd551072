"""The cache on the request path: look up before routing, store after a complete answer.

Policy comes from the strategy tree (Portkey's ``cache: {mode, max_age}``, inherited like any
option; the first target's policy is the plan's). The key is the canonical request within a
namespace (``x-portkey-cache-namespace``, or the ``cache.namespace`` template over metadata)
and the set of targets that could answer. ``x-portkey-cache-force-refresh: true`` skips the
lookup and stores the fresh answer. Streams are stored as the SSE bytes of a complete answer
(never a broken one) and replayed as a well-formed stream. Errors are never stored. Semantic
mode adds a lookup by meaning within a partition that pins everything but the wording of the
last user turn, through three parts given to the service (``Partitioner``, ``Embedder``,
``SemanticIndex``); until they are, semantic mode is exact-only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from portkey.cache.base import CacheBackend, SemanticIndex
from portkey.cache.entry import CorruptEntry, Entry, decode, encode
from portkey.cache.keys import exact_key, namespace_of, safe_namespace
from portkey.cache.settings import CacheSettings
from portkey.gateway.plan import Leaf, Plan, leaves


class Embedder(Protocol):
    async def aembed(self, texts: list[str]) -> Any: ...


class Partitioner(Protocol):
    """What pins a semantic lookup: the text to embed, and everything else as a partition."""

    def text(self, body: Mapping[str, Any]) -> str | None: ...

    def partition(self, body: Mapping[str, Any]) -> str | None: ...

    def compatible(self, question: str, stored: str) -> bool: ...


log = logging.getLogger("portkey.cache")

HIT = b"HIT"
SEMANTIC_HIT = b"SEMANTIC HIT"
MISS = b"MISS"
SEMANTIC_MISS = b"SEMANTIC MISS"
REFRESH = b"REFRESH"
DISABLED = b"DISABLED"
FORCE_REFRESH = "x-portkey-cache-force-refresh"
NAMESPACE = "x-portkey-cache-namespace"
STATUSES = ("HIT", "SEMANTIC HIT", "MISS", "SEMANTIC MISS", "REFRESH")


class Ticket:
    """One request's dealings with the cache."""

    __slots__ = ("age", "key", "kind", "partition", "status", "text", "ttl_s", "vector")

    def __init__(self, key: str, ttl_s: float | None, status: bytes) -> None:
        self.key = key
        self.ttl_s = ttl_s
        self.status = status
        self.age: int | None = None
        self.kind = "json"
        self.partition: str | None = None
        self.vector: Any = None
        self.text = ""

    @property
    def stores(self) -> bool:
        """The answer should be stored once complete."""
        return self.status in (MISS, SEMANTIC_MISS, REFRESH)


def policy_of(plan: Plan) -> Mapping[str, Any] | None:
    """The plan's cache policy: its first target's (options inherit down the tree)."""
    return leaves(plan.root)[0].cache


def scope_of(plan: Plan) -> str:
    """Who could answer: the same question to other targets is another entry."""
    parts = []
    for leaf in leaves(plan.root):
        model = (leaf.override_params or {}).get("model", "")
        parts.append(f"{leaf.spec.id}|{leaf.base_url}|{model}")
    return "\n".join(parts)


class CacheService:
    def __init__(
        self,
        settings: CacheSettings,
        backend: CacheBackend,
        index: SemanticIndex | None = None,
        embedder: Embedder | None = None,
        partitioner: Partitioner | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.backend = backend
        #: the semantic engine's three parts; without them semantic mode is exact-only
        self.index = index
        self.embedder = embedder
        self.partitioner = partitioner
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        #: lookups by final status (HIT, SEMANTIC HIT, MISS, ...): this process's counters
        self.counts: dict[str, int] = dict.fromkeys(STATUSES, 0)

    def stats(self) -> dict[str, int]:
        """Lookup counters by status, for ``/admin/cache/stats`` and the metrics."""
        return {f"lookups.{status}": count for status, count in self.counts.items()}

    def health(self) -> dict[str, Any]:
        """For ``/ready``: the backend, and whether it is reachable (as last seen: no I/O)."""
        down = bool(getattr(self.backend, "_down", False))
        index_down = bool(getattr(self.index, "_down", False))
        out: dict[str, Any] = {"status": "degraded" if down or index_down else "ok"}
        out["backend"] = self.backend.name
        if down:
            out["error"] = "Redis unreachable: answers are served without the cache"
        elif index_down:
            out["error"] = "Redis unreachable: the semantic index serves its local copy"
        return out

    # -- lookup ----------------------------------------------------------------------------

    async def lookup(self, call: Any, plan: Plan) -> Entry | None:
        """The stored answer for this request, or None (the ticket on ``call`` says why)."""
        policy = policy_of(plan)
        if not policy:
            return None
        entry = await self._lookup(call, plan, policy)
        status = call.cache.status.decode()
        self.counts[status] = self.counts.get(status, 0) + 1
        return entry

    async def _lookup(self, call: Any, plan: Plan, policy: Mapping[str, Any]) -> Entry | None:
        header = call.headers.get(NAMESPACE)
        namespace = (
            safe_namespace(header)
            if header
            else namespace_of(self.settings.namespace or "", call.metadata)
        )
        key = exact_key(namespace, scope_of(plan), call.route, call.body)
        ttl = policy.get("max_age")
        ticket = Ticket(key, float(ttl) if ttl else self.settings.default_ttl_s, MISS)
        ticket.kind = "sse" if call.stream else "json"
        call.cache = ticket
        semantic = policy.get("mode") == "semantic" and self.partitioner is not None
        if call.headers.get(FORCE_REFRESH, "").lower() == "true":
            ticket.status = REFRESH
            if semantic:
                await self._prepare_semantic(call, ticket, namespace)
            return None
        entry = await self._get(key)
        if entry is not None:
            ticket.status = HIT
            ticket.age = int(max(0.0, self.clock() - entry.created_at))
            return entry
        if not semantic:
            return None
        ticket.status = SEMANTIC_MISS
        if not await self._prepare_semantic(call, ticket, namespace):
            return None
        assert self.index is not None and ticket.partition is not None
        match = await self.index.search(ticket.partition, ticket.vector, self.settings.threshold)
        if match is None or not self.partitioner.compatible(ticket.text, match.text):  # type: ignore[union-attr]
            return None
        entry = await self._get(match.key)
        if entry is None:
            return None
        ticket.status = SEMANTIC_HIT
        ticket.age = int(max(0.0, self.clock() - entry.created_at))
        return entry

    async def _prepare_semantic(self, call: Any, ticket: Ticket, namespace: str) -> bool:
        if self.partitioner is None or self.embedder is None:
            return False
        text = self.partitioner.text(call.body)
        partition = self.partitioner.partition(call.body) if text is not None else None
        if text is None or partition is None:
            return False
        ticket.partition = f"{namespace}:{ticket.kind}:{partition}"
        ticket.text = text
        ticket.vector = (await self.embedder.aembed([text]))[0]
        return True

    async def _get(self, key: str) -> Entry | None:
        raw = await self.backend.get(key)
        if raw is None:
            return None
        try:
            return decode(raw)
        except CorruptEntry:
            log.warning("corrupt cache entry %s: deleted, treated as a miss", key)
            await self.backend.delete(key)
            return None

    # -- store -----------------------------------------------------------------------------

    def store(self, call: Any, leaf: Leaf, body: bytes) -> None:
        """Store a complete answer in the background (never delays the response)."""
        ticket: Ticket | None = getattr(call, "cache", None)
        if ticket is None or not ticket.stores or not body:
            return
        model = (leaf.override_params or {}).get("model") or call.body.get("model") or ""
        entry = Entry(
            created_at=self.clock(), kind=ticket.kind, provider=leaf.spec.id, model=str(model),
            body=body,
        )  # fmt: skip
        task = asyncio.get_running_loop().create_task(self._store(ticket, entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store(self, ticket: Ticket, entry: Entry) -> None:
        try:
            stored = await self.backend.set(ticket.key, encode(entry), ticket.ttl_s)
            if stored and self.index is not None and ticket.partition is not None:
                await self.index.add(
                    ticket.partition, ticket.vector, ticket.key, ticket.ttl_s, ticket.text
                )
        except Exception:  # a cache failure must never surface in a request
            log.exception("storing a cache entry failed")

    async def purge(self, prefix: str = "") -> int:
        """Delete stored answers (all, or one namespace's) and their semantic index rows."""
        deleted = await self.backend.purge(prefix)
        if self.index is not None:
            await self.index.purge(prefix)
        return deleted

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self.backend.close()
        if self.index is not None:
            await self.index.close()
