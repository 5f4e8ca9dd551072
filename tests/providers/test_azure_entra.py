"""Azure OpenAI with Microsoft Entra ID: client-credentials tokens, cached and refreshed, against
a fake serving both the token endpoint and the deployment path, through the real gateway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from aiohttp import web
from openai import OpenAI

from portkey.config.loader import ConfigError, load_text
from portkey.errors import AuthFailed, InvalidRequest, UpstreamUnavailable
from portkey.providers import _azure_auth, azure_openai
from portkey.providers._token_cache import TokenCache
from portkey.providers.base import SignRequest
from tests.fakes.runner import AppServer
from tests.support import GatewayServer, free_port

TENANT = "72f988bf-0000-4000-8000-2d7cd011db47"
CLIENT = "11111111-2222-4333-8444-555555555555"
SECRET = "s3cr3t~Entra.Value_do-not-leak"
API_KEY = "azure-key-123"
SCOPE = "https://cognitiveservices.azure.com/.default"
USER = {"role": "user", "content": "hi"}

TOKEN_CALLS = web.AppKey("token_calls", list[dict[str, str]])
SEEN = web.AppKey("seen", list[dict[str, str]])
STATE = web.AppKey("state", dict[str, Any])


# -- the fake: Entra ID's token endpoint and an Azure OpenAI deployment ------------------------


def _entra_error(status: int, error: str, description: str) -> web.Response:
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [7000215],
        "timestamp": "2025-01-01 00:00:00Z",
        "trace_id": "0000",
        "correlation_id": "0000",
    }
    return web.json_response(body, status=status)


async def token(request: web.Request) -> web.Response:
    form = dict(await request.post())
    fields = {k: str(v) for k, v in form.items()}
    request.app[TOKEN_CALLS].append({"tenant": request.match_info["tenant"], **fields})
    state = request.app[STATE]
    if state.get("status"):
        return web.Response(status=state["status"], text="Service Unavailable")
    if fields.get("grant_type") != "client_credentials" or fields.get("scope") != SCOPE:
        return _entra_error(400, "invalid_request", "AADSTS900144: bad grant or scope")
    if fields.get("client_id") != CLIENT or fields.get("client_secret") != SECRET:
        leak = f" (got {fields.get('client_secret')})" if state.get("leaky") else ""
        return _entra_error(
            401,
            "invalid_client",
            f"AADSTS7000215: Invalid client secret provided.{leak}",
        )
    issued = f"eyJ0eXAi.entra-token-{len(state['issued']) + 1}"
    state["issued"].append(issued)
    lifetime = state.get("expires_in", 3599)
    return web.json_response(
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": issued,
        }
    )


async def deployment(request: web.Request) -> web.Response:
    headers = {k.lower(): v for k, v in request.headers.items()}
    request.app[SEEN].append(
        {
            "path": request.path,
            "api-version": request.query.get("api-version", ""),
            "authorization": headers.get("authorization", ""),
            "api-key": headers.get("api-key", ""),
        }
    )
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    if bearer in request.app[STATE]["issued"]:
        who = f"bearer:{bearer}"
    elif headers.get("api-key") == API_KEY:
        who = "api-key"
    else:
        message = "Access denied due to invalid subscription key or wrong API endpoint."
        return web.json_response({"error": {"code": "401", "message": message}}, status=401)
    body = await request.json()
    if not request.query.get("api-version"):
        return web.json_response({"error": {"code": "404", "message": "no api-version"}}, 404)
    model = request.match_info["deployment"]
    if body.get("stream"):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for delta, finish in (({"role": "assistant", "content": who}, None), ({}, "stop")):
            chunk = {
                "id": "chatcmpl-az",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response
    return web.json_response(
        {
            "id": "chatcmpl-az",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": who},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


def make_app() -> web.Application:
    app = web.Application()
    app[TOKEN_CALLS] = []
    app[SEEN] = []
    app[STATE] = {"issued": []}
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", deployment)
    return app


# -- fixtures ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def upstream() -> Iterator[AppServer]:
    with AppServer(make_app()) as server:
        yield server


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A fresh token cache on the registered spec's hook, on a clock the test moves."""
    hook = azure_openai.SPEC.sign
    assert isinstance(hook, _azure_auth.AzureAuth)
    now = Clock()
    monkeypatch.setattr(hook, "tokens", TokenCache(margin_s=60.0, clock=now))
    return now


def entra_yaml(upstream: AppServer, secret: str = SECRET, tenant: str = TENANT) -> str:
    return f"""
providers:
  azure:
    provider: azure-openai
    custom_host: {upstream.url}/openai
    deployment_id: gpt-4o-prod
    azure_auth_mode: entra
    azure_tenant_id: "{tenant}"
    azure_client_id: "{CLIENT}"
    azure_client_secret: "{secret}"
    azure_authority: {upstream.url}
"""


def client(gateway: GatewayServer) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-not-for-azure",
        max_retries=0,
        default_headers={"x-portkey-virtual-key": "azure"},
    )


def ask(sdk: OpenAI) -> str:
    answer = sdk.chat.completions.create(model="gpt-4o", messages=[USER])  # type: ignore[list-item]
    return answer.choices[0].message.content or ""


# -- through the gateway -------------------------------------------------------------------


def test_entra_token_is_fetched_once_for_many_requests(
    make_gateway: Any, upstream: AppServer, clock: Clock
) -> None:
    sdk = client(make_gateway(entra_yaml(upstream)))
    answers = [ask(sdk) for _ in range(3)]
    stream = sdk.chat.completions.create(model="gpt-4o", messages=[USER], stream=True)  # type: ignore[list-item]
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert answers == ["bearer:eyJ0eXAi.entra-token-1"] * 3
    assert streamed == "bearer:eyJ0eXAi.entra-token-1"
    calls = upstream.app[TOKEN_CALLS]
    assert calls == [
        {
            "tenant": TENANT,
            "grant_type": "client_credentials",
            "client_id": CLIENT,
            "client_secret": SECRET,
            "scope": SCOPE,
        }
    ]
    seen = upstream.app[SEEN]
    assert len(seen) == 4
    for request in seen:
        assert request["path"] == "/openai/deployments/gpt-4o-prod/chat/completions"
        assert request["api-version"] == "2024-10-21"
        assert request["authorization"] == "Bearer eyJ0eXAi.entra-token-1"
        assert request["api-key"] == ""  # the client's key is never forwarded


def test_entra_token_is_refreshed_near_its_expiry(
    make_gateway: Any, upstream: AppServer, clock: Clock
) -> None:
    upstream.app[STATE]["expires_in"] = 61  # handed out for one second (60 s margin)
    sdk = client(make_gateway(entra_yaml(upstream)))
    assert ask(sdk) == "bearer:eyJ0eXAi.entra-token-1"
    clock.now += 0.5
    assert ask(sdk) == "bearer:eyJ0eXAi.entra-token-1"
    assert len(upstream.app[TOKEN_CALLS]) == 1
    clock.now += 1.0
    assert ask(sdk) == "bearer:eyJ0eXAi.entra-token-2"
    assert ask(sdk) == "bearer:eyJ0eXAi.entra-token-2"
    assert len(upstream.app[TOKEN_CALLS]) == 2


@pytest.mark.parametrize("leaky", [False, True])
def test_refused_token_is_a_401_without_the_secret(
    make_gateway: Any, upstream: AppServer, clock: Clock, leaky: bool
) -> None:
    upstream.app[STATE]["leaky"] = leaky  # an endpoint that echoes the secret back
    wrong = "wr0ng~secret.value-XYZ"
    sdk = client(make_gateway(entra_yaml(upstream, secret=wrong)))
    with pytest.raises(openai.AuthenticationError) as info:
        ask(sdk)
    assert info.value.status_code == 401
    text = json.dumps(info.value.body) + str(info.value.response.text)
    assert wrong not in text and SECRET not in text
    assert "invalid_client" in text and "AADSTS7000215" in text
    assert upstream.app[SEEN] == []  # the deployment was never called


@pytest.mark.parametrize("where", ["down", "unreachable"])
def test_token_endpoint_unavailable_is_a_502(
    make_gateway: Any, upstream: AppServer, clock: Clock, where: str
) -> None:
    text = entra_yaml(upstream)
    if where == "down":
        upstream.app[STATE]["status"] = 503
    else:
        text = text.replace(f"azure_authority: {upstream.url}", f"azure_authority: {dead_url()}")
    with pytest.raises(openai.APIStatusError) as info:
        ask(client(make_gateway(text)))
    assert info.value.status_code == 502
    assert SECRET not in info.value.response.text
    assert upstream.app[SEEN] == []


def test_api_key_mode_is_unchanged(make_gateway: Any, upstream: AppServer, clock: Clock) -> None:
    gateway = make_gateway(
        f"""
providers:
  azure:
    provider: azure-openai
    api_key: {API_KEY}
    custom_host: {upstream.url}/openai
    deployment_id: gpt-4o-prod
"""
    )
    assert ask(client(gateway)) == "api-key"
    assert upstream.app[TOKEN_CALLS] == []
    (seen,) = upstream.app[SEEN]
    assert seen["api-key"] == API_KEY and seen["authorization"] == ""


def test_api_key_mode_takes_the_clients_bearer(
    gateway: GatewayServer, upstream: AppServer, clock: Clock
) -> None:
    target = {
        "provider": "azure-openai",
        "custom_host": f"{upstream.url}/openai",
        "deployment_id": "gpt-4o-prod",
    }
    sdk = OpenAI(
        base_url=gateway.base_url,
        api_key=API_KEY,
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target)},
    )
    assert ask(sdk) == "api-key"
    assert upstream.app[SEEN][0]["authorization"] == ""


@pytest.mark.parametrize(
    ("missing", "auth_mode"),
    [
        ("azure_tenant_id", "entra"),
        ("azure_client_id", "entra"),
        ("azure_client_secret", "entra"),
        ("azure_auth_mode", "kerberos"),
    ],
)
def test_a_missing_entra_field_is_a_config_error(
    gateway: GatewayServer, upstream: AppServer, missing: str, auth_mode: str
) -> None:
    target = {
        "provider": "azure-openai",
        "custom_host": f"{upstream.url}/openai",
        "deployment_id": "gpt-4o-prod",
        "azure_auth_mode": auth_mode,
        "azure_tenant_id": TENANT,
        "azure_client_id": CLIENT,
        "azure_client_secret": SECRET,
    }
    if auth_mode == "entra":
        del target[missing]
    sdk = OpenAI(
        base_url=gateway.base_url,
        api_key="sk-x",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target)},
    )
    with pytest.raises(openai.BadRequestError) as info:
        ask(sdk)
    assert missing in info.value.message
    assert SECRET not in info.value.response.text


def test_a_missing_entra_field_fails_the_config_file_at_load() -> None:
    text = """
providers:
  azure:
    provider: azure-openai
    resource_name: my-res
    deployment_id: gpt-4o-prod
    azure_auth_mode: entra
    azure_tenant_id: t
    azure_client_id: c
configs:
  main:
    virtual_key: azure
"""
    with pytest.raises(ConfigError) as info:
        load_text(text)
    assert "azure_client_secret" in str(info.value)


# -- the hook itself -----------------------------------------------------------------------


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def entra_options(authority: str, **more: str) -> dict[str, str]:
    return {
        "azure_auth_mode": "entra",
        "azure_tenant_id": TENANT,
        "azure_client_id": CLIENT,
        "azure_client_secret": SECRET,
        "azure_authority": authority,
        **more,
    }


def sign_request(options: dict[str, str], api_key: str | None = None) -> SignRequest:
    return SignRequest("POST", "https://x.test", [], b"{}", api_key, options)


async def test_concurrent_requests_share_one_refresh(upstream: AppServer) -> None:
    hook = _azure_auth.AzureAuth()
    options = entra_options(upstream.url)
    headers = await asyncio.gather(*(hook(sign_request(options)) for _ in range(8)))
    assert len(upstream.app[TOKEN_CALLS]) == 1
    assert {tuple(h) for h in headers} == {(("Authorization", "Bearer eyJ0eXAi.entra-token-1"),)}


async def test_tokens_are_cached_per_credential_and_scope(upstream: AppServer) -> None:
    hook = _azure_auth.AzureAuth()
    await hook(sign_request(entra_options(upstream.url)))
    await hook(sign_request(entra_options(upstream.url, azure_tenant_id="other-tenant")))
    with pytest.raises(AuthFailed):  # the fake only knows one scope
        await hook(sign_request(entra_options(upstream.url, azure_entra_scope="api://x/.default")))
    with pytest.raises(AuthFailed):  # a wrong secret never gets the cached token
        await hook(sign_request(entra_options(upstream.url, azure_client_secret="nope")))
    assert [c["tenant"] for c in upstream.app[TOKEN_CALLS]] == [TENANT, "other-tenant"] + [
        TENANT
    ] * 2


async def test_the_hook_errors() -> None:
    hook = _azure_auth.AzureAuth()
    with pytest.raises(UpstreamUnavailable):
        await hook(sign_request(entra_options(dead_url())))
    with pytest.raises(InvalidRequest) as bad:
        await hook(sign_request({"azure_auth_mode": "entra", "azure_tenant_id": "t"}))
    assert bad.value.param == "azure_client_id"
    with pytest.raises(AuthFailed):
        await hook(sign_request({"azure_auth_mode": "api_key"}))
    assert await hook(sign_request({}, api_key="k")) == [("api-key", "k")]


def test_build_url_checks_auth_options_and_quotes_nothing_secret() -> None:
    options = {
        "deployment_id": "d",
        "api_version": "v",
        "azure_auth_mode": "entra",
        "azure_tenant_id": "t",
        "azure_client_id": "c",
        "azure_client_secret": "SECRET",
    }
    base = "http://h.test/{azure_client_secret}/openai"
    url = azure_openai.build_url(base, "/chat/completions", options)
    assert (
        url
        == "http://h.test/{azure_client_secret}/openai/deployments/d/chat/completions?api-version=v"
    )
    with pytest.raises(KeyError, match="azure_client_secret"):
        azure_openai.build_url(base, "", {k: v for k, v in options.items() if "secret" not in k})
