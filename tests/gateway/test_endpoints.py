"""The other endpoints (/v1/completions, /v1/embeddings, GET /v1/models) and named configs.

Completions and embeddings go through the same strategy tree as chat; GET /v1/models asks the
first target's provider when the request is routed, else lists the models portkey.yaml sets.
"""

from __future__ import annotations

from typing import Any

import httpx
from portkey_ai import AsyncPortkey, Portkey

from tests.fakes import FakeUpstream
from tests.gateway.helpers import (
    MESSAGES,
    async_client,
    chat,
    chat_error,
    client,
    content,
    target,
    uid,
)
from tests.support import GatewayServer

# -- completions and embeddings -----------------------------------------------------


def test_completions_are_routed_like_chat(gateway: GatewayServer, fake: FakeUpstream) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [target(fake, f"status-503+{tag}"), target(fake, f"ok-{tag}")],
    }

    raw = client(gateway, config).completions.with_raw_response.create(model="x", prompt="hi")

    assert raw.parse().choices[0].text == f"Hello from ok-{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    completions = [r for r in fake.requests if r.path == "/v1/completions"]
    assert [r.body["model"] for r in completions if tag in r.body["model"]] == [
        f"status-503+{tag}",
        f"ok-{tag}",
    ]


async def test_embeddings_are_routed_like_chat(gateway: GatewayServer, fake: FakeUpstream) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [target(fake, f"status-500+{tag}"), target(fake, f"emb-{tag}")],
    }
    c = async_client(gateway, config)

    raw = await c.embeddings.with_raw_response.create(model="x", input=["a", "b"])
    await c.close()

    answer = raw.parse()
    assert answer.model == f"emb-{tag}"
    assert [d.index for d in answer.data] == [0, 1]
    assert len(answer.data[0].embedding) == 8
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert raw.headers["x-portkey-provider"] == "openai"
    embeddings = [r for r in fake.requests if r.path == "/v1/embeddings"]
    assert [r.body["model"] for r in embeddings if tag in r.body["model"]] == [
        f"status-500+{tag}",
        f"emb-{tag}",
    ]


def test_models_list_through_provider_headers(gateway: GatewayServer, fake: FakeUpstream) -> None:
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}
    c = client(gateway, headers=headers)

    raw = c.models.with_raw_response.list()

    assert [m.id for m in raw.parse()] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    assert raw.headers["x-portkey-provider"] == "openai"
    assert raw.headers["x-portkey-last-used-option-index"] == "config"


def test_models_list_through_the_portkey_sdk_with_a_config(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    pk = Portkey(
        base_url=gateway.base_url,
        api_key="anything",
        config={"strategy": {"mode": "fallback"}, "targets": [target(fake), target(fake)]},
        Authorization="Bearer sk-models",
    )

    models = pk.models.list()

    assert [m.id for m in models.data] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]


def test_models_list_without_a_route_lists_the_configured_models(
    make_gateway: Any, fake: FakeUpstream
) -> None:
    gw = make_gateway(
        f"""
configs:
  main:
    strategy: {{mode: fallback}}
    targets:
      - {{provider: openai, custom_host: "{fake.base_url}", override_params: {{model: m-one}}}}
      - {{provider: groq, override_params: {{model: m-two}}}}
  other:
    provider: openai
    override_params: {{model: m-one}}
"""
    )

    answer = httpx.get(gw.base_url + "/models", timeout=10)

    assert answer.status_code == 200
    assert answer.json() == {
        "object": "list",
        "data": [
            {"id": "m-one", "object": "model", "created": 0, "owned_by": "openai"},
            {"id": "m-two", "object": "model", "created": 0, "owned_by": "groq"},
        ],
    }


def test_config_header_may_name_a_config_from_portkey_yaml(
    make_gateway: Any, fake: FakeUpstream
) -> None:
    tag = uid()
    gw = make_gateway(
        f"""
configs:
  resilient:
    strategy: {{mode: fallback}}
    targets:
      - {{provider: openai, custom_host: "{fake.base_url}", override_params: {{model: "status-503+{tag}"}}}}
      - {{provider: openai, custom_host: "{fake.base_url}", override_params: {{model: "ok-{tag}"}}}}
"""
    )

    raw = chat(client(gw, "resilient"))
    assert content(raw) == f"Hello from ok-{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"

    err = chat_error(client(gw, "missing"))
    assert err.status_code == 400
    assert err.response.json()["error"]["param"] == "x-portkey-config"
    assert "no config named 'missing'" in err.response.json()["error"]["message"]

    pk = Portkey(base_url=gw.base_url, api_key="x", config="resilient", Authorization="sk-named")
    answer = pk.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert answer.choices[0].message.content == f"Hello from ok-{tag}"
    assert answer.get_headers()["last-used-option-index"] == "config.targets[1]"


async def test_async_portkey_sdk_routes_with_a_fallback_config(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    pk = AsyncPortkey(
        base_url=gateway.base_url,
        api_key="anything",
        config={
            "strategy": {"mode": "fallback"},
            "targets": [target(fake, f"status-503+{tag}"), target(fake, f"ok-{tag}")],
        },
        Authorization="Bearer sk-async-portkey",
    )

    answer = await pk.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert answer.choices[0].message.content == f"Hello from ok-{tag}"
    headers = answer.get_headers()
    assert headers["last-used-option-index"] == "config.targets[1]"
    assert headers["provider"] == "openai"
