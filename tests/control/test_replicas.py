"""Two gateway processes sharing PostgreSQL and Redis behave as one: limits, budgets, revocation."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from openai import OpenAI
from pydantic import SecretStr

from portkey.config.models import StoreSettings
from portkey.control.models import ApiKeyIn, BudgetIn, RateLimitIn, Rotation, VirtualKeyIn
from portkey.control.plane import open_store
from portkey.control.store import ControlStore
from tests.control.auth_upstream import AuthCheckingUpstream
from tests.support import serve_process

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def upstream() -> Iterator[AuthCheckingUpstream]:
    with AuthCheckingUpstream({"sk-one"}) as server:
        yield server


@pytest.fixture
def store(pg_url: str, master_key: str) -> Iterator[ControlStore]:
    opened = open_store(StoreSettings(url=pg_url))
    yield opened
    opened.db.close()


@pytest.fixture
def replicas(
    tmp_path: Path, pg_url: str, redis_url: str, store: ControlStore, upstream: AuthCheckingUpstream
) -> Iterator[list[str]]:
    store.create_virtual_key(
        VirtualKeyIn(
            name="shared",
            provider="openai",
            api_key=SecretStr("sk-one"),
            custom_host=upstream.base_url,
        )
    )
    config = tmp_path / "portkey.yaml"
    prefix = f"portkey-test-{secrets.token_hex(4)}:"
    config.write_text(
        f"store: {{url: '{pg_url}', refresh_interval_s: 0.2}}\n"
        f"limits: {{backend: redis, redis_url: '{redis_url}', key_prefix: '{prefix}', timeout_ms: 5000}}\n"
    )
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(serve_process(config))[1] for _ in range(2)]
        yield urls


def client(url: str, key: str) -> OpenAI:
    return OpenAI(
        base_url=url + "/v1",
        api_key=key,
        max_retries=0,
        default_headers={"x-portkey-virtual-key": "shared"},
    )


def status_of(url: str, key: str) -> int:
    try:
        client(url, key).chat.completions.create(model="gpt-4o", messages=HI, max_tokens=10)
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def wait_until_known(urls: list[str], key: str) -> None:
    deadline = time.monotonic() + 5
    while any(status_of(u, key) == 401 for u in urls):
        assert time.monotonic() < deadline, "the replicas never saw the new key"
        time.sleep(0.05)  # noqa: TID251 - test thread


def test_combined_rpm_across_replicas_matches_the_limit(
    replicas: list[str], store: ControlStore
) -> None:
    key = store.create_api_key(ApiKeyIn(name="rpm")).key
    wait_until_known(replicas, key)  # two requests spent here, one per replica
    store.create_rate_limit(RateLimitIn(scope="api_key", target="rpm", rpm=12))
    time.sleep(0.6)  # both replicas follow the store  # noqa: TID251 - test thread
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i: status_of(replicas[i % 2], key), range(30)))
    # the limit counts in one shared window: 12 per minute in total, whichever replica answers
    assert statuses.count(200) <= 12
    assert statuses.count(200) >= 10  # the sliding window may already hold a little history
    assert set(statuses) == {200, 429}


def test_budget_across_replicas_is_not_overspent(replicas: list[str], store: ControlStore) -> None:
    key = store.create_api_key(ApiKeyIn(name="budget", team="ml")).key
    wait_until_known(replicas, key)
    # each request reserves ~1 + 10 tokens before the call and spends 6 (the upstream's usage)
    store.create_budget(BudgetIn(scope="team", target="ml", limit_tokens=120, period="day"))
    time.sleep(0.6)  # noqa: TID251 - test thread
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i: status_of(replicas[i % 2], key), range(60)))
    served = statuses.count(200)
    assert 0 < served < 60 and set(statuses) == {200, 429}
    time.sleep(1.5)  # settled spend is flushed to the store off the request path  # noqa: TID251 - test thread
    budget = store.list_budgets()[0]
    in_flight = 8 * 11  # at most one reservation per concurrent request
    assert budget.spent_tokens <= 120 + in_flight
    assert budget.spent_tokens == served * 6


def test_revoked_key_is_refused_by_both_replicas_within_a_second(
    replicas: list[str], store: ControlStore
) -> None:
    key = store.create_api_key(ApiKeyIn(name="revoke-me")).key
    wait_until_known(replicas, key)
    store.revoke_api_key("revoke-me")
    revoked = time.monotonic()
    pending = set(replicas)
    while pending:
        pending = {u for u in pending if status_of(u, key) != 401}
        assert time.monotonic() - revoked < 1.0, f"still accepted by {pending}"


def test_rotation_causes_zero_failed_requests_on_either_replica(
    replicas: list[str], store: ControlStore, upstream: AuthCheckingUpstream
) -> None:
    key = store.create_api_key(ApiKeyIn(name="rotation")).key
    wait_until_known(replicas, key)
    stop = time.monotonic() + 3.0
    statuses: list[int] = []

    def drive(i: int) -> None:
        while time.monotonic() < stop:
            statuses.append(status_of(replicas[i % 2], key))

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(drive, i) for i in range(4)]
        time.sleep(0.5)  # noqa: TID251 - test thread
        upstream.valid = {"sk-one", "sk-two"}  # the provider issues the new secret
        store.rotate_virtual_key("shared", Rotation(api_key=SecretStr("sk-two")))
        upstream.valid = {"sk-two"}  # ... and revokes the old one straight away
        for f in futures:
            f.result()
    assert statuses and set(statuses) == {200}
    assert upstream.seen[-1] == "sk-two"
