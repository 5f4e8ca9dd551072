"""Prompt fixtures: a gateway whose portkey.yaml holds prompts, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from portkey_ai import Portkey

from tests.guardrails.servers import ReplyUpstream
from tests.observe.conftest import store_url as store_url
from tests.support import GatewayServer

ADMIN_KEY = "admin-key-for-prompt-tests-0123"


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
