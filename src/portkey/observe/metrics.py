"""Prometheus metrics, updated from log records by the writer (off the hot path).

Labels are bounded: provider ids come from the registry, statuses are HTTP codes, cache
statuses and error types are small enums, and models are the first ``MAX_MODELS`` names seen
(later ones count as ``other``): no trace ids, keys or free text. Each gateway owns its
registry (no module globals); with ``--workers N`` every worker answers for itself.
"""

from __future__ import annotations

import threading
from collections import Counter as Counter_
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from itertools import compress, filterfalse, repeat
from operator import attrgetter, is_, is_not, itemgetter, truediv, truth
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from portkey.observe.histogram import BatchHistogram
from portkey.observe.record import Pending, counts

MAX_MODELS = 200
OTHER = "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
#: request refusals by the gateway itself (no upstream attempt was made)
REJECTIONS = frozenset({"rate_limit_error", "budget_exceeded", "authentication_error"})
TOKEN_KINDS = ("prompt", "completion", "cached", "reasoning")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_REQUEST = attrgetter("provider", "model", "status")
_PROVIDER = attrgetter("provider")
_MODEL = attrgetter("provider", "model")
_LATENCY = attrgetter("latency_ms")
_OVERHEAD = attrgetter("overhead_ms")
_TTFT = attrgetter("ttft_ms")
_CACHE = attrgetter("cache_status")
_ATTEMPTS = attrgetter("attempts")
_ERROR = attrgetter("error_type")
_GUARD = attrgetter("guard")
_USAGE = attrgetter("usage")
_COST = attrgetter("cost")
_IS_NONE = partial(is_, None)
_HAS = partial(is_not, None)
K = TypeVar("K")


def _group(batch: list[Pending], key: Callable[[Pending], K]) -> list[tuple[K, list[Pending]]]:
    """``batch`` split by ``key`` (one C-level pass when, as usual, all share one key)."""
    keys = set(map(key, batch))
    if len(keys) == 1:
        return [(keys.pop(), batch)]
    groups: dict[K, list[Pending]] = {}
    for p in batch:
        groups.setdefault(key(p), []).append(p)
    return list(groups.items())


class _Bounded:
    """Keeps at most ``limit`` distinct values; the rest read as ``other``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return "none"
        if value in self.seen:
            return value
        with self.lock:
            if len(self.seen) < self.limit:
                self.seen.add(value[:100])
                return value[:100]
        return OTHER


class Metrics:
    def __init__(self, queue_depth: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[Counter, dict[tuple[str, ...], Counter]] = {}
        r = self.registry
        self.model = _Bounded(MAX_MODELS)
        self.check_id = _Bounded(MAX_MODELS)  # check ids come from config: bounded all the same
        self.requests = Counter(
            "portkey_requests", "Requests answered, by provider, model and HTTP status",
            ["provider", "model", "status"], registry=r,
        )  # fmt: skip
        self.latency = BatchHistogram(
            "portkey_request_duration_seconds", "Total request latency", ["provider"],
            LATENCY_BUCKETS, r,
        )  # fmt: skip
        self.ttft = BatchHistogram(
            "portkey_time_to_first_token_seconds", "Streams: time to the first event",
            ["provider"], LATENCY_BUCKETS, r,
        )  # fmt: skip
        self.overhead = BatchHistogram(
            "portkey_gateway_overhead_seconds", "Time spent in the gateway, upstream excluded",
            ["provider"], OVERHEAD_BUCKETS, r,
        )  # fmt: skip
        self.tokens = Counter(
            "portkey_tokens", "Tokens by kind (prompt, completion, cached, reasoning)",
            ["provider", "model", "kind"], registry=r,
        )  # fmt: skip
        self.cost = Counter(
            "portkey_cost_usd", "Cost of answers in USD", ["provider", "model"], registry=r
        )
        self.cache = Counter(
            "portkey_cache_requests", "Requests by cache status", ["status"], registry=r
        )
        self.retries = Counter(
            "portkey_retries",
            "Retries of a target after a failed attempt",
            ["provider"],
            registry=r,
        )
        self.fallbacks = Counter(
            "portkey_fallbacks", "Requests answered by another target after a failure",
            ["provider"], registry=r,
        )  # fmt: skip
        self.attempt_failures = Counter(
            "portkey_attempt_failures", "Failed upstream attempts by provider and error type",
            ["provider", "error_type"], registry=r,
        )  # fmt: skip
        self.rejections = Counter(
            "portkey_rejections", "Requests refused by the gateway (rate limit, budget, auth)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.dropped = Counter(
            "portkey_log_records_dropped", "Log records dropped (queue full or store failing)",
            registry=r,
        )  # fmt: skip
        self.written = Counter(
            "portkey_log_records_written", "Log records written to the store", registry=r
        )
        depth = Gauge("portkey_log_queue_depth", "Log records waiting to be written", registry=r)
        if queue_depth is not None:
            depth.set_function(lambda: float(queue_depth()))
        self.guard_checks = Counter(
            "portkey_guardrail_checks", "Guardrail checks run, by check id and verdict",
            ["check", "verdict"], registry=r,
        )  # fmt: skip
        self.guard_time = BatchHistogram(
            "portkey_guardrail_duration_seconds", "Time a request spent in guardrail checks",
            [], OVERHEAD_BUCKETS, r,
        )  # fmt: skip
        self.guard_outcomes = Counter(
            "portkey_guardrail_outcomes", "Requests a guardrail flagged, blocked or transformed",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.connections = Gauge(
            "portkey_upstream_connections", "Pooled upstream connections (in_use, idle)",
            ["state"], registry=r,
        )  # fmt: skip

    def watch_pool(self, usage: Callable[[], tuple[int, int]]) -> None:
        """Read the upstream pool's (in use, idle) connections at each scrape."""
        self.connections.labels("in_use").set_function(lambda: float(usage()[0]))
        self.connections.labels("idle").set_function(lambda: float(usage()[1]))

    def observe(self, batch: Iterable[Pending]) -> None:
        """Count a batch of finished requests.

        Per request only C-level passes run (``map``/``Counter`` over attribute getters);
        Python code runs per distinct label set, and per request only for the rare ones
        with failed attempts, refusals or guardrails. One ``inc()`` (a lock) per label set."""
        batch = list(batch)
        if not batch:
            return
        names: dict[str | None, str] = {}  # model -> its bounded label, for this batch
        requests: dict[tuple[str, ...], float] = {}
        for (provider, model, status), n in Counter_(map(_REQUEST, batch)).items():
            label = names.get(model)
            if label is None:
                label = names[model] = self.model(model)
            key = (provider or "none", label, str(status))
            requests[key] = requests.get(key, 0) + n
        latency: dict[tuple[str, ...], list[float]] = {}
        overhead: dict[tuple[str, ...], list[float]] = {}
        ttft: dict[tuple[str, ...], list[float]] = {}
        for provider, group in _group(batch, _PROVIDER):
            by = (provider or "none",)
            latency.setdefault(by, []).extend(map(truediv, map(_LATENCY, group), repeat(1000)))
            overhead.setdefault(by, []).extend(map(truediv, map(_OVERHEAD, group), repeat(1000)))
            seen = list(filterfalse(_IS_NONE, map(_TTFT, group)))
            if seen:
                ttft.setdefault(by, []).extend(map(truediv, seen, repeat(1000)))
        self.latency.observe_many(latency)
        self.overhead.observe_many(overhead)
        self.ttft.observe_many(ttft)
        self._add(self.requests, requests)
        self._add(self.cache, {(status,): n for status, n in Counter_(map(_CACHE, batch)).items()})
        self._usage(batch, names)
        attempts = set(compress(range(len(batch)), map(_ATTEMPTS, batch)))
        attempts.update(
            compress(range(len(batch)), map(REJECTIONS.__contains__, map(_ERROR, batch)))
        )
        for i in sorted(attempts):
            self._attempts(batch[i])
        for p in compress(batch, map(_HAS, map(_GUARD, batch))):
            self._guarded(p)

    def _usage(self, batch: list[Pending], names: Mapping[str | None, str]) -> None:
        """Token and cost sums per (provider, model) (records without usage add zeros)."""
        per_model: dict[tuple[str, str], list[float]] = {}
        for (provider, model), group in _group(batch, _MODEL):
            counted = list(map(counts, compress(group, map(truth, map(_USAGE, group)))))
            sums = [float(sum(map(itemgetter(i), counted))) for i in range(4)]
            sums.append(sum(filter(None, map(_COST, group)), 0.0))
            key = (provider or "none", names.get(model) or self.model(model))
            into = per_model.get(key)
            if into is None:
                per_model[key] = sums
            else:
                per_model[key] = [a + b for a, b in zip(into, sums, strict=True)]
        self._publish_usage(per_model)

    def _publish_usage(self, per_model: Mapping[tuple[str, str], list[float]]) -> None:
        """Add a batch's token and cost sums (see ``observe``) to their counters."""
        used: dict[tuple[str, ...], float] = {}
        spent: dict[tuple[str, ...], float] = {}
        for (provider, model), sums in per_model.items():
            for kind, n in zip(TOKEN_KINDS, sums, strict=False):
                if n:
                    used[(provider, model, kind)] = n
            if sums[4]:
                spent[(provider, model)] = sums[4]
        self._add(self.tokens, used)
        self._add(self.cost, spent)

    def _add(self, counter: Counter, sums: Mapping[tuple[str, ...], float]) -> None:
        # ``labels()`` validates and locks on every call: keep each child once found
        children = self._children.setdefault(counter, {})
        for labels, amount in sums.items():
            child = children.get(labels)
            if child is None:
                child = children[labels] = counter.labels(*labels)
            child.inc(amount)

    def _guarded(self, p: Pending) -> None:
        summary = p.guard.summary()
        failed = summary["checks_failed"]
        for check, runs in summary["checks_run"].items():
            misses, label = failed.get(check, 0), self.check_id(check)
            if runs > misses:
                self.guard_checks.labels(label, "pass").inc(runs - misses)
            if misses:
                self.guard_checks.labels(label, "fail").inc(misses)
        self.guard_time.observe((), summary["latency_ms"] / 1000)
        if p.error_type == "hooks_failed":
            self.guard_outcomes.labels("blocked").inc()
        elif summary["flagged"]:
            self.guard_outcomes.labels("flagged").inc()
        if summary["transformed"]:
            self.guard_outcomes.labels("transformed").inc()

    def _attempts(self, p: Pending) -> None:
        if not p.attempts and p.error_type in REJECTIONS and p.target is None:
            self.rejections.labels(p.error_type).inc()
        previous = None
        for attempt in p.attempts:
            self.attempt_failures.labels(attempt.provider, attempt.error_type).inc()
            if previous is not None and previous.target == attempt.target:
                self.retries.labels(attempt.provider).inc()
            previous = attempt
        if previous is not None and p.error_type is None and p.target is not None:
            if previous.target == p.target:
                self.retries.labels(p.provider or "none").inc()
            else:
                self.fallbacks.labels(p.provider or "none").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
