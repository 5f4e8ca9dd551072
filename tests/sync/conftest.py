"""Real engines for sync tests: a fresh PostgreSQL schema and MariaDB database per test, DuckDB and
SQLite files in tmp_path; all dropped after. ``Env`` builds ``data:`` settings over them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml

from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.sync.history import History
from portkey.store.db import SqliteDatabase

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN_KEY = "admin-key-for-sync-tests-42"
_SCRIPT = Path(sys.executable).with_name("portkey")
PORTKEY = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "portkey.cli.main"]


@dataclass
class Env:
    tmp: Path
    schema: str
    mysql_db: str
    pg: Any
    my: Any
    syncs: dict[str, Any] = field(default_factory=dict)

    def engines(self) -> dict[str, Any]:
        return {
            "pg": {"type": "postgres", "dsn": PG_DSN},
            # the same server under another name: rows go through Arrow, not INSERT ... SELECT
            "pg2": {"type": "postgres", "dsn": PG_DSN},
            "duck": {"type": "duckdb", "path": str(self.tmp / "sync.duckdb")},
            "lite": {"type": "sqlite", "path": str(self.tmp / "sync.sqlite")},
            "my": {"type": "mysql", "database": self.mysql_db},
        }

    def settings(self, **syncs: Any) -> DataSettings:
        self.syncs.update(syncs)
        return DataSettings.model_validate({"engines": self.engines(), "syncs": self.syncs})

    def config(self, **syncs: Any) -> Path:
        self.syncs.update(syncs)
        path = self.tmp / "portkey.yaml"
        data = {"engines": self.engines(), "syncs": self.syncs}
        store = {"url": f"sqlite:///{self.tmp / 'portkey.db'}"}
        path.write_text(
            yaml.safe_dump({"admin": {"api_key": ADMIN_KEY}, "store": store, "data": data})
        )
        return path

    def history(self) -> History:
        return History(SqliteDatabase(self.tmp / "portkey.db"))

    def pg_rows(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.pg.execute(sql).fetchall())

    def my_rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.my.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def my_exec(self, sql: str) -> None:
        with self.my.cursor() as cur:
            cur.execute(sql)

    def cli(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "PORTKEY_DATA_DIR": str(self.tmp)}
        done = subprocess.run(
            [*PORTKEY, "sync", *args, "--config", str(self.tmp / "portkey.yaml")],
            env=env,
            capture_output=True,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
        return done


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    tag = secrets.token_hex(4)
    schema, mysql_db = f"sync_{tag}", f"sync_{tag}"
    pg = psycopg.connect(PG_DSN, autocommit=True)
    pg.execute(f"CREATE SCHEMA {schema}")
    my = pymysql.connect(host="127.0.0.1", user="root", autocommit=True, charset="utf8mb4")
    with my.cursor() as cur:
        cur.execute(f"CREATE DATABASE {mysql_db}")
        cur.execute(f"USE {mysql_db}")
        cur.execute("SET time_zone = '+00:00'")
    try:
        yield Env(tmp_path, schema, mysql_db, pg, my)
    finally:
        pg.execute(f"DROP SCHEMA {schema} CASCADE")
        pg.close()
        with my.cursor() as cur:
            cur.execute(f"DROP DATABASE {mysql_db}")
        my.close()
