"""Batch inserts store every value as given, on each backend: columns NULL in a whole batch
(written into the statement) and values bound as parameters (quotes, ``%``, ``?``, floats)."""

from __future__ import annotations

import dataclasses
import time

from portkey.observe.logstore import LogStore
from portkey.observe.record import to_row
from portkey.store.db import Database
from tests.observe.test_writer import pending


def test_a_batch_reads_back_exactly_as_written(db: Database) -> None:
    store, now = LogStore(db), time.time()
    tricky = ["it's", "50% off?", 'say "hi"', "back\\slash", "naïve", "a" * 300]
    records = [
        dataclasses.replace(
            pending(now + i, model="gpt-4o"), metadata={"note": note}, trace_id=f"t-{i}"
        )
        for i, note in enumerate(tricky)
    ]
    same = [dataclasses.replace(pending(now + 10 + i), metadata={"team": "x'y"}) for i in range(3)]
    mixed = [dataclasses.replace(pending(now + 20), status=500, retries=2, config="c?%"),
             dataclasses.replace(pending(now + 21), status=429, retries=1, latency_ms=7)]  # fmt: skip
    for batch in (records, same, mixed, [pending(now + 30)]):
        store.insert([to_row(p, "off", 1000) for p in batch])

    rows = {r["ts"]: r for r in store.search({}, limit=100).data}
    assert len(rows) == len(records) + len(same) + len(mixed) + 1
    for p in [*records, *same, *mixed]:
        got = rows[p.ts]
        assert got["metadata"] == dict(p.metadata) and got["trace_id"] == p.trace_id
        assert got["status"] == int(p.status) and got["retries"] == p.retries
        assert got["config"] == p.config and got["latency_ms"] == p.latency_ms
        assert got["model"] == "gpt-4o" and got["prompt_tokens"] == 3
