"""446 (block) and 246 (flag) bodies with ``hook_results`` in Portkey's shape; named guardrails."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from tests.guardrails.conftest import guard_config, guarded, hook, post
from tests.guardrails.servers import ReplyUpstream
from tests.support import GatewayServer

NO_HECK = {
    "checks": [{"id": "default.contains", "parameters": {"words": ["heck"], "operator": "none"}}]
}


def test_block_body_is_portkeys(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    config = guard_config(reply, inputs=[{"id": "no-heck", "deny": True, **NO_HECK}])
    response = post(
        gateway,
        config,
        {"model": reply.say("x"), "messages": [{"role": "user", "content": "heck"}]},
    )
    assert response.status_code == 446
    body = response.json()
    assert set(body) == {"error", "hook_results"}
    assert body["error"]["type"] == "hooks_failed"
    assert "hook_results" in body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code"}
    (result,) = body["hook_results"]["before_request_hooks"]
    assert {
        "id",
        "type",
        "verdict",
        "deny",
        "async",
        "checks",
        "execution_time",
        "created_at",
        "skipped",
    } <= set(result)
    assert (result["id"], result["type"], result["verdict"], result["deny"]) == (
        "no-heck",
        "guardrail",
        False,
        True,
    )
    (check,) = result["checks"]
    assert check["id"] == "default.contains" and check["verdict"] is False
    assert check["data"]["foundWords"] == ["heck"]
    assert check["execution_time"] >= 0 and check["created_at"].endswith("Z")
    assert response.headers["x-portkey-trace-id"]


def test_flag_passes_the_answer_with_results(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    config = guard_config(
        reply,
        inputs=[{"id": "in", "deny": False, **NO_HECK}],
        outputs=[{"id": "out", "deny": False, **NO_HECK}],
    )
    client = guarded(gateway, config)
    raw = client.chat.completions.with_raw_response.create(
        model=reply.say("oh heck yes"), messages=[{"role": "user", "content": "heck"}]
    )
    assert raw.status_code == 246
    answer = raw.parse()
    assert answer.choices[0].message.content == "oh heck yes"
    results = answer.model_extra["hook_results"]
    assert [(r["id"], r["verdict"], r["deny"]) for r in results["before_request_hooks"]] == [
        ("in", False, False)
    ]
    assert [(r["id"], r["verdict"]) for r in results["after_request_hooks"]] == [("out", False)]


def test_passing_hooks_answer_200(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    config = guard_config(reply, inputs=[{"id": "in", "deny": True, **NO_HECK}])
    raw = guarded(gateway, config).chat.completions.with_raw_response.create(
        model=reply.say("fine"), messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.status_code == 200
    assert raw.parse().model_extra["hook_results"]["before_request_hooks"][0]["verdict"] is True


def test_one_failing_check_fails_the_guardrail(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    both = {
        "id": "both",
        "deny": True,
        "checks": [
            {"id": "default.wordCount", "parameters": {"maxWords": 50}},
            {"id": "default.contains", "parameters": {"words": ["heck"], "operator": "none"}},
        ],
    }
    response = post(gateway, guard_config(reply, inputs=[both]),
                    {"model": reply.say("x"), "messages": [{"role": "user", "content": "heck"}]})  # fmt: skip
    assert response.status_code == 446
    checks = response.json()["hook_results"]["before_request_hooks"][0]["checks"]
    assert [(c["id"], c["verdict"]) for c in checks] == [
        ("default.wordCount", True),
        ("default.contains", False),
    ]


def test_named_guardrails_from_the_file_and_the_shorthand(
    make_gateway: Callable[[str], GatewayServer], reply: ReplyUpstream
) -> None:
    server = make_gateway(f"""
guardrails:
  no-heck:
    deny: true
    checks: [{{id: default.contains, parameters: {{words: [heck], operator: none}}}}]
  short:
    default.wordCount: {{maxWords: 3}}
configs:
  guarded:
    provider: openai
    api_key: sk-up
    custom_host: '{reply.url}/v1'
    input_guardrails: [no-heck]
    output_guardrails: [short]
default_config: guarded
""")
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.APIStatusError) as denied:
        client.chat.completions.create(
            model=reply.say("x"), messages=[{"role": "user", "content": "heck"}]
        )
    assert denied.value.status_code == 446
    assert (
        denied.value.response.json()["hook_results"]["before_request_hooks"][0]["id"] == "no-heck"
    )
    raw = client.chat.completions.with_raw_response.create(
        model=reply.say("far more than three words here"),
        messages=[{"role": "user", "content": "ok"}],
    )
    assert raw.status_code == 246  # 'short' has no deny: flagged
    (after,) = raw.parse().model_extra["hook_results"]["after_request_hooks"]
    assert after["id"] == "short" and after["checks"][0]["data"]["count"] == 6


def test_guardrails_inherited_down_the_strategy_tree(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    leaf = {"provider": "openai", "api_key": "sk-up", "custom_host": reply.url + "/v1"}
    config = {
        "strategy": {"mode": "fallback"},
        "input_guardrails": [{"id": "top", "deny": True, **NO_HECK}],
        "targets": [leaf],
    }
    response = post(
        gateway,
        config,
        {"model": reply.say("x"), "messages": [{"role": "user", "content": "heck"}]},
    )
    assert response.status_code == 446
    assert response.json()["hook_results"]["before_request_hooks"][0]["id"] == "top"


def test_portkey_hook_field_names(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    config = guard_config(
        reply, before_request_hooks=[hook("default.contains", words=["heck"], operator="none")]
    )
    response = post(
        gateway,
        config,
        {"model": reply.say("x"), "messages": [{"role": "user", "content": "heck"}]},
    )
    assert response.status_code == 446
    config = guard_config(
        reply, after_request_hooks=[hook("default.contains", words=["heck"], operator="none")]
    )
    response = post(
        gateway,
        config,
        {"model": reply.say("heck"), "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 446
    assert response.json()["hook_results"]["after_request_hooks"][0]["verdict"] is False


def test_summary_for_logs_and_metrics() -> None:
    import asyncio
    import time

    from portkey.gateway.ingress import Call
    from portkey.guardrails.runner import GuardState, check_request
    from portkey.guardrails.spec import Guard, parse_hook
    from portkey.providers.base import CHAT

    hooks = (parse_hook({"id": "a", "deny": False, **NO_HECK}, "a"),
             parse_hook({"id": "m", "action": "mask", "checks": [{"id": "default.pii"}]}, "m"))  # fmt: skip
    call = Call(CHAT, "/v1/chat/completions", {}, time.perf_counter())
    call.body = {"messages": [{"role": "user", "content": "heck, mail ada@example.org"}]}
    asyncio.run(check_request(Guard(before=hooks, after=()), call, None))
    state: GuardState = call.guard
    summary = state.summary()
    assert summary["checks_run"] == {"default.contains": 1, "default.pii": 1}
    assert summary["checks_failed"] == {"default.contains": 1}
    assert summary["flagged"] is True and summary["transformed"] is True
    assert summary["latency_ms"] >= 0
    assert b"ada@example.org" not in call.raw  # what gets logged is the masked request


def test_a_check_that_breaks_fails_closed_with_its_error(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    # a valid schema whose remote $ref cannot be resolved (nothing is fetched at run time)
    schema = {"type": "object", "properties": {"a": {"$ref": "https://example.invalid/s.json"}}}
    config = guard_config(reply, outputs=[hook("default.jsonSchema", schema=schema)])
    response = post(
        gateway,
        config,
        {"model": reply.say('{"a": "ab"}'), "messages": [{"role": "user", "content": "q"}]},
    )
    assert response.status_code == 446
    check = response.json()["hook_results"]["after_request_hooks"][0]["checks"][0]
    assert check["verdict"] is False and check["error"]


def test_async_hooks_report_but_never_deny(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    quiet = {"id": "quiet", "deny": True, "async": True, **NO_HECK}
    config = guard_config(reply, inputs=[quiet], outputs=[quiet])
    response = post(
        gateway,
        config,
        {"model": reply.say("oh heck"), "messages": [{"role": "user", "content": "heck"}]},
    )
    assert response.status_code == 200
    results = response.json()["hook_results"]
    for side in ("before_request_hooks", "after_request_hooks"):
        (result,) = results[side]
        assert (result["async"], result["verdict"], result["deny"]) == (True, False, False)
    masking = {"id": "m", "async": True, "action": "mask", "checks": [{"id": "default.pii"}]}
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    rejected = post(gateway, guard_config(reply, inputs=[masking]), body)
    assert rejected.status_code == 400 and "cannot mask" in rejected.json()["error"]["message"]
