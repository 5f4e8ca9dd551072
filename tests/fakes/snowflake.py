"""Snowflake for tests: the ``fakesnow`` server (Snowflake's HTTP protocol over DuckDB).

fakesnow pins an older sqlglot than ours, so it lives in its own virtualenv
(``.venv-fakesnow``, made by scripts/test.sh; ``PORTKEY_FAKESNOW`` names another executable)
and runs as a separate process, ``fakesnow -s -p PORT``; tests talk to it with the real
``snowflake-connector-python`` over http. Missing, the Snowflake tests skip — unless
``PORTKEY_REQUIRE_SERVICES=1`` (CI), where they fail.

Known fakesnow gaps (not Snowflake's behaviour): a NULL TIMESTAMP comes back as 1970-01-01,
``EXPLAIN`` answers HTTP 500, PUT (and so ``write_pandas``) is not served, and names are case
insensitive (DuckDB), so upper-casing mistakes would not show here — unit tests cover those.
No statement is ever stopped: ``STATEMENT_TIMEOUT_IN_SECONDS`` is ignored, the connector's
abort request (``execute(timeout=...)``) is answered "success" and does nothing, the login
gives no session id and ``SYSTEM$CANCEL_ALL_QUERIES`` does not exist (the statement fails, and
the server logs it: ``log()``). A test can see a cancel sent, never a statement cancelled.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parent.parent.parent
DATABASE = "PORTKEY_TEST"


def executable() -> Path | None:
    path = Path(os.environ.get("PORTKEY_FAKESNOW", ROOT / ".venv-fakesnow" / "bin" / "fakesnow"))
    return path if path.exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeSnowflake:
    """A fakesnow server process; ``engine()`` is its ``data.engines`` entry."""

    def __init__(self) -> None:
        exe = executable()
        if exe is None:
            message = "fakesnow is not installed (.venv-fakesnow: run scripts/test.sh)"
            if REQUIRE_SERVICES:
                pytest.fail(f"{message} (PORTKEY_REQUIRE_SERVICES=1)")
            pytest.skip(message)
        self.exe = exe
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        #: the server's log (it names each statement that failed, e.g. an unknown function)
        self.log_path = Path(tempfile.mkdtemp(prefix="fakesnow-")) / "server.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> FakeSnowflake:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.exe), "-s", "-p", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("fakesnow did not start") from None
                time.sleep(0.1)  # noqa: TID251 - test thread
        with self.connect(database=None) as conn:
            conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    def engine(self, **extra: Any) -> dict[str, Any]:
        return {
            "type": "snowflake",
            "account": "fakesnow",
            "user": "portkey",
            "password": "fake",
            "database": DATABASE,
            "host": "localhost",
            "port": self.port,
            "protocol": "http",
            "network_timeout_s": 20,
            **extra,
        }

    def connect(self, database: str | None = DATABASE, schema: str | None = None) -> Any:
        import snowflake.connector

        args: dict[str, Any] = {
            "account": "fakesnow",
            "user": "portkey",
            "password": "fake",
            "host": "localhost",
            "port": self.port,
            "protocol": "http",
            "network_timeout": 20,
            "login_timeout": 20,
        }
        if database:
            args["database"] = database
        if schema:
            args["schema"] = schema
        return snowflake.connector.connect(**args)


def _ddl_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "NUMBER(38,0)"
    if pa.types.is_decimal(t):
        return f"NUMBER({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_floating(t):
        return "FLOAT"
    return "VARCHAR"


def load(conn: Any, schema: str, name: str, table: pa.Table, chunk: int = 2000) -> None:
    """``table`` as ``schema.name`` (upper-case, unquoted names, as Snowflake users make them);
    rows go in as multi-row INSERTs (fakesnow serves no PUT, so no write_pandas)."""
    cur = conn.cursor()
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    cols = ", ".join(f"{f.name} {_ddl_type(f.type)}" for f in table.schema)
    cur.execute(f"CREATE OR REPLACE TABLE {schema}.{name} ({cols})")
    marks = ", ".join(["%s"] * table.num_columns)
    rows = list(zip(*(c.to_pylist() for c in table.columns), strict=True))
    for i in range(0, len(rows), chunk):
        cur.executemany(f"INSERT INTO {schema}.{name} VALUES ({marks})", rows[i : i + chunk])
