"""Snowflake adapter (``snowflake-connector-python``): Arrow results, one session per engine.

Names: Snowflake stores unquoted identifiers in upper case; the catalog shows those in lower
case (as every other engine does) and this adapter unquotes them again in the SQL it sends, so
``"l_orderkey"`` from the planner reaches Snowflake as ``l_orderkey`` (resolved as
``L_ORDERKEY``). Names created quoted in mixed or lower case keep their exact spelling. Result
columns are renamed to the names the SQL asked for (Snowflake answers unquoted aliases in upper
case).

Snowflake has no read-only session: queries are read-only by construction (validate.py), and
the configured ``role`` should hold read-only grants. Logins are slow (hundreds of ms), so
sessions are pooled per engine (one statement at a time each); a statement timeout is set on
the session and on every statement, and ``cancel`` aborts a session's queries from another
session of the same user (``SYSTEM$CANCEL_ALL_QUERIES``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import pyarrow as pa
import snowflake.connector
from snowflake.connector import errors as sf_errors
from sqlglot import exp, parse_one

from portkey.orchestrator.engines.base import ColumnInfo, Engine, TableInfo
from portkey.orchestrator.settings import SnowflakeEngine

#: errno of "statement reached its statement or warehouse timeout" / "SQL execution canceled"
_TIMEOUT_ERRNOS = {630, 604}
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
#: logged-in sessions kept for reuse (a login takes hundreds of milliseconds)
_MAX_IDLE = 4


def folded(name: str) -> str:
    """A Snowflake name as the catalog shows it: upper-case names (unquoted) in lower case."""
    return name.lower() if name == name.upper() and PLAIN_NAME.fullmatch(name) else name


def unfolded(name: str) -> str:
    """The name Snowflake stores for one shown folded: lower case (unquoted) -> upper case."""
    return name.upper() if name == name.lower() and PLAIN_NAME.fullmatch(name) else name


def snowflake_sql(sql: str) -> tuple[str, list[str]]:
    """``sql`` with lower-case identifiers unquoted (so Snowflake folds them to its upper-case
    names), and the output column names the query asks for."""
    tree = parse_one(sql, dialect="snowflake")
    names = list(tree.named_selects) if isinstance(tree, exp.Query) else []
    for ident in tree.find_all(exp.Identifier):
        if ident.quoted and unfolded(ident.name) != ident.name:
            ident.set("quoted", False)
    return tree.sql(dialect="snowflake"), names


def snowflake_type(dtype: str, precision: int | None, scale: int | None) -> str:
    """An information_schema type in DuckDB's spelling (the planner's lingua franca)."""
    kind = dtype.upper()
    if kind in ("NUMBER", "DECIMAL", "NUMERIC"):
        if not scale:  # NUMBER(38,0) is Snowflake's INT; values past int64 come as decimals
            return "BIGINT"
        return f"DECIMAL({precision or 38}, {scale})"
    return _TYPES.get(kind, "VARCHAR")


_TYPES = {
    "FLOAT": "DOUBLE",
    "TEXT": "VARCHAR",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIME": "TIME",
    "TIMESTAMP_NTZ": "TIMESTAMP",
    "TIMESTAMP_LTZ": "TIMESTAMPTZ",
    "TIMESTAMP_TZ": "TIMESTAMPTZ",
    "BINARY": "BLOB",
    "VARIANT": "JSON",
    "OBJECT": "JSON",
    "ARRAY": "JSON",
}


def normalized(table: pa.Table, names: list[str]) -> pa.Table:
    """Snowflake's Arrow answer with the asked-for column names and microsecond timestamps
    (the planner's and DuckDB's resolution; Snowflake answers nanoseconds)."""
    if len(names) == table.num_columns and "*" not in names:
        table = table.rename_columns(names)
    else:
        table = table.rename_columns([folded(n) for n in table.column_names])
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.unit != "us":
            want = pa.timestamp("us", tz="UTC" if field.type.tz else None)
            column = table.column(i)
            if field.type.tz:
                column = column.cast(pa.timestamp(field.type.unit, tz="UTC"))
            table = table.set_column(i, field.name, column.cast(want, safe=False))
    return table


def connect_args(s: SnowflakeEngine) -> dict[str, Any]:
    """The connector's ``connect`` arguments for these settings (also used by sync)."""
    args: dict[str, Any] = {
        "account": s.account,
        "user": s.user,
        "database": s.database,
        "login_timeout": s.network_timeout_s,
        "network_timeout": s.network_timeout_s,
        "application": "portkey",
        "session_parameters": {
            "STATEMENT_TIMEOUT_IN_SECONDS": int(s.statement_timeout_s),
            "QUERY_TAG": "portkey",
            "TIMEZONE": "UTC",
        },
    }
    optional = {
        "password": s.password,
        "private_key_file": s.private_key_file,
        "private_key_file_pwd": s.private_key_file_pwd,
        "authenticator": s.authenticator,
        "warehouse": s.warehouse,
        "role": s.role,
        "schema": s.default_schema,
        "host": s.host,
        "port": s.port,
    }
    args.update({k: v for k, v in optional.items() if v is not None})
    if s.protocol != "https":
        args["protocol"] = s.protocol
    return args


class Snowflake(Engine):
    dialect = "snowflake"
    settings: SnowflakeEngine
    unreachable = (sf_errors.OperationalError, sf_errors.InterfaceError)

    def __init__(self, name: str, settings: SnowflakeEngine) -> None:
        super().__init__(name, settings)
        self._idle: list[Any] = []
        self._pool_lock = threading.Lock()

    def _session(self) -> Any:
        """An idle logged-in session, or a new one (a session runs one statement at a time)."""
        with self._pool_lock:
            while self._idle:
                session = self._idle.pop()
                if not session.is_closed():
                    return session
        return snowflake.connector.connect(**connect_args(self.settings))

    def _connect(self) -> Any:
        return _Lease(self._session(), self._release)

    def _release(self, session: Any) -> None:
        with self._pool_lock:
            if len(self._idle) < _MAX_IDLE and not session.is_closed():
                self._idle.append(session)
                return
        with suppress(Exception):
            session.close()

    def close(self) -> None:
        """Log every idle session out."""
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for session in idle:
            with suppress(Exception):
                session.close()

    def _interrupt(self, conn: Any) -> None:
        """Abort what ``conn``'s session runs, from another session of the same user."""
        busy = conn.session.session_id
        helper = self._session()
        try:
            cur = helper.cursor()
            cur.execute("SELECT SYSTEM$CANCEL_ALL_QUERIES(%s)", (busy,))
            cur.close()
        finally:
            self._release(helper)

    def _is_timeout(self, exc: BaseException) -> bool:
        return isinstance(exc, sf_errors.ProgrammingError) and exc.errno in _TIMEOUT_ERRNOS

    def _run(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        text, names = snowflake_sql(sql)
        cur = conn.session.cursor()
        try:
            cur.execute(text, timeout=max(1, int(timeout_s)))
            table = cur.fetch_arrow_all(force_return_table=True)
        finally:
            cur.close()
        return normalized(table, names)

    def _introspect(self, conn: Any) -> list[TableInfo]:
        cur = conn.session.cursor()
        try:
            cur.execute(
                "SELECT c.table_schema, c.table_name, c.column_name, c.data_type, "
                "c.numeric_precision, c.numeric_scale FROM information_schema.columns c "
                "WHERE c.table_schema <> 'INFORMATION_SCHEMA' "
                "ORDER BY c.table_schema, c.table_name, c.ordinal_position"
            )
            cols: dict[tuple[str, str], list[ColumnInfo]] = {}
            for schema, table, column, dtype, precision, scale in cur.fetchall():
                key = (folded(schema), folded(table))
                if self.wanted(key[0]):
                    cols.setdefault(key, []).append(
                        ColumnInfo(folded(column), snowflake_type(dtype, precision, scale))
                    )
            cur.execute(
                "SELECT table_schema, table_name, row_count FROM information_schema.tables "
                "WHERE table_schema <> 'INFORMATION_SCHEMA'"
            )
            rows = {(folded(s), folded(t)): n for s, t, n in cur.fetchall()}
        finally:
            cur.close()
        return [
            TableInfo(self.name, s, t, tuple(c), rows.get((s, t))) for (s, t), c in cols.items()
        ]


class _Lease:
    """A pooled session lent for one statement: closing it gives the session back."""

    def __init__(self, session: Any, release: Callable[[Any], None]) -> None:
        self.session = session
        self._release = release

    def close(self) -> None:
        self._release(self.session)
