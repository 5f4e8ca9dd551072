"""Observability of one gateway process: cost, the log writer, metrics (the gateway's Observer)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from portkey.observe.alerts import AlertEngine, Budgets
from portkey.observe.cost import cost_usd
from portkey.observe.health import ProviderHealth
from portkey.observe.hook import NullObserver, Observer
from portkey.observe.logstore import LogStore
from portkey.observe.metrics import Metrics
from portkey.observe.record import Finished, Pending, finished, resolve
from portkey.observe.rollup import RollupJob, Rollups
from portkey.observe.writer import LogWriter, Sink
from portkey.store.db import Database, open_database

log = logging.getLogger("portkey.observe")
#: the standard OTel variables that turn the OTLP exporter on
TRACE_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class ObserveService:
    """Prices answers, hands finished requests to the writer; metrics count them off-path."""

    def __init__(self, holder: Any, writer: LogWriter, metrics: Metrics | None) -> None:
        self.holder = holder
        self.writer = writer
        self.metrics = metrics
        self.logs = writer.store
        self._own_db: Database | None = None
        #: portkey.observe.tracing.Tracing while spans are exported (OTEL_EXPORTER_OTLP_*)
        self.tracing: Any = None
        self.health = ProviderHealth(lambda: holder.current.file.health)
        self.alerts: AlertEngine | None = None
        self._prices_of: tuple[Any, Mapping[str, Mapping[str, float]] | None] = (None, None)
        #: refreshes the analytics rollups of the log store in the background
        self.rollup_job: RollupJob | None = None

    @classmethod
    async def start(
        cls, holder: Any, store_db: Database | None, budgets: Budgets | None = None
    ) -> Observer:
        """Start from the runtime's ``logs``/``metrics``; ``store_db``: the control store's;
        ``budgets``: lists budgets with their spend (for ``budget_used`` alerts)."""
        file = holder.current.file
        logs, metrics_on = file.logs, file.metrics.enabled
        tracing_on = any(os.environ.get(name) for name in TRACE_ENDPOINTS)
        if not logs.enabled and not metrics_on and not tracing_on:
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
        service = cls(holder, writer, metrics)
        service._own_db = own
        writer.resolve = service._resolve
        writer.sinks.append(service._trace)
        writer.sinks.append(service.health.observe)
        service.alerts = AlertEngine(lambda: holder.current.file.alerts, store, budgets)
        service.alerts.start()
        if store is not None and store.db.dialect in ("sqlite", "postgres"):
            service.rollup_job = RollupJob(Rollups.of(store.db), logs.rollup_interval_s)
            service.rollup_job.start()
        if tracing_on:
            from portkey.observe.tracing import Tracing  # the OTel SDK: only when exporting

            service.tracing = Tracing()
        writer.start()
        return service

    def _trace(self, batch: list[Any]) -> None:
        """A writer sink (its thread): spans of the finished requests, when tracing."""
        tracing = self.tracing
        if tracing is not None:
            tracing.export(batch)

    def price(self, call: Any, leaf: Any, usage: Mapping[str, Any] | None) -> float | None:
        ticket = call.cache
        if ticket is not None and ticket.status.endswith(b"HIT"):
            return 0.0
        if not usage or leaf is None:
            return None
        override = leaf.override_params
        model = (override.get("model") if override else None) or call.body.get("model")
        if not isinstance(model, str):
            return None
        # when: the request's start (perf_counter) in epoch seconds, without a clock reading
        at = call.started + self.writer.offset
        return cost_usd(leaf.spec.id, model, usage, self._prices(), at)

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
        try:  # a tuple on the queue: the record is built (and a stream priced) off the path
            self.writer.put(
                finished(call, leaf, status, usage, cost, error, first_token_s, response_body)
            )
        except Exception:  # observing must never fail a request
            log.exception("could not record a request")

    def _resolve(self, item: Finished, keep_bodies: bool, offset: float) -> Pending:
        """In the writer's thread: the log record of a finished request, priced if need be
        (as ``price`` prices an answer: a cache hit costs nothing)."""
        record = resolve(item, keep_bodies, offset)
        if record.cost is None and record.usage and item[0] is not None:
            if record.cache_status.endswith("HIT"):
                record.cost = 0.0
            elif record.model is not None and record.provider is not None:
                record.cost = cost_usd(
                    record.provider, record.model, record.usage, self._prices(), record.ts
                )
        return record

    def status(self) -> dict[str, Any]:
        """For ``/ready``: the log writer's state and each provider's health."""
        writer = self.writer
        logs: dict[str, Any] = {
            "status": "failing" if writer.failing else "ok",
            "queued": len(writer.queue),
            "written": writer.written,
            "dropped": writer.dropped,
        }
        if writer.failing:
            logs["error"] = writer.failing
        out: dict[str, Any] = {"logs": logs, "providers": self.health.report()}
        if self.alerts is not None and self.alerts.firing:
            out["alerts_firing"] = sorted(
                f"{name}{'' if group is None else f'[{group}]'}"
                for name, group in self.alerts.firing
            )
        return out

    async def close(self) -> None:
        if self.rollup_job is not None:
            await self.rollup_job.close()
        await self.health.close()
        if self.alerts is not None:
            await self.alerts.close()
        await self.writer.close()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.close)
        if self._own_db is not None:
            await asyncio.to_thread(self._own_db.close)


def _open_migrated(url: str) -> Database:
    from portkey.store.migrations import migrate

    db = open_database(url)
    migrate(db)
    return db
