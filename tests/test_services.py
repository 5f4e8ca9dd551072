"""PostgreSQL and Redis are reachable (later features keep state there; this guards CI setup).

Skipped when a service is down, unless PORTKEY_REQUIRE_SERVICES=1: then it fails.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
import redis

from tests.conftest import REQUIRE_SERVICES

PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"
PG_USERS = ("postgres", "root")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def unreachable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (PORTKEY_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def pg_connect() -> psycopg.Connection[tuple[object, ...]]:
    errors = []
    for user in PG_USERS:
        try:
            return psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user, connect_timeout=3
            )
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {exc}".strip())
    unreachable(f"PostgreSQL {PG_HOST}:{PG_PORT}/{PG_DB}", OSError("; ".join(errors)))
    raise AssertionError("unreachable")  # pytest.skip / pytest.fail raised above


def test_postgres_is_reachable() -> None:
    with pg_connect() as conn:
        row = conn.execute("SELECT current_database(), 1 + 1").fetchone()
        assert row == (PG_DB, 2)
        # a round trip through a table: the user may create and write, not only connect
        conn.execute("CREATE TEMP TABLE portkey_probe (k text PRIMARY KEY, v int)")
        key = uuid.uuid4().hex
        conn.execute("INSERT INTO portkey_probe VALUES (%s, %s)", (key, 42))
        assert conn.execute("SELECT v FROM portkey_probe WHERE k = %s", (key,)).fetchone() == (42,)
        conn.rollback()


def test_redis_is_reachable() -> None:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=3)
    try:
        assert client.ping() is True
    except redis.RedisError as exc:
        unreachable(f"Redis {REDIS_HOST}:{REDIS_PORT}", exc)
    key = f"portkey:probe:{uuid.uuid4().hex}"
    try:
        assert client.set(key, "v", ex=30) is True
        assert client.get(key) == b"v"
    finally:
        client.delete(key)
        client.close()
