"""Provider health: passive (recent attempts' outcomes, fed by the log writer) and active probes.

The writer's thread adds each finished request's attempts (``observe``); ``/ready`` and
``portkey doctor`` read ``report``. A probe lists a ``providers:`` entry's models every
``interval_s`` through the gateway's own transport, so it tests the same credentials, URL and
pool the requests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from portkey.errors import GatewayError
from portkey.observe.record import Pending
from portkey.observe.settings import HealthSettings, Probe

log = logging.getLogger("portkey.observe")

#: outcomes kept per provider, whatever the window
MAX_OUTCOMES = 10_000


class ProviderHealth:
    def __init__(
        self, settings: Callable[[], HealthSettings], clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._outcomes: dict[str, deque[tuple[float, bool, str | None]]] = {}
        self._lock = threading.Lock()
        self.probes: dict[str, dict[str, Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # -- passive ---------------------------------------------------------------------------

    def observe(self, batch: Iterable[Pending]) -> None:
        """A writer sink: every attempt of every finished request."""
        with self._lock:
            for p in batch:
                at = p.ts + p.latency_ms / 1000
                for attempt in p.attempts:
                    self._add(attempt.provider, at, False, attempt.error_type)
                answered = p.target is not None and p.error_type is None
                if answered and p.provider and not p.cache_status.endswith("HIT"):
                    self._add(p.provider, at, True, None)

    def _add(self, provider: str, at: float, ok: bool, error: str | None) -> None:
        outcomes = self._outcomes.get(provider)
        if outcomes is None:
            outcomes = self._outcomes[provider] = deque(maxlen=MAX_OUTCOMES)
        outcomes.append((at, ok, error))

    def report(self) -> dict[str, dict[str, Any]]:
        """Per provider: attempts and failures in the window, error rate, status, last error."""
        settings, now = self.settings(), self.clock()
        since = now - settings.window_s
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            snapshot = {name: list(outcomes) for name, outcomes in self._outcomes.items()}
        for provider, outcomes in snapshot.items():
            recent = [o for o in outcomes if o[0] >= since]
            failures = [o for o in recent if not o[1]]
            rate = len(failures) / len(recent) if recent else 0.0
            status = "ok"
            if len(recent) >= settings.min_requests:
                if rate >= settings.max_error_rate:
                    status = "unhealthy"
                elif rate >= settings.max_error_rate / 2:
                    status = "degraded"
            entry: dict[str, Any] = {
                "status": status,
                "attempts": len(recent),
                "failures": len(failures),
                "error_rate": round(rate, 4),
            }
            if failures:
                entry["last_error"] = failures[-1][2]
            out[provider] = entry
        for name, probe in self.probes.items():
            entry = out.setdefault(f"probe:{name}", {})
            entry.update(probe)
        return out

    # -- active ----------------------------------------------------------------------------

    def start_probes(self, holder: Any, transport: Any) -> None:
        for probe in self.settings().probes:
            task = asyncio.get_running_loop().create_task(
                self._probe_loop(probe, holder, transport)
            )
            self._tasks.append(task)

    async def _probe_loop(self, probe: Probe, holder: Any, transport: Any) -> None:
        while True:
            await self.probe_once(probe, holder, transport)
            await asyncio.sleep(probe.interval_s)

    async def probe_once(self, probe: Probe, holder: Any, transport: Any) -> dict[str, Any]:
        from portkey.gateway import ingress
        from portkey.gateway.ingress import Call
        from portkey.gateway.models_endpoint import upstream_models
        from portkey.gateway.plan import leaves
        from portkey.providers.base import MODELS

        started = time.perf_counter()
        result: dict[str, Any] = {"checked_at": self.clock()}
        try:
            headers = {"x-portkey-virtual-key": probe.provider}
            plan = ingress.select_plan(holder.current, headers)
            call = Call(MODELS, "/v1/models", headers, started)
            async with asyncio.timeout(probe.timeout_s):
                body, _ = await upstream_models(transport, leaves(plan.root)[0], call)
            result.update(status="ok", models=body.count(b'"id"'))
        except GatewayError as exc:
            result.update(status="unhealthy", error=f"{exc.http_status} {exc.type}: {exc.message}")
        except TimeoutError:
            result.update(status="unhealthy", error=f"no answer in {probe.timeout_s:g}s")
        except Exception as exc:  # a probe never takes the gateway down
            result.update(status="unhealthy", error=f"{type(exc).__name__}: {exc}")
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        if result["status"] != self.probes.get(probe.provider, {}).get("status", "ok"):
            log.warning(
                "probe %s: %s %s", probe.provider, result["status"], result.get("error", "")
            )
        self.probes[probe.provider] = result
        return result

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
