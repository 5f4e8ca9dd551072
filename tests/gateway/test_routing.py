"""Routing through the config object: fallback, loadbalance, conditional, nesting, inheritance.

Every test goes through the real gateway with the official SDKs as clients and the scriptable
fake as upstream. The fake is shared by the whole session, so each test tags its model strings
and api keys with a unique token and only looks at the upstream requests carrying it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import pytest
from portkey_ai import Portkey

from tests.fakes import FakeUpstream
from tests.gateway.helpers import (
    MESSAGES,
    async_client,
    chat,
    chat_error,
    client,
    content,
    sent_models,
    sent_with_key,
    target,
    uid,
)
from tests.support import GatewayServer

# -- fallback ------------------------------------------------------------------------------


def test_fallback_tries_targets_in_order_until_one_answers(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    models = [f"status-503+{tag}", f"status-500+{tag}", f"c-{tag}", f"d-{tag}"]
    config = {"strategy": {"mode": "fallback"}, "targets": [target(fake, m) for m in models]}

    raw = chat(client(gateway, config))

    assert content(raw) == f"Hello from c-{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[2]"
    assert raw.headers["x-portkey-provider"] == "openai"
    assert raw.headers["x-portkey-retry-attempt-count"] == "0"
    assert sent_models(fake, tag) == models[:3]  # in order, and the 4th is never called


def test_fallback_moves_on_for_any_error_status_by_default(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    models = [f"status-400+{tag}", f"status-404+{tag}", f"status-429+{tag}", f"ok-{tag}"]
    config = {"strategy": {"mode": "fallback"}, "targets": [target(fake, m) for m in models]}

    raw = chat(client(gateway, config))

    assert content(raw) == f"Hello from ok-{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[3]"
    assert sent_models(fake, tag) == models


def test_fallback_on_status_codes_moves_on_for_a_listed_status(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    models = [f"status-429+{tag}", f"status-503+{tag}", f"ok-{tag}"]
    config = {
        "strategy": {"mode": "fallback", "on_status_codes": [429, 503]},
        "targets": [target(fake, m) for m in models],
    }

    raw = chat(client(gateway, config))

    assert content(raw) == f"Hello from ok-{tag}"
    assert sent_models(fake, tag) == models


def test_fallback_on_status_codes_stops_at_a_status_not_listed(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    models = [f"status-429+{tag}", f"status-503+{tag}", f"ok-{tag}"]
    config = {
        "strategy": {"mode": "fallback", "on_status_codes": [429]},
        "targets": [target(fake, m) for m in models],
    }

    err = chat_error(client(gateway, config))

    assert err.status_code == 503
    body = err.response.json()["error"]
    assert body["type"] == "all_targets_failed"
    assert [a["status"] for a in body["attempts"]] == [429, 503]
    assert err.response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert sent_models(fake, tag) == models[:2]  # the healthy third target is never tried


def test_fallback_stopped_on_the_first_target_returns_the_upstream_error_itself(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback", "on_status_codes": [503]},
        "targets": [target(fake, f"status-404+{tag}"), target(fake, f"ok-{tag}")],
    }

    err = chat_error(client(gateway, config))

    assert err.status_code == 404
    assert err.response.json()["error"]["message"] == "fake upstream error 404"
    assert err.response.json()["error"]["code"] == "model_not_found"
    assert "attempts" not in err.response.json()["error"]
    assert sent_models(fake, tag) == [f"status-404+{tag}"]


# -- loadbalance ---------------------------------------------------------------------------


async def _spread(gateway: GatewayServer, config: dict[str, Any], n: int) -> Counter[str]:
    """Send `n` concurrent chats; count the x-portkey-last-used-option-index answers."""
    c = async_client(gateway, config)
    sem = asyncio.Semaphore(32)

    async def one() -> str:
        async with sem:
            raw = await c.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=MESSAGES
            )
        return str(raw.headers["x-portkey-last-used-option-index"])

    try:
        return Counter(await asyncio.gather(*(one() for _ in range(n))))
    finally:
        await c.close()


async def test_loadbalance_follows_weights_and_never_picks_weight_zero(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            target(fake, f"a-{tag}", weight=0.8),
            target(fake, f"b-{tag}", weight=0.2),
            target(fake, f"never-{tag}", weight=0),
        ],
    }

    counts = await _spread(gateway, config, 300)

    assert set(counts) <= {"config.targets[0]", "config.targets[1]"}
    assert sum(counts.values()) == 300
    share = counts["config.targets[0]"] / 300
    assert abs(share - 0.8) <= 0.08, counts  # sd is 2.3 points: 3.5 sd of slack
    assert not any(m.startswith("never-") for m in sent_models(fake, tag))


async def test_loadbalance_without_weights_spreads_evenly(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [target(fake, "gpt-4o"), target(fake, "gpt-4o-mini")],
    }

    counts = await _spread(gateway, config, 300)

    assert abs(counts["config.targets[0]"] / 300 - 0.5) <= 0.09, counts  # sd 2.9 points


def test_loadbalance_does_not_retry_another_target_when_the_pick_fails(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [target(fake, f"status-503+{tag}"), target(fake, f"ok-{tag}", weight=0)],
    }

    err = chat_error(client(gateway, config))

    assert err.status_code == 503
    assert sent_models(fake, tag) == [f"status-503+{tag}"]


def test_loadbalance_with_every_weight_zero_is_a_400(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [target(fake, f"a-{tag}", weight=0), target(fake, f"b-{tag}", weight=0)],
    }

    err = chat_error(client(gateway, config))

    assert err.status_code == 400
    error = err.response.json()["error"]
    assert error["param"] == "config.strategy"
    assert "weight above 0" in error["message"]
    assert sent_models(fake, tag) == []


# -- conditional ---------------------------------------------------------------------------


def conditional_config(fake: FakeUpstream, tag: str, *, default: bool = True) -> dict[str, Any]:
    names = ["pro", "eu-big", "vip", "not-free-embed", "basic"]
    config: dict[str, Any] = {
        "strategy": {
            "mode": "conditional",
            "conditions": [
                {"query": {"metadata.tier": {"$eq": "pro"}}, "then": "pro"},
                {
                    "query": {
                        "$and": [
                            {"metadata.region": {"$in": ["eu", "uk"]}},
                            {"params.max_tokens": {"$gte": 100}},
                        ]
                    },
                    "then": "eu-big",
                },
                {
                    "query": {
                        "$or": [
                            {"metadata.score": {"$gt": 90}},
                            {"params.model": {"$regex": "^vip-"}},
                        ]
                    },
                    "then": "vip",
                },
                {
                    "query": {
                        "metadata.tier": {"$ne": "free", "$nin": ["trial"]},
                        "params.temperature": {"$lt": 0.5, "$gte": 0},
                    },
                    "then": "not-free-embed",
                },
            ],
        },
        "targets": [target(fake, f"{n}-{tag}", name=n) for n in names],
    }
    if default:
        config["strategy"]["default"] = "basic"
    return config


@pytest.mark.parametrize(
    ("metadata", "extra", "expected"),
    [
        ({"tier": "pro"}, {}, "pro"),
        ({"tier": "pro", "region": "eu"}, {"max_tokens": 500}, "pro"),  # first match wins
        ({"region": "uk"}, {"max_tokens": 100}, "eu-big"),
        ({"region": "uk"}, {"max_tokens": 99}, "basic"),
        ({"region": "us"}, {"max_tokens": 500}, "basic"),
        ({"score": "91"}, {}, "vip"),  # metadata strings compare as numbers
        ({"score": "90"}, {}, "basic"),
        ({"score": "high"}, {}, "basic"),
        ({}, {"model": "vip-gpt"}, "vip"),
        ({}, {"model": "gpt-vip"}, "basic"),
        ({}, {"temperature": 0.2}, "not-free-embed"),  # a missing tier satisfies $ne/$nin
        ({"tier": "team"}, {"temperature": 0.2}, "not-free-embed"),
        ({"tier": "free"}, {"temperature": 0.2}, "basic"),
        ({"tier": "trial"}, {"temperature": 0.2}, "basic"),
        ({"tier": "team"}, {"temperature": 0.5}, "basic"),
        ({}, {}, "basic"),
    ],
)
def test_conditional_routes_on_metadata_and_params(
    gateway: GatewayServer,
    fake: FakeUpstream,
    metadata: dict[str, str],
    extra: dict[str, Any],
    expected: str,
) -> None:
    tag = uid()
    headers = {"x-portkey-metadata": json.dumps(metadata)} if metadata else {}
    c = client(gateway, conditional_config(fake, tag), headers=headers)
    body = {"model": "gpt-4o", **extra}

    raw = chat(c, **body)

    assert content(raw) == f"Hello from {expected}-{tag}"
    names = ["pro", "eu-big", "vip", "not-free-embed", "basic"]
    index = names.index(expected)
    assert raw.headers["x-portkey-last-used-option-index"] == f"config.targets[{index}]"
    assert sent_models(fake, tag) == [f"{expected}-{tag}"]


def test_conditional_without_a_match_or_default_is_a_400(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    c = client(gateway, conditional_config(fake, tag, default=False))

    err = chat_error(c)

    assert err.status_code == 400
    error = err.response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "strategy.conditions"
    assert "no condition matched" in error["message"]
    assert sent_models(fake, tag) == []


def test_conditional_routes_on_url_pathname(gateway: GatewayServer, fake: FakeUpstream) -> None:
    tag = uid()
    config = {
        "strategy": {
            "mode": "conditional",
            "conditions": [{"query": {"url.pathname": {"$eq": "/v1/embeddings"}}, "then": "emb"}],
            "default": "chat",
        },
        "targets": [
            target(fake, f"emb-{tag}", name="emb"),
            target(fake, f"chat-{tag}", name="chat"),
        ],
    }
    c = client(gateway, config)

    emb = c.embeddings.with_raw_response.create(model="x", input="hello")
    assert emb.parse().model == f"emb-{tag}"
    assert emb.headers["x-portkey-last-used-option-index"] == "config.targets[0]"
    assert content(chat(c)) == f"Hello from chat-{tag}"


def test_conditional_metadata_from_the_portkey_sdk(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    pk = Portkey(
        base_url=gateway.base_url,
        api_key="anything",
        config=conditional_config(fake, tag),
        metadata={"tier": "pro"},
        Authorization="Bearer sk-portkey-sdk",
    )

    answer = pk.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert answer.choices[0].message.content == f"Hello from pro-{tag}"
    assert answer.get_headers()["last-used-option-index"] == "config.targets[0]"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"tier": 5}', "x-portkey-metadata.tier must be a string"),
        ("[1, 2]", "x-portkey-metadata must be a JSON object"),
        ("not json", "x-portkey-metadata is not valid JSON"),
    ],
)
def test_bad_metadata_header_is_a_400(
    gateway: GatewayServer, fake: FakeUpstream, value: str, message: str
) -> None:
    c = client(gateway, conditional_config(fake, uid()), headers={"x-portkey-metadata": value})

    err = chat_error(c)

    assert err.status_code == 400
    assert err.response.json()["error"]["param"] == "x-portkey-metadata"
    assert err.response.json()["error"]["message"].startswith(message)


def test_conditional_with_an_unknown_operator_is_an_invalid_config(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    config = {
        "strategy": {
            "mode": "conditional",
            "conditions": [{"query": {"metadata.tier": {"$like": "pro"}}, "then": "a"}],
        },
        "targets": [target(fake, "gpt-4o", name="a")],
    }

    err = chat_error(client(gateway, config))

    assert err.status_code == 400
    assert "unknown operator '$like'" in err.response.json()["error"]["message"]


# -- nesting -------------------------------------------------------------------------------


def test_fallback_of_loadbalance_falls_back_when_the_pick_fails(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {
                "strategy": {"mode": "loadbalance"},
                "targets": [
                    target(fake, f"status-503+a+{tag}"),
                    target(fake, f"status-503+b+{tag}"),
                ],
            },
            target(fake, f"c-{tag}"),
        ],
    }

    raw = chat(client(gateway, config))

    assert content(raw) == f"Hello from c-{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    sent = sent_models(fake, tag)
    assert len(sent) == 2 and sent[0].startswith("status-503+") and sent[1] == f"c-{tag}"


def test_fallback_of_loadbalance_reports_the_nested_index(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {
                "strategy": {"mode": "loadbalance"},
                "targets": [target(fake, f"a-{tag}", weight=0), target(fake, f"b-{tag}")],
            },
            target(fake, f"c-{tag}"),
        ],
    }

    raw = chat(client(gateway, config))

    assert content(raw) == f"Hello from b-{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[0].targets[1]"


def test_loadbalance_of_fallbacks(gateway: GatewayServer, fake: FakeUpstream) -> None:
    tag = uid()
    config = {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {"weight": 0, "strategy": {"mode": "fallback"}, "targets": [target(fake, f"x-{tag}")]},
            {
                "weight": 1,
                "strategy": {"mode": "fallback"},
                "targets": [target(fake, f"status-502+{tag}"), target(fake, f"y-{tag}")],
            },
        ],
    }

    raw = chat(client(gateway, config))

    assert content(raw) == f"Hello from y-{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1].targets[1]"
    assert sent_models(fake, tag) == [f"status-502+{tag}", f"y-{tag}"]


def test_conditional_picks_a_nested_fallback(gateway: GatewayServer, fake: FakeUpstream) -> None:
    tag = uid()
    config = {
        "strategy": {
            "mode": "conditional",
            "conditions": [{"query": {"metadata.plan": "paid"}, "then": "paid"}],
            "default": "free",
        },
        "targets": [
            {
                "name": "paid",
                "strategy": {"mode": "fallback"},
                "targets": [target(fake, f"status-500+{tag}"), target(fake, f"paid-{tag}")],
            },
            target(fake, f"free-{tag}", name="free"),
        ],
    }
    c = client(gateway, config, headers={"x-portkey-metadata": '{"plan": "paid"}'})

    raw = chat(c)

    assert content(raw) == f"Hello from paid-{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[0].targets[1]"


def test_three_levels_of_nesting_report_the_full_path(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    inner = {
        "strategy": {"mode": "fallback"},
        "targets": [target(fake, f"status-503+{tag}"), target(fake, f"deep-{tag}")],
    }
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            target(fake, f"status-500+{tag}"),
            {"strategy": {"mode": "single"}, "targets": [inner, target(fake, f"never-{tag}")]},
        ],
    }

    raw = chat(client(gateway, config))

    assert content(raw) == f"Hello from deep-{tag}"
    assert (
        raw.headers["x-portkey-last-used-option-index"] == "config.targets[1].targets[0].targets[1]"
    )
    assert f"never-{tag}" not in sent_models(fake, tag)


# -- inheritance ---------------------------------------------------------------------------


def test_override_params_merge_key_by_key_and_the_child_wins(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    key = f"sk-{uid()}"
    config = {
        "provider": "openai",
        "custom_host": fake.base_url,
        "api_key": key,
        "override_params": {"temperature": 0.3, "max_tokens": 7, "model": "parent-model"},
        "strategy": {"mode": "fallback"},
        "targets": [
            {"override_params": {"model": "status-503", "max_tokens": 9}},
            {"override_params": {"model": "echo", "top_p": 0.5}},
        ],
    }

    raw = chat(client(gateway, config), model="client-model", temperature=1.0, seed=3)

    sent = [r.body for r in sent_with_key(fake, key)]
    assert sent == [
        {**_body("status-503"), "temperature": 0.3, "max_tokens": 9, "seed": 3},
        {**_body("echo"), "temperature": 0.3, "max_tokens": 7, "top_p": 0.5, "seed": 3},
    ]
    assert json.loads(content(raw))["body"] == sent[1]


def _body(model: str) -> dict[str, Any]:
    return {"model": model, "messages": MESSAGES}


def test_retry_is_inherited_and_a_child_retry_replaces_it(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "retry": {"attempts": 2},
        "strategy": {"mode": "fallback"},
        "targets": [
            target(fake, f"status-503+a+{tag}"),
            target(fake, f"status-503+b+{tag}", retry={"attempts": 0}),
        ],
    }

    err = chat_error(client(gateway, config))

    assert err.status_code == 503
    assert Counter(sent_models(fake, tag)) == {f"status-503+a+{tag}": 3, f"status-503+b+{tag}": 1}
    targets = [a["target"] for a in err.response.json()["error"]["attempts"]]
    assert targets == ["config.targets[0]"] * 3 + ["config.targets[1]"]


def test_request_timeout_is_inherited_and_a_child_timeout_wins(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    tag = uid()
    config = {
        "request_timeout": 150,
        "strategy": {"mode": "fallback"},
        "targets": [
            target(fake, f"delay-800+{tag}"),
            target(fake, f"delay-300+{tag}", request_timeout=3000),
        ],
    }
    c = client(gateway, config)

    started = time.perf_counter()
    raw = chat(c)
    elapsed = time.perf_counter() - started

    assert content(raw) == f"Hello from delay-300+{tag}"
    assert raw.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert 0.45 <= elapsed < 1.0  # 150 ms timeout + 300 ms answer, not 800 + 300 ms


def test_credentials_are_inherited_unless_the_child_names_its_own_provider(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    parent_key, client_key = f"sk-parent-{uid()}", f"sk-client-{uid()}"
    config = {
        "provider": "openai",
        "api_key": parent_key,
        "custom_host": fake.base_url,
        "strategy": {"mode": "fallback"},
        "targets": [
            {"override_params": {"model": "status-503"}},  # inherits the parent's credentials
            {"provider": "openai", "custom_host": fake.base_url},  # a fresh bundle
        ],
    }

    raw = chat(client(gateway, config, api_key=client_key), model="gpt-4o")

    assert content(raw) == "Hello from gpt-4o"
    assert [r.body["model"] for r in sent_with_key(fake, parent_key)] == ["status-503"]
    assert [r.body["model"] for r in sent_with_key(fake, client_key)] == ["gpt-4o"]
