"""Cache building blocks: canonical keys, entries, the in-process LRU, corrupt entries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portkey.cache.entry import CorruptEntry, Entry, decode, encode
from portkey.cache.keys import exact_key, namespace_of
from portkey.cache.memory import MemoryBackend

BODY = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "hi", "name": "a"}],
    "temperature": 0.2,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"a": 1, "b": 2}}}],
}


def reorder(value: Any, rng: st.DataObject) -> Any:
    if isinstance(value, dict):
        keys = rng.draw(st.permutations(list(value)))
        return {k: reorder(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [reorder(v, rng) for v in value]
    return value


@given(st.data())
def test_key_order_and_whitespace_never_matter(data: st.DataObject) -> None:
    shuffled = json.loads(json.dumps(reorder(BODY, data), indent=data.draw(st.integers(0, 4))))
    assert exact_key("ns", "scope", "chat", shuffled) == exact_key("ns", "scope", "chat", BODY)


@pytest.mark.parametrize(
    ("field", "value", "same"),
    [
        ("temperature", 0.3, False),
        ("seed", 1, False),
        ("model", "gpt-4o-mini", False),
        ("stream", True, False),
        ("user", "bob", True),
        ("metadata", {"a": "b"}, True),
        ("stream_options", {"include_usage": True}, True),
    ],
)
def test_only_answer_changing_fields_change_the_key(field: str, value: Any, same: bool) -> None:
    changed = {**BODY, field: value}
    assert (exact_key("", "s", "chat", changed) == exact_key("", "s", "chat", BODY)) is same


def test_namespace_template_and_scope_partition_keys() -> None:
    assert namespace_of("{metadata.domain}:{metadata.agent_id}", {"domain": "hr"}) == "hr:_"
    assert namespace_of("{metadata.x}", {"x": "a b/c"}) == "a_b_c"
    assert exact_key("a", "s", "chat", BODY).startswith("a:")
    assert exact_key("a", "s1", "chat", BODY) != exact_key("a", "s2", "chat", BODY)


def test_entries_round_trip_and_corruption_is_detected() -> None:
    entry = Entry(1.5, "sse", "openai", "gpt-4o", b"data: {}\n\ndata: [DONE]\n\n")
    assert decode(encode(entry)) == entry
    for bad in (b"", b"garbage", encode(entry)[:-3], b'{"v": 99}\nx'):
        with pytest.raises(CorruptEntry):
            decode(bad)


def test_memory_lru_is_bounded_by_bytes_and_honours_ttl() -> None:
    now = [100.0]
    mem = MemoryBackend(max_bytes=300, max_entry_bytes=150, clock=lambda: now[0])

    async def scenario() -> None:
        assert await mem.set("a", b"x" * 120, None)
        assert await mem.set("b", b"x" * 120, 10)
        assert await mem.get("a") is not None  # a is now the most recently used
        assert await mem.set("c", b"x" * 120, None)  # evicts b, the least recently used
        assert await mem.get("b") is None and mem.bytes <= 300
        assert not await mem.set("big", b"x" * 151, None)  # over max_entry_bytes
        await mem.set("t", b"y", 5)
        now[0] += 6
        assert await mem.get("t") is None
        assert await mem.purge("") == 2 and mem.bytes == 0

    asyncio.run(scenario())


def test_a_corrupt_entry_is_a_miss_and_is_deleted() -> None:
    from portkey.cache.service import CacheService
    from portkey.cache.settings import CacheSettings

    mem = MemoryBackend(10_000, 10_000)
    service = CacheService(CacheSettings(), mem)

    async def scenario() -> None:
        await mem.set("ns:k", b"not an entry", None)
        assert await service._get("ns:k") is None
        assert await mem.get("ns:k") is None

    asyncio.run(scenario())
