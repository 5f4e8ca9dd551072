"""The in-process gateway client: the real GatewayApp's ASGI door, no socket, same features."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from portkey.errors import GatewayError
from portkey.orchestrator.nl.client import Completion, GatewayClient
from portkey.server import create_app
from tests.fakes import FakeUpstream


async def _call(config: Path, route: str, model: str) -> Completion:
    app = create_app(str(config))
    await app.gateway.startup()
    try:
        client = GatewayClient(app.gateway, route)
        return await client.chat({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    finally:
        await app.gateway.shutdown()


@pytest.fixture
def config(tmp_path: Path, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PORTKEY_DATA_DIR", str(tmp_path))
    route = {"provider": "openai", "api_key": "sk-x", "custom_host": fake.base_url}
    configs = {"plain": route, "retrying": {**route, "retry": {"attempts": 2}}}
    path = tmp_path / "portkey.yaml"
    path.write_text(yaml.safe_dump({"configs": configs}))
    return path


def test_answer_usage_cost_and_trace_id(config: Path, fake: FakeUpstream) -> None:
    done = asyncio.run(_call(config, "plain", "gpt-4o-mini"))
    assert done.status == 200 and done.content
    assert done.usage["total_tokens"] > 0 and done.model
    assert done.cost_usd is not None and done.cost_usd > 0
    assert done.trace_id
    sent = fake.requests[-1]
    assert sent.path.endswith("/chat/completions")


def test_the_configs_retries_apply(config: Path, fake: FakeUpstream) -> None:
    fake.state.clear()
    done = asyncio.run(_call(config, "retrying", "flaky-2"))
    assert done.status == 200
    assert len(fake.requests) == 3  # two scripted 503s retried by the gateway, then the answer


def test_gateway_errors_become_a_gateway_error(config: Path) -> None:
    with pytest.raises(GatewayError) as info:
        asyncio.run(_call(config, "no-such-config", "gpt-4o-mini"))
    assert info.value.http_status == 502 and "no config named" in info.value.message
