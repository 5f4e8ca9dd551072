"""Parameter tables: renamed, dropped with a warning, or rejected, per provider and policy."""

from __future__ import annotations

import json
from collections.abc import Callable

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


# -- every provider's table, through the gateway ----------------------------------------

HI = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("provider", "field", "value"),
    [
        ("deepseek", "seed", 7),  # no seed in DeepSeek's chat API
        ("ollama", "tool_choice", "required"),  # Ollama ignores tool_choice
        ("perplexity-ai", "n", 2),  # one choice per answer
        ("vllm", "user", "u-1"),  # accepted and ignored by vLLM
        ("mistral-ai", "stream_options", {"include_usage": True}),  # Mistral answers 422
        ("x-ai", "store", True),  # xAI accepts it for compatibility and ignores it
    ],
)
def test_a_dropped_field_is_named_in_the_warnings_header(
    gateway: GatewayServer, fake: FakeUpstream, provider: str, field: str, value: object
) -> None:
    raw = _client(gateway, fake, provider).chat.completions.with_raw_response.create(
        model="echo", messages=HI, temperature=0.5, extra_body={field: value}
    )
    body = _sent(raw)
    assert field not in body and body["temperature"] == 0.5
    assert f"{field} dropped for {provider}" in raw.headers["x-portkey-warnings"]


@pytest.mark.parametrize(
    ("provider", "field", "value"),
    [
        ("perplexity-ai", "tools", [TOOL]),  # Sonar calls no tools
        ("deepseek", "functions", [TOOL["function"]]),  # legacy functions: send tools
        ("together-ai", "audio", {"voice": "alloy", "format": "mp3"}),  # text answers only
        ("mistral-ai", "web_search_options", {}),
        ("ollama", "function_call", "auto"),
    ],
)
def test_a_rejected_field_is_a_400_that_names_it(
    gateway: GatewayServer, fake: FakeUpstream, provider: str, field: str, value: object
) -> None:
    sent = len(fake.requests)
    with pytest.raises(BadRequestError) as info:
        _client(gateway, fake, provider).chat.completions.create(
            model="echo", messages=HI, extra_body={field: value}
        )
    error = info.value.body
    assert isinstance(error, dict) and error["param"] == field
    assert provider in error["message"]
    assert len(fake.requests) == sent, "nothing reaches the upstream"


@pytest.mark.parametrize(
    ("provider", "field", "value"),
    [("deepseek", "seed", 7), ("mistral-ai", "user", "u-1"), ("cohere", "logit_bias", {"1": 1})],
)
def test_raise_policy_turns_any_drop_into_a_400(
    make_gateway: Callable[[str], GatewayServer],
    fake: FakeUpstream,
    provider: str,
    field: str,
    value: object,
) -> None:
    server = make_gateway("server: {unsupported_params: raise}\n")
    sent = len(fake.requests)
    with pytest.raises(BadRequestError) as info:
        _client(server, fake, provider).chat.completions.create(
            model="echo", messages=HI, extra_body={field: value}
        )
    error = info.value.body
    assert isinstance(error, dict) and error["param"] == field
    assert len(fake.requests) == sent


def test_renamed_fields_arrive_under_the_providers_names(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    together = _client(gateway, fake, "together-ai").chat.completions.with_raw_response.create(
        model="echo", messages=HI, logprobs=True, top_logprobs=3, max_completion_tokens=5
    )
    body = _sent(together)
    assert body["logprobs"] == 3 and "top_logprobs" not in body  # Together counts top tokens
    assert body["max_tokens"] == 5 and "max_completion_tokens" not in body
    groq = _client(gateway, fake, "groq").chat.completions.with_raw_response.create(
        model="echo", messages=HI, safety_identifier="hash-1"
    )
    assert _sent(groq)["user"] == "hash-1"
    assert "x-portkey-warnings" not in together.headers and "x-portkey-warnings" not in groq.headers


def test_embeddings_follow_their_own_table(gateway: GatewayServer, fake: FakeUpstream) -> None:
    mistral = _client(gateway, fake, "mistral-ai").embeddings.with_raw_response.create(
        model="mistral-embed", input="hi", dimensions=8, user="u-1"
    )
    sent = fake.requests[-1].body
    assert sent["output_dimension"] == 8 and "dimensions" not in sent and "user" not in sent
    assert "user dropped for mistral-ai" in mistral.headers["x-portkey-warnings"]
    with pytest.raises(BadRequestError) as info:  # Together's vectors have the model's size
        _client(gateway, fake, "together-ai").embeddings.create(
            model="m2-bert", input="hi", dimensions=8
        )
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "dimensions"


def test_embeddings_to_a_host_without_them_never_leave(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    sent = len(fake.requests)
    with pytest.raises(BadRequestError):  # Groq has no embeddings API: a 404 spared
        _client(gateway, fake, "groq").embeddings.create(model="any", input="hi")
    assert len(fake.requests) == sent


def test_thinking_blocks_never_reach_an_openai_shaped_host(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    raw = _client(gateway, fake, "openai").chat.completions.with_raw_response.create(
        model="echo",
        messages=[
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": "x",
                "thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "s"}],
            },  # type: ignore[list-item,misc]
            {"role": "user", "content": "again"},
        ],
    )
    sent = _sent(raw)
    assert all("thinking_blocks" not in m for m in sent["messages"])  # type: ignore[attr-defined]
    assert sent["messages"][1]["content"] == "x"  # type: ignore[index]
