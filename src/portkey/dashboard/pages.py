"""What each dashboard page shows, as plain data for its template (no HTML here)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from portkey.errors import InvalidRequest
from portkey.observe.analytics import Analytics, Window

#: time range choices -> (seconds, bucket seconds): about 60 points per chart
RANGES: Mapping[str, tuple[int, int]] = {
    "5m": (300, 5),
    "15m": (900, 15),
    "1h": (3600, 60),
    "6h": (21_600, 300),
    "24h": (86_400, 1800),
    "7d": (604_800, 10_800),
}
LOG_FILTERS = (
    "provider", "model", "status", "trace_id", "api_key_id", "virtual_key", "cache_status",
    "error_type",
)  # fmt: skip
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Span:
    label: str
    since: float
    until: float
    bucket_s: int


def window_of(label: str | None, now: float | None = None) -> Span:
    """A named range ending now (default: the last hour)."""
    label = label or "1h"
    if label not in RANGES:
        raise InvalidRequest(f"range must be one of {', '.join(RANGES)}", param="range")
    seconds, bucket = RANGES[label]
    until = time.time() if now is None else now
    return Span(label, until - seconds, until, bucket)


def overview_data(stats: Analytics, span: Span) -> dict[str, Any]:
    """The five charts' rows, as the page script reads them."""
    window = Window.of(span.since, span.until, span.bucket_s)
    return {
        "since": span.since,
        "until": span.until,
        "bucket_s": span.bucket_s,
        "rpm": stats.requests_per_minute(window),
        "cache": stats.cache_hit_rate(window),
        "latency": stats.latency(window),
        "cost": stats.cost_series(window),
        "errors": stats.error_rate(window),
        "by_model": stats.cost_totals(window, "model"),
    }


@dataclass(frozen=True, slots=True)
class LogQuery:
    """The logs page's filter form (empty fields are no filter)."""

    filters: dict[str, Any]
    errors_only: bool
    cursor: str | None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> LogQuery:
        filters: dict[str, Any] = {}
        for name in LOG_FILTERS:
            value = (params.get(name) or "").strip()
            if len(value) > 200:
                raise InvalidRequest(f"{name} is too long", param=name)
            filters[name] = value or None
        if filters["status"] is not None:
            if not filters["status"].isdigit() or not 100 <= int(filters["status"]) <= 999:
                raise InvalidRequest("status must be an HTTP status code", param="status")
            filters["status"] = int(filters["status"])
        cursor = params.get("cursor") or None
        if cursor is not None and (len(cursor) > 64 or cursor.strip("0123456789abcdef-")):
            raise InvalidRequest("malformed cursor", param="cursor")
        return cls(filters, params.get("errors") in ("1", "on", "true"), cursor)

    def search_args(self) -> tuple[dict[str, Any], str | None, int, bool]:
        return self.filters, self.cursor, PAGE_SIZE, self.errors_only

    def link(self, cursor: str) -> str:
        """The query string of the next page."""
        from urllib.parse import urlencode

        kept = {k: v for k, v in self.filters.items() if v is not None}
        if self.errors_only:
            kept["errors"] = "1"
        return urlencode({**kept, "cursor": cursor})


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def detail_fields(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The record's scalar fields in reading order (bodies, attempts, metadata shown apart)."""
    apart = {"attempts", "metadata", "request_body", "response_body"}
    return [(k, when(v) if k == "ts" else v) for k, v in record.items() if k not in apart]


def keys_data(control: Any, stats: Analytics, now: float) -> dict[str, Any]:
    """Caller keys with their last 30 days of usage, budgets with their use, virtual-key cost."""
    window = Window.of(now - 30 * 86_400, now, 86_400)
    by_vk = stats.cost_totals(window, "virtual_key")
    if control is None:
        return {"keys": [], "budgets": [], "by_vk": by_vk, "control": False}
    store = control.store
    since_day = datetime.fromtimestamp(now - 30 * 86_400, UTC).strftime("%Y-%m-%d")
    usage: dict[str, dict[str, float]] = {}
    for day in store.key_usage(None, since_day):
        into = usage.setdefault(day.api_key_id, {"requests": 0, "tokens": 0, "cost_usd": 0.0})
        into["requests"] += day.requests
        into["tokens"] += day.tokens
        into["cost_usd"] += day.cost_usd
    keys = [
        {"key": key, "usage": usage.get(key.id, {"requests": 0, "tokens": 0, "cost_usd": 0.0})}
        for key in store.list_api_keys()
    ]
    budgets = []
    for budget in store.list_budgets():
        used = [
            budget.spent_usd / budget.limit_usd if budget.limit_usd else None,
            budget.spent_tokens / budget.limit_tokens if budget.limit_tokens else None,
        ]
        share = max(u for u in used if u is not None)
        budgets.append({"budget": budget, "used": share, "alert": share >= (budget.alert_at or 1)})
    return {"keys": keys, "budgets": budgets, "by_vk": by_vk, "control": True}
