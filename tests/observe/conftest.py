"""Observability fixtures: one gateway per store backend (module scope), its admin client."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from portkey.store.db import Database, open_database
from portkey.store.migrations import migrate
from tests.conftest import REQUIRE_SERVICES
from tests.control.conftest import pg_url as pg_url
from tests.fakes import FakeUpstream
from tests.support import GatewayServer

ADMIN_KEY = "admin-key-for-observe-tests-0123"
VK_SECRET = "sk-vk-secret-never-logged-4242"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
#: hand-set prices (USD per million tokens) so expected costs are exact
PRICES = {"input": 2.0, "output": 8.0, "cached_input": 1.0}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A migrated store on each backend (its request_logs empty)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'logs.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    found = open_database(url)
    migrate(found)
    request.addfinalizer(found.close)
    return found


def gateway_yaml(store_url: str, fake: FakeUpstream, **logs: str) -> str:
    extra = "".join(f", {k}: {v}" for k, v in logs.items())
    return f"""
store: {{url: '{store_url}', refresh_interval_s: 0.1}}
admin: {{api_key: {ADMIN_KEY}}}
logs: {{flush_interval_s: 0.05, bodies: full{extra}}}
prices:
  priced-model: {{input: {PRICES["input"]}, output: {PRICES["output"]}, cached_input: {PRICES["cached_input"]}}}
providers:
  fake-vk: {{provider: openai, custom_host: '{fake.base_url}', api_key: {VK_SECRET}}}
configs:
  fallback:
    strategy: {{mode: fallback}}
    targets:
      - {{virtual_key: fake-vk, override_params: {{model: status-503}}}}
      - {{virtual_key: fake-vk}}
  retried:
    virtual_key: fake-vk
    override_params: {{model: status-503}}
    retry: {{attempts: 1, on_status_codes: [503]}}
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('observe') / 'logs.db'}"
        return
    try:
        import psycopg

        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    schema = f"portkey_observe_{secrets.token_hex(4)}"
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_DSN}?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


@pytest.fixture(scope="module")
def server(
    store_url: str, fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    path: Path = tmp_path_factory.mktemp("observe-config") / "portkey.yaml"
    path.write_text(gateway_yaml(store_url, fake))
    with GatewayServer(path) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def admin(server: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url + "/admin", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        yield client
