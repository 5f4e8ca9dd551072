"""Hot reload through the real server: file change, SIGHUP, bad files, and reload under load."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes import FakeUpstream
from tests.support import GatewayServer, serve_process

WAIT_S = 5.0


def portkey_yaml(
    fake: FakeUpstream,
    models: dict[str, str],
    *,
    watch: bool = True,
    interval_s: float = 0.05,
    default: str | None = None,
) -> str:
    """A portkey.yaml with one named config per entry of ``models``, all on the fake upstream."""
    lines = [
        "server:",
        f"  reload: {{watch: {'true' if watch else 'false'}, interval_s: {interval_s}}}",
        "configs:",
    ]
    for name, model in models.items():
        lines += [
            f"  {name}:",
            "    provider: openai",
            "    api_key: sk-reload",
            f"    custom_host: {fake.base_url}",
            f"    override_params: {{model: '{model}'}}",
        ]
    if default:
        lines.append(f"default_config: {default}")
    return "\n".join(lines) + "\n"


def rewrite(path: Path, text: str) -> None:
    """Replace the file whole (write aside, then rename), as deploy tools and editors do."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def chat(url: str, config: str | None = "main") -> str:
    """One chat completion through the gateway; returns the answer text."""
    headers = {"Content-Type": "application/json"}
    if config:
        headers["x-portkey-config"] = config
    body = json.dumps({"model": "client-model", "messages": [{"role": "user", "content": "hi"}]})
    request = urllib.request.Request(
        url + "/v1/chat/completions", data=body.encode(), headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
        answer = json.loads(resp.read())
    content = answer["choices"][0]["message"]["content"]
    assert isinstance(content, str)
    return content


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)  # noqa: TID251 - test thread, not an event loop


def answers(url: str, expected: str, config: str | None = "main") -> Callable[[], bool]:
    return lambda: chat(url, config) == expected


def tag() -> str:
    return "t" + uuid.uuid4().hex[:8]


# -- (a) a changed file switches the named config, without a restart --------------------------


def test_file_change_switches_named_config(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> None:
    t = tag()
    server = make_gateway(portkey_yaml(fake, {"main": f"{t}-a", "other": f"{t}-x"}))
    path = Path(str(server.config_path))
    first = server.holder.current
    assert chat(server.url) == f"Hello from {t}-a"
    assert chat(server.url, "other") == f"Hello from {t}-x"

    rewrite(path, portkey_yaml(fake, {"main": f"{t}-b", "other": f"{t}-x"}, default="main"))
    wait_until(answers(server.url, f"Hello from {t}-b"), "main to route to model b")

    second = server.holder.current
    assert second is not first
    assert second.source == str(path)
    assert chat(server.url, "other") == f"Hello from {t}-x"
    assert chat(server.url, config=None) == f"Hello from {t}-b"  # the new default_config
    assert server.thread.is_alive()

    # and again: every change is picked up, not only the first
    rewrite(path, portkey_yaml(fake, {"main": f"{t}-c"}))
    wait_until(answers(server.url, f"Hello from {t}-c"), "main to route to model c")
    assert server.holder.current is not second
    assert server.app.gateway.reloader.failures == 0


def test_sighup_reloads_when_watching_is_off(tmp_path: Path, fake: FakeUpstream) -> None:
    t = tag()
    path = tmp_path / "portkey.yaml"
    # interval_s is short: were the file watched despite watch: false, 0.5 s would show it
    path.write_text(portkey_yaml(fake, {"main": f"{t}-a"}, watch=False, interval_s=0.05))
    with serve_process(path) as (proc, url):
        assert chat(url) == f"Hello from {t}-a"

        rewrite(path, portkey_yaml(fake, {"main": f"{t}-b"}, watch=False, interval_s=0.05))
        time.sleep(0.5)  # noqa: TID251 - test thread
        assert chat(url) == f"Hello from {t}-a", "the file was reloaded without a signal"

        os.kill(proc.pid, signal.SIGHUP)
        wait_until(answers(url, f"Hello from {t}-b"), "SIGHUP to load model b")

        # a bad file on SIGHUP is refused: the process keeps serving the last good config
        path.write_text("configs:\n  main:\n    provider: not-a-provider\n")
        os.kill(proc.pid, signal.SIGHUP)
        time.sleep(0.3)  # noqa: TID251 - test thread
        assert proc.poll() is None
        assert chat(url) == f"Hello from {t}-b"

        rewrite(path, portkey_yaml(fake, {"main": f"{t}-c"}, watch=False))
        os.kill(proc.pid, signal.SIGHUP)
        wait_until(answers(url, f"Hello from {t}-c"), "SIGHUP to load model c")
        assert proc.poll() is None


# -- (b) a bad file is refused; the old config keeps serving -----------------------------------


def test_bad_file_is_refused_then_a_good_one_is_picked_up(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> None:
    t = tag()
    server = make_gateway(portkey_yaml(fake, {"main": f"{t}-a"}))
    path = Path(str(server.config_path))
    reloader = server.app.gateway.reloader
    good = server.holder.current
    assert chat(server.url) == f"Hello from {t}-a"

    bad_files = [
        "configs:\n  main:\n    provider: not-a-provider\n",  # invalid value
        "configs:\n  main: [unclosed\n",  # invalid YAML
        "configs:\n  main:\n    provider: openai\n    api_key: ${RELOAD_TEST_UNSET_VAR}\n",
    ]
    for failures, text in enumerate(bad_files, start=1):
        rewrite(path, text)
        wait_until(lambda n=failures: reloader.failures == n, f"reload failure {failures}")
        assert server.holder.current is good
        assert chat(server.url) == f"Hello from {t}-a"

    # a removed file is not a change to load: the running config stays
    path.unlink()
    time.sleep(0.2)  # noqa: TID251 - several watch intervals
    assert reloader.failures == len(bad_files)
    assert server.holder.current is good
    assert chat(server.url) == f"Hello from {t}-a"

    rewrite(path, portkey_yaml(fake, {"main": f"{t}-b"}))
    wait_until(answers(server.url, f"Hello from {t}-b"), "the good file to be picked up")
    assert reloader.failures == len(bad_files)


# -- (c) hot reload under load -------------------------------------------------------------------


@dataclass
class Result:
    started: float
    ended: float
    status: int | None
    content: str | None
    error: str | None = None


async def _post(session: aiohttp.ClientSession, url: str, config: str) -> Result:
    body = {"model": "client-model", "messages": [{"role": "user", "content": "hi"}]}
    started = time.monotonic()
    try:
        async with session.post(
            url + "/v1/chat/completions", json=body, headers={"x-portkey-config": config}
        ) as resp:
            data: Any = await resp.json(content_type=None)
            status = resp.status
        content = data["choices"][0]["message"]["content"] if status == 200 else None
        return Result(started, time.monotonic(), status, content, None if content else str(data))
    except Exception as exc:  # a failed request is a result to report, not a crash
        return Result(started, time.monotonic(), None, None, repr(exc))


async def _wait_async(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_S}s waiting for {what}")
        await asyncio.sleep(0.005)


async def test_reload_under_load_loses_no_request(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> None:
    t = tag()
    generations = 5
    clients = 20

    def models(gen: int) -> dict[str, str]:
        return {"main": f"delay-50+{t}-gen{gen}", "slow": f"delay-400+{t}-gen{gen}"}

    def gen_of(content: str | None, kind: str = "delay-50") -> int:
        prefix = f"Hello from {kind}+{t}-gen"
        assert content is not None and content.startswith(prefix), content
        return int(content.removeprefix(prefix))

    def fake_saw(model: str) -> bool:
        return any(isinstance(r.body, dict) and r.body.get("model") == model for r in fake.requests)

    server = make_gateway(portkey_yaml(fake, models(0)))
    path = Path(str(server.config_path))
    results: list[Result] = []
    stop = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            result = await _post(session, server.url, "main")
            results.append(result)
            if result.status != 200:
                return  # reported below; never spin on a failing request

    written: dict[int, float] = {}
    observed: dict[int, float] = {}
    sentinels: list[tuple[int, asyncio.Task[Result]]] = []
    # no pool limit: the sentinels must not queue behind the clients for a connection
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        load = [asyncio.create_task(client(session)) for _ in range(clients)]
        try:
            await asyncio.sleep(0.3)
            for gen in range(1, generations):
                # a slow request already at the upstream when the file changes
                sentinel = asyncio.create_task(_post(session, server.url, "slow"))
                sentinels.append((gen - 1, sentinel))
                await _wait_async(
                    lambda g=gen: fake_saw(f"delay-400+{t}-gen{g - 1}"), "the sentinel"
                )
                before = server.holder.current
                written[gen] = time.monotonic()
                await asyncio.to_thread(rewrite, path, portkey_yaml(fake, models(gen)))
                await _wait_async(lambda b=before: server.holder.current is not b, f"swap {gen}")
                observed[gen] = time.monotonic()
                await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.gather(*load)
            finished = [(gen, await task) for gen, task in sentinels]

    failed = [r for r in results if r.status != 200 or r.error]
    assert failed == [], f"{len(failed)} of {len(results)} requests failed: {failed[:3]}"
    assert len(results) > 200, len(results)

    seen = [gen_of(r.content) for r in results]
    assert set(seen) == set(range(generations)), sorted(set(seen))
    for r, gen in zip(results, seen, strict=True):
        for swap in range(1, generations):
            if r.ended < written[swap]:
                assert gen < swap, f"answered gen {gen} before swap {swap} was written"
            if r.started > observed[swap]:
                assert gen >= swap, f"answered gen {gen} after swap {swap} was in place"

    # in-flight requests that started before a swap finish with the old config's answer
    for gen, sentinel in finished:
        assert sentinel.status == 200, sentinel
        assert gen_of(sentinel.content, "delay-400") == gen
        assert sentinel.ended > observed[gen + 1]
    assert server.app.gateway.reloader.failures == 0
