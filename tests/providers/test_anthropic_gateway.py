"""The anthropic provider through the real gateway and its native fake upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from openai import OpenAI

from portkey.formats.anthropic.request import DEFAULT_MAX_TOKENS
from tests.fakes import anthropic as fake
from tests.fakes.contract import REQUESTS
from tests.fakes.runner import AppServer
from tests.support import GatewayServer

# -- through the gateway -------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[AppServer]:
    with AppServer(fake.make_app()) as server:
        yield server


def target(url: str, **extra: Any) -> dict[str, Any]:
    return {"provider": "anthropic", "custom_host": f"{url}/v1", "api_key": "sk-ant-key", **extra}


def client(gateway: GatewayServer, config: dict[str, Any]) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(config)},
    )


HI = [{"role": "user", "content": "hi"}]


def test_requests_carry_the_key_and_version(gateway: GatewayServer, upstream: AppServer) -> None:
    answer = client(gateway, target(upstream.url)).chat.completions.create(
        model="claude-sonnet-4-5", messages=HI
    )
    assert answer.model == "claude-sonnet-4-5"
    path, headers, body = upstream.app[REQUESTS][-1]
    assert path == "/v1/messages"
    assert headers["x-api-key"] == "sk-ant-key" and headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS


def test_dropped_parameters_are_reported(gateway: GatewayServer, upstream: AppServer) -> None:
    raw = client(gateway, target(upstream.url)).chat.completions.with_raw_response.create(
        model="m", messages=HI, seed=3, logprobs=True, presence_penalty=0.5
    )
    warnings = raw.headers["x-portkey-warnings"]
    for name in ("seed", "logprobs", "presence_penalty"):
        assert f"{name} dropped for anthropic" in warnings
    sent = upstream.app[REQUESTS][-1][2]
    assert not {"seed", "logprobs", "presence_penalty"} & set(sent)


def test_rejected_parameter_is_named(gateway: GatewayServer, upstream: AppServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway, target(upstream.url)).chat.completions.create(model="m", messages=HI, n=3)
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "n"


def test_overloaded_keeps_its_529(gateway: GatewayServer, upstream: AppServer) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway, target(upstream.url)).chat.completions.create(
            model="error-overloaded", messages=HI
        )
    assert info.value.status_code == 529
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "overloaded_error"


def test_thinking_and_cached_usage(gateway: GatewayServer, upstream: AppServer) -> None:
    answer = client(gateway, target(upstream.url)).chat.completions.create(
        model="think+cached", messages=HI, reasoning_effort="low"
    )
    message = answer.choices[0].message
    assert message.content == "sys=-;turns=1;last=hi"
    assert (message.model_extra or {}).get("reasoning_content") == fake.THOUGHT
    assert answer.usage is not None and answer.usage.prompt_tokens == 11
    assert answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 8
    sent = upstream.app[REQUESTS][-1][2]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_a_stream_error_before_output_falls_back(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            target(upstream.url, override_params={"model": "error-first"}),
            target(upstream.url, override_params={"model": "m"}),
        ],
    }
    raw = client(gateway, config).chat.completions.with_raw_response.create(
        model="x", messages=HI, stream=True
    )
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "sys=-;turns=1;last=hi"


@pytest.mark.parametrize(
    "script", ["midstream-error", "cut", "truncated", "malformed", "error-first"]
)
def test_broken_streams_end_in_an_error_never_a_clean_finish(
    gateway: GatewayServer, upstream: AppServer, script: str
) -> None:
    stream = client(gateway, target(upstream.url)).chat.completions.create(
        model=script, messages=HI, stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_unknown_stream_events_are_harmless(gateway: GatewayServer, upstream: AppServer) -> None:
    stream = client(gateway, target(upstream.url)).chat.completions.create(
        model="unknown-event", messages=HI, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "sys=-;turns=1;last=hi"


def test_anthropic_sdk_through_the_ingress_and_back(
    gateway: GatewayServer, upstream: AppServer
) -> None:
    """Anthropic in, OpenAI canonical inside, Anthropic out: both translations compose."""
    sdk = anthropic.Anthropic(
        base_url=gateway.base_url.removesuffix("/v1"),
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target(upstream.url))},
    )
    answer = sdk.messages.create(
        model="tool",
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
    )
    assert answer.stop_reason == "tool_use"
    use = answer.content[-1]
    assert use.type == "tool_use" and use.name == "get_weather" and use.input == {"city": "Paris"}
    sent = upstream.app[REQUESTS][-1][2]
    assert sent["system"] == "be brief" and sent["max_tokens"] == 100


def test_count_tokens_is_forwarded_natively(gateway: GatewayServer, upstream: AppServer) -> None:
    sdk = anthropic.Anthropic(
        base_url=gateway.base_url.removesuffix("/v1"),
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target(upstream.url))},
    )
    counted = sdk.messages.count_tokens(model="claude-sonnet-4-5", messages=HI, system="be kind")
    assert counted.input_tokens == 11
    path, headers, body = upstream.app[REQUESTS][-1]
    assert path == "/v1/messages/count_tokens" and headers["x-api-key"] == "sk-ant-key"
    assert body == {"model": "claude-sonnet-4-5", "messages": HI, "system": "be kind"}
