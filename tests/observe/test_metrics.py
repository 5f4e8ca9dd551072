"""``GET /metrics`` after real requests: counters, histograms and the queue gauge, by the
names the Grafana dashboard uses; labels stay bounded (no trace ids)."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.fakes import FakeUpstream
from tests.support import GatewayServer

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "portkey.json"


def scrape(server: GatewayServer, until: str) -> str:
    """The metrics text, once ``until`` (a regex) matches it (metrics follow the log writer)."""
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(server.url + "/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        if re.search(until, response.text) or time.monotonic() > deadline:
            return response.text
        time.sleep(0.02)  # noqa: TID251 - test thread


def value(text: str, pattern: str) -> float:
    match = re.search(pattern + r" ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, pattern
    return float(match.group(1))


def test_requests_tokens_cost_latency_and_fallbacks_are_counted(
    server: GatewayServer, fake: FakeUpstream
) -> None:
    trace = f"trace-{uuid.uuid4().hex}"
    sdk = OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0,
        default_headers={"x-portkey-config": "fallback", "x-portkey-trace-id": trace},
    )  # fmt: skip
    before = httpx.get(server.url + "/metrics").text
    answer = sdk.chat.completions.create(
        model="priced-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.usage is not None
    ok = r'portkey_requests_total\{model="priced-model",provider="openai",status="200"\}'
    fallbacks = r'portkey_fallbacks_total\{provider="openai"\}'
    old = value(before, ok) if re.search(ok, before) else 0.0
    old_fallbacks = value(before, fallbacks) if re.search(fallbacks, before) else 0.0
    text = scrape(server, ok + f" {old + 1}")

    assert value(text, ok) == old + 1
    assert value(text, fallbacks) == old_fallbacks + 1
    assert (
        value(text, r'portkey_attempt_failures_total\{error_type="[a-z_]+",provider="openai"\}')
        >= 1
    )
    assert value(
        text, r'portkey_tokens_total\{kind="prompt",model="priced-model",provider="openai"\}'
    ) >= (answer.usage.prompt_tokens)
    assert value(text, r'portkey_cost_usd_total\{model="priced-model",provider="openai"\}') > 0
    assert value(text, r'portkey_request_duration_seconds_count\{provider="openai"\}') >= 1
    assert value(text, r'portkey_gateway_overhead_seconds_count\{provider="openai"\}') >= 1
    assert value(text, r'portkey_cache_requests_total\{status="DISABLED"\}') >= 1
    assert re.search(r"^portkey_log_queue_depth \d", text, re.MULTILINE)
    # the keep-alive pool holds the connection the answer came on
    assert value(text, r'portkey_upstream_connections\{state="idle"\}') >= 1
    assert value(text, r'portkey_upstream_connections\{state="in_use"\}') >= 0
    assert trace not in text


def test_streams_count_their_time_to_first_token(server: GatewayServer, fake: FakeUpstream) -> None:
    sdk = OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0,
        default_headers={"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url},
    )  # fmt: skip
    ttft = r'portkey_time_to_first_token_seconds_count\{provider="openai"\}'
    before = httpx.get(server.url + "/metrics").text
    old = value(before, ttft) if re.search(ttft, before) else 0.0
    list(sdk.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    ))  # fmt: skip
    assert value(scrape(server, ttft + f" {old + 1}"), ttft) == old + 1


def test_rate_limit_refusals_are_counted(
    server: GatewayServer, admin: httpx.Client, fake: FakeUpstream
) -> None:
    model = f"limited-{uuid.uuid4().hex[:8]}"
    created = admin.post("/rate-limits", json={"scope": "model", "target": model, "rpm": 1})
    assert created.status_code == 201, created.text
    sdk = OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0,
        default_headers={"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url},
    )  # fmt: skip
    rejected = r'portkey_rejections_total\{reason="rate_limit_error"\}'
    before = httpx.get(server.url + "/metrics").text
    old = value(before, rejected) if re.search(rejected, before) else 0.0
    sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    second = sdk.chat.completions.with_raw_response
    try:
        second.create(model=model, messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("the second request should be refused")
    except openai.RateLimitError:
        pass
    assert value(scrape(server, rejected + f" {old + 1}"), rejected) == old + 1
    admin.delete(f"/rate-limits/{created.json()['id']}")


def test_the_grafana_dashboard_uses_exported_metric_names(server: GatewayServer) -> None:
    text = httpx.get(server.url + "/metrics").text
    exported = set(re.findall(r"^# TYPE (portkey_\w+) ", text, re.MULTILINE))
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(queries) >= 8
    for query in queries:
        for name in re.findall(r"\b(portkey_\w+)", query):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert name in exported or base in exported, f"{name} is not exported"


def test_guardrail_checks_and_blocks_are_counted_and_logged(
    server: GatewayServer, fake: FakeUpstream, admin: httpx.Client
) -> None:
    guard = {
        "id": "no-secret-word",
        "deny": True,
        "checks": [
            {"id": "default.contains", "parameters": {"words": ["xyzzy"], "operator": "none"}},
            {"id": "default.wordCount", "parameters": {"minWords": 1, "maxWords": 500}},
        ],
    }
    config = {"virtual_key": "fake-vk", "input_guardrails": [guard]}
    sdk = OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0,
        default_headers={"x-portkey-config": json.dumps(config)},
    )  # fmt: skip
    sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    with pytest.raises(openai.APIStatusError) as refused:
        sdk.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "say xyzzy"}]
        )
    assert refused.value.status_code == 446
    failed = r'portkey_guardrail_checks_total\{check="default.contains",verdict="fail"\}'
    text = scrape(server, failed)
    assert value(text, failed) >= 1
    assert (
        value(text, r'portkey_guardrail_checks_total\{check="default.contains",verdict="pass"\}')
        >= 1
    )
    assert (
        value(text, r'portkey_guardrail_checks_total\{check="default.wordCount",verdict="pass"\}')
        >= 2
    )
    assert value(text, r'portkey_guardrail_outcomes_total\{outcome="blocked"\}') >= 1
    assert value(text, r"portkey_guardrail_duration_seconds_count") >= 2
    [blocked] = [
        r for r in admin.get("/logs", params={"status": 446}).json()["data"] if r["guardrails"]
    ][:1]
    assert blocked["guardrails"]["checks_failed"] == {"default.contains": 1}
    assert blocked["guardrails"]["checks_run"]["default.wordCount"] == 1
    assert blocked["guardrails"]["latency_ms"] >= 0
