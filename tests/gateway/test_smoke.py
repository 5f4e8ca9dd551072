"""The gateway answers through the official openai SDK, routed by headers."""

from __future__ import annotations

from openai import OpenAI

from tests.fakes import FakeUpstream
from tests.support import GatewayServer


def test_chat_completion_through_provider_headers(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    client = OpenAI(
        base_url=gateway.base_url,
        api_key="sk-smoke",
        default_headers={"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url},
    )
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().choices[0].message.content == "Hello from gpt-4o"
    assert raw.headers["x-portkey-provider"] == "openai"
    assert raw.headers["x-portkey-cache-status"] == "DISABLED"
    assert float(raw.headers["x-portkey-gateway-overhead-ms"]) >= 0
