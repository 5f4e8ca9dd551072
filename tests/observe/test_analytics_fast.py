"""The rollup path of ``Analytics.latency`` (histograms merged by numpy) against a direct
computation over the raw log rows, on SQLite and PostgreSQL: the same groups and counts, the
nearest-rank bin of each percentile exactly, and within the histograms' 2.5 % of the exact
nearest-rank latency."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import numpy as np
import pytest

from portkey.observe.analytics import Analytics, Window
from portkey.observe.logstore import LogStore
from portkey.observe.record import COLUMNS, new_id
from portkey.observe.rollup import BINS, Histograms, bin_value, encode, latency_bin
from portkey.store.db import Database

START = 1_700_000_000.0  # a whole hour
PROVIDERS = {"gpt-4o": "openai", "gpt-4o-mini": "openai", "claude": "anthropic", "llama": "groq"}


def logged(db: Database, n: int = 4000, span_s: float = 7200.0) -> list[dict[str, object]]:
    """``n`` requests over ``span_s`` from ``START``: mixed providers, errors, cache hits,
    latencies from 0 (clamped to the first bin) to minutes, ties included."""
    rnd = random.Random(11)
    rows = []
    for i in range(n):
        ts = START + span_s * i / n + rnd.random() * 0.5
        model = rnd.choice(list(PROVIDERS))
        latency = rnd.choice((0.0, 250.0, 250.0, rnd.lognormvariate(6.0, 1.2)))
        row = dict.fromkeys(COLUMNS)
        row.update(
            id=new_id(ts), trace_id=f"t{i}", ts=ts, route="/v1/chat/completions",
            provider=PROVIDERS[model], model=model, status=rnd.choice((200,) * 8 + (503, 400)),
            target="config", retries=0, attempts="[]", stream=0,
            cache_status=rnd.choice(("DISABLED", "DISABLED", "MISS", "HIT")),
            prompt_tokens=3, completion_tokens=2, cached_tokens=0, reasoning_tokens=0,
            cost_usd=0.001, latency_ms=latency, overhead_ms=0.5, metadata="{}",
        )  # fmt: skip
        rows.append(row)
    LogStore(db).insert([tuple(r[c] for c in COLUMNS) for r in rows])
    return rows


def nearest_rank(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(pct * len(ordered) / 100) - 1]


@pytest.mark.parametrize("bucket_s", [900, 0], ids=["15m-buckets", "whole-window"])
def test_rollup_latency_matches_the_raw_rows(db: Database, bucket_s: int) -> None:
    rows = logged(db)
    analytics = Analytics(db)
    assert analytics.rollups is not None
    analytics.rollups.refresh(now=START + 86_400, force=True)  # every minute settled
    window = Window(START + 17.5, START + 7000.25, bucket_s)  # ragged edges read raw
    rolled, raw = analytics.split(window)
    assert rolled is not None and len(raw) == 2
    answered: dict[tuple[float, str], list[float]] = defaultdict(list)
    for r in rows:
        ts, status, cache = float(r["ts"]), int(r["status"]), r["cache_status"]  # type: ignore[arg-type]
        if window.since <= ts < window.until and status < 400 and cache != "HIT":
            b = math.floor(ts / bucket_s) * bucket_s if bucket_s else window.since
            answered[(float(b), str(r["provider"]))].append(float(r["latency_ms"]))  # type: ignore[arg-type]
    got = {(r["bucket"], r["provider"]): r for r in analytics.latency(window)}
    assert set(got) == set(answered) and len(got) >= (12 if bucket_s else 3)
    for key, values in answered.items():
        assert got[key]["requests"] == len(values)
        bins = sorted(latency_bin(v) for v in values)
        for pct in (50, 95, 99):
            rank_bin = bins[math.ceil(pct * len(bins) / 100) - 1]
            assert got[key][f"p{pct}_ms"] == bin_value(rank_bin)
            exact = max(nearest_rank(values, pct), 0.001)  # the first bin holds up to 1 µs
            assert got[key][f"p{pct}_ms"] == pytest.approx(exact, rel=0.026)
    exact_answer = Analytics(db, rollups=False).latency(window)
    assert [(r["bucket"], r["provider"], r["requests"]) for r in exact_answer] == sorted(
        (b, p, len(v)) for (b, p), v in answered.items()
    )


def test_histograms_sum_encoded_rows_like_counters() -> None:
    """Every shape ``add_encoded`` takes (one histogram, a list of them, singles added one
    by one) sums to what adding the counts by hand gives."""
    rnd = random.Random(5)
    hists, want = Histograms(), defaultdict(Counter)
    for _ in range(2000):
        key = (rnd.randrange(30), rnd.choice(("openai", "groq")))
        encoded = []
        for _ in range(rnd.randrange(1, 4)):
            one = {b: rnd.randrange(1, 50) for b in rnd.sample(range(BINS), rnd.randrange(1, 8))}
            encoded.append(encode(one))
            want[key].update(one)
        hists.add_encoded(key, encoded[0] if len(encoded) == 1 else f"[{','.join(encoded)}]")
        ms = rnd.lognormvariate(5.0, 2.0)
        hists.add(key, ms)
        want[key][latency_bin(ms)] += 1
    got = hists.summed()
    assert set(got) == set(want)
    for key, counts in want.items():
        dense = np.zeros(BINS, dtype=np.int64)
        for b, n in counts.items():
            dense[b] = n
        assert (got[key] == dense).all(), key
