"""The Anthropic Messages ingress through the real gateway, driven by the official ``anthropic``
SDK (sync and async, retries off) against the OpenAI-shaped scriptable fake.

The fake's ``echo`` token answers with the request it received, which shows the OpenAI request
the ingress built; ``status-NNN``, ``cut-N``, ``error-first`` and ``chunks-N`` script failures
and streams (see portkey.devtools._fake_scripts). Each test tags its models: the fake is shared.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from aiohttp import web
from anthropic import Anthropic, AsyncAnthropic

from portkey.gateway.anthropic_ingress import COUNT_TOKENS
from portkey.providers import registry
from portkey.providers.base import CHAT, AuthScheme, ProviderSpec
from tests.fakes import FakeUpstream, RecordedRequest
from tests.fakes.runner import AppServer
from tests.providers.conformance import USAGE, reply_text
from tests.support import GatewayServer

HI = [{"role": "user", "content": "hi"}]


def tag() -> str:
    return "a" + uuid.uuid4().hex[:10]


def provider(fake: FakeUpstream) -> dict[str, str]:
    return {"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url}


def fallback(fake: FakeUpstream, *models: str) -> dict[str, str]:
    targets = [
        {"provider": "openai", "custom_host": fake.base_url, "override_params": {"model": m}}
        for m in models
    ]
    return {"x-portkey-config": json.dumps({"strategy": {"mode": "fallback"}, "targets": targets})}


def sdk(gateway: GatewayServer, headers: dict[str, str], api_key: str = "sk-ant-test") -> Anthropic:
    return Anthropic(
        base_url=gateway.url, api_key=api_key, max_retries=0, timeout=10.0, default_headers=headers
    )


def async_sdk(gateway: GatewayServer, headers: dict[str, str]) -> AsyncAnthropic:
    return AsyncAnthropic(
        base_url=gateway.url,
        api_key="sk-ant-test",
        max_retries=0,
        timeout=10.0,
        default_headers=headers,
    )


def sent(fake: FakeUpstream, marker: str) -> list[RecordedRequest]:
    return [
        r
        for r in fake.requests
        if isinstance(r.body, dict) and marker in str(r.body.get("model", ""))
    ]


def echoed(message: Any) -> dict[str, Any]:
    """The request the fake received, from an ``echo`` answer."""
    data: dict[str, Any] = json.loads(message.content[0].text)
    return data


# -- plain messages -----------------------------------------------------------------------


def test_plain_message(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    raw = sdk(gateway, provider(fake)).messages.with_raw_response.create(
        model=f"{t}-model", max_tokens=100, messages=HI
    )
    message = raw.parse()

    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == f"Hello from {t}-model"  # type: ignore[union-attr]
    assert message.model == f"{t}-model"
    assert message.id.startswith("msg_")
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (1, 5)
    assert raw.headers["x-portkey-provider"] == "openai"
    [upstream] = sent(fake, t)
    assert upstream.path == "/v1/chat/completions"
    assert upstream.body == {"model": f"{t}-model", "max_tokens": 100, "messages": HI}
    assert upstream.headers["authorization"] == "Bearer sk-ant-test"  # x-api-key -> provider key


def test_system_prompt_and_multi_turn(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    message = sdk(gateway, provider(fake)).messages.create(
        model=f"{t}+echo",
        max_tokens=50,
        system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
            {"role": "user", "content": "bye"},
        ],
        stop_sequences=["END"],
        extra_body={"temperature": 0.3, "top_p": 0.8},  # older SDKs and Claude Code send these
        metadata={"user_id": "user-7"},
    )
    body = echoed(message)["body"]
    assert body == {
        "model": f"{t}+echo",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bye"},
        ],
        "max_tokens": 50,
        "temperature": 0.3,
        "top_p": 0.8,
        "stop": ["END"],
        "user": "user-7",
    }


def test_bearer_auth_token_is_the_provider_key(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    client = Anthropic(
        base_url=gateway.url,
        auth_token="sk-bearer",
        max_retries=0,
        timeout=10.0,
        default_headers=provider(fake),
    )
    client.messages.create(model=f"{t}-m", max_tokens=5, messages=HI)
    assert sent(fake, t)[0].headers["authorization"] == "Bearer sk-bearer"


async def test_async_client(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    client = async_sdk(gateway, provider(fake))
    message = await client.messages.create(model=f"{t}-async", max_tokens=10, messages=HI)
    await client.close()
    assert message.content[0].text == f"Hello from {t}-async"  # type: ignore[union-attr]


# -- tools --------------------------------------------------------------------------------

WEATHER = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_tool_use_round_trip_is_translated_to_openai(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    message = sdk(gateway, provider(fake)).messages.create(
        model=f"{t}+echo",
        max_tokens=200,
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01",
                        "content": "service down",
                        "is_error": True,
                    },
                    {"type": "text", "text": "Try again?"},
                ],
            },
        ],
    )
    body = echoed(message)["body"]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "Current weather",
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_01",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01", "content": "Error: service down"},
        {"role": "user", "content": "Try again?"},
    ]


def test_image_blocks_become_image_parts(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    image = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    message = sdk(gateway, provider(fake)).messages.create(
        model=f"{t}+echo",
        max_tokens=20,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": image},  # type: ignore[typeddict-item]
                    {"type": "text", "text": "What is it?"},
                ],
            }
        ],
    )
    assert echoed(message)["body"]["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "text", "text": "What is it?"},
    ]


# -- streaming ----------------------------------------------------------------------------


def test_stream_text_and_final_message(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    client = sdk(gateway, provider(fake))
    with client.messages.stream(model=f"{t}+chunks-3", max_tokens=20, messages=HI) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["x-portkey-provider"] == "openai"

    assert pieces == ["tok0 ", "tok1 ", "tok2 "]
    assert final.content[0].text == "tok0 tok1 tok2 "  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (1, 3)
    assert final.model == f"{t}+chunks-3"
    [upstream] = sent(fake, t)
    assert upstream.body["stream"] is True
    assert upstream.body["stream_options"] == {"include_usage": True}


async def test_async_stream(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    client = async_sdk(gateway, provider(fake))
    async with client.messages.stream(model=f"{t}+chunks-2", max_tokens=20, messages=HI) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    await client.close()
    assert pieces == ["tok0 ", "tok1 "]
    assert final.usage.output_tokens == 2


def test_stream_event_sequence_on_the_wire(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    response = httpx.post(
        gateway.url + "/v1/messages",
        json={"model": f"{t}+chunks-2", "max_tokens": 9, "messages": HI, "stream": True},
        headers={**provider(fake), "x-api-key": "sk-raw"},
        timeout=10,
    )
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_cut_stream_is_an_error_never_a_message_stop(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    client = sdk(gateway, provider(fake))
    pieces: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=f"{t}+cut-2", max_tokens=20, messages=HI) as stream,
    ):
        pieces.extend(stream.text_stream)
    assert pieces == ["tok0 ", "tok1 "]
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]

    raw = httpx.post(
        gateway.url + "/v1/messages",
        json={"model": f"{t}+cut-2", "max_tokens": 9, "messages": HI, "stream": True},
        headers={**provider(fake), "x-api-key": "sk-raw"},
        timeout=10,
    ).text
    assert "event: error" in raw
    assert "message_stop" not in raw and "message_delta" not in raw


def test_stream_fails_over_before_the_first_byte(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    client = sdk(gateway, fallback(fake, f"{t}+error-first", f"{t}+chunks-2"))
    with client.messages.stream(model="any", max_tokens=20, messages=HI) as stream:
        final = stream.get_final_message()
        assert stream.response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert final.content[0].text == "tok0 tok1 "  # type: ignore[union-attr]
    assert [r.body["model"] for r in sent(fake, t)] == [f"{t}+error-first", f"{t}+chunks-2"]


def test_stream_that_begins_with_an_error_is_an_error_event(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    client = sdk(gateway, provider(fake))
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=f"{tag()}+error-first", max_tokens=9, messages=HI) as stream,
    ):
        stream.get_final_message()
    body: Any = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert "fake stream error" in body["error"]["message"]


def test_stream_error_before_the_stream_is_an_anthropic_error(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    client = sdk(gateway, provider(fake))
    with (
        pytest.raises(anthropic.RateLimitError),
        client.messages.stream(model=f"{tag()}+status-429", max_tokens=9, messages=HI) as stream,
    ):
        stream.get_final_message()


# -- routing --------------------------------------------------------------------------------


def test_fallback_config_header(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    client = sdk(gateway, fallback(fake, f"{t}+status-503", f"{t}-second"))
    raw = client.messages.with_raw_response.create(model="ignored", max_tokens=9, messages=HI)
    assert raw.parse().content[0].text == f"Hello from {t}-second"  # type: ignore[union-attr]
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert [r.body["model"] for r in sent(fake, t)] == [f"{t}+status-503", f"{t}-second"]


def test_virtual_key_and_default_config_from_portkey_yaml(
    make_gateway: Any, fake: FakeUpstream
) -> None:
    t = tag()
    gw = make_gateway(
        f"""
providers:
  main:
    provider: openai
    api_key: sk-vk-{t}
    custom_host: "{fake.base_url}"
configs:
  default:
    virtual_key: main
    override_params: {{model: "{t}-default"}}
default_config: default
"""
    )
    by_default = sdk(gw, {}).messages.create(model="claude-x", max_tokens=9, messages=HI)
    assert by_default.content[0].text == f"Hello from {t}-default"  # type: ignore[union-attr]
    by_vk = sdk(gw, {"x-portkey-virtual-key": "main"}).messages.create(
        model=f"{t}-vk", max_tokens=9, messages=HI
    )
    assert by_vk.content[0].text == f"Hello from {t}-vk"  # type: ignore[union-attr]
    assert {r.headers["authorization"] for r in sent(fake, t)} == {f"Bearer sk-vk-{t}"}


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exception", "kind"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (500, anthropic.InternalServerError, "api_error"),
    ],
)
def test_upstream_errors_raise_the_matching_sdk_exception(
    gateway: GatewayServer, fake: FakeUpstream, status: int, exception: type, kind: str
) -> None:
    client = sdk(gateway, provider(fake))
    with pytest.raises(exception) as caught:
        client.messages.create(model=f"{tag()}+status-{status}", max_tokens=9, messages=HI)
    error: Any = caught.value
    assert error.status_code == status
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == kind
    assert error.body["error"]["message"] == f"fake upstream error {status}"
    assert "x-portkey-trace-id" in error.response.headers


def test_retry_after_reaches_the_client(gateway: GatewayServer, fake: FakeUpstream) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk(gateway, provider(fake)).messages.create(
            model=f"{tag()}+status-429+retry-after-7", max_tokens=9, messages=HI
        )
    assert caught.value.response.headers["retry-after"] == "7"


def test_missing_max_tokens_is_a_400_naming_it(gateway: GatewayServer, fake: FakeUpstream) -> None:
    client = sdk(gateway, provider(fake))
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.post("/v1/messages", body={"model": "m", "messages": HI}, cast_to=httpx.Response)
    body: Any = caught.value.body
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"model": "m", "max_tokens": 5, "messages": []}', "messages"),
        (
            b'{"model": "m", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}',
            "role",
        ),
        (
            b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],'
            b' "tools": [{"type": "web_search_20250305", "name": "web_search"}]}',
            "server tool",
        ),
    ],
)
def test_bad_requests_get_anthropic_shaped_400s(
    gateway: GatewayServer, fake: FakeUpstream, body: bytes, needle: str
) -> None:
    response = httpx.post(
        gateway.url + "/v1/messages",
        content=body,
        headers={**provider(fake), "x-api-key": "k", "content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert needle in error["error"]["message"]


def test_no_route_is_an_anthropic_400(gateway: GatewayServer) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk(gateway, {}).messages.create(model="m", max_tokens=9, messages=HI)
    assert "x-portkey-provider" in str(caught.value)


def test_dropped_fields_are_named_in_the_warnings_header(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    raw = sdk(gateway, provider(fake)).messages.with_raw_response.create(
        model=f"{t}-m", max_tokens=9, messages=HI, extra_body={"top_k": 5}
    )
    assert "top_k dropped" in raw.headers["x-portkey-warnings"]
    assert "top_k" not in sent(fake, t)[0].body


def test_get_on_messages_is_a_405(gateway: GatewayServer) -> None:
    assert httpx.get(gateway.url + "/v1/messages", timeout=10).status_code == 405


# -- count_tokens -------------------------------------------------------------------------


def test_count_tokens_estimates_without_calling_upstream(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    before = len(fake.requests)
    counted = sdk(gateway, provider(fake)).messages.count_tokens(
        model="m",
        system="12345678",  # 8 characters
        messages=[{"role": "user", "content": "abcdefgh"}],  # 8 more: 16 / 4 = 4 tokens
    )
    assert counted.input_tokens == 4
    assert len(fake.requests) == before


def test_count_tokens_needs_no_route(gateway: GatewayServer) -> None:
    counted = sdk(gateway, {}).messages.count_tokens(model="m", messages=HI)
    assert counted.input_tokens == 1


# -- a Gemini-shaped target -----------------------------------------------------------------


@pytest.fixture(scope="module")
def gemini() -> Iterator[str]:
    from tests.fakes.gemini import make_app

    with AppServer(make_app()) as server:
        yield server.url


def google(url: str) -> dict[str, str]:
    target = {"provider": "google", "custom_host": f"{url}/v1beta", "api_key": "AIzaSy-fake"}
    return {"x-portkey-config": json.dumps(target)}


def test_google_target_answers_the_anthropic_sdk(gateway: GatewayServer, gemini: str) -> None:
    client = sdk(gateway, google(gemini))
    raw = client.messages.with_raw_response.create(
        model="gemini-2.5-flash", max_tokens=50, system="Be brief.", messages=HI
    )
    message = raw.parse()
    assert raw.headers["x-portkey-provider"] == "google"
    assert message.content[0].text == reply_text("Be brief.", 1, "hi")  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (
        USAGE["prompt_tokens"],
        USAGE["completion_tokens"],
    )

    with client.messages.stream(model="gemini-2.5-flash", max_tokens=50, messages=HI) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) >= 2 and "".join(pieces) == reply_text(None, 1, "hi")
    assert final.usage.output_tokens == USAGE["completion_tokens"]


def test_google_tool_round_trip_keeps_the_thought_signature(
    gateway: GatewayServer, gemini: str
) -> None:
    client = sdk(gateway, google(gemini))
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.messages.create(
        model="tool",
        max_tokens=50,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=history,
    )
    [call] = first.content
    assert call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"city": "Paris"}
    assert first.stop_reason == "tool_use"

    history += [
        {"role": "assistant", "content": [call.model_dump(exclude_none=True)]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C"}],
        },
    ]
    with client.messages.stream(
        model="tool",
        max_tokens=50,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=history,
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "tool-result:18C"  # type: ignore[union-attr]


def test_google_streamed_tool_call(gateway: GatewayServer, gemini: str) -> None:
    client = sdk(gateway, google(gemini))
    with client.messages.stream(
        model="tool",
        max_tokens=50,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather?"}],
    ) as stream:
        final = stream.get_final_message()
    [call] = final.content
    assert call.type == "tool_use" and call.input == {"city": "Paris"}
    assert final.stop_reason == "tool_use"


def test_google_errors_keep_their_status(gateway: GatewayServer, gemini: str) -> None:
    client = sdk(gateway, google(gemini))
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="error-rate_limited", max_tokens=9, messages=HI)


# -- count_tokens forwarded to a provider that counts natively -----------------------------


def counting_app(seen: list[tuple[dict[str, str], Any]]) -> web.Application:
    """An Anthropic-style count_tokens endpoint (real shapes: input_tokens; typed errors)."""

    async def count(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append((dict(request.headers), body))
        if body.get("model") == "limited":
            error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
            return web.json_response(error, status=429, headers={"retry-after": "3"})
        return web.json_response({"input_tokens": 42})

    app = web.Application()
    app.router.add_post("/v1/messages/count_tokens", count)
    return app


def test_count_tokens_goes_to_a_provider_that_declares_the_route(
    gateway: GatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = ProviderSpec(
        id="counting-test",
        base_url="http://unused.invalid",
        auth=AuthScheme.X_API_KEY,
        extra_headers={"anthropic-version": "2023-06-01"},
        routes={CHAT: "/chat/completions", COUNT_TOKENS: "/messages/count_tokens"},
        docs="https://docs.anthropic.com/en/api/messages-count-tokens",
    )
    real_get = registry.get
    monkeypatch.setattr(
        registry, "get", lambda pid: counting if pid == counting.id else real_get(pid)
    )
    seen: list[tuple[dict[str, str], Any]] = []
    with AppServer(counting_app(seen)) as upstream:
        t = tag()
        config = {"provider": counting.id, "custom_host": f"{upstream.url}/v1", "api_key": t}
        client = sdk(gateway, {"x-portkey-config": json.dumps(config)})
        counted = client.messages.count_tokens(model="claude-x", messages=HI, system="be kind")
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.messages.count_tokens(model="limited", messages=HI)

    assert counted.input_tokens == 42
    headers, body = seen[0]
    assert body == {"model": "claude-x", "messages": HI, "system": "be kind"}  # as sent
    assert headers["x-api-key"] == t and headers["anthropic-version"] == "2023-06-01"
    assert caught.value.response.headers["retry-after"] == "3"
