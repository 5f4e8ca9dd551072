"""One small SQL interface over two backends: SQLite (embedded default) and PostgreSQL.

Queries are written once with ``?`` placeholders; the PostgreSQL backend turns them into
``%s``. Both backends are synchronous and thread-safe: async callers go through
``asyncio.to_thread``, so the event loop never waits on a disk or a socket. Nothing on the
gateway's hot path touches this module: the control plane reads the store into memory and
refreshes it when the store's revision changes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from portkey.errors import Conflict, StoreUnavailable

Row = tuple[Any, ...]


class Tx(Protocol):
    """A transaction: every statement inside commits together or not at all."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


class Database(Protocol):
    dialect: str
    url: str

    def transaction(self) -> Any: ...  # a context manager yielding Tx

    def close(self) -> None: ...


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self.conn.execute(sql, tuple(params)).rowcount
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"already exists: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self.conn.execute(sql, tuple(params)).fetchall())


class SqliteDatabase:
    """A SQLite file in WAL mode; one connection, serialised by a lock (writes are rare)."""

    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._wal()
        self._conn.execute("PRAGMA foreign_keys=ON")
        with contextlib.suppress(OSError):  # e.g. a read-only mount: not fatal
            self.path.chmod(0o600)

    def _wal(self) -> None:
        """Switch to WAL; the switch needs a moment alone with the file and SQLite does not
        wait for it on its own, so replicas opening together retry for a few seconds."""
        for _ in range(100):
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                time.sleep(0.05)  # noqa: TID251 - opening the store, in a worker thread
        raise StoreUnavailable(f"SQLite store {self.path} stayed locked")

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTx]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"SQLite store {self.path} is unavailable: {exc}") from exc
            try:
                yield _SqliteTx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _PostgresTx:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        from psycopg import errors

        try:
            cur = self.conn.execute(sql.replace("?", "%s"), tuple(params))
        except errors.UniqueViolation as exc:
            raise Conflict(f"already exists: {exc.diag.message_detail or exc}") from exc
        return int(cur.rowcount)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self.conn.execute(sql.replace("?", "%s"), tuple(params))
        return list(cur.fetchall())


class PostgresDatabase:
    """PostgreSQL through a small psycopg connection pool."""

    dialect = "postgres"

    def __init__(self, url: str, max_size: int = 4, timeout_s: float = 5.0) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self.timeout_s = timeout_s
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=timeout_s,
            open=False,
            kwargs={"connect_timeout": max(1, int(timeout_s))},
        )
        try:
            self._pool.open(wait=True, timeout=timeout_s)
        except Exception as exc:
            self._pool.close()
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {redact_url(url)}: {exc}"
            ) from exc

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTx]:
        import psycopg

        try:
            with self._pool.connection(timeout=self.timeout_s) as conn, conn.transaction():
                yield _PostgresTx(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(f"PostgreSQL store is unavailable: {exc}") from exc
        except Exception as exc:
            if type(exc).__name__ == "PoolTimeout":
                raise StoreUnavailable(f"PostgreSQL store is unavailable: {exc}") from exc
            raise

    def close(self) -> None:
        self._pool.close()


def open_database(url: str) -> SqliteDatabase | PostgresDatabase:
    """``sqlite:///path``, a bare file path, or ``postgresql://...``."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    if "://" in url:
        raise ValueError(
            f"unsupported database URL {redact_url(url)!r}: use sqlite:/// or postgresql://"
        )
    return SqliteDatabase(url)
