"""Tests for the scriptable fake OpenAI upstream."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from portkey.devtools._fake_scripts import parse_script
from portkey.devtools.fake_upstream import FakeUpstream, start_fake_upstream

MSGS = [{"role": "user", "content": "hello there!"}]  # 12 chars -> 4 prompt tokens


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest_asyncio.fixture(loop_scope="function")  # the project default is session
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def sse_events(text: str) -> list[str]:
    assert all(block.startswith("data: ") for block in text.split("\n\n") if block)
    return [block.removeprefix("data: ") for block in text.split("\n\n") if block]


async def chat(
    http: aiohttp.ClientSession, fake: FakeUpstream, model: str, **extra: Any
) -> tuple[int, dict[str, str], bytes]:
    body = {"model": model, "messages": MSGS, **extra}
    async with http.post(f"{fake.base_url}/chat/completions", json=body) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def wait_for_disconnects(fake: FakeUpstream, n: int) -> None:
    for _ in range(250):
        if fake.disconnects >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"disconnects={fake.disconnects}, wanted {n}")


def test_grammar_parsing() -> None:
    s = parse_script("gpt-4o+status-429+retry-after-1.5+retry-after-ms-250+flaky-2+bogus-1")
    assert (s.status, s.retry_after, s.retry_after_ms, s.flaky) == (429, "1.5", "250", 2)
    s = parse_script("x+delay-10+ttft-20+gap-30+chunks-7+cut-3+stall-4+echo+done-only+status-200")
    assert (s.delay_ms, s.ttft_ms, s.gap_ms, s.chunks, s.cut, s.stall) == (10, 20, 30, 7, 3, 4)
    assert s.echo and s.done_only and not s.empty and s.status is None
    assert parse_script("gpt-4o") == parse_script("")
    assert parse_script("flaky-1").error_status == 503


async def test_chat_non_stream_shape_and_recording(
    fake: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    body = {"model": "gpt-4o", "messages": MSGS}
    url = f"{fake.base_url}/chat/completions?trace=1"
    headers = {"Authorization": "Bearer sk-1", "X-Trace": "abc"}
    async with http.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200
        data = await resp.json()
    assert data["object"] == "chat.completion" and data["model"] == "gpt-4o"
    assert data["id"].startswith("chatcmpl-") and isinstance(data["created"], int)
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello from gpt-4o", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert data["usage"] == {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}
    [rec] = fake.requests
    assert (rec.method, rec.path, rec.query, rec.body) == (
        "POST",
        "/v1/chat/completions",
        {"trace": "1"},
        body,
    )
    assert rec.headers["authorization"] == "Bearer sk-1" and rec.headers["x-trace"] == "abc"
    assert orjson.loads(rec.raw) == body
    fake.clear()
    assert fake.requests == []


@pytest.mark.parametrize("include_usage", [True, False])
async def test_chat_stream(
    fake: FakeUpstream, http: aiohttp.ClientSession, include_usage: bool
) -> None:
    extra: dict[str, Any] = {"stream": True}
    if include_usage:
        extra["stream_options"] = {"include_usage": True}
    status, headers, raw = await chat(http, fake, "gpt-4o+chunks-3", **extra)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(raw.decode())
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:4]]
    assert contents == ["tok0 ", "tok1 ", "tok2 "]
    assert chunks[4]["choices"][0]["finish_reason"] == "stop"
    if include_usage:
        assert len(chunks) == 6 and chunks[5]["choices"] == []
        assert chunks[5]["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
        chunks = chunks[:5]
    assert len(chunks) == 5 and all(c["usage"] is None for c in chunks)


async def test_status_retry_after_and_flaky(
    fake: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    status, headers, raw = await chat(
        http, fake, "gpt-4o+status-429+retry-after-1.5+retry-after-ms-250"
    )
    assert status == 429
    assert headers["Retry-After"] == "1.5" and headers["retry-after-ms"] == "250"
    assert orjson.loads(raw) == {
        "error": {
            "message": "fake upstream error 429",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    statuses = [(await chat(http, fake, "m+flaky-2+status-502"))[0] for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert [(await chat(http, fake, "m+flaky-1"))[0] for _ in range(2)] == [503, 200]
    # A different Authorization header has its own counter.
    body = {"model": "m+flaky-1", "messages": MSGS}
    hdrs = {"Authorization": "Bearer other"}
    async with http.post(f"{fake.base_url}/chat/completions", json=body, headers=hdrs) as resp:
        assert resp.status == 503
    err = orjson.loads((await chat(http, fake, "m+status-500"))[2])["error"]
    assert err["type"] == "server_error"


async def test_cut_closes_connection_without_done(
    fake: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    body = {"model": "gpt-4o+cut-2", "messages": MSGS, "stream": True}
    received = b""
    async with http.post(f"{fake.base_url}/chat/completions", json=body) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for data in resp.content.iter_any():
                received += data
    text = received.decode()
    assert "tok1 " in text and "tok2 " not in text and "[DONE]" not in text
    await asyncio.sleep(0.1)
    assert fake.disconnects == 0


async def test_stall_counts_disconnect(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    body = {"model": "gpt-4o+stall-1", "messages": MSGS, "stream": True}
    async with http.post(f"{fake.base_url}/chat/completions", json=body) as resp:
        received = b""
        while b"tok0 " not in received:
            received += await resp.content.readany()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(resp.content.readany(), 0.3)
        resp.close()
    await wait_for_disconnects(fake, 1)
    async with http.get(f"{fake.url}/_fake/stats") as resp:
        assert await resp.json() == {"disconnects": 1}


async def test_disconnect_during_gap_counted_once(
    fake: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    body = {"model": "gpt-4o+gap-50+chunks-100", "messages": MSGS, "stream": True}
    async with http.post(f"{fake.base_url}/chat/completions", json=body) as resp:
        received = b""
        while b"tok1 " not in received:
            data = await resp.content.readany()
            assert data, "stream ended early"
            received += data
        resp.close()
    await wait_for_disconnects(fake, 1)
    await asyncio.sleep(0.2)
    assert fake.disconnects == 1


async def test_special_streams(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    status, _, raw = await chat(http, fake, "m+empty", stream=True)
    assert (status, raw) == (200, b"")
    assert sse_events((await chat(http, fake, "m+done-only", stream=True))[2].decode()) == [
        "[DONE]"
    ]
    [event] = sse_events((await chat(http, fake, "m+error-first", stream=True))[2].decode())
    assert orjson.loads(event)["error"]["message"] == "fake stream error"
    events = sse_events((await chat(http, fake, "m+malformed", stream=True))[2].decode())
    assert len(events) == 3 and events[1:] == ["{not json", "[DONE]"]
    orjson.loads(events[0])
    status, headers, raw = await chat(http, fake, "m+malformed")
    assert (status, raw) == (200, b'{"id": "broken')
    assert headers["Content-Type"].startswith("application/json")
    status, _, raw = await chat(http, fake, "m+error-200")
    assert status == 200 and "error" in orjson.loads(raw)


async def test_timing_tokens(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    start = time.monotonic()
    await chat(http, fake, "m+delay-200")
    assert time.monotonic() - start >= 0.2
    body = {"model": "m+ttft-300+chunks-2", "messages": MSGS, "stream": True}
    start = time.monotonic()
    async with http.post(f"{fake.base_url}/chat/completions", json=body) as resp:
        headers_at = time.monotonic() - start
        await resp.read()
        total = time.monotonic() - start
    assert headers_at < 0.25 and total >= 0.3
    start = time.monotonic()
    await chat(http, fake, "m+gap-50+chunks-3", stream=True)  # 6 events -> 5 gaps
    assert time.monotonic() - start >= 0.25


async def test_echo_via_azure_route(fake: FakeUpstream, http: aiohttp.ClientSession) -> None:
    url = f"{fake.url}/openai/deployments/my-dep+echo/chat/completions?api-version=2024-10-21"
    hdrs = {"api-key": "az-key", "x-portkey-trace": "t1", "User-Agent": "ua"}
    body = {"messages": MSGS}
    async with http.post(url, json=body, headers=hdrs) as resp:
        data = await resp.json()
    assert data["model"] == "my-dep+echo"
    echo = orjson.loads(data["choices"][0]["message"]["content"])
    assert echo["body"] == body and echo["query"] == {"api-version": "2024-10-21"}
    assert echo["path"] == "/openai/deployments/my-dep+echo/chat/completions"
    assert echo["headers"] == {"api-key": "az-key", "x-portkey-trace": "t1"}
    _, _, raw = await chat(http, fake, "m+echo", stream=True)
    contents = [
        orjson.loads(e)["choices"][0]["delta"].get("content") for e in sse_events(raw.decode())[:-1]
    ]
    assert len(contents) == 3 and orjson.loads(contents[1])["path"] == "/v1/chat/completions"


async def test_completions_embeddings_models(
    fake: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{fake.base_url}/completions", json={"model": "m", "prompt": "abcd"}
    ) as r:
        data = await r.json()
    assert data["object"] == "text_completion" and data["choices"][0]["text"] == "Hello from m"
    body = {"model": "m+chunks-2", "prompt": "p", "stream": True}
    async with http.post(f"{fake.base_url}/completions", json=body) as r:
        events = sse_events((await r.read()).decode())
    assert [orjson.loads(e)["choices"][0]["text"] for e in events[:-1]] == ["tok0 ", "tok1 ", ""]
    url = f"{fake.base_url}/embeddings"
    async with http.post(url, json={"model": "e", "input": ["a", "b"]}) as r:
        emb = await r.json()
    async with http.post(url, json={"model": "e", "input": "a"}) as r:
        single = await r.json()
    vectors = [d["embedding"] for d in emb["data"]]
    assert len(vectors) == 2 and all(len(v) == 8 for v in vectors) and vectors[0] != vectors[1]
    assert single["data"][0]["embedding"] == vectors[0] and emb["object"] == "list"
    async with http.post(url, json={"model": "e", "input": "a", "encoding_format": "base64"}) as r:
        b64 = (await r.json())["data"][0]["embedding"]
    assert struct.unpack("<8f", base64.b64decode(b64)) == pytest.approx(vectors[0], abs=1e-6)
    async with http.get(f"{fake.base_url}/models") as r:
        assert [m["id"] for m in (await r.json())["data"]] == [
            "gpt-4o",
            "gpt-4o-mini",
            "text-embedding-3-small",
        ]


async def test_invalid_json_and_control_endpoints(
    fake: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{fake.base_url}/chat/completions", data=b"{nope") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"
    async with http.get(f"{fake.url}/nowhere") as resp:
        assert resp.status == 404 and "error" in await resp.json()
    async with http.get(f"{fake.url}/_fake/requests") as resp:
        recorded = await resp.json()
    assert [r["path"] for r in recorded] == ["/v1/chat/completions", "/nowhere"]
    assert recorded[0]["body"] is None and "raw" not in recorded[0]
    async with http.delete(f"{fake.url}/_fake/requests") as resp:
        assert resp.status == 200
    assert fake.requests == []


async def test_start_fake_upstream_in_loop(http: aiohttp.ClientSession) -> None:
    runner, port = await start_fake_upstream()
    try:
        async with http.get(f"http://127.0.0.1:{port}/v1/models") as resp:
            assert resp.status == 200
    finally:
        await runner.cleanup()


async def test_openai_sdk_streams_with_usage(fake: FakeUpstream) -> None:
    openai = pytest.importorskip("openai")
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    try:
        stream = await client.chat.completions.create(
            model="gpt-4o+chunks-4",
            messages=MSGS,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage is not None:
                usage = chunk.usage
    finally:
        await client.close()
    assert text == "tok0 tok1 tok2 tok3 "
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + 4
    assert fake.requests[0].headers["authorization"] == "Bearer sk-test"
