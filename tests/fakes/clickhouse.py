"""A ClickHouse server stand-in: ClickHouse's HTTP interface, answered by chdb (ClickHouse itself).

No ClickHouse server can run on this machine kind, so tests run the real
``clickhouse-connect`` client against this. chdb embeds the ClickHouse engine (26.x) and
allows one session per process, so the fake runs in a subprocess of its own
(``python -m tests.fakes.clickhouse --data DIR``) with its own data directory; the test
process may keep its own chdb session (tests/orchestrator/test_clickhouse.py does).

What it speaks (what clickhouse-connect 1.13 sends, read from its httpclient/_backend):

- ``GET /ping`` -> ``Ok.``; ``POST /?<params>`` with the SQL in the body, and/or in the
  ``query`` URL parameter (both given: parameter, newline, body);
- URL parameters: ``database`` (``USE``), ``query_id`` (generated when absent),
  ``default_format``, ``param_<name>`` (server-side bind values, handed to chdb), and every
  other name as a ClickHouse setting of this request only (``SET`` before the query, ``SET
  ... = DEFAULT`` after). Transport-only ones (``wait_end_of_query``, ``session_id``,
  ``compress``, ...) are accepted and ignored. ``client_protocol_version`` is dropped, as a
  proxy such as CHProxy does: the client then reads protocol-0 ``Native``. ``readonly`` in
  the URL is refused (it would stick to the shared session): put it in the query's own
  ``SETTINGS`` clause, where chdb enforces it per query;
- the answer format: the query's trailing ``FORMAT X`` clause, else ``default_format``, else
  ``TabSeparated``; the bytes are chdb's own (Native, Arrow, ArrowStream, JSON...), sent
  uncompressed (as a server does with ``enable_http_compression=0``, its default);
- headers the client reads: ``X-ClickHouse-Query-Id``, ``X-ClickHouse-Format`` (statements
  with a result), ``X-ClickHouse-Timezone``, ``X-ClickHouse-Server-Display-Name`` and
  ``X-ClickHouse-Summary`` (read/written rows and bytes from chdb);
- errors as ClickHouse's HTTPHandler gives them: ``Code: N. DB::Exception: ...`` text, the
  ``X-ClickHouse-Exception-Code`` header and the HTTP status of that code (401 bad
  credentials, 403 READONLY, 400 syntax/unknown identifier, 404 unknown table/database,
  500 otherwise);
- ``KILL QUERY WHERE query_id = '...' [SYNC|ASYNC]``: the named query answers ``Code: 394
  ... (QUERY_WAS_CANCELLED)`` and the kill's own answer lists it (TabSeparated rows).

Queries run one at a time in the one chdb session. Scripting by test (test-only routes):
``POST /_fake/script {"delay_s": N}`` holds every later SELECT that long before it runs (a
slow query; KILL QUERY ends the hold); ``GET /_fake/log`` lists the queries received (id,
sql, settings, killed, status).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.runner import AppServer

_FORMAT = re.compile(r"\s+FORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.I)
_KILL = re.compile(r"^\s*KILL\s+QUERY\s+WHERE\s+query_id\s*=\s*'([^']*)'", re.I)
_CODE = re.compile(r"Code:\s*(\d+)")
_RESULT_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS", "(")
#: URL parameters that are transport, not settings (clickhouse-connect's transport set)
_TRANSPORT = {
    "query",
    "database",
    "default_format",
    "query_id",
    "session_id",
    "session_timeout",
    "session_check",
    "compress",
    "decompress",
    "buffer_size",
    "wait_end_of_query",
    "quota_key",
    "client_protocol_version",
    "role",
    "user",
    "password",
}
#: ClickHouse error code -> the HTTP status its HTTP interface answers with
_STATUS = {516: 401, 192: 401, 194: 401, 164: 403, 497: 403, 62: 400, 47: 400, 60: 404, 81: 404}
_CONTENT_TYPES = {
    "JSON": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
}


@dataclass
class Received:
    """One query as the fake saw it."""

    id: str
    sql: str
    settings: dict[str, str]
    killed: bool = False
    status: int = 0


@dataclass
class _Running:
    query: Received
    kill: asyncio.Event = field(default_factory=asyncio.Event)


class ClickHouseFake:
    """The aiohttp application around one chdb session (lives in the fake's process)."""

    def __init__(self, data: str, user: str = "default", password: str = "") -> None:
        from chdb import session

        self.session: Any = session.Session(data)  # type: ignore[no-untyped-call]
        self.user, self.password = user, password
        self.lock = threading.Lock()
        self.delay_s = 0.0
        self.log: list[Received] = []
        self.running: dict[str, _Running] = {}
        tz = self.session.query("SELECT timezone()", "TabSeparated").bytes()  # type: ignore[no-untyped-call]
        self.timezone = tz.decode().strip() or "UTC"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_get("/ping", self.ping)
        app.router.add_get("/_fake/log", self.show_log)
        app.router.add_post("/_fake/script", self.script)
        app.router.add_route("*", "/", self.handle)
        return app

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def show_log(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(q) for q in self.log])

    async def script(self, request: web.Request) -> web.Response:
        self.delay_s = float((await request.json()).get("delay_s", 0))
        return web.json_response({"delay_s": self.delay_s})

    # -- the protocol ----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        qid = params.get("query_id") or str(uuid.uuid4())
        if not self._authorized(request):
            return _error(f"Code: 516. DB::Exception: {self.user}: Authentication failed", qid)
        body = (await request.read()).decode()
        sql = "\n".join(p for p in (params.get("query", ""), body) if p)
        settings = {
            k: v for k, v in params.items() if k not in _TRANSPORT and not k.startswith("param_")
        }
        received = Received(qid, sql, settings)
        self.log.append(received)
        kill = _KILL.match(sql)
        if kill:
            return self._kill(kill.group(1), received)
        if "readonly" in settings:
            received.status = 500
            return _error("Code: 1. DB::Exception: fake: readonly in URL params", qid)
        match = _FORMAT.search(sql)
        fmt = match.group(1) if match else params.get("default_format", "TabSeparated")
        sql = sql[: match.start()] if match else sql
        running = _Running(received)
        self.running[qid] = running
        try:
            if self.delay_s and sql.lstrip().upper().startswith(_RESULT_STATEMENTS):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(running.kill.wait(), self.delay_s)
            if running.kill.is_set():
                return self._cancelled(received)
            binds = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
            loop = asyncio.get_running_loop()
            try:
                data, summary = await loop.run_in_executor(
                    None, self._execute, sql, fmt, settings, params.get("database"), binds
                )
            except Exception as exc:
                received.status = _STATUS.get(_code(str(exc)), 500)
                return _error(str(exc), qid)
            if running.kill.is_set():
                return self._cancelled(received)
        finally:
            self.running.pop(qid, None)
        received.status = 200
        return self._answer(data, fmt, sql, qid, summary)

    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        user = request.headers.get("X-ClickHouse-User") or request.query.get("user")
        password = request.headers.get("X-ClickHouse-Key") or request.query.get("password", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return (user or "default") == self.user and password == self.password

    def _execute(
        self,
        sql: str,
        fmt: str,
        settings: dict[str, str],
        database: str | None,
        binds: dict[str, str],
    ) -> tuple[bytes, dict[str, str]]:
        with self.lock:
            applied: list[str] = []
            try:
                for name, value in settings.items():
                    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
                    self.session.query(f"SET {name} = '{quoted}'")
                    applied.append(name)
                if database:
                    self.session.query(f"USE `{database}`")
                result = self.session.query(sql, fmt, params=binds or None)
            finally:
                for name in applied:
                    self.session.query(f"SET {name} = DEFAULT")
                if database:
                    self.session.query("USE default")
        data = result.bytes() or b""
        summary = {
            "read_rows": str(result.rows_read()),
            "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_written()),
            "written_bytes": str(result.bytes_written()),
            "total_rows_to_read": str(result.rows_read()),
            "result_bytes": str(len(data)),
            "elapsed_ns": str(int(result.elapsed() * 1e9)),
        }
        return data, summary

    def _answer(
        self, data: bytes, fmt: str, sql: str, qid: str, summary: dict[str, str]
    ) -> web.Response:
        headers = {
            "X-ClickHouse-Query-Id": qid,
            "X-ClickHouse-Timezone": self.timezone,
            "X-ClickHouse-Server-Display-Name": "portkey-fake-clickhouse",
            "X-ClickHouse-Summary": json.dumps(summary),
            "Content-Type": _CONTENT_TYPES.get(fmt, "application/octet-stream"),
        }
        if sql.lstrip().upper().startswith(_RESULT_STATEMENTS):
            headers["X-ClickHouse-Format"] = fmt
        return web.Response(body=data, headers=headers)

    def _kill(self, qid: str, received: Received) -> web.Response:
        running = self.running.get(qid)
        received.status = 200
        if running is None:
            return web.Response(body=b"", headers={"X-ClickHouse-Format": "TabSeparated"})
        running.kill.set()
        running.query.killed = True
        line = f"waiting\t{qid}\t{self.user}\t{running.query.sql.splitlines()[0][:100]}\n"
        return web.Response(text=line, headers={"X-ClickHouse-Format": "TabSeparated"})

    def _cancelled(self, received: Received) -> web.Response:
        received.status = 500
        return _error(
            "Code: 394. DB::Exception: Query was cancelled. (QUERY_WAS_CANCELLED)", received.id
        )


def _code(message: str) -> int:
    match = _CODE.search(message)
    return int(match.group(1)) if match else 1


def _error(message: str, qid: str) -> web.Response:
    code = _code(message)
    return web.Response(
        status=_STATUS.get(code, 500),
        text=message.strip() + "\n",
        headers={
            "X-ClickHouse-Exception-Code": str(code),
            "X-ClickHouse-Query-Id": qid,
            "Content-Type": "text/plain; charset=UTF-8",
        },
    )


# -- the test side: the fake in its own process ----------------------------------------------
class FakeClickHouse:
    """``with FakeClickHouse(data_dir) as ch: ch.port`` -> a ClickHouse HTTP server on 127.0.0.1."""

    def __init__(self, data: Path, password: str = "") -> None:
        self.data = data
        self.password = password
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        root = Path(__file__).resolve().parent.parent.parent
        env = {**os.environ, "PYTHONPATH": str(root)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.clickhouse", "--data", str(self.data)]
            + (["--password", self.password] if self.password else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
            env=env,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self._proc.kill()
            raise RuntimeError(f"fake ClickHouse did not start: {line!r}")
        self.port = int(line)
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()  # the fake ends when its stdin does
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)

    def client(self) -> Any:
        """The real client, logged in, for loading data (writes are allowed here)."""
        import clickhouse_connect

        return clickhouse_connect.get_client(
            host="127.0.0.1", port=self.port, password=self.password
        )

    def engine(self, **extra: Any) -> dict[str, Any]:
        """Settings of a ``type: clickhouse`` engine that reads this fake."""
        return {"type": "clickhouse", "port": self.port, "password": self.password, **extra}

    def received(self) -> list[Received]:
        import httpx

        rows = httpx.get(f"{self.url}/_fake/log", timeout=10).json()
        return [Received(**row) for row in rows]

    def delay(self, seconds: float) -> None:
        import httpx

        httpx.post(f"{self.url}/_fake/script", json={"delay_s": seconds}, timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="chdb data directory (created if absent)")
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    fake = ClickHouseFake(args.data, args.user, args.password)
    with AppServer(fake.app()) as server:
        print(server.port, flush=True)
        sys.stdin.read()  # until the test closes our stdin (or dies)


if __name__ == "__main__":
    main()
