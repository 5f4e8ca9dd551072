"""A finished request's queued log item: the record it becomes, and what it keeps alive while
it waits for its batch (not the request's parsed body or headers)."""

from __future__ import annotations

import gc
import weakref
from time import perf_counter
from types import SimpleNamespace

from portkey.gateway.ingress import Call
from portkey.observe.record import finished, resolve, wall_offset


class Body(dict[str, object]):
    """A dict that can be watched with a weak reference."""


class Headers(dict[str, str]):
    """Headers that can be watched with a weak reference."""


def a_call() -> Call:
    headers = Headers({"x-portkey-trace-id": "trace-1", "x-portkey-config": '{"retry": 2}'})
    call = Call("chat", "/v1/chat/completions", headers, perf_counter() - 0.05)
    call.body = Body(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    call.metadata = {"team": "search"}
    call.upstream_s = 0.03
    return call


def test_a_queued_item_does_not_keep_the_request_body_or_headers_alive() -> None:
    call = a_call()
    body, headers = weakref.ref(call.body), weakref.ref(call.headers)
    leaf = SimpleNamespace(
        spec=SimpleNamespace(id="openai"), override_params=None, virtual_key="vk-1", path="0"
    )
    usage = {"prompt_tokens": 3, "completion_tokens": 2}
    item = finished(call, leaf, 200, usage, 0.25, None, None, b'{"ok": true}')
    del call
    gc.collect()
    assert body() is None and headers() is None

    record = resolve(item, True, wall_offset())
    assert (record.trace_id, record.provider, record.model) == ("trace-1", "openai", "gpt-4o")
    assert (record.virtual_key, record.target, record.config) == ("vk-1", "0", "inline")
    assert record.metadata == {"team": "search"} and record.usage == usage
    assert record.cost == 0.25 and record.cache_status == "DISABLED"
    assert record.response_body == b'{"ok": true}' and record.attempts == []
    assert 50 <= record.latency_ms < 5_000 and 0 < record.overhead_ms < record.latency_ms


def test_a_failed_request_takes_its_provider_and_target_from_the_last_attempt() -> None:
    call = a_call()
    call.attempts = [SimpleNamespace(provider="anthropic", target="1", error_type="timeout")]
    error = SimpleNamespace(type="upstream_timeout")
    record = resolve(finished(call, None, 504, None, None, error, None, None), False, 0.0)
    assert (record.provider, record.target, record.error_type) == (
        "anthropic",
        "1",
        "upstream_timeout",
    )
    assert record.model == "gpt-4o" and record.request_body is None and record.cost is None
