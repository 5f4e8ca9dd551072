"""Alert rules: fired once per group, resolved when the condition clears, sent to a real
local webhook receiver (generic JSON and Slack's shape); bad rules are refused at load."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from portkey.config.loader import ConfigError, load_file
from portkey.control.models import BudgetOut
from portkey.observe.alerts import AlertEngine
from portkey.observe.logstore import LogStore
from portkey.observe.record import COLUMNS
from portkey.observe.settings import AlertsSettings
from portkey.store.db import open_database
from portkey.store.migrations import migrate
from tests.fakes import FakeUpstream
from tests.support import GatewayServer, free_port, wait_for


class Receiver:
    """A real HTTP server that keeps every JSON body POSTed to it, by path."""

    def __init__(self, status: int = 200) -> None:
        received: list[tuple[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append((self.path, json.loads(body)))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def bodies(self, path: str) -> list[Any]:
        return [body for p, body in self.received if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.httpd.shutdown()


def test_error_rate_fires_once_per_provider_then_resolves(
    make_gateway: Callable[[str], GatewayServer],
    fake: FakeUpstream,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    rule = f"errors-{uuid.uuid4().hex[:6]}"
    server = make_gateway(f"""
store: {{url: 'sqlite:///{tmp_path / "own.db"}'}}  # its own log: other tests' requests stay out
logs: {{flush_interval_s: 0.02}}
providers:
  fake: {{provider: openai, custom_host: '{fake.base_url}', api_key: sk-alerts}}
alerts:
  interval_s: 0.05
  webhooks:
    ops: {{url: '{receiver.url}/ops'}}
    chat: {{url: '{receiver.url}/slack', format: slack}}
  rules:
    - {{name: {rule}, when: "error_rate > 50% over 1h by provider", min_requests: 3}}
""")
    sdk = OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0,
        default_headers={"x-portkey-virtual-key": "fake"},
    )  # fmt: skip
    for _ in range(3):
        with pytest.raises(openai.APIStatusError):
            sdk.chat.completions.create(
                model="status-503", messages=[{"role": "user", "content": "x"}]
            )

    [fired] = wait_for(lambda: receiver.bodies("/ops"))
    assert fired["alert"] == rule and fired["status"] == "firing"
    assert fired["group"] == {"provider": "openai"}
    assert fired["value"] == 1.0 and fired["threshold"] == 0.5 and fired["requests"] == 3
    [slack] = wait_for(lambda: receiver.bodies("/slack"))
    assert set(slack) == {"text"} and rule in slack["text"] and "provider=openai" in slack["text"]
    time.sleep(0.3)  # noqa: TID251 - several more evaluations: still one alert, not a repeat
    assert len(receiver.bodies("/ops")) == 1
    ready = json.loads(__import__("httpx").get(server.url + "/ready").text)
    assert ready["checks"]["alerts_firing"] == [f"{rule}[openai]"]

    for _ in range(4):  # 3 errors in 7 requests: under 50%
        sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    resolved = wait_for(lambda: receiver.bodies("/ops")[1:])
    assert resolved[0]["status"] == "resolved" and resolved[0]["group"] == {"provider": "openai"}
    assert resolved[0]["resolved_at"] >= fired["started_at"]
    assert "RESOLVED" in wait_for(lambda: receiver.bodies("/slack")[1:])[0]["text"]


def row(ts: float, provider: str, latency_ms: float, cost: float, status: int = 200) -> tuple:
    values: dict[str, Any] = dict.fromkeys(COLUMNS)
    values.update(
        id=f"{int(ts * 1e9):020d}-{uuid.uuid4().hex[:10]}", trace_id="t", ts=ts,
        route="/v1/chat/completions", provider=provider, model="m", status=status, retries=0,
        attempts="[]", cache_status="DISABLED", stream=0, prompt_tokens=1, completion_tokens=1,
        cached_tokens=0, reasoning_tokens=0, cost_usd=cost, latency_ms=latency_ms,
        overhead_ms=0.1, metadata="{}",
    )  # fmt: skip
    return tuple(values[c] for c in COLUMNS)


def test_latency_cost_and_budget_rules_on_a_real_log_store(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'logs.db'}")
    migrate(db)
    store = LogStore(db)
    now = 1_900_000_000.0
    # openai: latencies 1..100 ms (p95 = 95); anthropic: 10 slow requests of 3 s
    store.insert([row(now - 60, "openai", float(i), 0.01) for i in range(1, 101)])
    store.insert([row(now - 30, "anthropic", 3000.0, 0.5) for _ in range(10)])
    store.insert([row(now - 7200, "anthropic", 1.0, 100.0)])  # outside every window
    settings = AlertsSettings.model_validate({
        "webhooks": {"ops": {"url": receiver.url + "/ops"}},
        "rules": [
            {"name": "slow", "when": "latency_p95_ms > 2000 over 5m by provider"},
            {"name": "p95-openai", "when": "latency_p95_ms >= 95 over 5m by provider"},
            {"name": "spend", "when": "cost_per_hour > 30 over 10m"},
            {"name": "budget", "when": "budget_used >= 80%"},
        ],
    })  # fmt: skip
    budget = BudgetOut(
        id="b1", created_at=now, scope="api_key", target="team-a", period="month",
        limit_usd=10.0, spent_usd=8.5,
    )  # fmt: skip
    engine = AlertEngine(lambda: settings, store, lambda: [budget], clock=lambda: now)

    async def run() -> None:
        await engine.evaluate()
        await engine.close()

    asyncio.run(run())
    fired = {(b["alert"], json.dumps(b["group"])): b for b in receiver.bodies("/ops")}
    assert set(fired) == {
        ("slow", '{"provider": "anthropic"}'),
        ("p95-openai", '{"provider": "anthropic"}'),
        ("p95-openai", '{"provider": "openai"}'),
        ("spend", "{}"),
        ("budget", '{"budget": "api_key:team-a:month"}'),
    }
    assert fired[("p95-openai", '{"provider": "openai"}')]["value"] == 95.0
    # (100 x 0.01 + 10 x 0.5) USD in the last 10 minutes = 36 USD an hour
    assert fired[("spend", "{}")]["value"] == pytest.approx(36.0)
    assert fired[("budget", '{"budget": "api_key:team-a:month"}')]["value"] == pytest.approx(0.85)
    db.close()


def test_a_dead_webhook_never_hangs_the_evaluator(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'logs.db'}")
    migrate(db)
    store = LogStore(db)
    now = 1_900_000_000.0
    store.insert([row(now - 1, "openai", 1.0, 0.0, status=500) for _ in range(20)])
    dead = f"http://127.0.0.1:{free_port()}/hook"
    settings = AlertsSettings.model_validate({
        "webhooks": {"ops": {"url": dead, "timeout_s": 0.2}},
        "rules": [{"name": "errors", "when": "error_rate > 10% over 1m"}],
    })  # fmt: skip
    engine = AlertEngine(lambda: settings, store, clock=lambda: now)

    async def run() -> float:
        started = time.monotonic()
        await engine.evaluate()
        await engine.close()
        return time.monotonic() - started

    assert asyncio.run(run()) < 5  # three tries with backoff, then on
    assert list(engine.firing) == [("errors", None)]
    db.close()


@pytest.mark.parametrize(
    ("alerts", "named"),
    [
        ('{webhooks: {a: {url: "http://x"}}, rules: [{name: r, when: "errors > lots"}]}', "when"),
        ('{webhooks: {a: {url: "http://x"}}, rules: [{name: r, when: "p99 > 5"}]}', "metric"),
        (
            '{webhooks: {a: {url: "http://x"}}, rules: [{name: r, when: "requests > 1", notify: [b]}]}',
            "unknown webhooks",
        ),
        ('{rules: [{name: r, when: "requests > 1"}]}', "at least one webhook"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(tmp_path: Path, alerts: str, named: str) -> None:
    path = tmp_path / "portkey.yaml"
    path.write_text(f"alerts: {alerts}\n")
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    assert "alerts" in str(caught.value) and named in str(caught.value)
