"""Prompt fixtures: a gateway whose portkey.yaml holds prompts, on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from portkey_ai import Portkey

from tests.conftest import REQUIRE_SERVICES
from tests.guardrails.servers import ReplyUpstream
from tests.support import GatewayServer

ADMIN_KEY = "admin-key-for-prompt-tests-0123"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def reply() -> Iterator[ReplyUpstream]:
    with ReplyUpstream() as upstream:
        yield upstream


def prompts_yaml(store_url: str, reply: ReplyUpstream, prompts: str, extra: str = "") -> str:
    return f"""
store: {{url: '{store_url}', refresh_interval_s: 0.1}}
admin: {{api_key: {ADMIN_KEY}}}
logs: {{flush_interval_s: 0.05}}
providers:
  up: {{provider: openai, custom_host: '{reply.url}/v1', api_key: sk-up}}
configs:
  main: {{virtual_key: up}}
{extra}
{prompts}
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('prompts') / 'store.db'}"
        return
    try:
        import psycopg

        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    schema = f"portkey_prompts_{secrets.token_hex(4)}"
    conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    try:
        yield f"{PG_DSN}?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]
        conn.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[str], GatewayServer]]:
    started: list[GatewayServer] = []

    def run(text: str) -> GatewayServer:
        path = tmp_path / f"portkey-{len(started)}.yaml"
        path.write_text(text)
        server = GatewayServer(path).__enter__()
        started.append(server)
        return server

    yield run
    for server in started:
        server.__exit__(None, None, None)


def sdk(server: GatewayServer, **kw: Any) -> Portkey:
    return Portkey(base_url=server.base_url, api_key="unused", **kw)


def admin(server: GatewayServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/admin", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    )
