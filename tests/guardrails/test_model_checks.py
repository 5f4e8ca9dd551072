"""Language, moderation (a provider's moderation API) and the LLM judge (through a gateway)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.guardrails.conftest import guard_config, hook, post
from tests.guardrails.servers import ReplyUpstream, WebhookReceiver
from tests.support import GatewayServer

FRENCH = "Bonjour à tous, je voudrais réserver une table pour deux personnes ce soir."
ENGLISH = "Hello everyone, I would like to book a table for two people tonight."


def status_and_check(
    gateway: GatewayServer,
    config: dict[str, Any],
    reply: ReplyUpstream,
    text: str,
    answer: str = "ok",
) -> tuple[int, dict[str, Any]]:
    response = post(
        gateway,
        config,
        {"model": reply.say(answer), "messages": [{"role": "user", "content": text}]},
    )
    results = response.json()["hook_results"]
    (result,) = results["before_request_hooks"] or results["after_request_hooks"]
    return response.status_code, result["checks"][0]


@pytest.mark.parametrize("side", ["inputs", "outputs"])
def test_language(gateway: GatewayServer, reply: ReplyUpstream, side: str) -> None:
    config = guard_config(reply, **{side: [hook("default.language", language=["en"])]})
    in_text = side == "inputs"
    status, check = status_and_check(gateway, config, reply, ENGLISH if in_text else "q", ENGLISH)
    assert status == 200 and check["data"]["detectedLanguage"] == "en"
    status, check = status_and_check(gateway, config, reply, FRENCH if in_text else "q", FRENCH)
    assert status == 446 and check["data"]["detectedLanguage"] == "fr"


def test_language_not_and_short_text(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    config = guard_config(
        reply, inputs=[hook("default.language", language=["fr"], **{"not": True})]
    )
    assert status_and_check(gateway, config, reply, FRENCH)[0] == 446
    assert status_and_check(gateway, config, reply, "oui")[0] == 200  # too short to tell


def moderation(reply: ReplyUpstream, url: str | None = None, **params: Any) -> dict[str, Any]:
    return hook("default.moderation", url=url or reply.url + "/v1", api_key="sk-mod", **params)


@pytest.mark.parametrize("side", ["inputs", "outputs"])
def test_moderation(gateway: GatewayServer, reply: ReplyUpstream, side: str) -> None:
    config = guard_config(reply, **{side: [moderation(reply)]})
    bad = "how do I build a bomb"
    status, check = status_and_check(gateway, config, reply, "hello", "hello")
    assert status == 200 and check["data"]["flagged"] is False
    status, check = status_and_check(gateway, config, reply, bad if side == "inputs" else "q", bad)
    assert status == 446
    assert check["data"] == {"flagged": True, "flaggedCategories": ["violence"]}
    assert reply.moderations[-1] == {"model": "omni-moderation-latest", "input": bad}


def test_moderation_categories_and_outage(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    only_hate = guard_config(reply, inputs=[moderation(reply, categories=["hate"])])
    assert status_and_check(gateway, only_hate, reply, "a bomb")[0] == 200  # violence not listed
    with WebhookReceiver() as gone:
        url = gone.url
    open_ = guard_config(reply, inputs=[moderation(reply, url=url, timeout=500)])
    status, check = status_and_check(gateway, open_, reply, "hi")
    assert status == 200 and check["error"]
    closed = guard_config(reply, inputs=[moderation(reply, url=url, failOnError=True)])
    assert status_and_check(gateway, closed, reply, "hi")[0] == 446


def judge(gateway: GatewayServer, reply: ReplyUpstream, says: str, **params: Any) -> dict[str, Any]:
    """A judge that asks the session gateway, which routes to the reply upstream."""
    route = {"provider": "openai", "api_key": "sk-judge", "custom_host": reply.url + "/v1"}
    return hook(
        "default.llmJudge",
        url=gateway.base_url,
        config=route,
        model=reply.say(says),
        policy="be polite",
        **params,
    )


def test_llm_judge_through_a_gateway(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    yes = guard_config(
        reply, inputs=[judge(gateway, reply, '{"verdict": true, "reason": "polite"}')]
    )
    status, check = status_and_check(gateway, yes, reply, "please help")
    assert status == 200 and check["data"]["reason"] == "polite"
    verdict = '```json\n{"verdict": false, "reason": "rude"}\n```'
    no = guard_config(reply, outputs=[judge(gateway, reply, verdict)])
    status, check = status_and_check(gateway, no, reply, "q", "you fool")
    assert status == 446 and check["data"]["reason"] == "rude"
    judged = no["output_guardrails"][0]["checks"][0]["parameters"]["model"]
    (asked,) = reply.bodies(judged)
    assert (
        asked["messages"][0]["role"] == "system" and "be polite" in asked["messages"][0]["content"]
    )
    assert asked["messages"][1] == {"role": "user", "content": "you fool"}


def test_llm_judge_that_cannot_answer(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    config = guard_config(reply, inputs=[judge(gateway, reply, "I think it is fine")])
    status, check = status_and_check(gateway, config, reply, "hi")
    assert status == 200 and "no JSON" in check["error"]
    config = guard_config(reply, inputs=[judge(gateway, reply, "no json", failOnError=True)])
    assert status_and_check(gateway, config, reply, "hi")[0] == 446


def leaf(reply: ReplyUpstream, says: str, **fields: Any) -> dict[str, Any]:
    return {"provider": "openai", "api_key": "sk-up", "custom_host": reply.url + "/v1",
            "override_params": {"model": reply.say(says)}, **fields}  # fmt: skip


NO_HECK = hook("default.contains", words=["heck"], operator="none")


@pytest.mark.parametrize("on_codes", [None, [446]])
def test_failed_output_falls_back_to_the_next_target(
    gateway: GatewayServer, reply: ReplyUpstream, on_codes: list[int] | None
) -> None:
    strategy: dict[str, Any] = {"mode": "fallback"}
    if on_codes:
        strategy["on_status_codes"] = on_codes
    config = {"strategy": strategy, "targets": [leaf(reply, "heck no", output_guardrails=[NO_HECK]),
                                               leaf(reply, "fine answer", output_guardrails=[NO_HECK])]}  # fmt: skip
    response = post(gateway, config, {"model": "x", "messages": [{"role": "user", "content": "q"}]})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "fine answer"
    assert response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"


def test_action_fallback_on_the_request(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    strict = {"id": "strict", "action": "fallback", "checks": NO_HECK["checks"]}
    config = {"strategy": {"mode": "fallback", "on_status_codes": [446]},
              "targets": [leaf(reply, "from A", input_guardrails=[strict]), leaf(reply, "from B")]}  # fmt: skip
    response = post(
        gateway, config, {"model": "x", "messages": [{"role": "user", "content": "heck"}]}
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from B"
    response = post(
        gateway, config, {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.json()["choices"][0]["message"]["content"] == "from A"


def test_every_target_refusing_answers_446(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    config = {"strategy": {"mode": "fallback"},
              "targets": [leaf(reply, "heck", output_guardrails=[NO_HECK]),
                          leaf(reply, "oh heck", output_guardrails=[NO_HECK])]}  # fmt: skip
    response = post(gateway, config, {"model": "x", "messages": [{"role": "user", "content": "q"}]})
    assert response.status_code == 446
    assert json.loads(response.text)["error"]["type"] == "hooks_failed"
