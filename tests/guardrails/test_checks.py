"""Each check passes and fails, on the request (input) and on the answer (output), via the SDK."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.guardrails.conftest import guard_config, guarded, hook
from tests.guardrails.servers import ReplyUpstream
from tests.support import GatewayServer

SCHEMA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
WEBHOOKLESS_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (check id, parameters, a text that passes, a text that fails)
    ("default.regexMatch", {"rule": r"order #\d+"}, "about order #42", "about my order"),
    ("default.regexMatch", {"rule": r"\bDROP TABLE\b", "not": True}, "select 1", "DROP TABLE x"),
    ("default.contains", {"words": ["please"], "operator": "any"}, "yes please", "give it"),
    ("default.contains", {"words": ["darn", "heck"], "operator": "none"}, "fine", "oh heck no"),
    ("default.contains", {"words": ["a1", "b2"], "operator": "all"}, "a1 and b2", "only a1"),
    ("default.wordCount", {"minWords": 2, "maxWords": 4}, "three small words", "one"),
    ("default.characterCount", {"maxCharacters": 10}, "short", "far too long a text"),
    ("default.sentenceCount", {"maxSentences": 1}, "One sentence.", "One. Two. Three."),
    ("default.tokenCount", {"maxTokens": 3}, "tiny", "this is clearly more than three tokens"),
    ("default.containsCode", {}, "```python\nprint(1)\n```", "just prose here"),
    ("default.containsCode", {"not": True}, "just prose", "def f():\n    return 1"),
    ("default.validJson", {}, '{"a": 1}', "{not json"),
    ("default.jsonKeys", {"keys": ["name", "age"]}, '{"name": "x", "age": 3}', '{"name": "x"}'),
    ("default.jsonSchema", {"schema": SCHEMA}, '{"name": "Ada"}', '{"name": 7}'),
    (
        "default.validUrls",
        {"allowed_domains": ["example.com"]},
        "see https://docs.example.com/a",
        "see https://evil.test/x",
    ),
    ("default.validUrls", {"denied_domains": ["evil.test"]}, "https://ok.org", "http://evil.test"),
    ("default.pii", {}, "nothing personal here", "write to ada@example.org"),
    (
        "default.pii",
        {"categories": ["CREDIT_CARD"]},
        "card 4111 1111 1111 1112",
        "4111 1111 1111 1111",
    ),
    ("default.secrets", {}, "my key is in the vault", "use sk-proj-abcdefghijklmnopqrstuvwx123"),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(WEBHOOKLESS_CASES)]


def ask(client: openai.OpenAI, model: str, text: str) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )


@pytest.mark.parametrize(("check_id", "params", "good", "bad"), WEBHOOKLESS_CASES, ids=IDS)
def test_input_check(
    gateway: GatewayServer,
    reply: ReplyUpstream,
    check_id: str,
    params: dict[str, Any],
    good: str,
    bad: str,
) -> None:
    client = guarded(gateway, guard_config(reply, inputs=[hook(check_id, **params)]))
    model = reply.say("fine answer")
    ok = ask(client, model, good)
    assert ok.status_code == 200
    results = ok.parse().model_extra["hook_results"]["before_request_hooks"]
    assert [r["verdict"] for r in results] == [True]
    with pytest.raises(openai.APIStatusError) as denied:
        ask(client, model, bad)
    assert denied.value.status_code == 446
    body = denied.value.response.json()
    assert body["error"]["type"] == "hooks_failed"
    (result,) = body["hook_results"]["before_request_hooks"]
    assert result["verdict"] is False and result["checks"][0]["id"] == check_id
    assert body["hook_results"]["after_request_hooks"] == []
    # a denied request never reaches the upstream: only the passing one did
    assert len(reply.bodies(model)) == 1


@pytest.mark.parametrize(("check_id", "params", "good", "bad"), WEBHOOKLESS_CASES, ids=IDS)
def test_output_check(
    gateway: GatewayServer,
    reply: ReplyUpstream,
    check_id: str,
    params: dict[str, Any],
    good: str,
    bad: str,
) -> None:
    client = guarded(gateway, guard_config(reply, outputs=[hook(check_id, **params)]))
    ok = ask(client, reply.say(good), "hi")
    assert ok.status_code == 200
    assert ok.parse().choices[0].message.content == good
    results = ok.parse().model_extra["hook_results"]["after_request_hooks"]
    assert [r["verdict"] for r in results] == [True]
    with pytest.raises(openai.APIStatusError) as denied:
        ask(client, reply.say(bad), "hi")
    assert denied.value.status_code == 446
    body = denied.value.response.json()
    assert "choices" not in body  # the refused answer is not handed out
    (result,) = body["hook_results"]["after_request_hooks"]
    assert result["verdict"] is False and result["checks"][0]["id"] == check_id
