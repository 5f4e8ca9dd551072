"""SQLite adapter: the file opened read-only (``mode=ro``), interrupted on timeout."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pyarrow as pa

from portkey.orchestrator.engines.base import (
    ColumnInfo,
    Engine,
    TableInfo,
    duckdb_type,
    rows_to_arrow,
)
from portkey.orchestrator.settings import SQLiteEngine


class SQLite(Engine):
    dialect = "sqlite"
    settings: SQLiteEngine
    unreachable = (sqlite3.OperationalError,)

    def _connect(self) -> Any:
        conn = sqlite3.connect(
            f"file:{self.settings.path}?mode=ro", uri=True, check_same_thread=False
        )
        conn.execute("PRAGMA query_only = ON")
        # SQL's LIKE is case-sensitive (as in DuckDB and PostgreSQL); SQLite's is not by default
        conn.execute("PRAGMA case_sensitive_like = ON")
        return conn

    def _run(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        timer = threading.Timer(timeout_s, conn.interrupt)
        timer.start()
        try:
            cur = conn.execute(sql)
            rows = cur.fetchall()
        except sqlite3.OperationalError as exc:
            # a bad statement is also an OperationalError: not "unreachable"
            raise _Refused(str(exc)) from exc
        finally:
            timer.cancel()
        return rows_to_arrow([d[0] for d in cur.description], rows)

    def _is_timeout(self, exc: BaseException) -> bool:
        return "interrupted" in str(exc)

    def _introspect(self, conn: Any) -> list[TableInfo]:
        tables = []
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        if not self.wanted("main"):
            return []
        for (name,) in names:
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            columns = tuple(
                ColumnInfo(str(col[1]).lower(), duckdb_type(col[2] or "TEXT", "sqlite"))
                for col in info
            )
            (count,) = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            tables.append(TableInfo(self.name, "main", str(name).lower(), columns, int(count)))
        return tables


class _Refused(Exception):
    """The statement itself failed (kept apart from sqlite3's connect errors)."""
