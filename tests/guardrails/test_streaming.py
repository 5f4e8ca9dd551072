"""Output guardrails on streamed answers: stopped mid-stream, flagged, masked, de-masked."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.guardrails.conftest import guard_config, guarded, hook
from tests.guardrails.servers import ReplyUpstream
from tests.support import GatewayServer

LONG = "one two three four five six seven FORBIDDEN eight nine ten eleven twelve"


def stream(client: openai.OpenAI, model: str, text: str = "hi") -> tuple[list[str], list[Any]]:
    """The content pieces and the chunks that carried no choices (the hook_results chunk)."""
    pieces: list[str] = []
    extra: list[Any] = []
    for chunk in client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], stream=True
    ):
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        else:
            extra.append(chunk)
    return pieces, extra


def test_violation_mid_stream_stops_it_with_an_error_event(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    config = guard_config(
        reply, outputs=[hook("default.contains", words=["forbidden"], operator="none")]
    )
    client = guarded(gateway, config)
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as stopped:
        for chunk in client.chat.completions.create(
            model=reply.say(LONG, gap_s=0.02),
            messages=[{"role": "user", "content": "q"}],
            stream=True,
        ):
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
    text = "".join(pieces)
    assert text.startswith("one two three")
    assert "FORBIDDEN" not in text and "eight" not in text  # nothing from the violation on
    assert "guardrail" in str(stopped.value)
    body = stopped.value.body
    assert isinstance(body, dict)
    # the same verdict the non-streaming call gives
    with pytest.raises(openai.APIStatusError) as denied:
        client.chat.completions.create(
            model=reply.say(LONG), messages=[{"role": "user", "content": "q"}]
        )
    assert denied.value.status_code == 446


def test_whole_text_checks_judge_before_done(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    # 'must contain' can only fail on the whole answer: it stops the stream before [DONE]
    config = guard_config(
        reply, outputs=[hook("default.contains", words=["please"], operator="any")]
    )
    with pytest.raises(openai.APIError):
        stream(guarded(gateway, config), reply.say("no polite word here"))
    pieces, extra = stream(guarded(gateway, config), reply.say("yes please"))
    assert "".join(pieces) == "yes please"
    (results,) = extra
    after = results.model_extra["hook_results"]["after_request_hooks"]
    assert [(r["verdict"], r["deny"]) for r in after] == [(True, True)]


def test_flagging_hook_on_a_stream_reports_results(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    config = guard_config(reply, outputs=[hook("default.wordCount", deny=False, maxWords=3)])
    pieces, extra = stream(guarded(gateway, config), reply.say("a b c d e f"))
    assert "".join(pieces) == "a b c d e f"  # flagged, not stopped
    (results,) = extra
    (after,) = results.model_extra["hook_results"]["after_request_hooks"]
    assert after["verdict"] is False and after["checks"][0]["data"]["count"] == 6


def test_streamed_answer_is_de_masked(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    text = "write to ada@example.org or bo@example.org today"
    model = reply.say(None, gap_s=0.005)  # echoes the (masked) user text word by word
    mask = {"id": "pii", "action": "mask", "restore": True, "checks": [{"id": "default.pii"}]}
    pieces, _ = stream(guarded(gateway, guard_config(reply, inputs=[mask])), model, text)
    assert (
        reply.bodies(model)[0]["messages"][0]["content"] == "write to [EMAIL_1] or [EMAIL_2] today"
    )
    assert "".join(pieces) == text


def test_split_placeholder_is_de_masked(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    # the upstream splits on spaces; "[EMAIL_1]x" style tokens split by a tokenizer still restore
    model = reply.say("mail [EMAIL _1] now")  # not a placeholder: stays as it is
    mask = {"id": "pii", "action": "mask", "restore": True, "checks": [{"id": "default.pii"}]}
    pieces, _ = stream(
        guarded(gateway, guard_config(reply, inputs=[mask])), model, "ada@example.org"
    )
    assert "".join(pieces) == "mail [EMAIL _1] now"


def test_pii_in_streamed_answer_is_masked(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    mask = {"id": "pii", "action": "mask", "checks": [{"id": "default.pii"}]}
    text = "Call me at +1 415 555 2671 or mail ada@example.org, card 4111 1111 1111 1111 thanks"
    pieces, extra = stream(
        guarded(gateway, guard_config(reply, outputs=[mask])), reply.say(text, gap_s=0.002)
    )
    joined = "".join(pieces)
    assert "415" not in joined and "ada@" not in joined and "4111" not in joined
    assert joined == "Call me at [PHONE_1] or mail [EMAIL_1], card [CREDIT_CARD_1] thanks"
    after = extra[0].model_extra["hook_results"]["after_request_hooks"]
    assert after[0]["transformed"] is True
    # the non-streaming call gives the same text
    answer = guarded(gateway, guard_config(reply, outputs=[mask])).chat.completions.create(
        model=reply.say(text), messages=[{"role": "user", "content": "q"}]
    )
    assert answer.choices[0].message.content == joined


def test_completions_stream_is_guarded(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    config = guard_config(
        reply, outputs=[hook("default.contains", words=["forbidden"], operator="none")]
    )
    client = guarded(gateway, config)
    with pytest.raises(openai.APIError):
        for _ in client.completions.create(
            model=reply.say(LONG, gap_s=0.01), prompt="q", stream=True
        ):
            pass


def test_pii_split_across_chunks_is_masked_once(
    gateway: GatewayServer, reply: ReplyUpstream
) -> None:
    # a tokenizer may cut an address (or a phone, a key) anywhere: 3 characters per chunk
    mask = {
        "id": "pii",
        "action": "mask",
        "checks": [{"id": "default.pii"}, {"id": "default.secrets"}],
    }
    key = "sk-proj-" + "k" * 60
    text = "x " * 30 + "ada@example.org y, +1 415 555 2671, " + key + " z" * 30
    model = reply.say(text, size=3)
    pieces, _ = stream(guarded(gateway, guard_config(reply, outputs=[mask])), model)
    assert len(pieces) > 40
    joined = "".join(pieces)
    expected = text.replace("ada@example.org", "[EMAIL_1]").replace("+1 415 555 2671", "[PHONE_1]")
    assert joined == expected.replace(key, "[SECRET_1]")


def test_split_placeholders_restore(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    text = "mail ada@example.org and bo@example.org then ada@example.org"
    model = reply.say(None, size=2)
    mask = {"id": "pii", "action": "mask", "restore": True, "checks": [{"id": "default.pii"}]}
    pieces, _ = stream(guarded(gateway, guard_config(reply, inputs=[mask])), model, text)
    assert "".join(pieces) == text


def test_request_hook_results_reach_a_stream(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    config = guard_config(reply, inputs=[hook("default.wordCount", deny=False, maxWords=1)])
    client = guarded(gateway, config)
    raw = client.chat.completions.with_raw_response.create(
        model=reply.say("x y"), messages=[{"role": "user", "content": "two words"}], stream=True
    )
    assert raw.status_code == 246  # flagged on the request: the stream's status says so
    extra = [c for c in raw.parse() if not c.choices]
    (before,) = extra[0].model_extra["hook_results"]["before_request_hooks"]
    assert before["verdict"] is False


@pytest.mark.parametrize("size", [1, 2, 5])
def test_masking_holds_back_only_what_may_grow(
    gateway: GatewayServer, reply: ReplyUpstream, size: int
) -> None:
    mask = {"id": "pii", "action": "mask", "checks": [{"id": "default.pii"}]}
    text = ("plain words first, then call +44 20 7946 0018 or pay FR14 2004 1010 0505 0001 3M02 606 "
            "and mail ops@example.co.uk; card 5555 5555 5555 4444. bye")  # fmt: skip
    pieces, _ = stream(
        guarded(gateway, guard_config(reply, outputs=[mask])), reply.say(text, size=size)
    )
    assert "".join(pieces) == (
        "plain words first, then call [PHONE_1] or pay [IBAN_1] and mail [EMAIL_1]; card [CREDIT_CARD_1]. bye"
    )
    # plain words go out as they come: the first content chunk is not held for 48 characters
    assert 0 < len(next(p for p in pieces if p)) <= 8


def test_anthropic_messages_are_guarded_too(gateway: GatewayServer, reply: ReplyUpstream) -> None:
    import json

    import anthropic

    def client(config: dict[str, Any]) -> anthropic.Anthropic:
        headers = {"x-portkey-config": json.dumps(config)}
        return anthropic.Anthropic(
            base_url=gateway.url, api_key="x", default_headers=headers, max_retries=0
        )

    words = client(
        guard_config(
            reply, outputs=[hook("default.contains", words=["forbidden"], operator="none")]
        )
    )
    with pytest.raises(anthropic.APIStatusError) as denied:
        words.messages.create(model=reply.say("a forbidden thing"), max_tokens=10,
                              messages=[{"role": "user", "content": "q"}])  # fmt: skip
    assert denied.value.status_code == 446
    seen: list[str] = []
    stream_ = words.messages.stream(
        model=reply.say(LONG, gap_s=0.01),
        max_tokens=10,
        messages=[{"role": "user", "content": "q"}],
    )
    with pytest.raises(anthropic.APIStatusError), stream_ as events:
        for text in events.text_stream:
            seen.append(text)
    assert "".join(seen).startswith("one two") and "FORBIDDEN" not in "".join(seen)
    mask = {"id": "pii", "action": "mask", "restore": True, "checks": [{"id": "default.pii"}]}
    model = reply.say(None, size=3)
    with client(guard_config(reply, inputs=[mask])).messages.stream(
        model=model,
        max_tokens=10,
        messages=[{"role": "user", "content": "mail ada@example.org ok"}],
    ) as events:
        assert "".join(events.text_stream) == "mail ada@example.org ok"
    assert reply.bodies(model)[0]["messages"][0]["content"] == "mail [EMAIL_1] ok"
