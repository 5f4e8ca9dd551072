"""Aggregate queries over ``request_logs`` in time buckets, computed inside the database.

One query per chart, written once for both backends; only the bucket expression and the
percentile aggregate differ per dialect (``DIALECTS``), and both give the same numbers.
Settled whole minutes come from per-minute rollups (``portkey.observe.rollup``) when the
buckets are whole minutes and the filters are provider/model (or none, for totals by key):
a day of traffic is then thousands of rollup rows instead of millions of log rows. The rest
of a window (ragged edges, the last two minutes) is read from the log.

- buckets are ``[start, start + bucket_s)`` aligned on multiples of ``bucket_s`` since the
  epoch (UTC), so a minute bucket starts on the minute;
- percentiles are *nearest-rank*: p95 is the smallest latency with at least 95 % of the
  bucket's values at or below it (PostgreSQL's ``percentile_disc``; on SQLite the same rank
  picked with window functions, in integer arithmetic so no rounding can differ) — exact
  while a window holds no rolled-up minute, else read from 5 %-wide histogram bins (within
  2.5 %); counts and sums are exact either way;
- latency counts answered upstream calls only (status < 400, not a cache hit); error rate
  counts every request routed to a provider, and an error is a 5xx, 429 or 408 answer (what
  an outage looks like; a client's own 400 is not the provider's fault), as alerts count;
- cache hit rate is hits (``HIT``, ``SEMANTIC HIT``) over requests that looked the cache up
  (``cache_status`` other than ``DISABLED``).

Synchronous, like ``LogStore``: the admin API and dashboard call it through a thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from portkey.errors import InvalidRequest
from portkey.observe.rollup import ERROR, HITS, Histograms, Rollups, percentiles
from portkey.store.db import Database

#: at most this many buckets per query (a chart is a few hundred pixels wide)
MAX_BUCKETS = 2000
#: timestamps past this (year 5138) are not epoch seconds
MAX_TS = 1e11
#: the columns cost totals may be grouped by
GROUPS = ("model", "api_key_id", "virtual_key", "provider")
#: equality filters any query accepts (values are bound, never formatted in)
FILTERS = ("provider", "model", "api_key_id", "virtual_key")
#: filters the per-minute rollups can apply (others read the log)
ROLLUP_FILTERS = ("provider", "model")
PERCENTILES = (50, 95, 99)


@dataclass(frozen=True, slots=True)
class Dialect:
    #: SQL for the bucket start of ``{col}``; ``{b}`` is the bucket size (a validated int)
    bucket: str
    #: True where ``percentile_disc ... WITHIN GROUP`` exists (else window functions)
    percentile_disc: bool
    #: aggregate joining a group's texts with commas
    concat: str


DIALECTS: Mapping[str, Dialect] = {
    "sqlite": Dialect(
        "CAST({col} / {b} AS INTEGER) * {b}", percentile_disc=False, concat="group_concat({x}, ',')"
    ),
    "postgres": Dialect(
        "CAST(FLOOR({col} / {b}) AS BIGINT) * {b}",
        percentile_disc=True,
        concat="string_agg({x}, ',')",
    ),
}


@dataclass(frozen=True, slots=True)
class Window:
    """``since <= ts < until`` (epoch seconds) cut in ``bucket_s`` buckets, plus filters."""

    since: float
    until: float
    bucket_s: int
    filters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls,
        since: float | None = None,
        until: float | None = None,
        bucket_s: int | None = None,
        filters: Mapping[str, str | None] | None = None,
        now: float | None = None,
    ) -> Window:
        """A checked window; defaults: the last hour, one-minute buckets."""
        for name, value in (("since", since), ("until", until)):
            if value is not None and not 0 <= value < MAX_TS:  # also NaN and infinities
                raise InvalidRequest(f"{name} must be epoch seconds", param=name)
        until = (time.time() if now is None else now) if until is None else until
        since = until - 3600 if since is None else since
        if until <= since:
            raise InvalidRequest("until must be after since", param="until")
        bucket = bucket_s or max(60, _nice(int((until - since) / 120)))
        if bucket < 1:
            raise InvalidRequest("bucket must be at least 1 second", param="bucket")
        if (until - since) / bucket > MAX_BUCKETS:
            raise InvalidRequest(
                f"{(until - since) / bucket:.0f} buckets requested, at most {MAX_BUCKETS}: "
                "use a bigger bucket or a shorter window",
                param="bucket",
            )
        chosen = tuple((k, v) for k, v in (filters or {}).items() if v is not None)
        for name, _ in chosen:
            if name not in FILTERS:
                raise InvalidRequest(f"unknown filter {name!r}", param=name)
        return cls(float(since), float(until), int(bucket), chosen)


def _nice(seconds: int) -> int:
    """The smallest round bucket size (1m, 5m, 15m, 1h, 6h, 1d) of at least ``seconds``."""
    for size in (60, 300, 900, 3600, 21_600, 86_400):
        if size >= seconds:
            return size
    return 86_400 * (seconds // 86_400 + 1)


class Analytics:
    """The five dashboard aggregates and a provider health summary over one log database.

    Settled whole minutes are read from the rollups (``portkey.observe.rollup``) when the
    buckets are whole minutes and the filters are ones the rollups keep; the rest of the
    window (its ragged edges, the last minutes) from the log itself.
    """

    def __init__(self, db: Database, rollups: bool = True) -> None:
        self.db = db
        self.dialect = DIALECTS[db.dialect]
        self.rollups = Rollups.of(db) if rollups else None

    def _where(self, window: Window, extra: str = "", col: str = "ts") -> tuple[str, list[Any]]:
        conditions = [f"{col} >= ?", f"{col} < ?", *(f"{k} = ?" for k, _ in window.filters)]
        if extra:
            conditions.append(extra)
        span: list[Any] = [window.since, window.until]
        if col == "minute":  # whole minutes: bind integers, so PostgreSQL compares bigints
            span = [int(window.since), int(window.until)]  # (a float would skip the index)
        return " AND ".join(conditions), [*span, *(v for _, v in window.filters)]

    def _bucket(self, window: Window, col: str = "ts") -> str:
        """The bucket-start expression; bucket 0 means the whole window as one bucket."""
        return self.dialect.bucket.format(col=col, b=window.bucket_s) if window.bucket_s else "0"

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.db.transaction() as tx:
            rows: list[tuple[Any, ...]] = tx.query(sql, params)
        return rows

    def split(self, window: Window, dims: bool = False) -> tuple[Window | None, list[Window]]:
        """(the settled whole minutes to read from rollups, or None; the windows to read raw)."""
        kept = () if dims else ROLLUP_FILTERS
        if (
            self.rollups is None
            or window.bucket_s % 60  # 0 (the whole window) or whole minutes only
            or any(name not in kept for name, _ in window.filters)
        ):
            return None, [window]
        rolled_to = self.rollups.refresh()
        low = math.ceil(window.since / 60) * 60
        high = min(math.floor(window.until / 60) * 60, rolled_to or -math.inf)
        if high <= low:
            return None, [window]
        raw = [replace(window, until=low)] if window.since < low else []
        raw += [replace(window, since=high)] if high < window.until else []
        return replace(window, since=float(low), until=float(high)), raw

    def _sums(self, window: Window, kind: Kind) -> dict[tuple[Any, ...], list[float]]:
        """Sums per (bucket, key...): the log for the raw parts, rollups for the rest."""
        rolled, raw = self.split(window, dims=kind.table == DIMS_TABLE)
        parts = [(part, False) for part in raw] + ([(rolled, True)] if rolled else [])
        out: dict[tuple[Any, ...], list[float]] = {}
        for part, from_rollup in parts:
            col = "minute" if from_rollup else "ts"
            keys = kind.rolled_keys if from_rollup else kind.keys
            sums = kind.rolled if from_rollup else kind.raw
            where, params = self._where(
                part, kind.rolled_where if from_rollup else kind.raw_where, col
            )
            if from_rollup and kind.table == DIMS_TABLE:
                where, params = where + " AND dim = ?", [*params, kind.keys[0]]
            head = [self._bucket(part, col)] if kind.bucketed else []
            groups = ", ".join(str(i + 1) for i in range(len(head) + len(keys)))
            sql = (
                f"SELECT {', '.join([*head, *keys, *sums])} "
                f"FROM {kind.table if from_rollup else 'request_logs'} WHERE {where} "
                f"GROUP BY {groups}"
            )
            width = len(head) + len(keys)
            for row in self._query(sql, params):
                names = row[len(head) : width]
                if from_rollup:  # rollups keep '' for none: plain columns group in index order
                    names = tuple(None if v == "" else v for v in names)
                key = (_start(window, row[0]), *names) if kind.bucketed else tuple(names)
                into = out.setdefault(key, [0.0] * len(sums))
                for i, value in enumerate(row[width:]):
                    into[i] += float(value or 0)
        return dict(sorted(out.items(), key=lambda item: _order(item[0])))

    def requests_per_minute(self, window: Window) -> list[dict[str, Any]]:
        """Requests per bucket and model, and the rate in requests per minute."""
        per_minute = 60.0 / (window.bucket_s or (window.until - window.since))
        return [
            {"bucket": b, "model": m, "requests": int(n), "rpm": int(n) * per_minute}
            for (b, m), (n,) in self._sums(window, RPM).items()
        ]

    def cache_hit_rate(self, window: Window) -> list[dict[str, Any]]:
        """Cache lookups and hits per bucket (requests with the cache off are left out)."""
        return [
            {"bucket": b, "lookups": int(n), "hits": int(h), "hit_rate": h / n}
            for (b,), (n, h) in self._sums(window, CACHE).items()
            if n
        ]

    def cost_series(self, window: Window) -> list[dict[str, Any]]:
        """Total cost and cost per request (USD) per bucket; unpriced requests count as 0."""
        return [
            {"bucket": b, "requests": int(n), "cost_usd": c, "cost_per_request_usd": c / n}
            for (b,), (n, c) in self._sums(window, COST).items()
        ]

    def cost_totals(self, window: Window, group_by: str) -> list[dict[str, Any]]:
        """Requests, tokens, total cost and cost per request over the window, per group."""
        if group_by not in GROUPS:
            raise InvalidRequest(f"group_by must be one of {', '.join(GROUPS)}", param="group_by")
        totals = self._sums(replace(window, bucket_s=0), totals_kind(group_by))
        rows = [
            {
                group_by: g,
                "requests": int(n),
                "tokens": int(t),
                "cost_usd": c,
                "cost_per_request_usd": c / n,
            }
            for (g,), (n, t, c) in totals.items()
        ]
        return sorted(rows, key=lambda r: -r["cost_usd"])

    def error_rate(self, window: Window) -> list[dict[str, Any]]:
        """Requests, errors (5xx, 429, 408) and their ratio per bucket and provider."""
        return [
            {"bucket": b, "provider": p, "requests": int(n), "errors": int(e), "error_rate": e / n}
            for (b, p), (n, e) in self._sums(window, ERRORS).items()
        ]

    def latency(self, window: Window) -> list[dict[str, Any]]:
        """p50/p95/p99 of total latency (ms) per bucket and provider, answered calls only.

        Exact from the log; from rollup histograms (within 2.5 %) once the window holds a
        settled whole minute."""
        rolled, raw = self.split(window)
        if rolled is None:
            return self._exact_latency(window)
        hists = Histograms()
        where, params = self._where(rolled, "provider <> ''", "minute")
        whole = not window.bucket_s
        joined = self.dialect.concat.format(x="latency_hist")
        for b, provider, text in self._query(  # one JSON list of histograms per group
            f"SELECT {self._bucket(rolled, 'minute')}, provider, '[' || {joined} || ']' "
            f"FROM request_log_minutes WHERE {where} AND latency_hist <> '' GROUP BY 1, 2",
            params,
        ):
            hists.add_encoded((window.since if whole else float(b), provider), text)
        for part in raw:
            where, params = self._where(part, ANSWERED)
            for b, provider, ms in self._query(
                f"SELECT {self._bucket(part)}, provider, latency_ms FROM request_logs "
                f"WHERE {where}",
                params,
            ):
                hists.add((_start(window, b), provider), ms)
        out = []
        for (b, p), hist in sorted(hists.summed().items()):
            count = int(hist.sum())
            if count:
                values = percentiles(hist, PERCENTILES)
                out.append(
                    {
                        "bucket": b,
                        "provider": p,
                        "requests": count,
                        **{f"p{q}_ms": v for q, v in zip(PERCENTILES, values, strict=True)},
                    }
                )
        return out

    def _exact_latency(self, window: Window) -> list[dict[str, Any]]:
        where, params = self._where(window, ANSWERED)
        bucket = self._bucket(window)
        if self.dialect.percentile_disc:
            picks = ", ".join(
                f"percentile_disc({p / 100}) WITHIN GROUP (ORDER BY latency_ms)"
                for p in PERCENTILES
            )
            sql = (
                f"SELECT {bucket} AS b, provider, COUNT(*), {picks} FROM request_logs "
                f"WHERE {where} GROUP BY b, provider ORDER BY b, provider"
            )
        else:
            picks = ", ".join(
                f"MIN(CASE WHEN rn * 100 >= n * {p} THEN latency_ms END)" for p in PERCENTILES
            )
            sql = (
                f"SELECT b, provider, MAX(n), {picks} FROM ("
                f"SELECT b, provider, latency_ms, "
                f"ROW_NUMBER() OVER (PARTITION BY b, provider ORDER BY latency_ms) AS rn, "
                f"COUNT(*) OVER (PARTITION BY b, provider) AS n FROM ("
                f"SELECT {bucket} AS b, provider, latency_ms FROM request_logs WHERE {where}"
                f")) GROUP BY b, provider ORDER BY b, provider"
            )
        return [
            {
                "bucket": _start(window, row[0]),
                "provider": row[1],
                "requests": int(row[2]),
                **{f"p{p}_ms": float(v) for p, v in zip(PERCENTILES, row[3:], strict=True)},
            }
            for row in self._query(sql, params)
        ]

    def provider_health(
        self, since: float, until: float, max_error_rate: float = 0.5, min_requests: int = 5
    ) -> list[dict[str, Any]]:
        """Per provider over one window: requests, error rate, p95 latency, last error, and
        a status judged as ``/ready`` judges it (``health.max_error_rate``, ``min_requests``)."""
        whole = Window(float(since), float(until), 0)
        errors = {r["provider"]: r for r in self.error_rate(whole)}
        latency = {r["provider"]: r for r in self.latency(whole)}
        where, params = self._where(whole, f"provider IS NOT NULL AND {ERROR}")
        last: dict[str, tuple[float, str | None]] = {}
        for provider, ts in self._query(
            f"SELECT provider, MAX(ts) FROM request_logs WHERE {where} GROUP BY provider", params
        ):
            kind = self._query(
                "SELECT error_type FROM request_logs WHERE provider = ? AND ts = ? LIMIT 1",
                (provider, ts),
            )
            last[provider] = (float(ts), kind[0][0] if kind else None)
        out = []
        for provider, row in sorted(errors.items()):
            lat = latency.get(provider)
            error_at, error_type = last.get(provider, (None, None))
            out.append(
                {
                    "provider": provider,
                    "requests": row["requests"],
                    "errors": row["errors"],
                    "error_rate": row["error_rate"],
                    "p95_ms": lat["p95_ms"] if lat else None,
                    "last_error_at": error_at,
                    "last_error_type": error_type,
                    "status": health_status(row, max_error_rate, min_requests),
                }
            )
        return out


@dataclass(frozen=True, slots=True)
class Kind:
    """One aggregate: its group keys and sums over the log (raw) and over the rollups."""

    keys: tuple[str, ...]
    raw: tuple[str, ...]
    rolled: tuple[str, ...]
    rolled_keys: tuple[str, ...] = ()
    raw_where: str = ""
    rolled_where: str = ""
    bucketed: bool = True
    table: str = "request_log_minutes"


DIMS_TABLE = "request_log_minute_dims"
ANSWERED = f"provider IS NOT NULL AND status < 400 AND NOT ({HITS})"
TOKENS = "SUM(prompt_tokens + completion_tokens)"
RPM = Kind(("model",), ("COUNT(*)",), ("SUM(requests)",), ("model",))
CACHE = Kind(
    (), ("COUNT(*)", f"SUM(CASE WHEN {HITS} THEN 1 ELSE 0 END)"), ("SUM(lookups)", "SUM(hits)"),
    raw_where="cache_status <> 'DISABLED'",
)  # fmt: skip
COST = Kind((), ("COUNT(*)", "SUM(cost_usd)"), ("SUM(requests)", "SUM(cost_usd)"))
ERRORS = Kind(
    ("provider",), ("COUNT(*)", f"SUM(CASE WHEN {ERROR} THEN 1 ELSE 0 END)"),
    ("SUM(requests)", "SUM(errors)"), ("provider",),
    raw_where="provider IS NOT NULL", rolled_where="provider <> ''",
)  # fmt: skip


def totals_kind(group_by: str) -> Kind:
    raw = ("COUNT(*)", TOKENS, "SUM(cost_usd)")
    rolled = ("SUM(requests)", "SUM(tokens)", "SUM(cost_usd)")
    if group_by in ROLLUP_FILTERS:
        return Kind((group_by,), raw, rolled, (group_by,), bucketed=False)
    return Kind((group_by,), raw, rolled, ("value",), bucketed=False, table=DIMS_TABLE)


def _order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Sort keys the same on both backends (None last)."""
    return tuple((v is None, v if v is not None else "") for v in key)


def _start(window: Window, bucket: Any) -> float:
    return float(bucket) if window.bucket_s else window.since


def health_status(row: Mapping[str, Any], max_error_rate: float, min_requests: int) -> str:
    """``unhealthy`` at ``max_error_rate`` errors or more, ``degraded`` past half of it, else
    ``ok`` (also below ``min_requests``: too few to judge)."""
    if row["requests"] < min_requests or row["error_rate"] < max_error_rate / 2:
        return "ok"
    return "unhealthy" if row["error_rate"] >= max_error_rate else "degraded"
