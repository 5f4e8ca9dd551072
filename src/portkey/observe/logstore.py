"""The ``request_logs`` table: batch inserts, filtered queries with a cursor, retention.

Synchronous (the writer and the admin API call it from a thread). Rows come newest first;
the cursor is the id of the last row returned (ids are time-ordered text).
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson

from portkey.observe.record import COLUMNS
from portkey.store.db import Database

# sqlite3 binds a None only after a failed adapter lookup (an AttributeError raised and
# cleared: ~2k instructions), and a log row holds about ten NULLs. With an adapter registered
# for NoneType the lookup succeeds at once; ``{}.get`` returns None for None, in C.
_NO_ADAPTER: dict[object, None] = {}
sqlite3.register_adapter(type(None), _NO_ADAPTER.get)

#: rows per INSERT statement (27 columns: far below SQLite's variable limit)
CHUNK = 100
MAX_PAGE = 500
_INSERT = f"INSERT INTO request_logs ({', '.join(COLUMNS)}) VALUES "
#: (columns NULL in every row, rows) -> the INSERT statement
_STATEMENTS: dict[tuple[tuple[int, ...], int], str] = {}


def _statement(chunk: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """A multi-row INSERT of ``chunk`` and its parameters, flattened in C.

    Columns that are NULL in every row of the chunk (keys, config, error, ttft, bodies,
    guardrails: most of them on most rows) are written as literal NULLs, not bound: binding
    a None costs sqlite3 an adapter lookup (~1k instructions) per value."""
    n = len(chunk)
    columns = list(zip(*chunk, strict=True))
    nulls = tuple(i for i, values in enumerate(columns) if values.count(None) == n)
    sql = _STATEMENTS.get((nulls, n))
    if sql is None:
        one = "(" + ", ".join("NULL" if i in nulls else "?" for i in range(len(COLUMNS))) + ")"
        sql = _INSERT + ", ".join([one] * n)
        if len(_STATEMENTS) < 1024:
            _STATEMENTS[(nulls, n)] = sql
    if not nulls:
        return sql, list(chain.from_iterable(chunk))
    kept = [i for i in range(len(COLUMNS)) if i not in nulls]
    return sql, list(chain.from_iterable(map(itemgetter(*kept), chunk)))


#: filter name -> SQL condition (values are always bound, never formatted in)
FILTERS: Mapping[str, str] = {
    "trace_id": "trace_id = ?",
    "provider": "provider = ?",
    "model": "model = ?",
    "status": "status = ?",
    "api_key_id": "api_key_id = ?",
    "virtual_key": "virtual_key = ?",
    "config": "config = ?",
    "cache_status": "cache_status = ?",
    "error_type": "error_type = ?",
    "since": "ts >= ?",
    "until": "ts < ?",
}
_JSON_COLUMNS = ("attempts", "metadata", "guardrails")
#: slack (ns) between a ts bound and the id bound derived from it: ``new_id`` truncates
#: ``ts * 1e9`` (monotone in ts, so ts >= since gives prefix >= since's), one second more
#: absorbs any float rounding many times over
_ID_MARGIN_NS = 1_000_000_000


def _id_bounds(since: Any, until: Any) -> tuple[list[str], list[Any]]:
    """Loose ``id`` conditions implied by ``ts >= since`` / ``ts < until``.

    Ids start with ``%020d`` of ``ts * 1e9``, so a primary-key range scan can do the work
    the ts filter would do row by row. The bounds never exclude a row the ts conditions keep:
    a lower bound is used only while it starts with "0" (every id of ts >= since then sorts
    above it, 21-digit ones of far-future ts included), an upper bound only while it fits in
    20 digits (then every kept row has a 20-digit or negative id below it)."""
    where: list[str] = []
    params: list[Any] = []
    low = _nanoseconds(since)
    if low is not None and 0 <= low - _ID_MARGIN_NS < 10**19:
        where.append("id >= ?")
        params.append("%020d" % (low - _ID_MARGIN_NS))  # noqa: UP031
    high = _nanoseconds(until)
    if high is not None and 0 <= high + _ID_MARGIN_NS < 10**20:
        where.append("id < ?")
        params.append("%020d" % (high + _ID_MARGIN_NS))  # noqa: UP031
    return where, params


def _nanoseconds(value: Any) -> int | None:
    """``int(value * 1e9)`` like ``new_id``, or None for a bound that is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return None
    return int(value * 1e9)


@dataclass(frozen=True, slots=True)
class Page:
    data: list[dict[str, Any]]
    next_cursor: str | None


class LogStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        with self.db.transaction() as tx:
            for start in range(0, len(rows), CHUNK):
                sql, params = _statement(rows[start : start + CHUNK])
                tx.execute(sql, params)

    def search(
        self,
        filters: Mapping[str, Any],
        cursor: str | None = None,
        limit: int = 50,
        errors_only: bool = False,
    ) -> Page:
        """Rows matching every filter (see ``FILTERS``), newest first, ``limit`` at most."""
        where, params = [], []
        for name, value in filters.items():
            if value is not None:
                where.append(FILTERS[name])
                params.append(value)
        extra, extra_params = _id_bounds(filters.get("since"), filters.get("until"))
        where += extra
        params += extra_params
        if errors_only:
            where.append("status >= 400")
        if cursor:
            where.append("id < ?")
            params.append(cursor)
        limit = max(1, min(limit, MAX_PAGE))
        sql = f"SELECT {', '.join(COLUMNS)} FROM request_logs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        with self.db.transaction() as tx:
            rows = tx.query(sql, [*params, limit + 1])
        data = [_as_dict(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(data, data[-1]["id"] if more and data else None)

    def get(self, log_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as tx:
            rows = tx.query(
                f"SELECT {', '.join(COLUMNS)} FROM request_logs WHERE id = ?", (log_id,)
            )
        return _as_dict(rows[0]) if rows else None

    def enforce_retention(
        self, max_age_days: float, max_rows: int, now: float | None = None
    ) -> int:
        """Delete rows older than ``max_age_days`` and all but the newest ``max_rows``."""
        cutoff = (time.time() if now is None else now) - max_age_days * 86_400
        with self.db.transaction() as tx:
            deleted = tx.execute("DELETE FROM request_logs WHERE ts < ?", (cutoff,))
            deleted += tx.execute(
                "DELETE FROM request_logs WHERE id < "
                "(SELECT id FROM request_logs ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (max_rows - 1,),
            )
        return max(0, int(deleted))

    def count(self) -> int:
        with self.db.transaction() as tx:
            return int(tx.query("SELECT COUNT(*) FROM request_logs")[0][0])


def _as_dict(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(COLUMNS, row, strict=True))
    for name in _JSON_COLUMNS:
        out[name] = orjson.loads(out[name]) if out[name] else None
    out["stream"] = bool(out["stream"])
    return out
