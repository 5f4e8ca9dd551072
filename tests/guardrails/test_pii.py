"""PII and secrets: detection, masking in the request, de-masking of the answer."""

from __future__ import annotations

import uuid

from tests.fakes import FakeUpstream
from tests.guardrails.conftest import guard_config, guarded, hook, post
from tests.guardrails.servers import ReplyUpstream
from tests.support import GatewayServer

TEXT = "Mail ada@example.org, call +1 415-555-2671, card 4111 1111 1111 1111, from 10.2.3.4"


def mask(restore: bool) -> dict[str, object]:
    return {"id": "pii", "action": "mask", "restore": restore, "checks": [{"id": "default.pii"}]}


def test_mask_in_request_and_restore_in_answer(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    model = reply.say(None)  # the upstream echoes what it received
    client = guarded(gateway, guard_config(reply, inputs=[mask(restore=True)]))
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": TEXT}]
    )
    (sent,) = reply.bodies(model)
    upstream_saw = sent["messages"][0]["content"]
    for secret in ("ada@example.org", "415-555-2671", "4111 1111 1111 1111", "10.2.3.4"):
        assert secret not in upstream_saw
    assert "[EMAIL_1]" in upstream_saw and "[CREDIT_CARD_1]" in upstream_saw
    assert "[PHONE_1]" in upstream_saw and "[IP_ADDRESS_1]" in upstream_saw
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content == TEXT  # de-masked for the caller
    result = raw.parse().model_extra["hook_results"]["before_request_hooks"][0]
    assert result["transformed"] is True and result["verdict"] is True


def test_mask_without_restore_keeps_placeholders(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    model = reply.say(None)
    client = guarded(gateway, guard_config(reply, inputs=[mask(restore=False)]))
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "I am ada@example.org"}]
    )
    assert answer.choices[0].message.content == "I am [EMAIL_1]"


def test_same_value_same_placeholder_across_messages(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    model = reply.say(None)
    client = guarded(gateway, guard_config(reply, inputs=[mask(restore=True)]))
    client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "user is ada@example.org"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "mail ada@example.org and bo@example.org"}],
            },
        ],
    )
    (sent,) = reply.bodies(model)
    assert sent["messages"][0]["content"] == "user is [EMAIL_1]"
    assert sent["messages"][1]["content"][0]["text"] == "mail [EMAIL_1] and [EMAIL_2]"


def test_output_masking(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    client = guarded(gateway, guard_config(reply, outputs=[mask(restore=False)]))
    answer = client.chat.completions.create(
        model=reply.say("The SSN is 123-45-6789."), messages=[{"role": "user", "content": "x"}]
    )
    assert answer.choices[0].message.content == "The SSN is [SSN_1]."


def test_pasted_provider_key_is_never_forwarded(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    model = reply.say("ok")
    key = "sk-ant-api03-" + "A" * 40
    config = guard_config(reply, inputs=[hook("default.secrets")])
    response = post(
        gateway,
        config,
        {"model": model, "messages": [{"role": "user", "content": f"my key {key}"}]},
    )
    assert response.status_code == 446
    assert key not in response.text  # the results never repeat the secret
    assert response.json()["hook_results"]["before_request_hooks"][0]["checks"][0]["data"] == {
        "secretsFound": 1
    }
    assert reply.bodies(model) == []


def test_secrets_redacted_instead(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    model = reply.say(None)
    config = guard_config(
        reply, inputs=[{"id": "s", "action": "mask", "checks": [{"id": "default.secrets"}]}]
    )
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    guarded(gateway, config).chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"aws {key}"}]
    )
    assert reply.bodies(model)[0]["messages"][0]["content"] == "aws [SECRET_1]"


def test_embeddings_and_completions_inputs_are_masked(
    gateway: GatewayServer, reply: ReplyUpstream, fake: FakeUpstream
) -> None:
    config = {"provider": "openai", "api_key": "sk-up", "custom_host": fake.base_url,
              "input_guardrails": [mask(restore=False)]}  # fmt: skip
    marker = uuid.uuid4().hex
    guarded(gateway, config).embeddings.create(
        model="text-embedding-3-small", input=[f"{marker} ada@example.org", "no pii"]
    )
    (sent,) = [r for r in fake.requests if marker in r.raw.decode()]
    assert sent.body["input"] == [f"{marker} [EMAIL_1]", "no pii"]
    model = reply.say(None)
    client = guarded(gateway, guard_config(reply, inputs=[mask(restore=True)]))
    answer = client.completions.create(model=model, prompt="call 415-555-2671 now")
    assert reply.bodies(model)[0]["prompt"] == "call [PHONE_1] now"
    assert answer.choices[0].text == "call 415-555-2671 now"
