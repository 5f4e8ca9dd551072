"""``LogStore.search`` with ``since``/``until``: the id range added for speed changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from portkey.observe.logstore import LogStore
from portkey.observe.record import COLUMNS, new_id
from portkey.store.db import Database

START = 1_765_000_000.123456
#: ts just before, on and just after the boundaries (one float step and a microsecond off)
EDGES = (-1e-6, -2.4e-7, 0.0, 2.4e-7, 1e-6)


def row(ts: float, model: str = "m", status: int = 200) -> tuple[Any, ...]:
    found = dict.fromkeys(COLUMNS)
    found.update(
        id=new_id(ts), trace_id="t", ts=ts, route="/v1/chat/completions", provider="p",
        model=model, status=status, target="config", retries=0, attempts="[]", stream=0,
        cache_status="DISABLED",
        prompt_tokens=1, completion_tokens=1, cached_tokens=0, reasoning_tokens=0,
        cost_usd=0.0, latency_ms=1.0, overhead_ms=0.1, metadata="{}",
    )  # fmt: skip
    return tuple(found[c] for c in COLUMNS)


def expected(rows: list[tuple[Any, ...]], since: float | None, until: float | None) -> list[str]:
    """Ids the plain ts conditions keep, newest first (``ts`` is column 2, ``id`` column 0)."""
    kept = [r for r in rows if (since is None or r[2] >= since) and (until is None or r[2] < until)]
    return sorted((r[0] for r in kept), reverse=True)


def every_page(store: LogStore, filters: dict[str, Any], limit: int, **kw: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = store.search(filters, cursor=cursor, limit=limit, **kw)
        ids += [r["id"] for r in page.data]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


@pytest.fixture
def logged(db: Database) -> list[tuple[Any, ...]]:
    since, until = START, START + 60.0
    rows = [row(b + d) for b in (since, until) for d in EDGES]
    rows += [row(since + 30.0 + i * 0.01, model="x" if i % 2 else "m") for i in range(20)]
    rows += [row(since - 5.0), row(until + 5.0), row(since - 0.5), row(until + 0.5)]
    rows += [row(since + 10.0, status=503), row(since - 0.9, status=503)]
    LogStore(db).insert(rows)
    return rows


def test_rows_on_and_around_the_bounds_are_kept_exactly_as_the_ts_filter_says(
    db: Database, logged: list[tuple[Any, ...]]
) -> None:
    store = LogStore(db)
    since, until = START, START + 60.0
    for lo, hi in ((since, until), (since, None), (None, until), (since + 1e-6, until - 1e-6)):
        filters = {"since": lo, "until": hi}
        want = expected(logged, lo, hi)
        assert [r["id"] for r in store.search(filters, limit=500).data] == want
        assert every_page(store, filters, limit=3) == want
    # every row's own ts as a bound: on the bound is in for since, out for until
    for r in logged:
        assert r[0] in [x["id"] for x in store.search({"since": r[2]}, limit=500).data]
        assert r[0] not in [x["id"] for x in store.search({"until": r[2]}, limit=500).data]


def test_bounds_combine_with_other_filters_errors_only_and_the_cursor(
    db: Database, logged: list[tuple[Any, ...]]
) -> None:
    store = LogStore(db)
    since, until = START, START + 60.0
    models = {r[0]: r[8] for r in logged}
    want = [i for i in expected(logged, since, until) if models[i] == "x"]
    assert every_page(store, {"since": since, "until": until, "model": "x"}, limit=4) == want
    errors = every_page(store, {"since": since - 1.0, "until": until}, limit=1, errors_only=True)
    assert errors == [i for i in expected(logged, since - 1.0, until) if i in _failed(logged)]
    assert len(errors) == 2


def _failed(rows: list[tuple[Any, ...]]) -> set[str]:
    return {r[0] for r in rows if r[9] >= 400}


@pytest.mark.parametrize(
    ("since", "until"),
    [(-1e12, 1e12), (-5.0, START), (0.0, 1e30), (1e11, 1e12), (float("-inf"), float("inf"))],
)
def test_odd_bounds_do_not_crash_and_still_filter_by_ts(
    db: Database, logged: list[tuple[Any, ...]], since: float, until: float
) -> None:
    got = [r["id"] for r in LogStore(db).search({"since": since, "until": until}, limit=500).data]
    assert got == expected(logged, since, until)
