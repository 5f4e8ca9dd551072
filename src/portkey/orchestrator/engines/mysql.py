"""MySQL/MariaDB adapter (PyMySQL): read-only transaction, per-statement timeout, KILL QUERY.

Shipped join keys go into a ``CREATE TEMPORARY TABLE`` (of the connection's database) filled
by batched multi-row INSERTs and committed before the fragment's read-only transaction starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import pyarrow as pa
import pymysql

from portkey.orchestrator.engines.base import (
    ColumnInfo,
    Engine,
    TableInfo,
    duckdb_type,
    values_to_array,
)
from portkey.orchestrator.settings import MySQLEngine
from portkey.orchestrator.shipping import Shipment

#: keys per INSERT statement when loading a temporary table
_BATCH = 5000
#: PyMySQL's encoders only: without decoders values arrive as the server's text, and Arrow
#: turns whole columns of it into typed arrays in C++ (~1.5x faster than decoding in Python)
_ENCODERS = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}
_INTEGER = {1, 2, 3, 8, 9, 13}  # TINY SHORT LONG LONGLONG INT24 YEAR
_FLOAT = {4, 5}
_DECIMAL = {0, 246}
_DATE = {10, 14}
_DATETIME = {7, 12}


def text_to_arrow(rows: Sequence[Sequence[Any]], described: Sequence[Any]) -> pa.Table:
    """An answer read without decoders as Arrow: numbers, decimals, dates and datetimes cast in
    C++; anything else (or text a cast refuses, e.g. a zero date) through PyMySQL's decoder."""
    names = [d[0] for d in described]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [_column(list(values), d) for values, d in zip(columns, described, strict=True)]
    return pa.Table.from_arrays(arrays, names=names)


def _column(values: list[Any], described: Any) -> pa.Array:
    code, scale = described[1], described[5]
    want: pa.DataType | None = None
    if code in _INTEGER:
        want = pa.int64()
    elif code in _FLOAT:
        want = pa.float64()
    elif code in _DECIMAL:
        want = pa.decimal128(38, scale or 0)
    elif code in _DATE:
        want = pa.date32()
    elif code in _DATETIME:
        want = pa.timestamp("us")
    if want is not None and all(v is None or isinstance(v, str) for v in values):
        with suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.array(values, pa.string()).cast(want)
    decode = pymysql.converters.decoders.get(code)
    if decode is not None:
        values = [decode(v) if isinstance(v, str) else v for v in values]
    return values_to_array(values)


class _Unreachable(Exception):
    """Could not connect (kept apart from errors of a statement on a live connection)."""


class MySQL(Engine):
    dialect = "mysql"
    settings: MySQLEngine
    unreachable = (_Unreachable,)
    holds_keys = True

    def _connect(self) -> Any:
        s = self.settings
        try:
            conn = pymysql.connect(
                host=s.host,
                port=s.port,
                user=s.user,
                password=s.password,
                database=s.database,
                connect_timeout=10,
                autocommit=False,
                charset="utf8mb4",
                conv=_ENCODERS,  # values arrive as text: Arrow converts them (text_to_arrow)
            )
        except pymysql.err.OperationalError as exc:
            raise _Unreachable(str(exc)) from exc
        return conn

    def _interrupt(self, conn: Any) -> None:
        thread_id = conn.thread_id()
        killer = self._connect()
        try:
            with killer.cursor() as cur:
                cur.execute(f"KILL QUERY {int(thread_id)}")
        finally:
            killer.close()

    def _is_timeout(self, exc: BaseException) -> bool:
        code = exc.args[0] if exc.args else None
        # 3024: MySQL max_execution_time; 1969: MariaDB max_statement_time; 1317: killed
        return code in (3024, 1969, 1317)

    def _limit(self, conn: Any, cur: Any, timeout_s: float) -> None:
        version = str(conn.get_server_info()).lower()
        if "mariadb" in version:
            cur.execute(f"SET SESSION max_statement_time = {float(timeout_s):.3f}")
        else:
            cur.execute(f"SET SESSION max_execution_time = {int(timeout_s * 1000)}")

    def _load_keys(self, conn: Any, shipment: Shipment, timeout_s: float) -> None:
        columns = shipment.columns("mysql")
        spec = ", ".join(f"`{n}` {t}" for n, t in columns)
        if shipment.indexable():
            spec = f"`{columns[0][0]}` {columns[0][1]} NOT NULL, PRIMARY KEY (`{columns[0][0]}`)"
        names = ", ".join(f"`{n}`" for n, _ in columns)
        marks = ", ".join(["%s"] * len(columns))
        insert = f"INSERT INTO `{shipment.name}` ({names}) VALUES ({marks})"
        with conn.cursor() as cur:
            self._limit(conn, cur, timeout_s)
            cur.execute(f"CREATE TEMPORARY TABLE `{shipment.name}` ({spec})")
            rows = shipment.values()
            for i in range(0, len(rows), _BATCH):
                # PyMySQL sends one multi-row INSERT per executemany
                cur.executemany(insert, rows[i : i + _BATCH])
        conn.commit()

    def _drop_keys(self, conn: Any, shipment: Shipment) -> None:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute(f"DROP TEMPORARY TABLE IF EXISTS `{shipment.name}`")

    def _run(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        with conn.cursor() as cur:
            self._limit(conn, cur, timeout_s)
            cur.execute("START TRANSACTION READ ONLY")
            try:
                cur.execute(sql)
                rows = cur.fetchall()
                described = list(cur.description or [])
            finally:
                conn.rollback()
        return text_to_arrow(rows, described)

    def _introspect(self, conn: Any) -> list[TableInfo]:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_schema, table_name, column_name, data_type, numeric_precision, "
                "numeric_scale FROM information_schema.columns "
                "WHERE table_schema NOT IN ('mysql', 'information_schema', "
                "'performance_schema', 'sys') ORDER BY table_schema, table_name, ordinal_position"
            )
            cols: dict[tuple[str, str], list[ColumnInfo]] = {}
            for schema, table, column, dtype, precision, scale in cur.fetchall():
                if not self.wanted(schema):
                    continue
                if dtype == "decimal" and precision is not None:
                    dtype = f"decimal({precision},{scale or 0})"
                cols.setdefault((schema, table), []).append(
                    ColumnInfo(str(column).lower(), duckdb_type(dtype, "mysql"))
                )
            cur.execute(
                "SELECT table_schema, table_name, table_rows FROM information_schema.tables"
            )
            rows = {(s, t): (int(n) if n is not None else None) for s, t, n in cur.fetchall()}
        return [
            TableInfo(self.name, s, t, tuple(c), rows.get((s, t))) for (s, t), c in cols.items()
        ]
