"""Observability of one gateway process: cost, the log writer, metrics (the gateway's Observer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from portkey.observe.cost import cost_usd
from portkey.observe.hook import NullObserver, Observer
from portkey.observe.logstore import LogStore
from portkey.observe.metrics import Metrics
from portkey.observe.record import capture
from portkey.observe.writer import LogWriter, Sink
from portkey.store.db import Database, open_database

log = logging.getLogger("portkey.observe")


class ObserveService:
    """Prices answers, hands finished requests to the writer; metrics count them off-path."""

    def __init__(self, holder: Any, writer: LogWriter, metrics: Metrics | None) -> None:
        self.holder = holder
        self.writer = writer
        self.metrics = metrics
        self.logs = writer.store
        self._own_db: Database | None = None
        self._prices_of: tuple[Any, Mapping[str, Mapping[str, float]] | None] = (None, None)

    @classmethod
    async def start(cls, holder: Any, store_db: Database | None) -> Observer:
        """Start from the runtime's ``logs``/``metrics``; ``store_db``: the control store's."""
        file = holder.current.file
        logs, metrics_on = file.logs, file.metrics.enabled
        if not logs.enabled and not metrics_on:
            return NullObserver()
        own: Database | None = None
        store: LogStore | None = None
        if logs.enabled:
            if logs.url:
                own = await asyncio.to_thread(_open_migrated, logs.url)
            db = own or store_db
            store = LogStore(db) if db is not None else None
        writer = LogWriter(logs, store)
        metrics = Metrics(lambda: len(writer.queue)) if metrics_on else None
        if metrics is not None:
            sink: Sink = metrics.observe
            writer.sinks.append(sink)
            writer.on_drop = metrics.dropped.inc
        writer.start()
        service = cls(holder, writer, metrics)
        service._own_db = own
        return service

    def price(self, call: Any, leaf: Any, usage: Mapping[str, Any] | None) -> float | None:
        ticket = call.cache
        if ticket is not None and ticket.status.endswith(b"HIT"):
            return 0.0
        if not usage or leaf is None:
            return None
        model = (leaf.override_params or {}).get("model") or call.body.get("model")
        if not isinstance(model, str):
            return None
        return cost_usd(leaf.spec.id, model, usage, self._prices())

    def _prices(self) -> Mapping[str, Mapping[str, float]] | None:
        """portkey.yaml's ``prices``, converted once per loaded file."""
        file = self.holder.current.file
        if file is not self._prices_of[0]:
            table = {name: p.as_override() for name, p in file.prices.items()}
            self._prices_of = (file, table or None)
        return self._prices_of[1]

    def finish(
        self,
        call: Any,
        leaf: Any,
        status: int,
        usage: Mapping[str, Any] | None,
        cost: float | None = None,
        *,
        error: Any = None,
        first_token_s: float | None = None,
        response_body: bytes | None = None,
    ) -> None:
        try:
            if cost is None and usage:
                cost = self.price(call, leaf, usage)
            keep = self.writer.settings.bodies != "off"
            record = capture(
                call, leaf, status, usage, cost, error, first_token_s, response_body, keep
            )
            self.writer.put(record)
        except Exception:  # observing must never fail a request
            log.exception("could not record a request")

    async def close(self) -> None:
        await self.writer.close()
        if self._own_db is not None:
            await asyncio.to_thread(self._own_db.close)


def _open_migrated(url: str) -> Database:
    from portkey.store.migrations import migrate

    db = open_database(url)
    migrate(db)
    return db
