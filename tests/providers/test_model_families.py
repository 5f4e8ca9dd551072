"""Model-family profiles: per-model parameter rules and capability refusals, and how they resolve."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from openai import BadRequestError, OpenAI

from portkey.providers import base, registry
from portkey.providers.base import (
    CAPABILITIES,
    REASONING,
    STREAMED_USAGE,
    TOOLS,
    VISION,
    ModelFamily,
    ProviderSpec,
    drop,
    reject,
    rename,
)
from tests.fakes import FakeUpstream
from tests.fakes import anthropic as anthropic_fake
from tests.fakes.contract import REQUESTS
from tests.fakes.runner import AppServer
from tests.gateway.helpers import target, uid
from tests.support import GatewayServer

HI: Any = [{"role": "user", "content": "hi"}]
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
IMAGE: Any = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": PIXEL}},
        ],
    }
]
TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "v", "schema": {"type": "object"}}}


def _client(gateway: GatewayServer, provider: str, host: str) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-families",
        max_retries=0,
        default_headers={"x-portkey-provider": provider, "x-portkey-custom-host": host},
    )


def _config_client(gateway: GatewayServer, config: dict[str, Any]) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-families",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(config)},
    )


def _echoed(raw: Any) -> dict[str, Any]:
    return json.loads(raw.parse().choices[0].message.content)["body"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def claude() -> Iterator[AppServer]:
    with AppServer(anthropic_fake.make_app()) as server:
        yield server


# -- through the gateway -------------------------------------------------------------------


def test_o_series_renames_max_tokens_and_drops_sampling(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    client = _client(gateway, "openai", fake.base_url)
    raw = client.chat.completions.with_raw_response.create(
        model="o3-mini+echo", messages=HI, max_tokens=50, temperature=0.2
    )
    body = _echoed(raw)
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body and "temperature" not in body
    assert "temperature dropped for openai" in raw.headers["x-portkey-warnings"]

    plain = client.chat.completions.with_raw_response.create(
        model="gpt-4o+echo", messages=HI, max_tokens=50, temperature=0.2
    )
    assert _echoed(plain)["max_tokens"] == 50 and _echoed(plain)["temperature"] == 0.2


@pytest.mark.parametrize(
    ("provider", "model", "fields", "param"),
    [
        ("openai", "gpt-3.5-turbo", {"messages": IMAGE}, "messages"),
        ("groq", "llama-3.3-70b-versatile", {"messages": IMAGE}, "messages"),
        ("openai", "o1-mini", {"tools": [TOOL]}, "tools"),
        ("deepseek", "deepseek-chat", {"response_format": SCHEMA}, "response_format"),
        ("anthropic", "claude-3-5-haiku-latest", {"reasoning_effort": "low"}, "reasoning_effort"),
        ("google", "gemini-1.5-flash", {"reasoning_effort": "low"}, "reasoning_effort"),
        (
            "anthropic",
            "claude-opus-4-6",
            {"messages": [*HI, {"role": "assistant", "content": "Sure:"}]},
            "messages",
        ),
    ],
    ids=["vision", "groq-vision", "tools", "json_schema", "reasoning", "gemini-1.5", "prefill"],
)
def test_a_capability_the_model_lacks_is_a_400_naming_it(
    gateway: GatewayServer,
    fake: FakeUpstream,
    provider: str,
    model: str,
    fields: dict[str, Any],
    param: str,
) -> None:
    tagged = f"{model}+{uid()}"
    with pytest.raises(BadRequestError) as info:
        _client(gateway, provider, fake.base_url).chat.completions.create(
            **{"model": tagged, "messages": HI, **fields}
        )
    error = info.value.body
    assert isinstance(error, dict)
    assert error["param"] == param
    assert tagged in error["message"] and provider in error["message"]
    assert not [r for r in fake.requests if tagged in json.dumps(r.body)], "upstream was called"


def test_images_reach_a_family_that_takes_them(gateway: GatewayServer, fake: FakeUpstream) -> None:
    raw = _client(gateway, "groq", fake.base_url).chat.completions.with_raw_response.create(
        model="meta-llama/llama-4-scout-17b-16e-instruct+echo", messages=IMAGE
    )
    assert _echoed(raw)["messages"][0]["content"][1]["type"] == "image_url"


def test_reasoning_reaches_a_claude_that_thinks(gateway: GatewayServer, claude: AppServer) -> None:
    client = _client(gateway, "anthropic", f"{claude.url}/v1")
    client.chat.completions.create(
        model="claude-3-7-sonnet-latest", messages=HI, reasoning_effort="low"
    )
    _path, _headers, sent = claude.app[REQUESTS][-1]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_fallback_moves_past_a_target_whose_model_lacks_tools(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [target(fake, f"o1-mini+echo+{tag}"), target(fake, f"gpt-4o+echo+{tag}")],
    }
    raw = _config_client(gateway, config).chat.completions.with_raw_response.create(
        model="x", messages=HI, tools=[TOOL]
    )
    assert _echoed(raw)["model"] == f"gpt-4o+echo+{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert [r.body["model"] for r in fake.requests if tag in str(r.body)] == [f"gpt-4o+echo+{tag}"]


def test_fallback_not_on_400_answers_the_refusal(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback", "on_status_codes": [429, 503]},
        "targets": [target(fake, f"o1-mini+{tag}"), target(fake, f"gpt-4o+{tag}")],
    }
    with pytest.raises(BadRequestError) as info:
        _config_client(gateway, config).chat.completions.create(
            model="x", messages=HI, tools=[TOOL]
        )
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "tools"
    assert not [r for r in fake.requests if tag in str(r.body)]


# -- profile resolution --------------------------------------------------------------------


class CountingPattern:
    """A stand-in for a compiled regex that counts how often families are scanned."""

    def __init__(self, regex: str) -> None:
        self.regex = re.compile(regex)
        self.calls = 0

    def match(self, model: str) -> re.Match[str] | None:
        self.calls += 1
        return self.regex.match(model)


def _spec(*families: ModelFamily, **fields: Any) -> ProviderSpec:
    return ProviderSpec(id="acme", base_url="http://acme.test", families=families, **fields)


def test_first_matching_family_wins() -> None:
    spec = _spec(
        ModelFamily("mini", prefixes=("acme-1-mini",), unsupported=frozenset({TOOLS})),
        ModelFamily("one", prefixes=("acme-1",), unsupported=frozenset({VISION})),
    )
    assert spec.profile("acme-1-mini-2025").family == "mini"
    assert spec.profile("acme-1-mini-2025").unsupported == {TOOLS}
    assert spec.profile("acme-1-large").family == "one"
    assert spec.profile("acme-2").family is None


def test_family_rules_override_the_provider_rule_of_the_same_name() -> None:
    spec = _spec(
        ModelFamily(
            "r",
            pattern=re.compile(r"r\d"),
            params={"max_tokens": rename("max_completion_tokens"), "seed": reject("no seed")},
        ),
        params={"max_tokens": drop("x"), "logit_bias": drop("no bias")},
    )
    rules = spec.profile("r1").params
    assert rules["max_tokens"] == rename("max_completion_tokens")
    assert rules["seed"] == reject("no seed") and rules["logit_bias"] == drop("no bias")
    assert spec.profile("other").params == {"max_tokens": drop("x"), "logit_bias": drop("no bias")}


def test_family_capabilities_adjust_the_providers() -> None:
    spec = _spec(
        ModelFamily("sees", prefixes=("eye",), supported=frozenset({VISION})),
        ModelFamily("quiet", prefixes=("q",), stream_usage=False),
        ModelFamily("no-usage", prefixes=("n",), unsupported=frozenset({STREAMED_USAGE})),
        unsupported=frozenset({VISION, REASONING}),
    )
    assert spec.profile("eye-1").unsupported == {REASONING}
    assert spec.profile("plain").unsupported == {VISION, REASONING}
    assert spec.profile("plain").stream_usage and spec.profile("eye-1").stream_usage
    assert not spec.profile("q-1").stream_usage
    assert not spec.profile("n-1").stream_usage


def test_profiles_are_memoised_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    pattern = CountingPattern(r"r\d")
    spec = _spec(ModelFamily("r", pattern=pattern))  # type: ignore[arg-type]
    for _ in range(5):
        assert spec.profile("r1").family == "r"
    assert pattern.calls == 1, "families are scanned once per model name"

    monkeypatch.setattr(base, "PROFILE_MEMO_SIZE", 3)
    for name in ("a", "b", "c", "d"):  # the memo holds r1 plus these: r1 is forgotten first
        spec.profile(name)
    calls = pattern.calls
    spec.profile("r1")
    assert pattern.calls == calls + 1
    spec.profile("r1")
    assert pattern.calls == calls + 1


def test_a_spec_without_families_resolves_every_model_to_one_profile() -> None:
    spec = _spec(params={"seed": drop("no seed")})
    assert spec.profile("a") is spec.profile("b") is spec.profile(None)
    assert spec.profile("a").family is None and spec.profile("a").params["seed"] == drop("no seed")


def test_registered_families_name_known_capabilities() -> None:
    for spec in registry.all_specs():
        named = spec.unsupported.union(*(f.unsupported | f.supported for f in spec.families))
        assert named <= CAPABILITIES, (spec.id, named - CAPABILITIES)
        for family in spec.families:
            assert family.prefixes or family.pattern is not None, (spec.id, family.name)


@pytest.mark.parametrize(
    ("provider", "model", "lacks", "has"),
    [
        ("openai", "o1-mini-2024-09-12", TOOLS, None),
        ("openai", "o3-mini", VISION, TOOLS),
        ("openai", "o4-mini", None, VISION),
        ("openai", "o3", None, REASONING),
        ("openai", "gpt-4o-mini", REASONING, VISION),
        ("anthropic", "claude-3-5-haiku-20241022", REASONING, None),
        ("anthropic", "claude-3-7-sonnet-20250219", None, REASONING),
        ("anthropic", "claude-sonnet-4-5", None, REASONING),
        ("google", "models/gemini-2.0-flash", REASONING, None),
        ("google", "gemini-2.5-flash", None, REASONING),
        ("vertex-ai", "gemini-1.5-pro-002", REASONING, None),
        ("ollama", "llama3.2:3b", VISION, None),
        ("ollama", "llama3.2-vision", None, VISION),
        ("mistral-ai", "open-mistral-7b", VISION, None),
        ("mistral-ai", "pixtral-12b-2409", None, VISION),
        ("groq", "meta-llama/llama-4-maverick-17b-128e-instruct", None, VISION),
    ],
)
def test_documented_models_resolve_as_their_docs_say(
    provider: str, model: str, lacks: str | None, has: str | None
) -> None:
    spec = registry.get(provider)
    assert spec is not None
    profile = spec.profile(model)
    if lacks is not None:
        assert lacks in profile.unsupported
    if has is not None:
        assert has not in profile.unsupported


def test_reasoning_models_rename_max_tokens() -> None:
    spec = registry.get("openai")
    assert spec is not None
    for model in ("o1", "o3-pro", "o4-mini-2025-04-16", "gpt-5-mini"):
        assert spec.profile(model).params["max_tokens"] == rename("max_completion_tokens"), model
    assert "max_tokens" not in spec.profile("gpt-4.1").params
