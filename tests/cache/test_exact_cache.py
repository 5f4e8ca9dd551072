"""The exact cache through the openai SDK: hits, refresh, TTL, streams, namespaces, errors, Redis."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
import redis
from openai import OpenAI

from tests.fakes import FakeUpstream
from tests.support import GatewayServer, serve_process


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def cached_client(
    base_url: str, fake: FakeUpstream, max_age: int | None = 60, **headers: str
) -> OpenAI:
    cache: dict[str, Any] = {"mode": "simple"}
    if max_age is not None:
        cache["max_age"] = max_age
    config = {"provider": "openai", "api_key": "sk-x", "custom_host": fake.base_url, "cache": cache}
    return OpenAI(
        base_url=base_url,
        api_key="unused",
        max_retries=0,
        default_headers={"x-portkey-config": json.dumps(config), **headers},
    )


def ask(c: OpenAI, marker: str, model: str = "gpt-4o", **kw: Any) -> Any:
    return c.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": marker}], **kw
    )


def upstream_calls(fake: FakeUpstream, marker: str) -> int:
    return sum(marker in r.raw.decode(errors="replace") for r in fake.requests)


def test_hit_after_miss_and_force_refresh(gateway: GatewayServer, fake: FakeUpstream) -> None:
    marker = uuid.uuid4().hex
    c = cached_client(gateway.base_url, fake)
    first = ask(c, marker)
    assert first.headers["x-portkey-cache-status"] == "MISS"
    second = ask(c, marker)
    assert second.headers["x-portkey-cache-status"] == "HIT"
    assert int(second.headers["x-portkey-cache-age"]) >= 0
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert upstream_calls(fake, marker) == 1
    refreshed = ask(c, marker, extra_headers={"x-portkey-cache-force-refresh": "true"})
    assert refreshed.headers["x-portkey-cache-status"] == "REFRESH"
    assert upstream_calls(fake, marker) == 2
    other = ask(c, marker, temperature=0.5)  # an answer-changing parameter: another entry
    assert other.headers["x-portkey-cache-status"] == "MISS"


def test_ttl_expiry_with_an_injected_clock(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> None:
    server = make_gateway("server: {unsupported_params: warn}\n")
    clock = Clock()
    cache = server.app.gateway.cache
    cache.clock = cache.backend.clock = clock
    marker = uuid.uuid4().hex
    c = cached_client(server.base_url, fake, max_age=30)
    assert ask(c, marker).headers["x-portkey-cache-status"] == "MISS"
    deadline = time.monotonic() + 5
    while not cache.backend.bytes:  # stored in the background, after the answer went out
        assert time.monotonic() < deadline, "the answer was never stored"
        time.sleep(0.01)  # noqa: TID251 - test thread
    clock.now += 20
    hit = ask(c, marker)
    assert (
        hit.headers["x-portkey-cache-status"] == "HIT"
        and hit.headers["x-portkey-cache-age"] == "20"
    )
    clock.now += 11
    assert ask(c, marker).headers["x-portkey-cache-status"] == "MISS"


def test_streams_replay_whole_and_broken_streams_are_never_stored(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    marker = uuid.uuid4().hex
    c = cached_client(gateway.base_url, fake)

    def stream(model: str) -> tuple[str, str]:
        with c.chat.completions.with_streaming_response.create(
            model=model, messages=[{"role": "user", "content": marker}], stream=True
        ) as response:
            text = "".join(
                chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices
            )
            return response.headers["x-portkey-cache-status"], text

    status, original = stream("chunks-5")
    assert status == "MISS" and original
    status, replayed = stream("chunks-5")
    assert (status, replayed) == ("HIT", original)
    assert upstream_calls(fake, marker) == 1
    with pytest.raises(openai.APIError):
        stream("chunks-5+cut-3")  # cut mid-way: an honest error, and nothing stored
    with pytest.raises(openai.APIError):
        stream("chunks-5+cut-3")
    assert upstream_calls(fake, marker) == 3


def test_namespaces_isolate_and_errors_are_never_cached(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    marker = uuid.uuid4().hex
    tenant_a = cached_client(gateway.base_url, fake, **{"x-portkey-cache-namespace": "tenant-a"})
    tenant_b = cached_client(gateway.base_url, fake, **{"x-portkey-cache-namespace": "tenant-b"})
    assert ask(tenant_a, marker).headers["x-portkey-cache-status"] == "MISS"
    assert ask(tenant_a, marker).headers["x-portkey-cache-status"] == "HIT"
    assert ask(tenant_b, marker).headers["x-portkey-cache-status"] == "MISS"
    failing = cached_client(gateway.base_url, fake)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(failing, marker, model="status-500")
    assert upstream_calls(fake, marker) == 4  # two tenants + two failures, no cached error


def test_no_cache_config_says_disabled(gateway: GatewayServer, fake: FakeUpstream) -> None:
    c = cached_client(gateway.base_url, fake)
    c = OpenAI(
        base_url=gateway.base_url,
        api_key="sk-x",
        max_retries=0,
        default_headers={"x-portkey-provider": "openai", "x-portkey-custom-host": fake.base_url},
    )
    assert ask(c, "x").headers["x-portkey-cache-status"] == "DISABLED"


def test_two_gateway_processes_share_the_cache_through_redis(
    tmp_path: Any, fake: FakeUpstream, redis_url: str
) -> None:
    prefix = f"portkey-test-cache-{secrets.token_hex(4)}:"
    config = tmp_path / "portkey.yaml"
    config.write_text(
        f"cache: {{backend: redis, redis_url: '{redis_url}', key_prefix: '{prefix}'}}\n"
    )
    marker = uuid.uuid4().hex
    with serve_process(config) as (_, one), serve_process(config) as (_, two):
        assert (
            ask(cached_client(one + "/v1", fake), marker).headers["x-portkey-cache-status"]
            == "MISS"
        )
        # the first process stores in the background: wait for its entry, then the second hits
        deadline = time.monotonic() + 5
        while not list(redis.Redis.from_url(redis_url).scan_iter(match=f"{prefix}*")):
            assert time.monotonic() < deadline, "the first gateway never stored the answer"
            time.sleep(0.02)  # noqa: TID251 - test thread
        hit = ask(cached_client(two + "/v1", fake), marker)
        assert hit.headers["x-portkey-cache-status"] == "HIT"
    assert upstream_calls(fake, marker) == 1


def test_redis_down_serves_without_the_cache(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> None:
    from tests.support import free_port

    server = make_gateway(
        f"cache: {{backend: redis, redis_url: 'redis://127.0.0.1:{free_port()}/0', timeout_ms: 100}}\n"
    )
    c = cached_client(server.base_url, fake)
    for _ in range(2):
        raw = ask(c, uuid.uuid4().hex)
        assert raw.status_code == 200 and raw.headers["x-portkey-cache-status"] == "MISS"


def test_cache_stats_and_purge_from_the_cli(
    make_gateway: Callable[[str], GatewayServer],
    fake: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from portkey.cli.main import app

    server = make_gateway("admin: {api_key: cache-admin-key-0123456789}\n")
    monkeypatch.setenv("PORTKEY_ADMIN_KEY", "cache-admin-key-0123456789")
    marker = uuid.uuid4().hex
    tenant = cached_client(server.base_url, fake, **{"x-portkey-cache-namespace": "team-a"})
    ask(tenant, marker)
    ask(tenant, marker)
    stats = CliRunner().invoke(app, ["cache", "stats", "--url", server.url])
    assert stats.exit_code == 0 and "entries: 1" in stats.output and "hits: 1" in stats.output
    purged = CliRunner().invoke(
        app, ["cache", "purge", "--url", server.url, "--namespace", "team-b"]
    )
    assert "deleted 0" in purged.output
    purged = CliRunner().invoke(
        app, ["cache", "purge", "--url", server.url, "--namespace", "team-a"]
    )
    assert "deleted 1" in purged.output
    assert ask(tenant, marker).headers["x-portkey-cache-status"] == "MISS"


def test_a_reload_keeps_entries_for_policy_changes_and_swaps_the_backend_otherwise(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream, tmp_path: Any
) -> None:
    server = make_gateway(
        "server: {reload: {interval_s: 0.05}}\ncache: {threshold: 0.95, max_bytes: 100000000}\n"
    )
    assert server.config_path is not None
    path = Path(server.config_path)
    gateway = server.app.gateway
    c = cached_client(server.base_url, fake)
    marker = uuid.uuid4().hex
    ask(c, marker)
    first = gateway.cache
    path.write_text(
        "server: {reload: {interval_s: 0.05}}\ncache: {threshold: 0.97, max_bytes: 100000000}\n"
    )
    _wait(lambda: gateway.cache.settings.threshold == 0.97)
    assert gateway.cache is first  # a policy change keeps the running cache
    assert ask(c, marker).headers["x-portkey-cache-status"] == "HIT"
    path.write_text(
        "server: {reload: {interval_s: 0.05}}\ncache: {threshold: 0.97, max_bytes: 50000000}\n"
    )
    _wait(lambda: gateway.cache is not first)
    assert gateway.router.cache is gateway.cache
    assert gateway.cache.settings.max_bytes == 50_000_000
    assert ask(c, marker).headers["x-portkey-cache-status"] == "MISS"  # a new, empty cache


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)  # noqa: TID251 - test thread


def test_lookups_are_counted_by_status(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> None:
    import httpx

    server = make_gateway("admin: {api_key: cache-admin-key-0123456789}\n")
    c = cached_client(server.base_url, fake)
    marker = uuid.uuid4().hex
    ask(c, marker)
    _wait(lambda: upstream_calls(fake, marker) == 1)
    deadline = time.monotonic() + 5
    while ask(c, marker).headers["x-portkey-cache-status"] != "HIT":
        assert time.monotonic() < deadline
    ask(c, marker, extra_headers={"x-portkey-cache-force-refresh": "true"})
    stats = httpx.get(
        server.url + "/admin/cache/stats",
        headers={"Authorization": "Bearer cache-admin-key-0123456789"},
    ).json()
    assert stats["lookups.MISS"] >= 1 and stats["lookups.HIT"] >= 1
    assert stats["lookups.REFRESH"] == 1


def test_embeddings_are_cached_too(gateway: GatewayServer, fake: FakeUpstream) -> None:
    marker = uuid.uuid4().hex
    c = cached_client(gateway.base_url, fake)
    first = c.embeddings.with_raw_response.create(model="text-embedding-3-small", input=marker)
    assert first.headers["x-portkey-cache-status"] == "MISS"
    second = c.embeddings.with_raw_response.create(model="text-embedding-3-small", input=marker)
    assert second.headers["x-portkey-cache-status"] == "HIT"
    assert second.parse().data[0].embedding == first.parse().data[0].embedding
    assert upstream_calls(fake, marker) == 1
    other = c.embeddings.with_raw_response.create(model="text-embedding-3-large", input=marker)
    assert other.headers["x-portkey-cache-status"] == "MISS"
