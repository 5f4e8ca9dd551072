"""Fixtures for control-plane tests: a fresh PostgreSQL schema and a shared master key."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from portkey.control.crypto import generate_key
from tests.conftest import REQUIRE_SERVICES

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_or_skip() -> object:
    try:
        import psycopg

        return psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"PostgreSQL is not reachable: {exc}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A store URL on its own PostgreSQL schema, dropped afterwards."""
    conn = _pg_or_skip()
    schema = f"portkey_test_{secrets.token_hex(4)}"
    conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[attr-defined]
    try:
        yield f"{PG_DSN}?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]


@pytest.fixture
def master_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """One master key for this test process and the gateway processes it starts."""
    key = generate_key()
    monkeypatch.setenv("PORTKEY_MASTER_KEY", key)
    return key


@pytest.fixture
def redis_url() -> str:
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except Exception as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"Redis is not reachable: {exc}")
    return url


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    name = f"test:{secrets.token_hex(6)}:"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}*"))
    if keys:
        client.delete(*keys)
    client.close()
