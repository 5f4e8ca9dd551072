"""Headers both ways: x-portkey-* response headers, trace ids, forwarded headers, credentials.

Credentials: the client's Bearer token is the provider key unless the target carries its own
(api_key or a virtual key from portkey.yaml); keys never show up in error bodies.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from portkey_ai import AsyncPortkey, Portkey

from tests.fakes import FakeUpstream
from tests.gateway.helpers import (
    MESSAGES,
    chat,
    chat_error,
    client,
    config_header,
    content,
    sent_with_key,
    target,
    uid,
)
from tests.support import GatewayServer, free_port

PORTKEY_HEADERS = (
    "x-portkey-trace-id",
    "x-portkey-retry-attempt-count",
    "x-portkey-last-used-option-index",
    "x-portkey-provider",
    "x-portkey-cache-status",
    "x-portkey-gateway-overhead-ms",
)


def provider_headers(fake: FakeUpstream, **extra: str) -> dict[str, str]:
    return {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url, **extra}


# -- response headers ----------------------------------------------------------------------


def test_every_portkey_header_on_a_provider_route(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    raw = chat(client(gateway, headers=provider_headers(fake)))

    headers = raw.headers
    assert all(name in headers for name in PORTKEY_HEADERS)
    assert headers["x-portkey-retry-attempt-count"] == "0"
    assert headers["x-portkey-last-used-option-index"] == "config"
    assert headers["x-portkey-provider"] == "openai"
    assert headers["x-portkey-cache-status"] == "DISABLED"
    assert 0 <= float(headers["x-portkey-gateway-overhead-ms"]) < 1000
    assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f-]{8,}", headers["x-portkey-trace-id"])


def test_every_portkey_header_on_an_error(gateway: GatewayServer, fake: FakeUpstream) -> None:
    err = chat_error(client(gateway, headers=provider_headers(fake)), model="status-500")

    headers = err.response.headers
    assert all(name in headers for name in PORTKEY_HEADERS)
    assert headers["x-portkey-last-used-option-index"] == "config"
    assert headers["x-portkey-provider"] == "openai"
    assert headers["x-portkey-cache-status"] == "DISABLED"


def test_provider_header_names_the_target_that_answered(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            target(fake, "status-503"),
            {
                "provider": "azure-openai",
                "custom_host": fake.url + "/openai",
                "deployment_id": "dep",
                "api_key": "az-key",
            },
        ],
    }

    raw = chat(client(gateway, config))

    assert raw.headers["x-portkey-provider"] == "azure-openai"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"


def test_trace_id_is_echoed_on_success_and_on_error(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    trace = f"trace-{uid()}"
    c = client(gateway, headers=provider_headers(fake, **{"x-portkey-trace-id": trace}))

    assert chat(c).headers["x-portkey-trace-id"] == trace
    assert chat_error(c, model="status-503").response.headers["x-portkey-trace-id"] == trace
    bad = chat_error(c, extra_headers={"x-portkey-config": "{not json"})
    assert bad.status_code == 400
    assert bad.response.headers["x-portkey-trace-id"] == trace


def test_generated_trace_ids_are_unique(gateway: GatewayServer, fake: FakeUpstream) -> None:
    c = client(gateway, headers=provider_headers(fake))

    ids = [chat(c).headers["x-portkey-trace-id"] for _ in range(20)]
    ids.append(chat_error(c, model="status-400").response.headers["x-portkey-trace-id"])

    assert len(set(ids)) == len(ids)
    assert all(ids)


def test_models_list_echoes_the_trace_id(gateway: GatewayServer, fake: FakeUpstream) -> None:
    trace = f"trace-{uid()}"
    routed = httpx.get(
        gateway.base_url + "/models",
        headers={
            **provider_headers(fake),
            "x-portkey-trace-id": trace,
            "authorization": "Bearer k",
        },
        timeout=10,
    )
    plain = httpx.get(gateway.base_url + "/models", headers={"x-portkey-trace-id": trace})

    assert routed.status_code == plain.status_code == 200
    assert routed.headers["x-portkey-trace-id"] == trace
    assert plain.headers["x-portkey-trace-id"] == trace
    assert plain.headers["x-portkey-cache-status"] == "DISABLED"


def test_portkey_sdk_sends_the_trace_id_and_reads_the_headers(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    trace = f"sdk-{uid()}"
    pk = Portkey(
        base_url=gateway.base_url,
        api_key="anything",
        provider="openai",
        custom_host=fake.base_url,
        trace_id=trace,
        Authorization="Bearer sk-sdk",
    )

    answer = pk.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    headers = answer.get_headers()
    assert answer.choices[0].message.content == "Hello from gpt-4o"
    assert headers["trace-id"] == trace
    assert headers["provider"] == "openai"
    assert headers["last-used-option-index"] == "config"
    assert headers["retry-attempt-count"] == "0"
    assert headers["cache-status"] == "DISABLED"


def test_upstream_rate_limit_headers_are_passed_back(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    err = chat_error(
        client(gateway, headers=provider_headers(fake)), model="status-429+retry-after-7"
    )

    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "7"


# -- forwarded headers ---------------------------------------------------------------------


def test_forward_headers_reach_the_upstream(gateway: GatewayServer, fake: FakeUpstream) -> None:
    key = f"sk-{uid()}"
    extra = {
        "x-portkey-forward-headers": "x-tenant-id, X-Request-Source",
        "x-tenant-id": "acme",
        "x-request-source": "batch",
        "x-not-listed": "secret",
    }
    c = client(gateway, api_key=key, headers=provider_headers(fake, **extra))

    echo = json.loads(content(chat(c, model="echo")))

    assert echo["headers"] == {
        "authorization": f"Bearer {key}",
        "x-tenant-id": "acme",
        "x-request-source": "batch",
    }
    assert echo["path"] == "/v1/chat/completions"


def test_forward_headers_never_forward_portkey_headers(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    key = f"sk-{uid()}"
    forward = "x-portkey-trace-id, x-portkey-custom-host, host, content-length, x-a"
    headers = provider_headers(fake, **{"x-portkey-forward-headers": forward, "x-a": "1"})

    chat(client(gateway, api_key=key, headers=headers), model="echo")

    [sent] = sent_with_key(fake, key)
    assert sent.headers["x-a"] == "1"
    assert not any(name.startswith("x-portkey-") for name in sent.headers)
    assert sent.headers["host"] == f"127.0.0.1:{fake.port}"


def test_forward_headers_set_in_the_config_are_inherited(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    key = f"sk-{uid()}"
    config = {
        "forward_headers": ["x-tenant-id"],
        "strategy": {"mode": "fallback"},
        "targets": [target(fake, "status-503"), target(fake, "echo")],
    }
    c = client(gateway, config, api_key=key, headers={"x-tenant-id": "acme", "x-other": "no"})

    chat(c)

    sent = sent_with_key(fake, key)
    assert [r.body["model"] for r in sent] == ["status-503", "echo"]
    assert [r.headers.get("x-tenant-id") for r in sent] == ["acme", "acme"]
    assert all("x-other" not in r.headers for r in sent)


async def test_forward_headers_from_the_async_portkey_sdk(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    key = f"sk-{uid()}"
    pk = AsyncPortkey(
        base_url=gateway.base_url,
        api_key="anything",
        provider="openai",
        custom_host=fake.base_url,
        Authorization=f"Bearer {key}",
        forward_headers=["x-tenant-id"],
        x_tenant_id="acme",
    )

    answer = await pk.chat.completions.create(model="echo", messages=MESSAGES)

    echo = json.loads(answer.choices[0].message.content or "")
    assert echo["headers"]["x-tenant-id"] == "acme"
    assert echo["headers"]["authorization"] == f"Bearer {key}"


# -- credentials ---------------------------------------------------------------------------


def test_client_bearer_is_the_provider_key(gateway: GatewayServer, fake: FakeUpstream) -> None:
    key = f"sk-{uid()}"

    chat(client(gateway, api_key=key, headers=provider_headers(fake)))

    [sent] = sent_with_key(fake, key)
    assert sent.headers["authorization"] == f"Bearer {key}"


def test_portkey_sdk_authorization_is_the_provider_key(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    key = f"sk-{uid()}"
    pk = Portkey(
        base_url=gateway.base_url,
        api_key="anything",
        provider="openai",
        custom_host=fake.base_url,
        Authorization=key,  # the SDK adds "Bearer "
    )

    pk.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    [sent] = sent_with_key(fake, key)
    assert "x-portkey-api-key" not in sent.headers


def test_target_api_key_replaces_the_client_bearer(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    target_key, client_key = f"sk-target-{uid()}", f"sk-client-{uid()}"

    chat(client(gateway, target(fake, api_key=target_key), api_key=client_key))

    [sent] = sent_with_key(fake, target_key)
    assert sent.headers["authorization"] == f"Bearer {target_key}"  # one header, not two
    assert sent_with_key(fake, client_key) == []


def test_missing_key_is_a_401(gateway: GatewayServer, fake: FakeUpstream) -> None:
    answer = httpx.post(
        gateway.base_url + "/chat/completions",
        json={"model": "gpt-4o", "messages": MESSAGES},
        headers=provider_headers(fake),
        timeout=10,
    )

    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"
    assert answer.json()["error"]["param"] == "authorization"


def vk_yaml(fake: FakeUpstream, key: str, azure_key: str) -> str:
    return f"""
providers:
  main-openai:
    provider: openai
    api_key: {key}
    custom_host: "{fake.base_url}"
  main-azure:
    provider: azure-openai
    api_key: {azure_key}
    custom_host: "{fake.url}/openai"
    deployment_id: vk-deployment
    api_version: "2024-02-01"
configs:
  via-vk:
    virtual_key: main-openai
    override_params: {{model: gpt-4o-mini}}
"""


def test_virtual_keys_from_portkey_yaml(make_gateway: Any, fake: FakeUpstream) -> None:
    key, azure_key, client_key = f"sk-vk-{uid()}", f"az-vk-{uid()}", f"sk-client-{uid()}"
    gw = make_gateway(vk_yaml(fake, key, azure_key))

    by_header = client(gw, api_key=client_key, headers={"x-portkey-virtual-key": "main-openai"})
    assert content(chat(by_header)) == "Hello from gpt-4o"
    assert content(chat(client(gw, "via-vk", api_key=client_key))) == "Hello from gpt-4o-mini"
    inline = {"virtual_key": "main-azure"}
    raw = chat(client(gw, inline, api_key=client_key))
    assert raw.headers["x-portkey-provider"] == "azure-openai"

    assert [r.headers["authorization"] for r in sent_with_key(fake, key)] == [f"Bearer {key}"] * 2
    [azure] = sent_with_key(fake, azure_key)
    assert azure.path == "/openai/deployments/vk-deployment/chat/completions"
    assert azure.query == {"api-version": "2024-02-01"}
    assert sent_with_key(fake, client_key) == []


def test_virtual_key_through_the_portkey_sdk(make_gateway: Any, fake: FakeUpstream) -> None:
    key = f"sk-vk-{uid()}"
    gw = make_gateway(vk_yaml(fake, key, "az-unused"))
    pk = Portkey(base_url=gw.base_url, api_key="anything", virtual_key="main-openai")

    answer = pk.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert answer.choices[0].message.content == "Hello from gpt-4o"
    assert len(sent_with_key(fake, key)) == 1


def test_unknown_virtual_key_is_a_400(make_gateway: Any, fake: FakeUpstream) -> None:
    gw = make_gateway(vk_yaml(fake, "sk-a", "az-b"))

    err = chat_error(client(gw, headers={"x-portkey-virtual-key": "nope"}))

    assert err.status_code == 400
    assert "unknown virtual key 'nope'" in err.response.json()["error"]["message"]


def test_keys_never_appear_in_error_bodies(make_gateway: Any, fake: FakeUpstream) -> None:
    secret = f"sk-secret-{uid()}"
    gw = make_gateway(vk_yaml(fake, secret, f"{secret}-az"))
    dead = f"http://127.0.0.1:{free_port()}/v1"
    failing = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"virtual_key": "main-openai", "override_params": {"model": "status-401"}},
            {"virtual_key": "main-azure", "override_params": {"model": "status-503"}},
            {"provider": "openai", "api_key": secret, "custom_host": dead},
            target(fake, "delay-500", api_key=secret, request_timeout=50),
            target(fake, "error-200", api_key=secret),
            target(fake, "malformed", api_key=secret),
            target(fake, custom_host=f"http://user:pw@127.0.0.1:{fake.port}/v1", api_key=secret),
            target(fake, "status-403", api_key=secret),
        ],
    }
    bad_configs: list[dict[str, Any] | str] = [
        {"provider": "openai", "api_key": secret, "retry": {"attempts": secret}},
        {"provider": "azure-openai", "api_key": secret},
        {"provider": "nope", "api_key": secret},
        {"provider": "openai", "api_key": secret, "weight": -1},
        '{"provider": "openai", "api_key": "' + secret + '"',
    ]
    c = client(gw, api_key=secret)

    err = chat_error(c, extra_headers={"x-portkey-config": config_header(failing)})
    assert err.status_code == 403
    assert len(err.response.json()["error"]["attempts"]) == 8
    bodies = [err.response.text]
    for bad in bad_configs:
        err = chat_error(c, extra_headers={"x-portkey-config": config_header(bad)})
        assert err.status_code == 400
        bodies.append(err.response.text)
    # a key the HTTP client refuses to send (refused by config validation, or by the transport)
    newline = config_header(target(fake, api_key=f"{secret}\n"))
    bodies.append(chat_error(c, extra_headers={"x-portkey-config": newline}).response.text)

    for body in bodies:
        assert secret not in body


def test_a_request_the_http_client_refuses_fails_over_instead_of_crashing(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    # aiohttp raises ValueError (not a ClientError) for credentials in the URL next to an
    # Authorization header; that once escaped the router as a bare 500 and skipped the fallback
    tag = uid()
    refused = target(fake, custom_host=f"http://user:pw@127.0.0.1:{fake.port}/v1")
    config = {"strategy": {"mode": "fallback"}, "targets": [refused, target(fake, f"ok-{tag}")]}

    raw = chat(client(gateway, config))
    assert content(raw) == f"Hello from ok-{tag}"

    err = chat_error(client(gateway, refused))
    assert err.status_code == 502
    assert err.response.json()["error"] == {
        "message": "cannot send the upstream request: invalid header or URL (ValueError)",
        "type": "upstream_unavailable",
        "param": None,
        "code": "upstream_unavailable",
    }


# -- azure ---------------------------------------------------------------------------------


def azure_target(fake: FakeUpstream, **fields: Any) -> dict[str, Any]:
    return {
        "provider": "azure-openai",
        "resource_name": "my-resource",
        "deployment_id": "my-deployment",
        "custom_host": fake.url + "/openai",
        **fields,
    }


@pytest.mark.parametrize(
    ("route", "path"),
    [
        ("chat", "/openai/deployments/my-deployment/chat/completions"),
        ("completions", "/openai/deployments/my-deployment/completions"),
        ("embeddings", "/openai/deployments/my-deployment/embeddings"),
    ],
)
def test_azure_target_sends_api_key_and_api_version(
    gateway: GatewayServer, fake: FakeUpstream, route: str, path: str
) -> None:
    key = f"az-{uid()}"
    c = client(gateway, azure_target(fake, api_key=key, api_version="2024-06-01"))

    if route == "chat":
        assert content(chat(c)) == "Hello from gpt-4o"
    elif route == "completions":
        assert c.completions.create(model="gpt-4o", prompt="hi").choices[0].text
    else:
        assert c.embeddings.create(model="emb", input="hi").model == "emb"

    [sent] = sent_with_key(fake, key)
    assert sent.path == path
    assert sent.query == {"api-version": "2024-06-01"}
    assert sent.headers["api-key"] == key
    assert "authorization" not in sent.headers


def test_azure_uses_the_client_bearer_as_api_key_and_a_default_api_version(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    key = f"az-client-{uid()}"

    chat(client(gateway, azure_target(fake), api_key=key))

    [sent] = sent_with_key(fake, key)
    assert sent.headers["api-key"] == key
    assert "authorization" not in sent.headers
    assert sent.query == {"api-version": "2024-10-21"}


def test_azure_in_a_fallback_keeps_each_targets_credentials(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    openai_key, azure_key = f"sk-{uid()}", f"az-{uid()}"
    config = {
        "provider": "openai",
        "api_key": openai_key,
        "custom_host": fake.base_url,
        "strategy": {"mode": "fallback"},
        "targets": [
            {"override_params": {"model": "status-500"}},
            azure_target(fake, api_key=azure_key),
        ],
    }

    raw = chat(client(gateway, config))

    assert raw.headers["x-portkey-provider"] == "azure-openai"
    [azure] = sent_with_key(fake, azure_key)
    assert "authorization" not in azure.headers  # the parent's OpenAI key stays behind
    assert [r.body["model"] for r in sent_with_key(fake, openai_key)] == ["status-500"]
