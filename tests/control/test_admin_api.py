"""The admin API over HTTP, on SQLite and PostgreSQL: CRUD, errors, secrets never shown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.fakes import FakeUpstream
from tests.support import GatewayServer

ADMIN_KEY = "admin-key-for-tests-0123456789"
SECRET = "sk-proj-very-secret-value-9876"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'admin.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def server(make_gateway: Callable[[str], GatewayServer], store_url: str) -> GatewayServer:
    return make_gateway(
        f"store: {{url: '{store_url}', refresh_interval_s: 0.1}}\nadmin: {{api_key: {ADMIN_KEY}}}\n"
    )


@pytest.fixture
def admin(server: GatewayServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/admin", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return body


def test_admin_key_is_required(server: GatewayServer) -> None:
    anonymous = httpx.get(server.url + "/admin/virtual-keys")
    assert anonymous.status_code == 401
    wrong = httpx.get(server.url + "/admin/virtual-keys", headers={"x-portkey-admin-key": "nope"})
    assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_admin_key"


def test_virtual_key_crud_never_shows_the_secret(
    admin: httpx.Client, server: GatewayServer, fake: FakeUpstream
) -> None:
    created = admin.post(
        "/virtual-keys",
        json={
            "name": "prod-openai-primary",
            "provider": "openai",
            "api_key": SECRET,
            "custom_host": fake.base_url,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["secret_hint"] == "sk-...9876"
    duplicate = admin.post(
        "/virtual-keys", json={"name": "prod-openai-primary", "provider": "openai"}
    )
    assert duplicate.status_code == 409
    c = OpenAI(
        base_url=server.base_url,
        api_key="unused",
        max_retries=0,
        default_headers={"x-portkey-virtual-key": "prod-openai-primary"},
    )
    echoed = c.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert SECRET in (echoed.choices[0].message.content or "")  # it went upstream
    rotated = admin.post(
        "/virtual-keys/prod-openai-primary/rotate", json={"api_key": "sk-proj-new-0000"}
    )
    assert rotated.json()["previous_secret_hint"] == "sk-...9876"
    echoed = c.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert "sk-proj-new-0000" in (echoed.choices[0].message.content or "")
    everything = " ".join(
        admin.get(path).text
        for path in ("/virtual-keys", "/virtual-keys/prod-openai-primary", "/audit")
    )
    assert SECRET not in everything and "sk-proj-new-0000" not in everything
    assert admin.delete("/virtual-keys/prod-openai-primary").status_code == 204
    assert admin.get("/virtual-keys/prod-openai-primary").status_code == 404


def test_bad_input_is_a_400_naming_the_field(admin: httpx.Client) -> None:
    missing = admin.post("/virtual-keys", json={"name": "x"})
    assert missing.status_code == 400 and error_of(missing)["param"] == "provider"
    unknown = admin.post("/virtual-keys", json={"name": "x", "provider": "no-such"})
    assert unknown.status_code == 400 and "unknown provider" in error_of(unknown)["message"]
    azure = admin.post(
        "/virtual-keys", json={"name": "az", "provider": "azure-openai", "api_key": "k"}
    )
    assert azure.status_code == 400 and error_of(azure)["param"] == "options.resource_name"
    malformed = admin.post(
        "/budgets", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    no_limit = admin.post("/budgets", json={"scope": "team", "target": "ml"})
    assert no_limit.status_code == 400
    config = admin.put(
        "/configs/router",
        json={"strategy": {"mode": "fallback"}, "targets": [{"virtual_key": "ghost"}]},
    )
    assert config.status_code == 400
    assert error_of(config)["param"] == "config.targets[0].virtual_key"
    assert "ghost" in error_of(config)["message"]
    assert admin.patch("/budgets").status_code == 405


def test_api_keys_budgets_limits_configs_usage_and_audit(
    admin: httpx.Client, server: GatewayServer, fake: FakeUpstream
) -> None:
    admin.post(
        "/virtual-keys",
        json={"name": "vk", "provider": "openai", "api_key": SECRET, "custom_host": fake.base_url},
    )
    assert admin.put("/configs/main", json={"virtual_key": "vk"}).status_code == 200
    created = admin.post("/api-keys", json={"name": "app", "scopes": {"configs": ["main"]}}).json()
    key = created["key"]
    assert created["key_hint"].endswith(key[-4:])
    assert "key" not in admin.get(f"/api-keys/{created['id']}").json()
    budget = admin.post(
        "/budgets", json={"scope": "api_key", "target": "app", "limit_usd": 5}
    ).json()
    limit = admin.post(
        "/rate-limits", json={"scope": "api_key", "target": "app", "rpm": 100}
    ).json()
    c = OpenAI(
        base_url=server.base_url,
        api_key=key,
        max_retries=0,
        default_headers={"x-portkey-config": "main"},
    )
    raw = c.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-ratelimit-limit-requests"] == "100"
    import time

    deadline = time.monotonic() + 5
    while not admin.get("/usage", params={"api_key": "app"}).json()["data"]:
        assert time.monotonic() < deadline, "usage never flushed"
        time.sleep(0.1)  # noqa: TID251 - test thread
    usage = admin.get("/usage", params={"api_key": "app"}).json()["data"][0]
    assert usage["requests"] == 1 and usage["name"] == "app"
    assert admin.post(f"/api-keys/{created['id']}/revoke").json()["revoked_at"] is not None
    assert admin.delete(f"/budgets/{budget['id']}").status_code == 204
    assert admin.delete(f"/rate-limits/{limit['id']}").status_code == 204
    kinds = [e["kind"] for e in admin.get("/audit").json()["data"]]
    assert {"virtual_key", "config", "api_key", "budget", "rate_limit"} <= set(kinds)
    assert admin.get("/openapi.json").json()["paths"]["/admin/virtual-keys"]
