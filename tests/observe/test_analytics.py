"""Analytics: real requests through the gateway, then ``/admin/analytics/*`` against values
computed by hand — from the known requests (counts, hits, errors, prices) and from the raw
log rows of ``/admin/logs`` (buckets, nearest-rank percentiles). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from portkey.observe.analytics import Analytics, Window
from portkey.observe.logstore import LogStore
from portkey.observe.record import COLUMNS, new_id
from portkey.store.db import open_database
from tests.fakes import FakeUpstream
from tests.observe.conftest import PRICES
from tests.support import GatewayServer

PRICED = "priced-model"


@dataclass
class Sent:
    """What the test sent, and the window around it."""

    since: float
    until: float = 0.0
    keys: dict[str, str] = field(default_factory=dict)  # name -> id
    cost: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # "key:..", ..


def usage_cost(usage: Any) -> float:
    return (
        usage.prompt_tokens * PRICES["input"] + usage.completion_tokens * PRICES["output"]
    ) / 1e6


def caller(server: GatewayServer, key: str, config: dict[str, Any]) -> OpenAI:
    return OpenAI(
        base_url=server.base_url, api_key=key, max_retries=0,
        default_headers={"x-portkey-config": json.dumps(config)},
    )  # fmt: skip


def ask(c: OpenAI, model: str, text: str = "hello analytics") -> Any:
    return c.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )


@pytest.fixture(scope="module")
def sent(server: GatewayServer, admin: httpx.Client, fake: FakeUpstream) -> Sent:
    """9 requests: openai x6 (one via a virtual key, a cache MISS then HIT), groq x3 (a 503,
    a 400)."""
    out = Sent(since=time.time() - 1)
    keys = {}
    for name in ("team-a", "team-b"):
        created = admin.post("/api-keys", json={"name": name})
        assert created.status_code == 201, created.text
        keys[name] = created.json()["key"]
        out.keys[name] = created.json()["id"]
    direct = {"provider": "openai", "api_key": "sk-x", "custom_host": fake.base_url}
    a = caller(server, keys["team-a"], direct)
    for i in range(3):
        out.cost["key:team-a"] += usage_cost(ask(a, PRICED, f"direct {i}").parse().usage)
    b_vk = caller(server, keys["team-b"], {"virtual_key": "fake-vk"})
    out.cost["key:team-b"] += (vk_cost := usage_cost(ask(b_vk, PRICED).parse().usage))
    out.cost["vk:fake-vk"] += vk_cost
    b_cache = caller(server, keys["team-b"], {**direct, "cache": {"mode": "simple"}})
    miss, hit = ask(b_cache, PRICED, "cache me"), ask(b_cache, PRICED, "cache me")
    assert [miss.headers["x-portkey-cache-status"], hit.headers["x-portkey-cache-status"]] == [
        "MISS", "HIT",
    ]  # fmt: skip
    out.cost["key:team-b"] += usage_cost(miss.parse().usage)
    groq = caller(server, keys["team-a"], {**direct, "provider": "groq"})
    ask(groq, "delay-30")
    with pytest.raises(openai.APIStatusError):
        ask(groq, "status-503")
    with pytest.raises(openai.BadRequestError):  # the caller's fault: no provider error
        ask(groq, "status-400")
    out.until = time.time() + 1
    deadline = time.monotonic() + 10
    while len(log_rows(admin, out)) < 9:
        assert time.monotonic() < deadline, "the log writer never flushed 9 rows"
        time.sleep(0.05)  # noqa: TID251 - test thread
    return out


def log_rows(admin: httpx.Client, sent: Sent) -> list[dict[str, Any]]:
    answer = admin.get("/logs", params={"since": sent.since, "until": sent.until, "limit": 500})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


def series(admin: httpx.Client, sent: Sent, what: str, **params: Any) -> list[dict[str, Any]]:
    answer = admin.get(
        f"/analytics/{what}", params={"since": sent.since, "until": sent.until, **params}
    )
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def summed(rows: list[dict[str, Any]], key: str, value: str) -> dict[Any, float]:
    out: dict[Any, float] = defaultdict(float)
    for row in rows:
        out[row[key]] += row[value]
    return dict(out)


def bucket_of(ts: float, size: int) -> float:
    return float(math.floor(ts / size) * size)


def nearest_rank(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(pct * len(ordered) / 100) - 1]


def test_requests_per_minute_by_model(admin: httpx.Client, sent: Sent) -> None:
    hourly = series(admin, sent, "requests", bucket="1h")
    assert summed(hourly, "model", "requests") == {
        PRICED: 6, "delay-30": 1, "status-503": 1, "status-400": 1,
    }  # fmt: skip
    assert all(row["rpm"] == row["requests"] / 60 for row in hourly)
    expected: dict[tuple[float, str], int] = defaultdict(int)
    for row in log_rows(admin, sent):
        expected[(bucket_of(row["ts"], 60), row["model"])] += 1
    minutes = series(admin, sent, "requests", bucket="60")
    assert {(r["bucket"], r["model"]): r["requests"] for r in minutes} == expected
    assert all(r["rpm"] == r["requests"] for r in minutes)


def test_cache_hit_rate(admin: httpx.Client, sent: Sent) -> None:
    rows = series(admin, sent, "cache", bucket="1d")
    assert sum(r["lookups"] for r in rows) == 2 and sum(r["hits"] for r in rows) == 1
    if len(rows) == 1:  # the window did not straddle midnight UTC
        assert rows[0]["hit_rate"] == 0.5


def test_latency_percentiles_by_provider(admin: httpx.Client, sent: Sent) -> None:
    answered: dict[tuple[float, str], list[float]] = defaultdict(list)
    for row in log_rows(admin, sent):
        if row["status"] < 400 and row["cache_status"] != "HIT":
            answered[(bucket_of(row["ts"], 60), row["provider"])].append(row["latency_ms"])
    assert sum(len(v) for v in answered.values()) == 6  # the 503, 400 and cache hit left out
    got = {(r["bucket"], r["provider"]): r for r in series(admin, sent, "latency", bucket="1m")}
    assert set(got) == set(answered)
    for key, values in answered.items():
        assert got[key]["requests"] == len(values)
        for pct in (50, 95, 99):
            assert got[key][f"p{pct}_ms"] == pytest.approx(nearest_rank(values, pct), abs=1e-9)
    assert all(r["p50_ms"] >= 30 for k, r in got.items() if k[1] == "groq"), "delay-30"


def test_cost_per_request_and_totals(admin: httpx.Client, sent: Sent) -> None:
    total = sent.cost["key:team-a"] + sent.cost["key:team-b"]
    per_bucket = series(admin, sent, "cost", bucket="1h")
    assert sum(r["cost_usd"] for r in per_bucket) == pytest.approx(total, rel=1e-9)
    assert sum(r["requests"] for r in per_bucket) == 9
    for row in per_bucket:
        assert row["cost_per_request_usd"] == pytest.approx(row["cost_usd"] / row["requests"])

    by_key = {r["api_key_id"]: r for r in series(admin, sent, "cost", group_by="api_key_id")}
    a, b = by_key[sent.keys["team-a"]], by_key[sent.keys["team-b"]]
    assert (a["requests"], b["requests"]) == (6, 3)
    assert a["cost_usd"] == pytest.approx(sent.cost["key:team-a"], rel=1e-9)
    assert b["cost_usd"] == pytest.approx(sent.cost["key:team-b"], rel=1e-9)
    assert b["cost_per_request_usd"] == pytest.approx(sent.cost["key:team-b"] / 3, rel=1e-9)

    by_vk = {r["virtual_key"]: r for r in series(admin, sent, "cost", group_by="virtual_key")}
    assert by_vk["fake-vk"]["requests"] == 1
    assert by_vk["fake-vk"]["cost_usd"] == pytest.approx(sent.cost["vk:fake-vk"], rel=1e-9)

    by_model = {r["model"]: r for r in series(admin, sent, "cost", group_by="model")}
    assert by_model[PRICED]["requests"] == 6
    assert by_model[PRICED]["cost_usd"] == pytest.approx(total, rel=1e-9)
    assert by_model["status-503"]["cost_usd"] == 0


def test_error_rate_by_provider_and_health(admin: httpx.Client, sent: Sent) -> None:
    rows = series(admin, sent, "errors", bucket="1d")
    assert summed(rows, "provider", "requests") == {"openai": 6, "groq": 3}
    assert summed(rows, "provider", "errors") == {"openai": 0, "groq": 1}  # the 400 is not
    health = admin.get(
        "/analytics/providers", params={"since": sent.since, "until": sent.until}
    ).json()["data"]
    by_provider = {h["provider"]: h for h in health}
    # 3 requests are fewer than health.min_requests (5): too few to judge, as /ready says
    assert by_provider["groq"]["error_rate"] == pytest.approx(1 / 3)
    assert by_provider["groq"]["status"] == "ok"
    assert by_provider["groq"]["last_error_type"] is not None
    assert by_provider["openai"]["error_rate"] == 0 and by_provider["openai"]["status"] == "ok"
    assert by_provider["openai"]["p95_ms"] > 0


def test_filters_narrow_every_query(admin: httpx.Client, sent: Sent) -> None:
    only_groq = series(admin, sent, "requests", bucket="1d", provider="groq")
    assert summed(only_groq, "model", "requests") == {
        "delay-30": 1, "status-503": 1, "status-400": 1,
    }  # fmt: skip
    key_b = series(admin, sent, "cost", group_by="model", api_key_id=sent.keys["team-b"])
    assert [(r["model"], r["requests"]) for r in key_b] == [(PRICED, 3)]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"bucket": "0"}, "bucket"),
        ({"bucket": "5x"}, "bucket"),
        ({"since": 2000, "until": 1000}, "until"),
        ({"since": 0, "until": 86_400 * 30, "bucket": "1"}, "bucket"),
        ({"group_by": "trace_id"}, "group_by"),
        ({"since": "yesterday"}, "since"),
        ({"since": "-inf", "until": "inf"}, "since"),
        ({"until": "nan"}, "until"),
    ],
)
def test_malformed_input_is_a_400_error_object(
    admin: httpx.Client, params: dict[str, Any], param: str
) -> None:
    answer = admin.get("/analytics/cost", params=params)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] and error["message"]


def test_analytics_need_the_admin_key(server: GatewayServer) -> None:
    answer = httpx.get(server.url + "/admin/analytics/requests")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "missing_admin_key"


def assert_same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert want, "nothing to compare"
    assert [r.keys() for r in got] == [r.keys() for r in want]
    for a, b in zip(got, want, strict=True):
        assert a == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in b.items()}


@pytest.mark.parametrize("aligned", [True, False], ids=["whole-minutes", "ragged-edges"])
def test_rollups_give_the_log_s_answers(store_url: str, sent: Sent, aligned: bool) -> None:
    """Once minutes settle, day-long queries read per-minute rollups: counts and sums equal
    the log's, percentiles come from histograms within 2.5 % of the exact ones."""
    db = open_database(store_url)
    try:
        exact, rolled = Analytics(db, rollups=False), Analytics(db)
        assert rolled.rollups is not None
        rolled.rollups.refresh(now=time.time() + 600, force=True)  # every minute is settled
        since = math.floor(sent.since / 60) * 60 if aligned else sent.since - 0.5
        window = Window.of(since, math.ceil(sent.until / 60) * 60 + 120, 60)
        from_rollups, raw = rolled.split(window)
        assert from_rollups is not None and len(raw) == (0 if aligned else 1)
        for name in ("requests_per_minute", "cache_hit_rate", "cost_series", "error_rate"):
            assert_same(getattr(rolled, name)(window), getattr(exact, name)(window))
        for group in ("model", "api_key_id", "virtual_key", "provider"):
            assert_same(rolled.cost_totals(window, group), exact.cost_totals(window, group))
        fast, slow = rolled.latency(window), exact.latency(window)
        assert [(r["bucket"], r["provider"], r["requests"]) for r in fast] == [
            (r["bucket"], r["provider"], r["requests"]) for r in slow
        ]
        for got, want in zip(fast, slow, strict=True):
            for pct in (50, 95, 99):
                assert got[f"p{pct}_ms"] == pytest.approx(want[f"p{pct}_ms"], rel=0.026)
        only_groq = replace(window, filters=(("provider", "groq"),))
        assert rolled.split(only_groq)[0] is not None
        assert_same(rolled.error_rate(only_groq), exact.error_rate(only_groq))
    finally:
        db.close()


def test_an_analytics_call_never_waits_for_a_rollup_step_in_progress(
    store_url: str, sent: Sent
) -> None:
    """While the rollup job holds the rollups (a step in progress), a query due for a
    refresh does not wait: it reads the minutes past the rollups from the log. Here the
    step is held by this very thread, so waiting would never end (the test's timeout)."""
    db = open_database(store_url)
    try:
        rolled, exact = Analytics(db), Analytics(db, rollups=False)
        assert rolled.rollups is not None
        later = time.time() + 600
        rolled.rollups.refresh(now=later, force=True)
        window = Window.of(math.floor(sent.since / 60) * 60, math.ceil(later / 60) * 60, 60)
        want = exact.requests_per_minute(window)
        rolled.rollups._checked = -math.inf  # due for a refresh
        with rolled.rollups._lock:
            got = rolled.requests_per_minute(window)
            costs = rolled.cost_totals(window, "model")
        assert_same(got, want)
        assert_same(costs, exact.cost_totals(window, "model"))
    finally:
        db.close()


def test_a_row_logged_late_still_reaches_the_rollups(store_url: str, sent: Sent) -> None:
    """A long stream is logged when it ends, stamped with its start: the next refresh
    rebuilds recent minutes, so it counts once (the writer's own insert, no fakes)."""
    db = open_database(store_url)
    try:
        rolled, exact = Analytics(db), Analytics(db, rollups=False)
        assert rolled.rollups is not None
        later = time.time() + 600
        rolled.rollups.refresh(now=later, force=True)
        window = Window.of(math.floor(sent.since / 60) * 60, math.ceil(later / 60) * 60, 60)
        before = summed(rolled.requests_per_minute(window), "model", "requests")
        late = {name: None for name in COLUMNS} | {
            "id": new_id(sent.since + 0.5), "trace_id": "late-stream", "ts": sent.since + 0.5,
            "route": "/v1/chat/completions", "provider": "openai", "model": "late-model",
            "status": 200, "retries": 0, "attempts": "[]", "cache_status": "DISABLED",
            "stream": 1, "prompt_tokens": 3, "completion_tokens": 4, "cached_tokens": 0,
            "reasoning_tokens": 0, "cost_usd": 0.25, "latency_ms": 120_000.0,
            "overhead_ms": 1.0, "metadata": "{}",
        }  # fmt: skip
        LogStore(db).insert([tuple(late[name] for name in COLUMNS)])
        rolled.rollups.refresh(now=later + 60, force=True)
        after = summed(rolled.requests_per_minute(window), "model", "requests")
        assert after == {**before, "late-model": 1}
        assert_same(rolled.cost_totals(window, "model"), exact.cost_totals(window, "model"))
    finally:
        db.close()
