"""Vertex AI: its URL, the service-account token hook (against the fake token endpoint), and
the whole path through the gateway with the openai SDK. Translations are in test_gemini.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from portkey.errors import AuthFailed, GatewayError, UpstreamUnavailable
from portkey.providers.base import SignRequest
from portkey.providers.vertex_ai import SPEC as VERTEX
from portkey.providers.vertex_ai import TokenSource, build_url
from tests.fakes import gemini as fake
from tests.fakes.contract import REQUESTS as SEEN
from tests.fakes.runner import AppServer
from tests.support import GatewayServer, free_port

USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("options", "url"),
    [
        (
            {"vertex_project_id": "p-1", "vertex_region": "us-central1"},
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p-1/locations/us-central1"
            "/publishers/google",
        ),
        (
            {"vertex_project_id": "p-1", "vertex_region": "global"},
            "https://aiplatform.googleapis.com/v1/projects/p-1/locations/global/publishers/google",
        ),
        (
            {"vertex_project_id": "a/../b{vertex_region}", "vertex_region": "eu"},
            "https://eu-aiplatform.googleapis.com/v1/projects/a%2F..%2Fb%7Bvertex_region%7D"
            "/locations/eu/publishers/google",
        ),
    ],
)
def test_vertex_url(options: dict[str, str], url: str) -> None:
    path = "/models/gemini-2.5-flash:generateContent"
    assert build_url(VERTEX.base_url, path, options) == url + path
    assert build_url("http://proxy.test/vx/", path, options) == "http://proxy.test/vx" + path


@pytest.fixture(scope="module")
def key() -> Any:
    return fake.new_key()


@pytest.fixture(scope="module")
def upstream(key: Any) -> Iterator[AppServer]:
    with AppServer(fake.make_app(key.public_key())) as server:
        yield server


def sign_request(options: dict[str, str], api_key: str | None = None) -> SignRequest:
    return SignRequest("POST", "https://x.test", [], b"{}", api_key, options)


async def test_tokens_are_cached_and_refreshed_once(key: Any, upstream: AppServer) -> None:
    source = TokenSource()
    account = fake.service_account_json(key, upstream.url + "/token")
    calls = upstream.app[fake.TOKEN_CALLS]
    before = len(calls)
    headers = await asyncio.gather(
        *(source(sign_request({"vertex_service_account_json": account})) for _ in range(5))
    )
    again = await source(sign_request({"vertex_service_account_json": account}))
    assert len(calls) == before + 1  # one exchange for six requests
    assert {h[0] for h in headers} == {again[0]}
    name, value = again[0]
    assert name == "Authorization" and value.startswith("Bearer ya29.fake-")
    claims = calls[-1]
    assert claims["iss"] == "gateway@proj-fake.iam.gserviceaccount.com"
    assert claims["aud"] == upstream.url + "/token"
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert claims["exp"] - claims["iat"] == 3600


async def test_token_refusal_is_auth_failed_without_the_key(key: Any) -> None:
    other = fake.new_key()  # the fake cannot verify this one
    with AppServer(fake.make_app(key.public_key())) as server:
        account = fake.service_account_json(other, server.url + "/token")
        with pytest.raises(AuthFailed) as info:
            await TokenSource()(sign_request({"vertex_service_account_json": account}))
    message = info.value.message
    assert "invalid_grant" in message and "Invalid JWT Signature." in message
    assert "PRIVATE KEY" not in message and "gateway@proj-fake" in message


@pytest.mark.parametrize(
    ("account", "kind"),
    [
        ("{not json", AuthFailed),
        ('{"client_email": "a@b"}', AuthFailed),
        (
            '{"client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\\nAAAA"}',
            AuthFailed,
        ),
        (None, AuthFailed),
    ],
)
async def test_bad_credentials(account: str | None, kind: type[GatewayError]) -> None:
    options = {"vertex_service_account_json": account} if account else {}
    with pytest.raises(kind) as info:
        await TokenSource()(sign_request(options))
    assert "AAAA" not in info.value.message


async def test_unreachable_token_endpoint_is_unavailable(key: Any) -> None:
    account = fake.service_account_json(key, f"http://127.0.0.1:{free_port()}/token")
    with pytest.raises(UpstreamUnavailable):
        await TokenSource()(sign_request({"vertex_service_account_json": account}))


async def test_without_a_key_the_api_key_is_the_access_token() -> None:
    headers = await TokenSource()(sign_request({}, api_key="ya29.ready-made"))
    assert headers == [("Authorization", "Bearer ya29.ready-made")]


async def test_a_token_near_its_expiry_is_refreshed(key: Any, upstream: AppServer) -> None:
    source = TokenSource()
    options = {
        "vertex_service_account_json": fake.service_account_json(key, upstream.url + "/token")
    }
    first = await source(sign_request(options))
    for account_id, (token, _until) in list(source._tokens.items()):
        source._tokens[account_id] = (token, time.monotonic() - 1)  # within the last minute
    second = await source(sign_request(options))
    assert first != second


# -- through the gateway -----------------------------------------------------------------


def vertex_client(gateway: GatewayServer, upstream: AppServer, account: str) -> OpenAI:
    target = {
        "provider": "vertex-ai",
        "custom_host": upstream.url + "/v1/projects/p/locations/us-central1/publishers/google",
        "vertex_project_id": "p",
        "vertex_service_account_json": account,
    }
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-gateway",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target)},
    )


def test_sdk_embeddings_vertex(gateway: GatewayServer, upstream: AppServer, key: Any) -> None:
    account = fake.service_account_json(key, upstream.url + "/token")
    answer = vertex_client(gateway, upstream, account).embeddings.create(
        model="text-embedding-005", input="hey"
    )
    assert [d.embedding for d in answer.data] == [[3.0, 0.5, -0.25]]
    assert answer.usage.prompt_tokens == 2
    path, headers, _body = upstream.app[SEEN][-1]
    assert path.endswith("/publishers/google/models/text-embedding-005:predict")
    assert headers["Authorization"].startswith("Bearer ya29.fake-")


def test_stream_through_vertex(gateway: GatewayServer, upstream: AppServer, key: Any) -> None:
    account = fake.service_account_json(key, upstream.url + "/token")
    stream = vertex_client(gateway, upstream, account).chat.completions.create(
        model="gemini-2.5-flash", messages=[USER], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "sys=-;turns=1;last=hi"
    path, _headers, _body = upstream.app[SEEN][-1]
    assert path == (
        "/v1/projects/p/locations/us-central1/publishers/google/models/"
        "gemini-2.5-flash:streamGenerateContent?alt=sse"
    )


def test_bad_service_account_is_an_authentication_error(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    account = fake.service_account_json(fake.new_key(), upstream.url + "/token")
    with pytest.raises(openai.AuthenticationError) as info:
        vertex_client(gateway, upstream, account).chat.completions.create(
            model="m", messages=[USER]
        )
    assert "PRIVATE KEY" not in str(info.value.body)
