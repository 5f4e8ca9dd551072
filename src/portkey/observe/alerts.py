"""Alert rules over the request log (and budgets), evaluated periodically, sent to webhooks.

Each rule is evaluated every ``alerts.interval_s`` with one aggregate query over its window
(in a worker thread: the event loop never waits on the database). A rule fires per group
(``by: provider`` gives one alert per provider); a firing alert is sent once, and once more
as ``resolved`` when its condition clears or its group goes quiet: no repeats in between.
Rules are read from the live config on every tick, so a reload applies at once.

An *error* is a request answered 5xx, 429 or 408 (what a provider outage looks like).
With many replicas over one log database every replica would see the same numbers and send
the same alert: set ``alerts.enabled: true`` on one of them only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from portkey.observe.logstore import LogStore
from portkey.observe.settings import AlertRule, AlertsSettings, Webhook

log = logging.getLogger("portkey.observe")

COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
#: the log column behind each ``by``
GROUP_COLUMNS = {
    "provider": "provider",
    "model": "model",
    "virtual_key": "virtual_key",
    "api_key": "api_key_id",
}
ERROR = "(status >= 500 OR status = 429 OR status = 408)"
DELIVERY_TRIES = 3


@dataclass(frozen=True, slots=True)
class Reading:
    """One rule's value for one group."""

    group: str | None
    value: float
    requests: int


@dataclass(slots=True)
class Firing:
    rule: AlertRule
    reading: Reading
    since: float


Budgets = Callable[[], Sequence[Any]]  # () -> [BudgetOut]


def measure(
    rule: AlertRule, logs: LogStore | None, budgets: Budgets | None, now: float
) -> list[Reading]:
    """The rule's current readings (blocking: run it in a thread)."""
    if rule.metric == "budget_used":
        return _budgets(budgets() if budgets is not None else ())
    if logs is None:
        return []
    since = now - rule.window_s
    column = GROUP_COLUMNS[rule.by] if rule.by else None
    group_sql = column or "NULL"
    with logs.db.transaction() as tx:
        rows = tx.query(
            f"SELECT {group_sql}, COUNT(*), SUM(CASE WHEN {ERROR} THEN 1 ELSE 0 END), "
            f"SUM(COALESCE(cost_usd, 0)) FROM request_logs WHERE ts >= ? AND ts < ?"
            + (f" GROUP BY {column}" if column else ""),
            (since, now),
        )
        readings = []
        for group, count, errors, cost in rows:
            count = int(count or 0)
            label = None if group is None else str(group)
            if rule.metric == "requests":
                readings.append(Reading(label, float(count), count))
            elif rule.metric == "cost_per_hour":
                readings.append(Reading(label, float(cost or 0) * 3600 / rule.window_s, count))
            elif count < rule.min_requests:
                continue  # too few requests to judge a rate or a percentile
            elif rule.metric == "error_rate":
                readings.append(Reading(label, int(errors or 0) / count, count))
            else:  # latency_p95_ms: the row at the 95th rank, found by the database
                where, params = "ts >= ? AND ts < ?", [since, now]
                if column:
                    where += f" AND {column} = ?"
                    params.append(group)
                p95 = tx.query(
                    f"SELECT latency_ms FROM request_logs WHERE {where} "
                    "ORDER BY latency_ms LIMIT 1 OFFSET ?",
                    (*params, max(0, int(count * 0.95 + 0.5) - 1)),
                )
                if p95:
                    readings.append(Reading(label, float(p95[0][0]), count))
    return readings


def _budgets(budgets: Iterable[Any]) -> list[Reading]:
    readings = []
    for budget in budgets:
        used = []
        if budget.limit_usd:
            used.append(budget.spent_usd / budget.limit_usd)
        if budget.limit_tokens:
            used.append(budget.spent_tokens / budget.limit_tokens)
        if used:
            label = f"{budget.scope}:{budget.target}:{budget.period}"
            readings.append(Reading(label, max(used), 0))
    return readings


def payload(state: str, firing: Firing, now: float) -> dict[str, Any]:
    rule, reading = firing.rule, firing.reading
    group = {rule.by or ("budget" if rule.metric == "budget_used" else "all"): reading.group}
    body: dict[str, Any] = {
        "alert": rule.name,
        "status": state,
        "metric": rule.metric,
        "condition": f"{rule.metric} {rule.op} {rule.value}",
        "value": round(reading.value, 6),
        "threshold": rule.value,
        "window_s": rule.window_s,
        "group": group if reading.group is not None or rule.by else {},
        "requests": reading.requests,
        "started_at": firing.since,
        "gateway": socket.gethostname(),
    }
    if state == "resolved":
        body["resolved_at"] = now
    return body


def slack_text(body: dict[str, Any]) -> dict[str, str]:
    """Slack's incoming-webhook shape."""
    mark = ":white_check_mark: RESOLVED" if body["status"] == "resolved" else ":rotating_light:"
    group = " ".join(f"{k}={v}" for k, v in body["group"].items())
    text = (
        f"{mark} *{body['alert']}* {group}: {body['metric']} is {body['value']:.4g} "
        f"(alert when {body['condition']}, over {body['window_s']:.0f}s)"
    )
    return {"text": text}


class AlertEngine:
    """The periodic evaluator and its webhook sender."""

    def __init__(
        self,
        settings: Callable[[], AlertsSettings],
        logs: LogStore | None,
        budgets: Budgets | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.logs = logs
        self.budgets = budgets
        self.clock = clock
        self.firing: dict[tuple[str, str | None], Firing] = {}
        self.sent: list[dict[str, Any]] = []  # the last deliveries, newest last (for /ready)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            settings = self.settings()
            try:
                if settings.enabled and settings.rules:
                    await self.evaluate()
            except Exception:  # a bad tick never stops the next one
                log.exception("alert evaluation failed")
            await asyncio.sleep(settings.interval_s)

    async def evaluate(self) -> None:
        """One tick: measure every rule, send what started firing and what resolved."""
        settings, now = self.settings(), self.clock()
        rules = {rule.name: rule for rule in settings.rules}
        seen: set[tuple[str, str | None]] = set()
        for rule in settings.rules:
            try:
                readings = await asyncio.to_thread(measure, rule, self.logs, self.budgets, now)
            except Exception as exc:
                log.warning("alert %s: could not measure %s (%s)", rule.name, rule.metric, exc)
                seen.update(key for key in self.firing if key[0] == rule.name)  # keep as is
                continue
            assert rule.value is not None
            for reading in readings:
                key = (rule.name, reading.group)
                if not COMPARE[rule.op](reading.value, rule.value):
                    continue
                seen.add(key)
                if key in self.firing:
                    self.firing[key].reading = reading
                    continue
                firing = self.firing[key] = Firing(rule, reading, now)
                await self._send(settings, "firing", firing, now)
        for key in [k for k in self.firing if k not in seen]:
            firing = self.firing.pop(key)
            if key[0] in rules:  # a rule removed by a reload resolves silently
                await self._send(settings, "resolved", firing, now)

    async def _send(self, settings: AlertsSettings, state: str, firing: Firing, now: float) -> None:
        body = payload(state, firing, now)
        log.warning("alert %s %s: %s", body["alert"], state, body["condition"])
        names = firing.rule.notify if firing.rule.notify is not None else list(settings.webhooks)
        for name in names:
            hook = settings.webhooks.get(name)
            if hook is not None:
                await self._deliver(name, hook, body)
        self.sent = [*self.sent[-49:], body]

    async def _deliver(self, name: str, hook: Webhook, body: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        data = slack_text(body) if hook.format == "slack" else body
        for attempt in range(DELIVERY_TRIES):
            try:
                timeout = aiohttp.ClientTimeout(total=hook.timeout_s)
                async with self._session.post(hook.url, json=data, timeout=timeout) as response:
                    if response.status < 300:
                        return
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt + 1 < DELIVERY_TRIES:
                await asyncio.sleep(0.5 * 2**attempt)
        log.warning("alert %s: webhook %s failed (%s)", body["alert"], name, problem)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()
