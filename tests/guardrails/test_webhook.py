"""The webhook check against a real local receiver: pass, fail, timeout, errors, fail open/closed."""

from __future__ import annotations

import time

import pytest

from tests.guardrails.conftest import guard_config, hook, post
from tests.guardrails.servers import ReplyUpstream, WebhookReceiver
from tests.support import GatewayServer


def webhook_config(
    reply: ReplyUpstream, receiver: WebhookReceiver, **params: object
) -> dict[str, object]:
    check = hook(
        "default.webhook", webhookURL=receiver.url + "/hook", headers={"x-secret": "s3"}, **params
    )
    return guard_config(reply, inputs=[check])


def ask(
    gateway: GatewayServer, config: dict[str, object], reply: ReplyUpstream
) -> tuple[int, dict[str, object]]:
    response = post(
        gateway,
        config,
        {"model": reply.say("ok"), "messages": [{"role": "user", "content": "hello"}]},
    )
    body = response.json()
    return response.status_code, body["hook_results"]["before_request_hooks"][0]["checks"][0]


def test_receiver_passes_and_sees_the_request(
    gateway: GatewayServer, reply: ReplyUpstream, receiver: WebhookReceiver
) -> None:
    status, check = ask(gateway, webhook_config(reply, receiver), reply)
    assert status == 200 and check["verdict"] is True
    (posted,) = receiver.posts
    assert posted["headers"]["x-secret"] == "s3"
    assert posted["body"]["eventType"] == "beforeRequestHook"
    assert posted["body"]["request"]["messages"][0]["content"] == "hello"


def test_receiver_fails(
    gateway: GatewayServer, reply: ReplyUpstream, receiver: WebhookReceiver
) -> None:
    receiver.mode = "fail"
    status, check = ask(gateway, webhook_config(reply, receiver), reply)
    assert status == 446 and check["verdict"] is False
    assert check["data"]["data"] == {"reason": "receiver said fail"}


@pytest.mark.parametrize("mode", ["slow", "error", "garbage"])
@pytest.mark.parametrize("fail_closed", [False, True])
def test_broken_receiver_fails_open_or_closed(
    gateway: GatewayServer,
    reply: ReplyUpstream,
    receiver: WebhookReceiver,
    mode: str,
    fail_closed: bool,
) -> None:
    receiver.mode = mode
    started = time.monotonic()
    status, check = ask(
        gateway, webhook_config(reply, receiver, timeout=300, failOnError=fail_closed), reply
    )
    assert time.monotonic() - started < 3  # a slow webhook never hangs the request
    assert check["error"]
    assert status == (446 if fail_closed else 200)
    assert check["verdict"] is (not fail_closed)


def test_receiver_down(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    with WebhookReceiver() as gone:
        url = gone.url
    config = guard_config(
        reply, inputs=[hook("default.webhook", webhookURL=url + "/hook", failOnError=True)]
    )
    status, check = ask(gateway, config, reply)
    assert status == 446 and check["error"]


def test_output_webhook(
    gateway: GatewayServer, reply: ReplyUpstream, receiver: WebhookReceiver
) -> None:
    receiver.mode = "fail"
    config = guard_config(
        reply, outputs=[hook("default.webhook", webhookURL=receiver.url + "/hook")]
    )
    response = post(
        gateway,
        config,
        {"model": reply.say("the answer"), "messages": [{"role": "user", "content": "q"}]},
    )
    assert response.status_code == 446
    assert receiver.posts[0]["body"]["eventType"] == "afterRequestHook"
    assert receiver.posts[0]["body"]["text"] == "the answer"


def test_streamed_output_webhook(
    gateway: GatewayServer, reply: ReplyUpstream, receiver: WebhookReceiver
) -> None:
    import openai

    from tests.guardrails.conftest import guarded

    receiver.mode = "fail"
    check = hook("default.webhook", webhookURL=receiver.url + "/hook", failOnError=True)
    client = guarded(gateway, guard_config(reply, outputs=[check]))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model=reply.say("streamed answer"),
            messages=[{"role": "user", "content": "q"}],
            stream=True,
        ):
            pass
    assert receiver.posts[-1]["body"]["text"] == "streamed answer"
    assert receiver.posts[-1]["body"]["eventType"] == "afterRequestHook"
