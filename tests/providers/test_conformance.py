"""One suite over every provider: the same capability checks through the real gateway.

Each provider's fake upstream speaks its native wire format (see ``conformance/__init__``);
the client is always the official ``openai`` SDK. A provider skips a capability only by
declaring it unsupported in its ProviderSpec.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import openai
import pytest
from openai import OpenAI

from portkey.providers import registry
from tests.fakes.runner import AppServer
from tests.providers.conformance import (
    CAPABILITIES,
    NEEDS,
    USAGE,
    Entry,
    load_entries,
    reply_text,
)
from tests.support import GatewayServer

ENTRIES = load_entries()
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {e.provider: stack.enter_context(AppServer(e.make_app())).url for e in ENTRIES}


def _client(gateway: GatewayServer, entry: Entry, url: str, **config: Any) -> OpenAI:
    target = {**entry.target(url), **config}
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-conformance",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(target)},
    )


def _cases() -> list[Any]:
    return [
        pytest.param(entry, capability, id=f"{entry.provider}-{capability}")
        for entry in ENTRIES
        for capability in CAPABILITIES
    ]


@pytest.mark.parametrize(("entry", "capability"), _cases())
def test_capability(
    entry: Entry, capability: str, gateway: GatewayServer, upstreams: dict[str, str]
) -> None:
    spec = registry.get(entry.provider)
    assert spec is not None
    assert entry.unsupported == spec.unsupported, "the suite and the spec disagree"
    lacking = {capability, NEEDS.get(capability)} & spec.unsupported
    if lacking:
        pytest.skip(f"{entry.provider} declares {', '.join(sorted(lacking))} unsupported")
    url = upstreams[entry.provider]
    CHECKS[capability](lambda **cfg: _client(gateway, entry, url, **cfg))


def check_chat(client: Any) -> None:
    answer = client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == reply_text(None, 1, "hi")
    assert answer.choices[0].finish_reason == "stop"
    assert answer.object == "chat.completion"


def check_system_prompt(client: Any) -> None:
    answer = client().chat.completions.create(
        model="m",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    )
    assert answer.choices[0].message.content == reply_text("be brief", 1, "hi")


def check_multi_turn(client: Any) -> None:
    answer = client().chat.completions.create(
        model="m",
        messages=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    )
    assert answer.choices[0].message.content == reply_text(None, 3, "three")


def check_tools_round_trip(client: Any) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
    first = client().chat.completions.create(model="tool", messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = client().chat.completions.create(model="tool", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "tool-result:sunny"


def check_image_input(client: Any) -> None:
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": PIXEL}},
    ]
    answer = client().chat.completions.create(
        model="image", messages=[{"role": "user", "content": content}]
    )
    assert answer.choices[0].message.content == "image:image/png"


def check_json_schema(client: Any) -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "verdict",
            "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
        },
    }
    answer = client().chat.completions.create(
        model="json", messages=[{"role": "user", "content": "ok?"}], response_format=schema
    )
    assert json.loads(answer.choices[0].message.content) == {"ok": True}


def check_stream_text(client: Any) -> None:
    stream = client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply_text(None, 1, "hi")
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def check_stream_tools(client: Any) -> None:
    stream = client().chat.completions.create(
        model="tool",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    name, args, finish = "", "", None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                name += (call.function.name or "") if call.function else ""
                args += (call.function.arguments or "") if call.function else ""
            finish = choice.finish_reason or finish
    assert name == "get_weather"
    assert json.loads(args) == {"city": "Paris"}
    assert finish == "tool_calls"


def check_usage(client: Any) -> None:
    answer = client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == USAGE["prompt_tokens"]
    assert answer.usage.completion_tokens == USAGE["completion_tokens"]
    assert answer.usage.total_tokens == USAGE["total_tokens"]


def check_stream_usage(client: Any) -> None:
    stream = client().chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usages = [c.usage for c in stream if c.usage is not None]
    assert len(usages) == 1
    assert usages[0].prompt_tokens == USAGE["prompt_tokens"]
    assert usages[0].completion_tokens == USAGE["completion_tokens"]


ERRORS: dict[str, type[openai.APIStatusError]] = {
    "rate_limited": openai.RateLimitError,
    "auth": openai.AuthenticationError,
    "context_length": openai.BadRequestError,
    "server": openai.InternalServerError,
}


def check_errors(client: Any) -> None:
    for kind, exc_type in ERRORS.items():
        with pytest.raises(exc_type) as info:
            client().chat.completions.create(
                model=f"error-{kind}", messages=[{"role": "user", "content": "hi"}]
            )
        body = info.value.body
        assert isinstance(body, dict), kind
        if kind == "context_length":
            assert body["type"] == "context_length_exceeded", body
    # content filtering: either a classified error or an answer that says so
    try:
        answer = client().chat.completions.create(
            model="error-content_filter", messages=[{"role": "user", "content": "hi"}]
        )
    except openai.APIStatusError as exc:
        assert isinstance(exc.body, dict) and exc.body["type"] == "content_filter", exc.body
    else:
        assert answer.choices[0].finish_reason == "content_filter"


def check_retry_after(client: Any) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client().chat.completions.create(
            model="error-rate_limited", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.response.headers.get("retry-after") == "1"
    retried = client(retry={"attempts": 1, "use_retry_after_header": True})
    raw = retried.chat.completions.with_raw_response.create(
        model="flaky-rate_limited", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-portkey-retry-attempt-count"] == "1"


CHECKS = {
    "chat": check_chat,
    "system_prompt": check_system_prompt,
    "multi_turn": check_multi_turn,
    "tools_round_trip": check_tools_round_trip,
    "image_input": check_image_input,
    "json_schema": check_json_schema,
    "stream_text": check_stream_text,
    "stream_tools": check_stream_tools,
    "usage": check_usage,
    "stream_usage": check_stream_usage,
    "errors": check_errors,
    "retry_after": check_retry_after,
}
assert set(CHECKS) == set(CAPABILITIES)
