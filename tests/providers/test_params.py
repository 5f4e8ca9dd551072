"""Parameter tables: renamed, dropped with a warning, or rejected, per provider and policy."""

from __future__ import annotations

import json

import pytest
from openai import BadRequestError, OpenAI

from tests.fakes import FakeUpstream
from tests.support import GatewayServer


def _client(gateway: GatewayServer, fake: FakeUpstream, provider: str) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-params",
        max_retries=0,
        default_headers={"x-portkey-provider": provider, "x-portkey-custom-host": fake.base_url},
    )


def _sent(raw: object) -> dict[str, object]:
    content = raw.parse().choices[0].message.content  # type: ignore[attr-defined]
    return json.loads(content)["body"]  # type: ignore[no-any-return]


def test_mistral_renames_seed_and_max_completion_tokens(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    raw = _client(gateway, fake, "mistral-ai").chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": "hi"}], seed=7, max_completion_tokens=9
    )
    body = _sent(raw)
    assert body["random_seed"] == 7 and "seed" not in body
    assert body["max_tokens"] == 9 and "max_completion_tokens" not in body
    assert "x-portkey-warnings" not in raw.headers


def test_groq_drops_logprobs_and_says_so(gateway: GatewayServer, fake: FakeUpstream) -> None:
    raw = _client(gateway, fake, "groq").chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": "hi"}], logprobs=True, temperature=0.2
    )
    body = _sent(raw)
    assert "logprobs" not in body
    assert body["temperature"] == 0.2
    assert "logprobs dropped for groq" in raw.headers["x-portkey-warnings"]


def test_openai_passes_the_body_through_untouched(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    raw = _client(gateway, fake, "openai").chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": "hi"}], logprobs=True, seed=3
    )
    body = _sent(raw)
    assert body["logprobs"] is True and body["seed"] == 3


def test_raise_policy_rejects_unsupported_parameter(make_gateway, fake: FakeUpstream) -> None:  # type: ignore[no-untyped-def]
    server = make_gateway("server: {unsupported_params: raise}\n")
    with pytest.raises(BadRequestError) as info:
        _client(server, fake, "groq").chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hi"}], logit_bias={"1": 1}
        )
    error = info.value.body
    assert isinstance(error, dict)
    assert error["param"] == "logit_bias"
    assert "groq" in error["message"]


def test_azure_deployment_url_and_api_key_header(make_gateway, fake: FakeUpstream) -> None:  # type: ignore[no-untyped-def]
    server = make_gateway(
        f"""
providers:
  azure:
    provider: azure-openai
    api_key: azure-secret
    custom_host: {fake.url}/openai
    deployment_id: my-gpt
    api_version: "2024-10-21"
"""
    )
    client = OpenAI(
        base_url=server.base_url,
        api_key="ignored",
        max_retries=0,
        default_headers={"x-portkey-virtual-key": "azure"},
    )
    raw = client.chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "user", "content": "hi"}]
    )
    echoed = json.loads(raw.parse().choices[0].message.content or "{}")
    assert echoed["path"] == "/openai/deployments/my-gpt/chat/completions"
    assert echoed["query"] == {"api-version": "2024-10-21"}
    assert echoed["headers"]["api-key"] == "azure-secret"
    assert "authorization" not in echoed["headers"]
    assert raw.headers["x-portkey-provider"] == "azure-openai"
