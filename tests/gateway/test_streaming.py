"""Streaming through the real gateway: passthrough, failover before the first byte, honest
errors after it, client disconnects, the usage chunk, and headers ahead of the first token.

Clients are the official openai SDK (sync and async, retries off) and, where bytes or timing
matter, aiohttp. Model strings script the fake upstream (see portkey.devtools._fake_scripts);
each test tags its models with a unique token because the session's fake is shared.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fakes import FakeUpstream, RecordedRequest
from tests.support import GatewayServer

MESSAGES = [{"role": "user", "content": "hi"}]  # 2 chars -> 1 prompt token at the fake
CHAT_PATH = "/chat/completions"
DONE = b"data: [DONE]\n\n"


def tag() -> str:
    return "t" + uuid.uuid4().hex[:10]


def provider_headers(host: str) -> dict[str, str]:
    return {"x-portkey-provider": "openai", "x-portkey-custom-host": host}


def fallback(fake: FakeUpstream, *models: str, **fields: Any) -> dict[str, str]:
    """x-portkey-config header: a fallback over targets on the fake, one model script each."""
    targets = [
        {"provider": "openai", "custom_host": fake.base_url, "override_params": {"model": m}}
        for m in models
    ]
    config = {"strategy": {"mode": "fallback"}, "targets": targets, **fields}
    return {"x-portkey-config": json.dumps(config)}


def sdk(gateway: GatewayServer, headers: dict[str, str]) -> OpenAI:
    return OpenAI(
        base_url=gateway.base_url,
        api_key="sk-stream",
        max_retries=0,
        timeout=10.0,
        default_headers=headers,
    )


def async_sdk(gateway: GatewayServer, headers: dict[str, str]) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=gateway.base_url,
        api_key="sk-stream",
        max_retries=0,
        timeout=10.0,
        default_headers=headers,
    )


def sent(fake: FakeUpstream, marker: str) -> list[RecordedRequest]:
    """Requests the fake received whose model string holds `marker`, oldest first."""
    return [
        r
        for r in fake.requests
        if isinstance(r.body, dict) and marker in str(r.body.get("model", ""))
    ]


async def post_raw(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    all_headers = {"authorization": "Bearer sk-stream", **(headers or {})}
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(url, json=body, headers=all_headers) as resp,
    ):
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read()


def events(raw: bytes) -> list[bytes]:
    """The data payloads of an SSE body (comments and blank lines dropped)."""
    out = []
    for event in raw.split(b"\n\n"):
        for line in event.split(b"\n"):
            if line.startswith(b"data: "):
                out.append(line[6:])
    return out


def normalize(raw: bytes) -> bytes:
    """Blank out what differs between two upstream calls (object id, creation time)."""
    raw = re.sub(rb'"id":"(chatcmpl|cmpl)-[0-9a-f]+"', rb'"id":"ID"', raw)
    return re.sub(rb'"created":\d+', rb'"created":0', raw)


def chunk_models(raw: bytes) -> set[str]:
    return {orjson.loads(e)["model"] for e in events(raw) if e != b"[DONE]"}


def deltas(chunks: list[Any]) -> list[str | None]:
    return [c.choices[0].delta.content for c in chunks if c.choices]


# -- passthrough ------------------------------------------------------------------------------


def test_normal_stream_reaches_the_sync_sdk_whole(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    model = f"{tag()}+chunks-4"
    stream = sdk(gateway, provider_headers(fake.base_url)).chat.completions.create(
        model=model, messages=MESSAGES, stream=True
    )
    chunks = list(stream)
    assert stream.response.status_code == 200
    assert stream.response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.response.headers["x-portkey-provider"] == "openai"
    assert stream.response.headers["x-portkey-last-used-option-index"] == "config"
    assert deltas(chunks) == ["", "tok0 ", "tok1 ", "tok2 ", "tok3 ", None]
    assert [c.choices[0].finish_reason for c in chunks] == [None] * 5 + ["stop"]
    assert {c.model for c in chunks} == {model}
    assert all(c.usage is None for c in chunks)


async def test_normal_stream_reaches_the_async_sdk_whole(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    model = f"{tag()}+chunks-2"
    client = async_sdk(gateway, provider_headers(fake.base_url))
    stream = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert deltas(chunks) == ["", "tok0 ", "tok1 ", None]
    assert chunks[-1].choices[0].finish_reason == "stop"
    await client.close()


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream_bytes_identical_to_upstream(
    gateway: GatewayServer, fake: FakeUpstream, include_usage: bool
) -> None:
    model = f"{tag()}+chunks-3"
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    status, headers, through = await post_raw(
        gateway.base_url + CHAT_PATH, body, provider_headers(fake.base_url)
    )
    direct_status, _, direct = await post_raw(fake.base_url + CHAT_PATH, body)
    assert (status, direct_status) == (200, 200)
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert through.endswith(DONE) and through.count(b"[DONE]") == 1
    assert normalize(through) == normalize(direct)
    n_events = 7 if include_usage else 6  # role, 3 tokens, finish, [usage], [DONE]
    assert len(events(through)) == n_events


# -- failover before the first byte ----------------------------------------------------------

FAILS_BEFORE_FIRST_BYTE = [
    "status-503",
    "status-500",
    "error-first",
    "empty",
    "done-only",
    "ttft-2000",
    "error-200",
]


@pytest.mark.parametrize("first", FAILS_BEFORE_FIRST_BYTE)
async def test_failover_before_first_byte_raw(
    gateway: GatewayServer, fake: FakeUpstream, first: str
) -> None:
    t = tag()
    headers = fallback(fake, f"{t}-a+{first}", f"{t}-b+chunks-2", first_token_timeout=300)
    body = {"messages": MESSAGES, "stream": True}
    started = time.monotonic()
    status, got, raw = await post_raw(gateway.base_url + CHAT_PATH, body, headers)
    assert time.monotonic() - started < 1.5
    assert status == 200
    assert got["content-type"] == "text/event-stream; charset=utf-8"
    assert got["x-portkey-provider"] == "openai"
    assert got["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert got["x-portkey-retry-attempt-count"] == "0"
    # nothing of the first target reached the client: not a byte, not even a comment
    assert raw.startswith(b"data: {")
    assert b": portkey" not in raw
    assert b"error" not in raw
    assert chunk_models(raw) == {f"{t}-b+chunks-2"}
    assert raw.endswith(DONE)
    assert [r.body["model"] for r in sent(fake, t)] == [f"{t}-a+{first}", f"{t}-b+chunks-2"]


@pytest.mark.parametrize("first", FAILS_BEFORE_FIRST_BYTE)
def test_failover_before_first_byte_sdk(
    gateway: GatewayServer, fake: FakeUpstream, first: str
) -> None:
    t = tag()
    headers = fallback(fake, f"{t}-a+{first}", f"{t}-b+chunks-3", first_token_timeout=300)
    stream = sdk(gateway, headers).chat.completions.create(
        model="ignored", messages=MESSAGES, stream=True
    )
    chunks = list(stream)
    assert deltas(chunks) == ["", "tok0 ", "tok1 ", "tok2 ", None]
    assert {c.model for c in chunks} == {f"{t}-b+chunks-3"}
    assert stream.response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"


async def test_every_target_failing_before_first_byte_is_a_plain_http_error(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    headers = fallback(fake, f"{t}-a+status-503", f"{t}-b+status-502")
    status, got, raw = await post_raw(
        gateway.base_url + CHAT_PATH, {"messages": MESSAGES, "stream": True}, headers
    )
    assert status == 502
    assert got["content-type"] == "application/json"
    error = orjson.loads(raw)["error"]
    assert error["type"] == "all_targets_failed"
    assert [(a["target"], a["status"]) for a in error["attempts"]] == [
        ("config.targets[0]", 503),
        ("config.targets[1]", 502),
    ]


# -- honest errors after the first byte -------------------------------------------------------


def test_mid_stream_cut_raises_in_the_sync_sdk(gateway: GatewayServer, fake: FakeUpstream) -> None:
    client = sdk(gateway, provider_headers(fake.base_url))
    got: list[Any] = []
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(
            model=f"{tag()}+cut-2", messages=MESSAGES, stream=True
        ):
            got.append(chunk)
    assert time.monotonic() - started < 2.0
    assert deltas(got) == ["", "tok0 ", "tok1 "]
    assert caught.value.body == {
        "message": "upstream closed the response before it was complete",
        "type": "upstream_bad_response",
        "param": None,
        "code": "upstream_bad_response",
    }


async def test_mid_stream_cut_ends_with_an_error_event_and_no_done(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    body = {"model": f"{tag()}+cut-3", "messages": MESSAGES, "stream": True}
    status, _, raw = await post_raw(
        gateway.base_url + CHAT_PATH, body, provider_headers(fake.base_url)
    )
    assert status == 200
    assert b"[DONE]" not in raw
    data = events(raw)
    assert len(data) == 5  # role, tok0..tok2, then the error
    assert orjson.loads(data[-1])["error"]["type"] == "upstream_bad_response"
    assert raw.endswith(b"}}\n\n")


async def test_idle_stall_raises_in_the_async_sdk(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    config = {
        "provider": "openai",
        "custom_host": fake.base_url,
        "stream_idle_timeout": 200,
    }
    client = async_sdk(gateway, {"x-portkey-config": json.dumps(config)})
    got: list[Any] = []
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        stream = await client.chat.completions.create(
            model=f"{t}+stall-2", messages=MESSAGES, stream=True
        )
        async for chunk in stream:
            got.append(chunk)
    elapsed = time.monotonic() - started
    assert 0.15 < elapsed < 1.5
    assert deltas(got) == ["", "tok0 ", "tok1 "]
    assert caught.value.body == {
        "message": "upstream stream was idle too long (stream_idle_timeout)",
        "type": "upstream_timeout",
        "param": None,
        "code": "upstream_timeout",
    }
    await client.close()


async def test_idle_stall_ends_with_an_error_event_and_no_done(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    config = {"provider": "openai", "custom_host": fake.base_url, "stream_idle_timeout": 150}
    body = {"model": f"{tag()}+stall-1", "messages": MESSAGES, "stream": True}
    started = time.monotonic()
    status, _, raw = await post_raw(
        gateway.base_url + CHAT_PATH, body, {"x-portkey-config": json.dumps(config)}
    )
    assert time.monotonic() - started < 1.5
    assert status == 200
    assert b"[DONE]" not in raw
    data = events(raw)
    assert len(data) == 3  # role, tok0, then the error
    assert orjson.loads(data[-1])["error"]["code"] == "upstream_timeout"


async def test_first_token_timeout_on_the_last_target_is_an_in_band_error(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    """Headers went out when the only target answered; its silence ends in an error event."""
    config = {"provider": "openai", "custom_host": fake.base_url, "first_token_timeout": 200}
    body = {"model": f"{tag()}+ttft-3000", "messages": MESSAGES, "stream": True}
    started = time.monotonic()
    status, got, raw = await post_raw(
        gateway.base_url + CHAT_PATH, body, {"x-portkey-config": json.dumps(config)}
    )
    assert time.monotonic() - started < 1.5
    assert status == 200
    assert got["x-portkey-last-used-option-index"] == "config"
    assert events(raw) == [
        orjson.dumps(
            {
                "error": {
                    "message": "no first event from openai within 0.2s",
                    "type": "upstream_timeout",
                    "param": None,
                    "code": "upstream_timeout",
                }
            }
        )
    ]


# -- client disconnect -----------------------------------------------------------------------


@pytest.fixture
def own_fake() -> Iterator[FakeUpstream]:
    """A fake of this test's own, so its disconnect counter counts only this test."""
    with FakeUpstream() as upstream:
        yield upstream


async def wait_for_disconnect(fake: FakeUpstream, within: float = 2.0) -> float:
    started = time.monotonic()
    while fake.disconnects < 1:
        if time.monotonic() - started > within:
            raise AssertionError(f"the upstream stream was not closed within {within}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.mark.parametrize("model", ["stall-2", "gap-200+chunks-50"])
async def test_client_disconnect_closes_the_upstream_stream(
    gateway: GatewayServer, own_fake: FakeUpstream, model: str
) -> None:
    body = {"model": model, "messages": MESSAGES, "stream": True}
    headers = {"authorization": "Bearer sk-stream", **provider_headers(own_fake.base_url)}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(gateway.base_url + CHAT_PATH, json=body, headers=headers)
        assert resp.status == 200
        first = await resp.content.readline()
        assert first.startswith(b"data: {")
        assert own_fake.disconnects == 0
        resp.close()  # drops the connection mid-stream
        await wait_for_disconnect(own_fake)
    assert own_fake.disconnects == 1
    assert len(own_fake.requests) == 1


def test_sync_sdk_closing_a_stream_closes_the_upstream_stream(
    gateway: GatewayServer, own_fake: FakeUpstream
) -> None:
    stream = sdk(gateway, provider_headers(own_fake.base_url)).chat.completions.create(
        model="gap-200+chunks-50", messages=MESSAGES, stream=True
    )
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    stream.close()
    deadline = time.monotonic() + 2.0
    while own_fake.disconnects < 1:
        assert time.monotonic() < deadline, "the upstream stream was not closed within 2s"
        time.sleep(0.01)  # noqa: TID251 - sync test, no event loop here
    assert own_fake.disconnects == 1


async def test_client_disconnect_while_waiting_for_the_first_token(
    gateway: GatewayServer, own_fake: FakeUpstream
) -> None:
    body = {"model": "ttft-5000", "messages": MESSAGES, "stream": True}
    headers = {"authorization": "Bearer sk-stream", **provider_headers(own_fake.base_url)}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(gateway.base_url + CHAT_PATH, json=body, headers=headers)
        assert resp.status == 200  # a single target: headers go out as soon as it answers
        resp.close()
        await wait_for_disconnect(own_fake)
    assert own_fake.disconnects == 1


# -- the usage chunk --------------------------------------------------------------------------


def test_usage_chunk_is_asked_for_upstream_and_stripped_when_the_client_did_not_ask(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    chunks = list(
        sdk(gateway, provider_headers(fake.base_url)).chat.completions.create(
            model=f"{t}+chunks-3", messages=MESSAGES, stream=True
        )
    )
    assert deltas(chunks) == ["", "tok0 ", "tok1 ", "tok2 ", None]
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    [upstream] = sent(fake, t)
    assert upstream.body["stream_options"] == {"include_usage": True}


def test_usage_chunk_stripped_when_the_client_said_include_usage_false(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    chunks = list(
        sdk(gateway, provider_headers(fake.base_url)).chat.completions.create(
            model=f"{t}+chunks-1",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": False},
        )
    )
    assert deltas(chunks) == ["", "tok0 ", None]
    assert all(c.usage is None for c in chunks)
    [upstream] = sent(fake, t)
    assert upstream.body["stream_options"] == {"include_usage": True}


async def test_usage_chunk_reaches_a_client_that_asked_for_it(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    client = async_sdk(gateway, provider_headers(fake.base_url))
    stream = await client.chat.completions.create(
        model=f"{t}+chunks-3",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    await client.close()
    assert deltas(chunks) == ["", "tok0 ", "tok1 ", "tok2 ", None]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (1, 3)
    assert last.usage.total_tokens == 4
    [upstream] = sent(fake, t)
    assert upstream.body["stream_options"] == {"include_usage": True}


# -- timing: headers before the first token --------------------------------------------------


async def test_headers_arrive_before_the_first_token(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    body = {"model": f"{tag()}+ttft-300+chunks-1", "messages": MESSAGES, "stream": True}
    headers = {"authorization": "Bearer sk-stream", **provider_headers(fake.base_url)}
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with http.post(gateway.base_url + CHAT_PATH, json=body, headers=headers) as resp:
            to_headers = time.monotonic() - started
            assert resp.status == 200
            assert resp.headers["x-portkey-provider"] == "openai"
            first = await resp.content.readline()
            to_first_event = time.monotonic() - started
            rest = await resp.read()
    assert first.startswith(b"data: {")
    assert to_headers < 0.15
    assert to_first_event >= 0.28
    assert (first + rest).endswith(DONE)


# -- /v1/completions -------------------------------------------------------------------------


def test_completions_stream_passthrough(gateway: GatewayServer, fake: FakeUpstream) -> None:
    t = tag()
    stream = sdk(gateway, provider_headers(fake.base_url)).completions.create(
        model=f"{t}+chunks-3", prompt="hi", stream=True
    )
    chunks = list(stream)
    assert [c.choices[0].text for c in chunks] == ["tok0 ", "tok1 ", "tok2 ", ""]
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, None, "stop"]
    assert all(c.usage is None and c.object == "text_completion" for c in chunks)
    [upstream] = sent(fake, t)
    assert upstream.path == "/v1/completions"
    assert upstream.body["stream_options"] == {"include_usage": True}


async def test_completions_stream_bytes_identical_and_usage_kept(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    body = {
        "model": f"{tag()}+chunks-2",
        "prompt": "hello",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    status, _, through = await post_raw(
        gateway.base_url + "/completions", body, provider_headers(fake.base_url)
    )
    _, _, direct = await post_raw(fake.base_url + "/completions", body)
    assert status == 200
    assert normalize(through) == normalize(direct)
    usage = orjson.loads(events(through)[-2])
    assert (usage["choices"], usage["usage"]["completion_tokens"]) == ([], 2)


def test_completions_stream_cut_raises(gateway: GatewayServer, fake: FakeUpstream) -> None:
    client = sdk(gateway, provider_headers(fake.base_url))
    texts: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in client.completions.create(model=f"{tag()}+cut-1", prompt="hi", stream=True):
            texts.append(chunk.choices[0].text)
    assert texts == ["tok0 "]


async def test_completions_stream_fails_over_before_first_byte(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    t = tag()
    headers = fallback(fake, f"{t}-a+error-first", f"{t}-b+chunks-1")
    status, got, raw = await post_raw(
        gateway.base_url + "/completions", {"prompt": "hi", "stream": True}, headers
    )
    assert status == 200
    assert got["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert chunk_models(raw) == {f"{t}-b+chunks-1"}
    assert [orjson.loads(e)["choices"][0]["text"] for e in events(raw)[:-1]] == ["tok0 ", ""]
    assert raw.endswith(DONE)
