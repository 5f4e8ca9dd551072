"""Caller API keys, scopes, rate limits, budgets and key rotation, seen through the openai SDK."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI
from pydantic import SecretStr

from portkey.config.models import StoreSettings
from portkey.control.models import (
    ApiKeyIn,
    ApiKeyScopes,
    BudgetIn,
    RateLimitIn,
    Rotation,
    VirtualKeyIn,
)
from portkey.control.plane import open_store
from portkey.control.store import ControlStore
from tests.control.auth_upstream import AuthCheckingUpstream
from tests.fakes import FakeUpstream
from tests.support import GatewayServer

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'control.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[ControlStore]:
    opened = open_store(StoreSettings(url=store_url))
    yield opened
    opened.db.close()


@pytest.fixture
def control_gateway(
    make_gateway: Callable[[str], GatewayServer], store_url: str, fake: FakeUpstream
) -> Callable[[str], GatewayServer]:
    def start(extra: str = "") -> GatewayServer:
        return make_gateway(
            f"store: {{url: '{store_url}', refresh_interval_s: 0.1}}\n"
            f"providers:\n  fake-openai: {{provider: openai, api_key: sk-upstream-secret, "
            f"custom_host: '{fake.base_url}'}}\n{extra}"
        )

    return start


def client(server: GatewayServer, key: str | None, **headers: str) -> OpenAI:
    return OpenAI(
        base_url=server.base_url,
        api_key=key or "unused",
        max_retries=0,
        default_headers={"x-portkey-virtual-key": "fake-openai", **headers},
    )


def eventually(check: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, openai.APIStatusError, pytest.fail.Exception):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # noqa: TID251 - test thread


def keys_required(server: GatewayServer) -> None:
    """Wait until the gateway has seen the store's first API key (it polls every 0.1 s)."""

    def refused() -> None:
        with pytest.raises(openai.AuthenticationError):
            client(server, None).chat.completions.create(model="gpt-4o", messages=HI)

    eventually(refused)


def test_without_keys_the_gateway_is_open(control_gateway: Any) -> None:
    server = control_gateway()
    answer = client(server, None).chat.completions.create(model="gpt-4o", messages=HI)
    assert answer.choices[0].message.content


def test_a_created_key_is_required_and_never_forwarded(
    control_gateway: Any, store: ControlStore
) -> None:
    server = control_gateway()
    created = store.create_api_key(ApiKeyIn(name="app"))

    def refused() -> None:
        with pytest.raises(openai.AuthenticationError) as info:
            client(server, None).chat.completions.create(model="gpt-4o", messages=HI)
        assert info.value.body["code"] == "missing_api_key"  # type: ignore[index]

    eventually(refused)
    answer = client(server, created.key).chat.completions.create(model="echo", messages=HI)
    echoed = answer.choices[0].message.content or ""
    assert "sk-upstream-secret" in echoed  # the virtual key's secret went upstream
    assert created.key not in echoed  # our key did not
    with pytest.raises(openai.AuthenticationError):
        client(server, "pk-00000000-not-a-key").chat.completions.create(model="gpt-4o", messages=HI)


def test_a_revoked_key_is_refused_within_a_second(
    control_gateway: Any, store: ControlStore
) -> None:
    server = control_gateway()
    created = store.create_api_key(ApiKeyIn(name="app"))
    eventually(
        lambda: client(server, created.key).chat.completions.create(model="gpt-4o", messages=HI)
    )
    store.revoke_api_key("app")
    revoked_at = time.monotonic()

    def refused() -> None:
        with pytest.raises(openai.AuthenticationError) as info:
            client(server, created.key).chat.completions.create(model="gpt-4o", messages=HI)
        assert info.value.body["code"] == "revoked"  # type: ignore[index]

    eventually(refused)
    assert time.monotonic() - revoked_at < 1.0


def test_scopes_limit_models_and_virtual_keys(control_gateway: Any, store: ControlStore) -> None:
    server = control_gateway()
    created = store.create_api_key(
        ApiKeyIn(name="mini-only", scopes=ApiKeyScopes(models=["gpt-4o-mini"]))
    )
    c = client(server, created.key)
    keys_required(server)
    c.chat.completions.create(model="gpt-4o-mini", messages=HI)
    with pytest.raises(openai.PermissionDeniedError) as info:
        c.chat.completions.create(model="gpt-4o", messages=HI)
    assert info.value.status_code == 403
    assert info.value.body["param"] == "model"  # type: ignore[index]

    other = store.create_api_key(
        ApiKeyIn(name="other-vk", scopes=ApiKeyScopes(virtual_keys=["somebody-else"]))
    )
    with pytest.raises(openai.PermissionDeniedError):
        eventually(
            lambda: client(server, other.key).chat.completions.create(model="gpt-4o", messages=HI)
        )


def test_rpm_limit_answers_429_with_ratelimit_headers(
    control_gateway: Any, store: ControlStore
) -> None:
    server = control_gateway()
    created = store.create_api_key(ApiKeyIn(name="limited"))
    store.create_rate_limit(RateLimitIn(scope="api_key", target="limited", rpm=3))
    c = client(server, created.key)
    keys_required(server)

    def limits_visible() -> None:
        raw = c.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"

    eventually(limits_visible)
    statuses = []
    for _ in range(4):
        try:
            raw = c.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI)
            statuses.append(raw.status_code)
        except openai.RateLimitError as exc:
            statuses.append(exc.status_code)
            assert float(exc.response.headers["retry-after"]) > 0
            assert exc.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
    assert statuses.count(429) >= 2 and statuses[0] == 200


def test_token_budget_stops_spending_with_budget_exceeded(
    control_gateway: Any, store: ControlStore
) -> None:
    server = control_gateway()
    created = store.create_api_key(ApiKeyIn(name="budgeted", team="ml"))
    store.create_budget(BudgetIn(scope="team", target="ml", limit_tokens=200, period="day"))
    c = client(server, created.key)

    def exhausted() -> None:
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=40)
        assert info.value.body["type"] == "budget_exceeded"  # type: ignore[index]
        assert "team ml" in info.value.body["message"]  # type: ignore[index]

    eventually(exhausted, timeout=10)


def test_a_virtual_key_from_the_store_serves_and_rotates_without_failures(
    make_gateway: Callable[[str], GatewayServer], store_url: str, store: ControlStore
) -> None:
    with AuthCheckingUpstream({"sk-old"}) as upstream:
        store.create_virtual_key(
            VirtualKeyIn(
                name="prod-openai-primary",
                provider="openai",
                api_key=SecretStr("sk-old"),
                custom_host=upstream.base_url,
            )
        )
        server = make_gateway(f"store: {{url: '{store_url}', refresh_interval_s: 0.1}}\n")
        c = OpenAI(
            base_url=server.base_url,
            api_key="unused",
            max_retries=0,
            default_headers={"x-portkey-virtual-key": "prod-openai-primary"},
        )
        assert c.chat.completions.create(model="gpt-4o", messages=HI).choices
        upstream.valid = {"sk-old", "sk-new"}
        store.rotate_virtual_key("prod-openai-primary", Rotation(api_key=SecretStr("sk-new")))
        upstream.valid = {"sk-new"}  # the provider revokes the old secret at once
        for _ in range(30):  # zero failures: before the replica saw the rotation, and after
            assert c.chat.completions.create(model="gpt-4o", messages=HI).choices
            time.sleep(0.02)  # noqa: TID251 - test thread
        assert upstream.seen[-1] == "sk-new"
        listed = store.get_virtual_key("prod-openai-primary")
        assert (listed.secret_hint, listed.previous_secret_hint) == ("...ew", "...ld")  # masked


def test_no_plain_secret_in_the_database_file(store_url: str, store: ControlStore) -> None:
    store.create_virtual_key(
        VirtualKeyIn(name="vk", provider="openai", api_key=SecretStr("sk-very-secret-value-123"))
    )
    created = store.create_api_key(ApiKeyIn(name="k"))
    raw = b"".join(
        p.read_bytes()
        for p in Path(store_url.removeprefix("sqlite:///")).parent.glob("control.db*")
    )
    assert b"sk-very-secret-value-123" not in raw
    assert created.key.encode() not in raw


def test_model_list_needs_a_key_and_shows_only_the_models_in_scope(
    make_gateway: Callable[[str], GatewayServer], store_url: str, store: ControlStore
) -> None:
    server = make_gateway(
        f"store: {{url: '{store_url}', refresh_interval_s: 0.1}}\n"
        "providers:\n  oai: {provider: openai, api_key: sk-x, models: [gpt-4o, gpt-4o-mini, o3]}\n"
    )
    created = store.create_api_key(
        ApiKeyIn(name="mini", scopes=ApiKeyScopes(models=["gpt-4o-mini"]))
    )
    anonymous = OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)

    def refused() -> None:
        with pytest.raises(openai.AuthenticationError):
            anonymous.models.list()

    eventually(refused)
    keyed = OpenAI(base_url=server.base_url, api_key=created.key, max_retries=0)
    assert [m.id for m in keyed.models.list()] == ["gpt-4o-mini"]


def test_anthropic_ingress_takes_the_gateway_key_as_x_api_key(
    control_gateway: Any, store: ControlStore
) -> None:
    import anthropic

    server = control_gateway()
    created = store.create_api_key(ApiKeyIn(name="claude-code"))
    keys_required(server)
    headers = {"x-portkey-virtual-key": "fake-openai"}
    refused = anthropic.Anthropic(
        base_url=server.url, api_key="sk-ant-wrong", max_retries=0, default_headers=headers
    )
    with pytest.raises(anthropic.AuthenticationError):
        refused.messages.count_tokens(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.AuthenticationError):
        refused.messages.create(
            model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    ok = anthropic.Anthropic(
        base_url=server.url, api_key=created.key, max_retries=0, default_headers=headers
    )
    counted = ok.messages.count_tokens(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert counted.input_tokens > 0
    message = ok.messages.create(
        model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content


def test_key_metadata_defaults_route_and_expired_keys_are_refused(
    make_gateway: Callable[[str], GatewayServer],
    store_url: str,
    store: ControlStore,
    fake: FakeUpstream,
) -> None:
    server = make_gateway(
        f"store: {{url: '{store_url}', refresh_interval_s: 0.1}}\n"
        "configs:\n  by-tier:\n"
        f"    provider: openai\n    api_key: sk-x\n    custom_host: '{fake.base_url}'\n"
        "    strategy:\n      mode: conditional\n"
        "      conditions: [{query: {metadata.tier: {$eq: pro}}, then: pro}]\n"
        "      default: free\n"
        "    targets:\n"
        "      - {name: pro, override_params: {model: gpt-4o}}\n"
        "      - {name: free, override_params: {model: gpt-4o-mini}}\n"
    )
    pro = store.create_api_key(ApiKeyIn(name="pro-app", metadata={"tier": "pro"}))
    old = store.create_api_key(ApiKeyIn(name="old", expires_at=time.time() - 1))
    keys_required(server)
    c = OpenAI(
        base_url=server.base_url,
        api_key=pro.key,
        max_retries=0,
        default_headers={"x-portkey-config": "by-tier"},
    )
    answer = c.chat.completions.create(model="any", messages=HI)
    assert answer.model == "gpt-4o"  # the key's metadata routed it to the pro branch
    overridden = c.chat.completions.create(
        model="any", messages=HI, extra_headers={"x-portkey-metadata": '{"tier": "free"}'}
    )
    assert overridden.model == "gpt-4o-mini"  # the request's own metadata wins
    with pytest.raises(openai.AuthenticationError) as info:
        client(server, old.key).chat.completions.create(model="gpt-4o", messages=HI)
    assert info.value.body["code"] == "expired"  # type: ignore[index]


def test_a_virtual_key_maps_models_to_azure_deployments(
    make_gateway: Callable[[str], GatewayServer],
    store_url: str,
    store: ControlStore,
    fake: FakeUpstream,
) -> None:
    import json

    store.create_virtual_key(
        VirtualKeyIn(
            name="azure-prod",
            provider="azure-openai",
            api_key=SecretStr("azure-secret"),
            custom_host=f"{fake.url}/openai",
            options={"deployments": "echo=dep-echo, echo+delay-1=dep-slow"},
        )
    )
    server = make_gateway(f"store: {{url: '{store_url}', refresh_interval_s: 0.1}}\n")
    c = OpenAI(
        base_url=server.base_url,
        api_key="unused",
        max_retries=0,
        default_headers={"x-portkey-virtual-key": "azure-prod"},
    )

    def path_for(model: str) -> str:
        answer = c.chat.completions.create(model=model, messages=HI)
        return str(json.loads(answer.choices[0].message.content or "{}")["path"])

    assert path_for("echo") == "/openai/deployments/dep-echo/chat/completions"
    assert path_for("echo+delay-1") == "/openai/deployments/dep-slow/chat/completions"
    with pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model="gpt-4o", messages=HI)  # no deployment for it
    assert info.value.body["param"] == "model"  # type: ignore[index]
    assert "'gpt-4o'" in info.value.body["message"]  # type: ignore[index]
