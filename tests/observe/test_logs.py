"""Request logs: real requests through the gateway, then the log store through /admin/logs.

Runs on SQLite and PostgreSQL. Checks the fields a user reads (trace id, provider, model,
tokens, cost, latency, attempts, cache status, metadata), filters with cursor pagination,
the cost header against hand-computed prices, and that no key reaches the log.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.fakes import FakeUpstream
from tests.observe.conftest import PRICES, VK_SECRET
from tests.support import GatewayServer

CLIENT_KEY = "sk-client-key-never-logged-1234"
BODY_SECRET = "sk-proj-secret-typed-into-a-prompt-5678"


def wait_logs(admin: httpx.Client, count: int = 1, **filters: Any) -> list[dict[str, Any]]:
    """The log rows matching ``filters`` once ``count`` of them are written (batched writes)."""
    deadline = time.monotonic() + 10
    while True:
        response = admin.get("/logs", params=filters)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["data"]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)  # noqa: TID251 - test thread


def client(server: GatewayServer, fake: FakeUpstream, **headers: str) -> OpenAI:
    base = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    return OpenAI(
        base_url=server.base_url,
        api_key=CLIENT_KEY,
        max_retries=0,
        default_headers={**base, **headers},
    )


def expected_cost(prompt: int, completion: int, cached: int = 0) -> float:
    return (
        (prompt - cached) * PRICES["input"]
        + cached * PRICES["cached_input"]
        + completion * PRICES["output"]
    ) / 1_000_000


def test_a_json_answer_is_logged_with_its_cost(
    server: GatewayServer, admin: httpx.Client, fake: FakeUpstream
) -> None:
    trace = f"trace-{uuid.uuid4().hex}"
    raw = client(server, fake, **{
        "x-portkey-trace-id": trace, "x-portkey-metadata": json.dumps({"team": "search"}),
    }).chat.completions.with_raw_response.create(
        model="priced-model",
        messages=[{"role": "user", "content": f"my key is {BODY_SECRET}"}],
    )  # fmt: skip
    answer = raw.parse()
    assert answer.usage is not None
    cost = expected_cost(answer.usage.prompt_tokens, answer.usage.completion_tokens)
    assert float(raw.headers["x-portkey-cost-usd"]) == pytest.approx(cost, rel=1e-6)

    [row] = wait_logs(admin, trace_id=trace)
    assert row["provider"] == "openai" and row["model"] == "priced-model"
    assert row["status"] == 200 and row["error_type"] is None
    assert row["route"] == "/v1/chat/completions" and row["stream"] is False
    assert row["prompt_tokens"] == answer.usage.prompt_tokens
    assert row["completion_tokens"] == answer.usage.completion_tokens
    assert row["cost_usd"] == pytest.approx(cost, rel=1e-6)
    assert row["latency_ms"] > 0 and 0 <= row["overhead_ms"] <= row["latency_ms"]
    assert row["ttft_ms"] is None
    assert row["cache_status"] == "DISABLED"
    assert row["metadata"] == {"team": "search"}
    assert row["attempts"] == [{"target": "config", "provider": "openai", "status": 200}]
    assert "priced-model" in row["request_body"] and answer.id in row["response_body"]
    assert BODY_SECRET not in row["request_body"] and "***" in row["request_body"]
    assert admin.get(f"/logs/{row['id']}").json() == row


def test_a_stream_is_logged_with_usage_and_time_to_first_token(
    server: GatewayServer, admin: httpx.Client, fake: FakeUpstream
) -> None:
    trace = f"trace-{uuid.uuid4().hex}"
    stream = client(server, fake, **{"x-portkey-trace-id": trace}).chat.completions.create(
        model="priced-model", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks), "the gateway's own usage request stays hidden"

    [row] = wait_logs(admin, trace_id=trace)
    assert row["stream"] is True and row["status"] == 200
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert row["cost_usd"] == pytest.approx(
        expected_cost(row["prompt_tokens"], row["completion_tokens"]), rel=1e-6
    )
    assert 0 < row["ttft_ms"] <= row["latency_ms"]


def test_fallback_and_retries_keep_every_attempt(
    server: GatewayServer, admin: httpx.Client, fake: FakeUpstream
) -> None:
    trace = f"trace-{uuid.uuid4().hex}"
    OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0,
        default_headers={"x-portkey-config": "fallback", "x-portkey-trace-id": trace},
    ).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])  # fmt: skip

    [row] = wait_logs(admin, trace_id=trace)
    assert row["config"] == "fallback" and row["virtual_key"] == "fake-vk"
    assert row["target"] == "config.targets[1]"
    assert [(a["target"], a["status"]) for a in row["attempts"]] == [
        ("config.targets[0]", 503),
        ("config.targets[1]", 200),
    ]
    assert row["attempts"][0]["error_type"]


def test_a_failed_request_is_logged_with_its_error(
    server: GatewayServer, admin: httpx.Client
) -> None:
    trace = f"trace-{uuid.uuid4().hex}"
    response = httpx.post(
        server.base_url + "/chat/completions",
        headers={"x-portkey-config": "retried", "x-portkey-trace-id": trace},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 503

    [row] = wait_logs(admin, trace_id=trace)
    assert row["status"] == 503 and row["error_type"]
    assert row["retries"] == 1 and len(row["attempts"]) == 2
    assert row["cost_usd"] is None


def test_filters_and_cursor_pagination(
    server: GatewayServer, admin: httpx.Client, fake: FakeUpstream
) -> None:
    model = f"page-{uuid.uuid4().hex[:8]}"
    sdk = client(server, fake)
    for _ in range(5):
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert len(wait_logs(admin, 5, model=model)) == 5

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"model": model, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = admin.get("/logs", params=params).json()
        seen += [r["id"] for r in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True), "newest first"
    assert admin.get("/logs", params={"model": model, "status": 500}).json()["data"] == []
    assert (
        admin.get("/logs", params={"model": model, "since": time.time() + 60}).json()["data"] == []
    )


def test_bad_queries_are_400s_and_the_api_needs_the_admin_key(
    server: GatewayServer, admin: httpx.Client
) -> None:
    assert admin.get("/logs", params={"limit": 0}).status_code == 400
    assert admin.get("/logs", params={"cursor": "'; drop table"}).status_code == 400
    assert admin.get("/logs/nope").status_code == 404
    assert httpx.get(server.url + "/admin/logs").status_code == 401


def test_no_key_reaches_the_log_store(
    server: GatewayServer, admin: httpx.Client, fake: FakeUpstream, store_url: str
) -> None:
    trace = f"trace-{uuid.uuid4().hex}"
    client(server, fake, **{"x-portkey-trace-id": trace}).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0,
        default_headers={"x-portkey-config": "fallback", "x-portkey-trace-id": trace},
    ).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    assert len(wait_logs(admin, 2, trace_id=trace)) == 2

    everything = json.dumps(admin.get("/logs", params={"limit": 500}).json())
    for secret in (CLIENT_KEY, VK_SECRET, BODY_SECRET):
        assert secret not in everything
    if store_url.startswith("sqlite:///"):  # the database file itself, write-ahead log included
        path = Path(store_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert b"request_logs" in raw
        for secret in (CLIENT_KEY, VK_SECRET, BODY_SECRET):
            assert secret.encode() not in raw
