"""A Trino coordinator stand-in: the HTTP statement protocol, answered by DuckDB.

No Trino server can be installed on this machine kind, so tests run the real ``trino``
client against this. It speaks what the client uses: ``POST /v1/statement`` (SQL in the
body, ``X-Trino-*`` headers) -> ``QUEUED`` with a ``nextUri``; ``GET nextUri`` -> ``RUNNING``
until DuckDB is done, then pages of ``columns``/``data`` (Trino's JSON encoding: decimals
and dates as strings, a ``typeSignature`` per column) linked by ``nextUri``; ``DELETE
nextUri`` cancels (DuckDB is interrupted) and answers 204. SQL is transpiled trino -> duckdb
with sqlglot; ``SHOW STATS FOR t`` answers the summary row (row_count) from ``count(*)``.
Errors come back as Trino's ``error`` object (``USER_ERROR`` for what DuckDB refuses).

Writable (``FakeTrino(path, writable=True)``, the sync tests' target): CREATE/ALTER/INSERT/
DELETE/DROP run on DuckDB too. DuckDB forgets declared lengths (``varchar(20)`` is VARCHAR), so
the fake keeps each declared Trino type as the DuckDB column's comment and answers
``information_schema.columns.data_type`` from it, in Trino's spelling (``decimal(38,9)``,
``varchar(20)``, ``timestamp(6) with time zone``, ``varbinary``, ``json``). Values go out as
Trino encodes them: timestamps ``YYYY-MM-DD HH:MM:SS.ffffff[ UTC]``, varbinary base64, NaN/inf
as ``"NaN"``/``"Infinity"``, decimals as strings.

Scripting by test: ``FakeTrino.delay_s`` holds every query that long before it runs;
``FakeTrino.max_length`` is the cluster's ``query.max-length`` (longer SQL is refused as
Trino refuses it); ``FakeTrino.fail`` (a callable of the SQL) makes a statement fail.
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import sqlglot
from aiohttp import web
from sqlglot import exp

from tests.fakes.runner import AppServer

PAGE_ROWS = 4096
_STATS = re.compile(r"^\s*SHOW\s+STATS\s+FOR\s+(.+?)\s*;?\s*$", re.I | re.S)


def _signature(duck_type: str) -> tuple[str, dict[str, Any]]:
    t = duck_type.upper()
    simple = {
        "BIGINT": "bigint",
        "INTEGER": "integer",
        "SMALLINT": "smallint",
        "TINYINT": "tinyint",
        "DOUBLE": "double",
        "FLOAT": "real",
        "BOOLEAN": "boolean",
        "DATE": "date",
        "BLOB": "varbinary",
        "JSON": "json",
        "UUID": "uuid",
    }
    if t.endswith("[]"):
        raw, inner = _signature(t[:-2])
        return f"array({raw})", {
            "rawType": "array",
            "arguments": [{"kind": "TYPE", "value": inner}],
        }
    if t == "VARCHAR":  # unbounded varchar: Trino still sends its length
        return "varchar", {
            "rawType": "varchar",
            "arguments": [{"kind": "LONG", "value": 2**31 - 1}],
        }
    if t in simple:
        raw = simple[t]
        return raw, {"rawType": raw, "arguments": []}
    match = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if match or t == "HUGEINT":
        p, s = (int(match.group(1)), int(match.group(2))) if match else (38, 0)
        args = [{"kind": "LONG", "value": p}, {"kind": "LONG", "value": s}]
        return f"decimal({p},{s})", {"rawType": "decimal", "arguments": args}
    if t.startswith("TIMESTAMP"):
        args = [{"kind": "LONG", "value": 6}]
        if "TIME ZONE" in t or t == "TIMESTAMPTZ":
            raw = "timestamp with time zone"
            return "timestamp(6) with time zone", {"rawType": raw, "arguments": args}
        return "timestamp(6)", {"rawType": "timestamp", "arguments": args}
    return _signature("VARCHAR")


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            plain = value.astimezone(UTC).replace(tzinfo=None)
            return plain.isoformat(sep=" ", timespec="microseconds") + " UTC"
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return value


def _trino_spelling(duck_type: str) -> str:
    """A DuckDB column type as Trino's information_schema spells it."""
    raw, signature = _signature(duck_type)
    if raw == "varchar" and signature["arguments"][0]["value"] == 2**31 - 1:
        return "varchar"
    return raw


def _declared(statement: exp.Expression) -> tuple[exp.Table, list[tuple[str, str]]] | None:
    """(table, [(column, Trino type)]) a CREATE TABLE / ALTER TABLE declares, else None."""
    if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
        table = statement.this.this
        defs = [c for c in statement.this.expressions if isinstance(c, exp.ColumnDef)]
    elif isinstance(statement, exp.Alter):
        table = statement.this
        defs = []
        for action in statement.args.get("actions") or []:
            if isinstance(action, exp.ColumnDef):
                defs.append(action)
            elif isinstance(action, exp.AlterColumn) and action.args.get("dtype"):
                defs.append(exp.ColumnDef(this=action.this, kind=action.args["dtype"]))
    else:
        return None
    declared = [
        (d.name, d.args["kind"].sql("trino").lower().replace(", ", ","))
        for d in defs
        if d.args.get("kind")
    ]
    return table, declared


@dataclass
class _Query:
    id: str
    sql: str
    done: threading.Event = field(default_factory=threading.Event)
    columns: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    cursor: Any = None
    cancelled: bool = False


class FakeTrino:
    """``with FakeTrino(duckdb_path) as trino: trino.port``; every query reads that file."""

    def __init__(self, database: str, *, writable: bool = False) -> None:
        self.database = database
        self.queries: dict[str, _Query] = {}
        self.statements: list[str] = []
        self.delay_s = 0.0
        self.max_length = 1_000_000
        self.fail: Callable[[str], bool] = lambda sql: False
        app = web.Application(client_max_size=64 << 20)  # statements up to max_length
        app.router.add_post("/v1/statement", self._post)
        app.router.add_get("/v1/statement/{kind}/{id}/{token}", self._get)
        app.router.add_delete("/v1/statement/{kind}/{id}/{token}", self._delete)
        self._server = AppServer(app)
        self._con = duckdb.connect(database, read_only=not writable)
        self._con.execute("SET GLOBAL TimeZone = 'UTC'")

    @property
    def port(self) -> int:
        return self._server.port

    def __enter__(self) -> FakeTrino:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(None, None, None)
        self._con.close()

    # -- protocol -------------------------------------------------------------------------
    def _uri(self, request: web.Request, query: _Query, token: int) -> str:
        return f"http://{request.host}/v1/statement/executing/{query.id}/{token}"

    def _status(self, request: web.Request, query: _Query, state: str, **extra: Any) -> Any:
        return {
            "id": query.id,
            "infoUri": f"http://{request.host}/ui/query.html?{query.id}",
            "stats": {"state": state, "queued": state == "QUEUED", "scheduled": True},
            "warnings": [],
            **extra,
        }

    async def _post(self, request: web.Request) -> web.Response:
        sql = await request.text()
        query = _Query(uuid.uuid4().hex, sql)
        self.queries[query.id] = query
        self.statements.append(sql)
        if len(sql) > self.max_length:
            message = (
                f"Query text length ({len(sql)}) exceeds the maximum length ({self.max_length})"
            )
            error = {"message": message, "errorCode": 4, "errorName": "QUERY_TEXT_TOO_LARGE",
                     "errorType": "USER_ERROR"}  # fmt: skip
            return web.json_response(self._status(request, query, "FAILED", error=error))
        if self.fail(sql):
            error = {"message": "the test made this statement fail", "errorCode": 65536,
                     "errorName": "GENERIC_INTERNAL_ERROR", "errorType": "INTERNAL_ERROR"}  # fmt: skip
            return web.json_response(self._status(request, query, "FAILED", error=error))
        threading.Thread(target=self._execute, args=(query,), daemon=True).start()
        body = self._status(request, query, "QUEUED", nextUri=self._uri(request, query, 0))
        return web.json_response(body)

    async def _get(self, request: web.Request) -> web.Response:
        query = self.queries.get(request.match_info["id"])
        if query is None:
            return web.Response(status=404, text="no such query")
        token = int(request.match_info["token"])
        await asyncio.get_running_loop().run_in_executor(None, query.done.wait, 0.2)
        if query.cancelled:
            error = {"message": "Query was canceled", "errorCode": 3, "errorName":
                     "USER_CANCELED", "errorType": "USER_ERROR"}  # fmt: skip
            return web.json_response(self._status(request, query, "FAILED", error=error))
        if not query.done.is_set():
            body = self._status(request, query, "RUNNING", nextUri=self._uri(request, query, token))
            return web.json_response(body)
        if query.error is not None:
            return web.json_response(self._status(request, query, "FAILED", error=query.error))
        page = query.rows[token * PAGE_ROWS : (token + 1) * PAGE_ROWS]
        more = (token + 1) * PAGE_ROWS < len(query.rows)
        extra: dict[str, Any] = {"columns": query.columns, "data": page}
        if more:
            extra["nextUri"] = self._uri(request, query, token + 1)
        state = "RUNNING" if more else "FINISHED"
        return web.json_response(self._status(request, query, state, **extra))

    async def _delete(self, request: web.Request) -> web.Response:
        query = self.queries.get(request.match_info["id"])
        if query is not None:
            query.cancelled = True
            if query.cursor is not None:
                query.cursor.interrupt()
        return web.Response(status=204)

    # -- DuckDB behind it -----------------------------------------------------------------
    def _execute(self, query: _Query) -> None:
        cursor = self._con.cursor()
        query.cursor = cursor
        try:
            if self.delay_s and not query.cancelled:
                threading.Event().wait(self.delay_s)
            stats = _STATS.match(query.sql)
            if stats:
                table = sqlglot.parse_one(stats.group(1), read="trino").sql("duckdb")
                (count,) = cursor.execute(f"SELECT count(*) FROM {table}").fetchone()
                query.columns = [_column("column_name", "VARCHAR"), _column("row_count", "DOUBLE")]
                query.rows = [[None, float(count)]]
                return
            statement = sqlglot.parse_one(query.sql, read="trino")
            sql = statement.sql("duckdb")
            if "information_schema.columns" in query.sql.lower():
                sql = re.sub(
                    r"\bdata_type\b(?!\s*=)",
                    "coalesce(column_comment, data_type) AS data_type",
                    sql,
                    count=1,
                )
            result = cursor.execute(sql)
            names = [d[0] for d in result.description or []]
            types = [str(d[1]) for d in result.description or []]
            rows = result.fetchall() if result.description else []
            _remember_declared(cursor, statement)
            if "data_type" in names:
                i = names.index("data_type")
                rows = [
                    (*r[:i], r[i] if r[i].islower() else _trino_spelling(r[i]), *r[i + 1 :])
                    for r in rows
                ]
            query.columns = [_column(n, t) for n, t in zip(names, types, strict=True)]
            query.rows = [[_encode(v) for v in row] for row in rows]
        except Exception as exc:
            query.error = {
                "message": f"{type(exc).__name__}: {exc}",
                "errorCode": 1,
                "errorName": "GENERIC_USER_ERROR",
                "errorType": "USER_ERROR",
            }
        finally:
            query.done.set()
            cursor.close()


def _remember_declared(cursor: Any, statement: exp.Expression) -> None:
    declared = _declared(statement)
    if declared is None:
        return
    table, columns = declared
    target = table.sql("duckdb")
    for name, trino_type in columns:
        column = exp.column(name, quoted=True).sql("duckdb")
        text = trino_type.replace("'", "''")
        cursor.execute(f"COMMENT ON COLUMN {target}.{column} IS '{text}'")


def _column(name: str, duck_type: str) -> dict[str, Any]:
    raw, signature = _signature(duck_type)
    return {"name": name, "type": raw, "typeSignature": signature}
