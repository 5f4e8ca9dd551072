"""MySQL/MariaDB adapter (asyncmy): read-only transaction, per-statement timeout, KILL QUERY.

asyncmy parses the wire protocol in Cython; PyMySQL, in pure Python, spent most of a large
answer there. asyncmy's API is asyncio, the adapter's is synchronous and runs in the
executor's threads: each ``_Session`` owns one connection and the event loop it lives on.
Values arrive as the server's raw bytes (no decoders, not even to ``str``) and Arrow turns
whole columns into typed arrays in C++.

Shipped join keys go into a ``CREATE TEMPORARY TABLE`` (of the connection's database) filled
by batched multi-row INSERTs and committed before the fragment's read-only transaction starts;
the fragment then runs on that same session, where the table lives.

Sessions may be pooled (``Engine.pool_size``, off for now): one goes back only when its fetch ended cleanly
(an error, a statement timeout or a cancel closes it), outside any transaction and never
sent a KILL; an idle one the server closed (KILL, ``wait_timeout``) is found by its readable
socket and dropped. Every fetch sets its own statement timeout, so none carries over.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Awaitable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncmy
import pyarrow as pa
from asyncmy import converters, errors

from portkey.orchestrator.engines.base import (
    ColumnInfo,
    Engine,
    TableInfo,
    duckdb_type,
    values_to_array,
)
from portkey.orchestrator.settings import MySQLEngine
from portkey.orchestrator.shipping import Shipment

T = TypeVar("T")

#: keys per INSERT statement when loading a temporary table
_BATCH = 5000
#: encoders only: without decoders every value arrives as the bytes the server sent
_ENCODERS = {k: v for k, v in converters.conversions.items() if not isinstance(k, int)}
_DECODERS = {k: v for k, v in converters.conversions.items() if isinstance(k, int)}
_INTEGER = {1, 2, 3, 8, 9, 13}  # TINY SHORT LONG LONGLONG INT24 YEAR
_FLOAT = {4, 5}
_DECIMAL = {0, 246}
_DATE = {10, 14}
_DATETIME = {7, 12}
_LONGLONG = 8
_JSON = 245
_UNSIGNED = 32  # a field flag
#: the "binary" character set: BINARY, VARBINARY and BLOB columns (and numbers, dates)
_BINARY_CHARSET = 63


@dataclass(frozen=True, slots=True)
class Column:
    """What the server said about one column of an answer."""

    name: str
    code: int  #: MySQL field type
    scale: int
    binary: bool  #: bytes, not text (character set "binary")
    unsigned: bool = False


def describe(fields: Sequence[Any]) -> list[Column]:
    """Columns from asyncmy's field packets (``cursor._result.fields``: the DB-API description
    leaves out the character set, which alone tells VARBINARY from VARCHAR)."""
    return [
        Column(
            f.name,
            f.type_code,
            f.scale,
            binary=f.charsetnr == _BINARY_CHARSET and f.type_code != _JSON,
            unsigned=bool(f.flags & _UNSIGNED),
        )
        for f in fields
    ]


def text_to_arrow(rows: Sequence[Sequence[Any]], columns: Sequence[Column]) -> pa.Table:
    """An answer read without decoders as Arrow: numbers, decimals, dates, datetimes and text
    cast in C++; anything else (or text a cast refuses, e.g. a zero date) through the driver's
    decoder.

    The rows go into Arrow whole, as one struct array of raw fields: transposing them in Python
    (``zip(*rows)``) cost more than reading them."""
    try:
        raw = pa.array(rows, pa.struct([(f"c{i}", pa.binary()) for i in range(len(columns))]))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raw = None  # a value that is neither bytes nor text: column by column below
    arrays = [
        _column(rows, i, None if raw is None else raw.field(i), c) for i, c in enumerate(columns)
    ]
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


def _wanted(column: Column) -> pa.DataType | None:
    code = column.code
    if code in _INTEGER:
        return pa.int64()
    if code in _FLOAT:
        return pa.float64()
    if code in _DECIMAL:
        return pa.decimal128(38, column.scale)
    if code in _DATE:
        return pa.date32()
    if code in _DATETIME:
        return pa.timestamp("us")
    return None


def _column(
    rows: Sequence[Sequence[Any]], i: int, raw: pa.Array | None, column: Column
) -> pa.Array:
    want = _wanted(column)
    decode = _DECODERS.get(column.code)
    if raw is not None:
        if want is not None:
            with suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return raw.cast(pa.string()).cast(want)
            if column.code == _LONGLONG and column.unsigned:
                # BIGINT UNSIGNED past int64 (the catalog's BIGINT stays int64 where it fits)
                with suppress(pa.ArrowInvalid):
                    return raw.cast(pa.string()).cast(pa.uint64())
        elif decode is None or decode is converters.through:
            if raw.null_count == len(raw):
                return pa.nulls(len(raw))  # what inferring the type of only NULLs gives
            return raw if column.binary else raw.cast(pa.string())
    values = [r[i] for r in rows]
    if want is not None or decode not in (None, converters.through) or not column.binary:
        values = [v.decode() if isinstance(v, bytes) else v for v in values]
    if decode is not None:
        values = [decode(v) if isinstance(v, str) else v for v in values]
    return values_to_array(values)


class _Unreachable(Exception):
    """Could not connect (kept apart from errors of a statement on a live connection)."""


class _Session:
    """One asyncmy connection driven from synchronous code: it lives on an event loop of its
    own, made in the calling thread (an executor worker, or the thread that cancels)."""

    def __init__(self, s: MySQLEngine) -> None:
        #: a KILL QUERY was sent for this session: it is never reused (the KILL may land late)
        self.interrupted = False
        self._loop = asyncio.new_event_loop()
        try:
            self.conn: asyncmy.Connection = self.run(
                asyncmy.connect(
                    host=s.host,
                    port=s.port,
                    user=s.user,
                    password=s.password,
                    database=s.database,
                    connect_timeout=10,
                    autocommit=False,
                    charset="utf8mb4",
                    conv=_ENCODERS,  # values arrive as bytes: Arrow converts them
                    use_unicode=False,
                )
            )
        except BaseException:
            self._loop.close()
            raise

    def run(self, step: Awaitable[T]) -> T:
        return self._loop.run_until_complete(step)

    def idle(self) -> bool:
        """Open, with nothing sent to us since the last answer: a socket that is readable
        while we asked nothing means the server closed the session (or is about to)."""
        conn: Any = self.conn  # asyncmy's stubs leave out its transport and stream state
        if not conn.connected or conn._stream_broken:
            return False
        sock = conn._transport.get_extra_info("socket")
        if sock is None:
            return False
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable

    async def execute(self, *statements: str) -> None:
        async with self.conn.cursor() as cur:
            for sql in statements:
                await cur.execute(sql)

    def close(self) -> None:
        """Say QUIT (the server ends the session, and its temporary tables, at once) and let
        the transport close its socket before the loop goes."""
        try:
            with suppress(Exception):
                self.run(self.conn.ensure_closed())
            self.conn.close()  # when QUIT could not be sent
            self.run(asyncio.sleep(0))
        finally:
            self._loop.close()


class MySQL(Engine):
    dialect = "mysql"
    settings: MySQLEngine
    unreachable = (_Unreachable,)
    holds_keys = True
    #: 8 once tests/orchestrator/test_temp_tables.py stops counting pooled sessions as
    #: lingering ones (/tmp/plancopy/enable_mysql_pool.patch does both); 0: no pool
    pool_size = 0

    def _connect(self) -> _Session:
        try:
            return _Session(self.settings)
        except errors.OperationalError as exc:
            raise _Unreachable(str(exc)) from exc

    def _alive(self, conn: _Session) -> bool:
        return not conn.interrupted and conn.idle()

    def _reusable(self, conn: _Session) -> bool:
        in_transaction = bool(conn.conn.get_transaction_status())
        return not (conn.interrupted or in_transaction) and conn.idle()

    def _interrupt(self, conn: _Session) -> None:
        conn.interrupted = True
        thread_id = int(conn.conn.thread_id())
        killer = self._connect()
        try:
            killer.run(killer.execute(f"KILL QUERY {thread_id}"))
        finally:
            killer.close()

    def _is_timeout(self, exc: BaseException) -> bool:
        code = exc.args[0] if exc.args else None
        # 3024: MySQL max_execution_time; 1969: MariaDB max_statement_time; 1317: killed
        return code in (3024, 1969, 1317)

    def _limit(self, conn: _Session, timeout_s: float) -> str:
        """The statement that gives every later statement of the session ``timeout_s``."""
        if "mariadb" in str(conn.conn.get_server_info()).lower():
            return f"SET SESSION max_statement_time = {float(timeout_s):.3f}"
        return f"SET SESSION max_execution_time = {int(timeout_s * 1000)}"

    def _load_keys(self, conn: _Session, shipment: Shipment, timeout_s: float) -> None:
        columns = shipment.columns("mysql")
        spec = ", ".join(f"`{n}` {t}" for n, t in columns)
        if shipment.indexable():
            spec = f"`{columns[0][0]}` {columns[0][1]} NOT NULL, PRIMARY KEY (`{columns[0][0]}`)"
        names = ", ".join(f"`{n}`" for n, _ in columns)
        marks = ", ".join(["%s"] * len(columns))
        insert = f"INSERT INTO `{shipment.name}` ({names}) VALUES ({marks})"
        rows = shipment.values()

        async def load() -> None:
            async with conn.conn.cursor() as cur:
                await cur.execute(self._limit(conn, timeout_s))
                await cur.execute(f"CREATE TEMPORARY TABLE `{shipment.name}` ({spec})")
                for i in range(0, len(rows), _BATCH):
                    # one multi-row INSERT per executemany
                    await cur.executemany(insert, rows[i : i + _BATCH])
            await conn.conn.commit()

        conn.run(load())

    def _drop_keys(self, conn: _Session, shipment: Shipment) -> None:
        conn.run(conn.conn.rollback())
        conn.run(conn.execute(f"DROP TEMPORARY TABLE IF EXISTS `{shipment.name}`"))

    def _run(self, conn: _Session, sql: str, timeout_s: float) -> pa.Table:
        async def select() -> pa.Table:
            async with conn.conn.cursor() as cur:
                await cur.execute(self._limit(conn, timeout_s))
                await cur.execute("START TRANSACTION READ ONLY")
                try:
                    return await _answer(cur, sql)
                finally:
                    with suppress(errors.Error):  # a broken session: the read's error counts
                        await conn.conn.rollback()

        return conn.run(select())

    def _introspect(self, conn: _Session) -> list[TableInfo]:
        async def read(sql: str) -> list[dict[str, Any]]:
            async with conn.conn.cursor() as cur:
                # a pooled session keeps the last fetch's (maybe short) statement timeout
                await cur.execute(self._limit(conn, self.settings.statement_timeout_s))
                answer: list[dict[str, Any]] = (await _answer(cur, sql)).to_pylist()
            await conn.conn.rollback()  # autocommit is off: leave no transaction open
            return answer

        columns = conn.run(
            read(
                "SELECT table_schema AS s, table_name AS t, column_name AS c, data_type AS d, "
                "numeric_precision AS p, numeric_scale AS x FROM information_schema.columns "
                "WHERE table_schema NOT IN ('mysql', 'information_schema', "
                "'performance_schema', 'sys') ORDER BY table_schema, table_name, ordinal_position"
            )
        )
        cols: dict[tuple[str, str], list[ColumnInfo]] = {}
        for c in columns:
            if not self.wanted(c["s"]):
                continue
            dtype = c["d"]
            if dtype == "decimal" and c["p"] is not None:
                dtype = f"decimal({c['p']},{c['x'] or 0})"
            cols.setdefault((c["s"], c["t"]), []).append(
                ColumnInfo(str(c["c"]).lower(), duckdb_type(dtype, "mysql"))
            )
        tables = conn.run(
            read(
                "SELECT table_schema AS s, table_name AS t, table_rows AS n "
                "FROM information_schema.tables"
            )
        )
        rows = {(t["s"], t["t"]): t["n"] for t in tables}
        return [
            TableInfo(self.name, s, t, tuple(c), rows.get((s, t))) for (s, t), c in cols.items()
        ]


async def _answer(cur: Any, sql: str) -> pa.Table:
    """Run ``sql`` on ``cur`` and return its answer as Arrow."""
    await cur.execute(sql)
    rows = await cur.fetchall()
    result = cur._result  # the field packets: the character set of each column
    return text_to_arrow(rows, describe(getattr(result, "fields", None) or ()))
