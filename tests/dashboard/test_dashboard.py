"""The dashboard in a real browser (Chromium via Playwright) over real requests, plus its HTTP rules.

Runs on SQLite and PostgreSQL log stores. A screenshot of the overview and of the providers
page is saved under pytest's temp dir (the path is printed).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.fakes import FakeUpstream
from tests.observe.conftest import ADMIN_KEY
from tests.support import GatewayServer

CHARTS = ("rpm", "cache", "latency", "cost", "errors")
#: a model name that would add an element to the page if it were not escaped
INJECTED = "<b id=injected>x</b>"


def caller(server: GatewayServer, key: str, config: dict[str, Any]) -> OpenAI:
    return OpenAI(
        base_url=server.base_url, api_key=key, max_retries=0,
        default_headers={"x-portkey-config": json.dumps(config)},
    )  # fmt: skip


@pytest.fixture(scope="module")
def traffic(server: GatewayServer, admin: httpx.Client, fake: FakeUpstream) -> dict[str, Any]:
    """Real requests: openai x5 (a cache MISS then HIT), groq x6 (three 503); a key and a budget."""
    created = admin.post("/api-keys", json={"name": "dash-team"}).json()
    budget = admin.post(
        "/budgets", json={"scope": "api_key", "target": "dash-team", "limit_usd": 0.001}
    )
    assert budget.status_code == 201, budget.text
    direct = {"provider": "openai", "api_key": "sk-x", "custom_host": fake.base_url}
    trace = f"dash-{uuid.uuid4().hex}"
    ask = caller(server, created["key"], direct).chat.completions.create
    ask(model="priced-model", messages=[{"role": "user", "content": "one"}])
    ask(
        model="priced-model", messages=[{"role": "user", "content": "two"}],
        extra_headers={"x-portkey-trace-id": trace},
    )  # fmt: skip
    cached = caller(server, created["key"], {**direct, "cache": {"mode": "simple"}})
    for _ in range(2):
        cached.chat.completions.create(model="priced-model", messages=[{"role": "user", "content": "c"}])  # fmt: skip
    caller(server, created["key"], direct).chat.completions.create(
        model=INJECTED, messages=[{"role": "user", "content": "x"}]
    )
    groq = caller(server, created["key"], {**direct, "provider": "groq"})
    for _ in range(3):  # 6 requests, half failed: enough (health.min_requests) to judge
        groq.chat.completions.create(model="delay-20", messages=[{"role": "user", "content": "g"}])  # fmt: skip
        with pytest.raises(openai.APIStatusError):
            groq.chat.completions.create(model="status-503", messages=[{"role": "user", "content": "g"}])  # fmt: skip
    deadline = time.monotonic() + 10
    while len(admin.get("/logs", params={"limit": 100}).json()["data"]) < 11:
        assert time.monotonic() < deadline, "the log writer never flushed"
        time.sleep(0.05)  # noqa: TID251 - test thread
    return {"key_id": created["id"], "trace": trace}


def sign_in(page: Any, server: GatewayServer, path: str = "/dashboard") -> None:
    page.goto(server.url + path)
    assert "/dashboard/login" in page.url
    page.fill("input[name=key]", ADMIN_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")


def test_overview_charts_render_real_requests(
    server: GatewayServer, traffic: dict[str, Any], browser: Any, artifacts: Path,
    store_url: str,
) -> None:  # fmt: skip
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, server)
    for name in CHARTS:
        chart = page.locator(f"#chart-{name}")
        chart.locator("canvas").wait_for(timeout=5000)
        assert chart.get_attribute("data-rendered") == "true", name
        assert int(chart.get_attribute("data-points") or 0) > 0, f"{name} drew no data"
        box = chart.locator("canvas").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
    legend = {name: page.locator(f"#chart-{name} .u-legend").inner_text() for name in CHARTS}
    assert "priced-model" in legend["rpm"] and "delay-20" in legend["rpm"]
    assert "openai p95" in legend["latency"] and "groq p50" in legend["latency"]
    assert "openai" in legend["errors"] and "groq" in legend["errors"]
    assert "hit rate" in legend["cache"] and "USD / request" in legend["cost"]
    assert page.locator("#total-requests").inner_text() == "11"
    assert INJECTED in legend["rpm"] and page.locator("#injected").count() == 0
    # the canvas really has ink on it (not a blank plot)
    inked = page.evaluate(
        """() => { const c = document.querySelector('#chart-rpm canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert inked > 500
    shot = artifacts / f"overview-{'pg' if 'postgres' in store_url else 'sqlite'}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"dashboard screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    assert errors == [], errors
    page.close()


def test_logs_filters_and_request_detail(
    server: GatewayServer, traffic: dict[str, Any], browser: Any
) -> None:
    page = browser.new_page()
    sign_in(page, server, "/dashboard/logs")
    assert page.locator("table.logs tbody tr").count() == 11
    assert INJECTED in page.locator("table.logs").inner_text()
    assert page.locator("#injected").count() == 0
    page.fill("input[name=provider]", "groq")
    page.check("input[name=errors]")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**provider=groq**")
    rows = page.locator("table.logs tbody tr")
    assert rows.count() == 3 and all("503" in text for text in rows.all_inner_texts())
    page.goto(server.url + f"/dashboard/logs?trace_id={traffic['trace']}")
    page.locator("table.logs tbody tr a").first.click()
    page.wait_for_url("**/dashboard/logs/*")
    detail = page.locator("main").inner_text()
    assert traffic["trace"] in detail and "priced-model" in detail
    assert "config" in page.locator("h2:has-text('Attempts') + table").inner_text()
    page.close()


def test_keys_budgets_and_providers_health(
    server: GatewayServer, traffic: dict[str, Any], browser: Any, artifacts: Path
) -> None:
    page = browser.new_page()
    sign_in(page, server, "/dashboard/keys")
    key_row = page.locator("#api-keys tr", has_text="dash-team").inner_text()
    assert traffic["key_id"] in key_row
    budget_row = page.locator("#budgets tr", has_text="dash-team")
    assert budget_row.locator("meter").count() == 1
    page.goto(server.url + "/dashboard/providers")
    groq = page.locator("#providers tr", has_text="groq").inner_text()
    assert "unhealthy" in groq and "50.0 %" in groq
    assert "ok" in page.locator("#providers tr", has_text="openai").inner_text()
    page.screenshot(path=str(artifacts / "providers.png"), full_page=True)
    page.close()


def test_sign_in_sets_an_http_only_session_cookie(server: GatewayServer) -> None:
    with httpx.Client(base_url=server.url) as web:
        first = web.get("/dashboard/logs?provider=openai")
        assert first.status_code == 303
        assert (
            first.headers["location"] == "/dashboard/login?next=/dashboard/logs%3Fprovider%3Dopenai"
        )
        wrong = web.post("/dashboard/login", data={"key": "not-the-key", "next": "/dashboard"})
        assert wrong.status_code == 401 and "not the admin key" in wrong.text
        assert "set-cookie" not in wrong.headers
        evil = web.post("/dashboard/login", data={"key": ADMIN_KEY, "next": "https://evil.example"})
        assert evil.status_code == 303 and evil.headers["location"] == "/dashboard"
        cookie = evil.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
        assert ADMIN_KEY not in cookie
        assert web.get("/dashboard").status_code == 200
        web.cookies.set("portkey_dashboard", "9999999999.forged", path="/dashboard")
        assert web.get("/dashboard").status_code == 303
        assert web.post("/dashboard/logout").status_code == 303


def test_scripts_use_the_admin_key_and_bad_input_is_a_400(server: GatewayServer) -> None:
    good = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert httpx.get(server.url + "/dashboard/providers", headers=good).status_code == 200
    bad = httpx.get(server.url + "/dashboard", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_admin_key"
    for path, param in (("/dashboard?range=9y", "range"), ("/dashboard/logs?status=abc", "status"),
                        ("/dashboard/logs?cursor=zz;drop", "cursor")):  # fmt: skip
        answer = httpx.get(server.url + path, headers=good)
        assert answer.status_code == 400, path
        assert answer.json()["error"]["param"] == param
    missing = httpx.get(server.url + "/dashboard/logs/nope", headers=good)
    assert missing.status_code == 404 and missing.json()["error"]["message"]
    huge = httpx.post(server.url + "/dashboard/login", content=b"key=" + b"x" * 5000)
    assert huge.status_code == 400
    page = httpx.get(server.url + "/dashboard", headers=good)
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
