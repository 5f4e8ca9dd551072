"""The log writer and store through their Python API: a full queue drops and counts (never
blocks), records land in batches, retention deletes by age and by row count, bodies policy."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from portkey.observe.logstore import LogStore
from portkey.observe.metrics import Metrics
from portkey.observe.record import Pending, stored_body, to_row
from portkey.observe.settings import LogsSettings
from portkey.observe.writer import LogWriter
from portkey.store.db import Database


def pending(ts: float, model: str = "gpt-4o", status: int = 200) -> Pending:
    return Pending(
        trace_id="t", ts=ts, route="/v1/chat/completions", stream=False, api_key_id=None,
        virtual_key=None, config=None, provider="openai", model=model, status=status,
        error_type=None, target="config", retries=0, attempts=[], cache_status="DISABLED",
        usage={"prompt_tokens": 3, "completion_tokens": 2}, cost=0.001, ttft_ms=None,
        latency_ms=5.0, overhead_ms=0.5, metadata={}, request_body=None, response_body=None,
    )  # fmt: skip


@pytest.fixture
def logs(db: Database) -> LogStore:
    """A log store on each backend (``db``: tests/observe/conftest.py)."""
    return LogStore(db)


async def test_a_full_queue_drops_and_counts_without_blocking(logs: LogStore) -> None:
    metrics = Metrics()
    settings = LogsSettings(queue_size=3, batch_size=2, flush_interval_s=60)
    writer = LogWriter(settings, logs, [metrics.observe], on_drop=metrics.dropped.inc)
    now = time.time()
    for _ in range(5):  # the writer task is not running: nothing drains the queue
        writer.put(pending(now))
    assert writer.dropped == 2 and len(writer.queue) == 3
    assert b"portkey_log_records_dropped_total 2.0" in metrics.render()

    await writer.flush()
    assert logs.count() == 3 and writer.written == 3
    assert b'portkey_requests_total{model="gpt-4o",provider="openai",status="200"} 3.0' in (
        metrics.render()
    )


async def test_the_writer_task_writes_in_the_background(logs: LogStore) -> None:
    writer = LogWriter(LogsSettings(flush_interval_s=0.02), logs)
    writer.start()
    try:
        writer.put(pending(time.time()))
        for _ in range(500):
            if logs.count():
                break
            await asyncio.sleep(0.01)
    finally:
        await writer.close()
    assert logs.count() == 1


def test_retention_by_age_and_by_rows(logs: LogStore) -> None:
    now = time.time()
    old = [to_row(pending(now - 40 * 86_400), "off", 100) for _ in range(3)]
    fresh = [to_row(pending(now - i), "off", 100) for i in range(10, 0, -1)]
    logs.insert(old + fresh)
    assert logs.count() == 13

    assert logs.enforce_retention(max_age_days=30, max_rows=1000) == 3
    assert logs.count() == 10
    newest = logs.search({}, limit=4).data
    assert logs.enforce_retention(max_age_days=30, max_rows=4) == 6
    assert [r["id"] for r in logs.search({}, limit=100).data] == [r["id"] for r in newest]


def test_bodies_policy() -> None:
    body = b'{"api_key": "abc", "messages": [{"content": "key sk-abcdefghijklmnop"}]}'
    assert stored_body(body, "off", 1000) is None
    hashed = stored_body(body, "hashed", 1000)
    assert hashed is not None and hashed.startswith("sha256:") and len(hashed) == 71
    full = stored_body(body, "full", 1000)
    assert full == '{"api_key": "***", "messages": [{"content": "key ***"}]}'
    assert stored_body(body, "full", 10) == body[:10].decode()


async def test_one_batch_of_mixed_records_is_counted_per_provider_model_and_bucket(
    logs: LogStore,
) -> None:
    metrics = Metrics()
    writer = LogWriter(LogsSettings(flush_interval_s=60), logs, [metrics.observe])
    now = time.time()
    fast = pending(now, model="gpt-4o")  # 5 ms, 3 + 2 tokens, $0.001
    slow = dataclasses.replace(fast, latency_ms=300.0, ttft_ms=40.0)
    other = dataclasses.replace(
        fast, provider="anthropic", model="claude", status=529, usage=None, cost=None
    )
    for record in (fast, slow, slow, other):
        writer.put(record)
    await writer.flush()
    text = metrics.render().decode()
    assert logs.count() == 4
    assert 'portkey_requests_total{model="gpt-4o",provider="openai",status="200"} 3.0' in text
    assert 'portkey_requests_total{model="claude",provider="anthropic",status="529"} 1.0' in text
    assert 'portkey_tokens_total{kind="prompt",model="gpt-4o",provider="openai"} 9.0' in text
    assert 'portkey_tokens_total{kind="completion",model="gpt-4o",provider="openai"} 6.0' in text
    assert 'kind="cached"' not in text and 'tokens_total{kind="prompt",model="claude"' not in text
    assert 'portkey_cost_usd_total{model="gpt-4o",provider="openai"} 0.003' in text

    # buckets are cumulative and le-inclusive: 5 ms falls in le=0.005, 300 ms past le=0.25
    def bucket(le: str, n: str) -> str:
        return f'portkey_request_duration_seconds_bucket{{le="{le}",provider="openai"}} {n}'

    assert bucket("0.005", "1.0") in text and bucket("0.25", "1.0") in text
    assert bucket("0.5", "3.0") in text and bucket("+Inf", "3.0") in text
    assert 'portkey_request_duration_seconds_sum{provider="openai"} 0.605' in text
    assert 'portkey_request_duration_seconds_count{provider="anthropic"} 1.0' in text
    assert 'portkey_time_to_first_token_seconds_count{provider="openai"} 2.0' in text
    assert 'portkey_time_to_first_token_seconds_count{provider="anthropic"}' not in text
