"""GET /v1/models: translated lists from Anthropic, Gemini and Cohere, and portkey.yaml's models.

The clients are the official ``openai`` SDK (``client.models.list()``); the upstreams are the
native fakes in tests/fakes, which serve their lists two models a page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

import openai
import pytest
from openai import OpenAI

from portkey.config.loader import ConfigError, load_text
from portkey.gateway import models_endpoint
from tests.fakes import anthropic as anthropic_fake
from tests.fakes import cohere as cohere_fake
from tests.fakes import gemini as gemini_fake
from tests.fakes.contract import REQUESTS
from tests.fakes.runner import AppServer
from tests.gateway.helpers import uid
from tests.support import GatewayServer


@dataclass(frozen=True)
class Upstream:
    provider: str
    fake: ModuleType
    root: str  # appended to the fake's URL to make the custom_host
    #: what a client must see for one entry of the fake's CATALOG: (id, created)
    expected: Callable[[dict[str, Any]], tuple[str, int]]


def _anthropic(model: dict[str, Any]) -> tuple[str, int]:
    created = datetime.fromisoformat(model["created_at"]).timestamp()
    return model["id"], int(created)


UPSTREAMS = [
    Upstream("anthropic", anthropic_fake, "/v1", _anthropic),
    Upstream("google", gemini_fake, "/v1beta", lambda m: (m["name"].removeprefix("models/"), 0)),
    Upstream("cohere", cohere_fake, "", lambda m: (m["name"], 0)),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, AppServer]]:
    with (
        AppServer(anthropic_fake.make_app()) as anthropic_server,
        AppServer(gemini_fake.make_app()) as gemini_server,
        AppServer(cohere_fake.make_app()) as cohere_server,
    ):
        yield {"anthropic": anthropic_server, "google": gemini_server, "cohere": cohere_server}


def routed(gateway: GatewayServer, target: dict[str, Any]) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-client",
        max_retries=0,
        timeout=10,
        default_headers={"x-portkey-config": json.dumps(target)},
    )


def target_for(up: Upstream, server: AppServer, key: str) -> dict[str, Any]:
    return {"provider": up.provider, "custom_host": server.url + up.root, "api_key": key}


def list_calls(server: AppServer, key: str) -> list[str]:
    """Paths and queries of the requests that carried ``key`` (as it is, or as a bearer)."""
    return [
        path
        for path, headers, _ in server.app[REQUESTS]
        if any(value in (key, f"Bearer {key}") for value in headers.values())
    ]


# -- routed: each provider's list, translated ------------------------------------------------


@pytest.mark.parametrize("up", UPSTREAMS, ids=lambda u: u.provider)
def test_sdk_lists_every_page_in_openai_shape(
    gateway: GatewayServer, servers: dict[str, AppServer], up: Upstream
) -> None:
    server = servers[up.provider]
    key = f"key-{uid()}"

    raw = routed(gateway, target_for(up, server, key)).models.with_raw_response.list()
    models = list(raw.parse())

    assert [(m.id, m.created) for m in models] == [up.expected(m) for m in up.fake.CATALOG]
    assert {m.object for m in models} == {"model"}
    assert {m.owned_by for m in models} == {up.provider}
    assert raw.headers["x-portkey-provider"] == up.provider
    calls = list_calls(server, key)
    assert len(calls) == math.ceil(len(up.fake.CATALOG) / up.fake.PAGE_CAP)
    assert len(set(calls)) == len(calls)  # each page asked once, each with its own cursor


def test_anthropic_pages_follow_last_id(
    gateway: GatewayServer, servers: dict[str, AppServer]
) -> None:
    up, server, key = UPSTREAMS[0], servers["anthropic"], f"sk-ant-{uid()}"

    routed(gateway, target_for(up, server, key)).models.list()

    ids = [m["id"] for m in anthropic_fake.CATALOG]
    cap = anthropic_fake.PAGE_CAP
    assert list_calls(server, key) == [
        "/v1/models?limit=1000",
        f"/v1/models?limit=1000&after_id={ids[cap - 1]}",
        f"/v1/models?limit=1000&after_id={ids[2 * cap - 1]}",
    ]


def test_a_list_past_the_page_bound_is_cut_with_a_warning(
    gateway: GatewayServer, servers: dict[str, AppServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models_endpoint, "MAX_PAGES", 2)
    up, key = UPSTREAMS[0], f"sk-ant-{uid()}"

    raw = routed(gateway, target_for(up, servers["anthropic"], key)).models.with_raw_response.list()

    shown = 2 * anthropic_fake.PAGE_CAP
    assert [m.id for m in raw.parse()] == [m["id"] for m in anthropic_fake.CATALOG[:shown]]
    assert "model list of anthropic cut after 2 pages" in raw.headers["x-portkey-warnings"]


@pytest.mark.parametrize("up", UPSTREAMS, ids=lambda u: u.provider)
def test_malformed_upstream_list_is_a_502(
    gateway: GatewayServer, servers: dict[str, AppServer], up: Upstream
) -> None:
    target = target_for(up, servers[up.provider], f"bad-list-{uid()}")

    with pytest.raises(openai.APIStatusError) as info:
        routed(gateway, target).models.list()

    assert info.value.status_code == 502
    error = info.value.response.json()["error"]
    assert error["type"] == "upstream_bad_response"
    assert error["message"].startswith(f"{up.provider} sent a model list")
    assert info.value.response.headers["x-portkey-provider"] == up.provider


@pytest.mark.parametrize("up", UPSTREAMS, ids=lambda u: u.provider)
def test_refused_key_is_an_authentication_error(
    gateway: GatewayServer, servers: dict[str, AppServer], up: Upstream
) -> None:
    """Each provider's refusal (Gemini's is a 400 API_KEY_INVALID) reads as OpenAI's 401."""
    target = target_for(up, servers[up.provider], f"revoked-{uid()}")

    with pytest.raises(openai.AuthenticationError) as info:
        routed(gateway, target).models.list()

    refusal = up.fake.ERRORS["auth"][1]  # the provider's own error body
    upstream_message = refusal["error"]["message"] if "error" in refusal else refusal["message"]
    error = info.value.response.json()["error"]
    assert error["type"] == "authentication_error"
    assert error["message"] == upstream_message


def test_provider_without_a_list_is_a_clear_400(
    gateway: GatewayServer, servers: dict[str, AppServer]
) -> None:
    target = {
        "provider": "vertex-ai",
        "vertex_project_id": "proj",
        "custom_host": servers["google"].url,
        "api_key": "ya29.token",
    }

    with pytest.raises(openai.BadRequestError) as info:
        routed(gateway, target).models.list()

    error = info.value.response.json()["error"]
    assert error["message"] == "provider vertex-ai does not list models"
    assert error["param"] == "provider"


# -- unrouted: the models portkey.yaml names -------------------------------------------------


def test_unrouted_list_holds_provider_models_then_config_models(
    make_gateway: Any, servers: dict[str, AppServer]
) -> None:
    gw = make_gateway(
        f"""
providers:
  claude:
    provider: anthropic
    api_key: sk-ant-yaml
    custom_host: "{servers["anthropic"].url}/v1"
    models: [claude-sonnet-4-20250514, claude-3-5-haiku-20241022]
  gemini-prod:
    provider: google
    api_key: AIza-yaml
    models: [gemini-2.5-flash, claude-sonnet-4-20250514]
configs:
  main:
    strategy: {{mode: fallback}}
    targets:
      - {{virtual_key: claude, override_params: {{model: claude-opus-4-1-20250805}}}}
      - {{provider: openai, override_params: {{model: gpt-4o}}}}
      - {{virtual_key: gemini-prod, override_params: {{model: gemini-2.5-flash}}}}
"""
    )
    c = OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=0, timeout=10)

    models = list(c.models.list())

    assert [(m.id, m.owned_by, (m.model_extra or {}).get("portkey_provider")) for m in models] == [
        ("claude-sonnet-4-20250514", "anthropic", "claude"),
        ("claude-3-5-haiku-20241022", "anthropic", "claude"),
        ("gemini-2.5-flash", "google", "gemini-prod"),
        ("claude-opus-4-1-20250805", "anthropic", "claude"),
        ("gpt-4o", "openai", None),
    ]
    assert {m.object for m in models} == {"model"}

    # the same file, routed through a named provider: that provider's own list
    via_key = OpenAI(
        base_url=gw.base_url,
        api_key="sk-client",
        max_retries=0,
        timeout=10,
        default_headers={"x-portkey-virtual-key": "claude"},
    )
    assert [m.id for m in via_key.models.list()] == [m["id"] for m in anthropic_fake.CATALOG]


@pytest.mark.parametrize(
    ("models", "message"),
    [("[a, a]", "model 'a' is listed twice"), ("['a', ' ']", "a model name must not be empty")],
)
def test_bad_models_list_is_refused_at_load(models: str, message: str) -> None:
    text = f"providers:\n  p:\n    provider: openai\n    models: {models}\n"

    with pytest.raises(ConfigError) as info:
        load_text(text)

    assert "providers.p.models" in str(info.value)
    assert message in str(info.value)
