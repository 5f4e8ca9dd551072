"""Semantic cache quality and lookup speed, on the labelled pairs in tests/data.

A pair "hits" when the cache would answer its second question with the first one's answer:
same partition (``portkey.cache.semantic.guards``) and cosine >= threshold. Reports precision
and recall per threshold (with and without the guards, to show what they buy), then lookup
latency with 10k and 100k stored questions in one partition, in-process and on a replica fed
through Redis (lookups there are local too: see ``portkey.cache.semantic.index_shared``).

    .venv/bin/python bench/cache_quality.py [--sizes 10000,100000] [--lookups 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

import numpy as np

from portkey.cache.base import SemanticIndex
from portkey.cache.semantic.embedder import LocalEmbedder
from portkey.cache.semantic.guards import normalise, partition_key, reordered
from portkey.cache.semantic.index_memory import MemoryIndex
from portkey.cache.semantic.index_shared import ReplicatedIndex

PAIRS = Path(__file__).parent.parent / "tests" / "data" / "semantic_cache_pairs.jsonl"
Timing = tuple[float, float, float]
THRESHOLDS = (0.85, 0.88, 0.90, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98)


def body(text: str) -> dict[str, object]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}


def quality(embedder: LocalEmbedder) -> list[tuple[float, int, int, int, int, float]]:
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    texts = [normalise(t) for p in pairs for t in (p["a"], p["b"])]
    vectors = embedder.embed(texts)
    sims = [float(vectors[2 * i] @ vectors[2 * i + 1]) for i in range(len(pairs))]
    same = [
        partition_key(body(p["a"])) == partition_key(body(p["b"]))
        and not reordered(normalise(p["a"]), normalise(p["b"]))
        for p in pairs
    ]
    rows = []
    for t in THRESHOLDS:
        tp = sum(1 for p, s, g in zip(pairs, sims, same, strict=True) if p["same"] and g and s >= t)
        fp = sum(
            1 for p, s, g in zip(pairs, sims, same, strict=True) if not p["same"] and g and s >= t
        )
        fp_bare = sum(1 for p, s in zip(pairs, sims, strict=True) if not p["same"] and s >= t)
        positives = sum(1 for p in pairs if p["same"])
        rows.append((t, tp, fp, fp_bare, positives, tp / positives))
    return rows


def questions(size: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((size, 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


async def timed_lookups(index: SemanticIndex, stored: np.ndarray, lookups: int) -> Timing:
    """p50/p99 ms of a search in ONE partition (the worst case), and how often the stored
    question was found from a close paraphrase (cosine ~0.98)."""
    rng = np.random.default_rng(11)
    times, found = [], 0
    for i in rng.integers(0, len(stored), lookups):
        q = stored[i] + 0.01 * rng.standard_normal(384).astype(np.float32)
        q /= np.linalg.norm(q)
        started = time.perf_counter()
        match = await index.search("p", q, 0.95)
        times.append((time.perf_counter() - started) * 1000)
        found += match is not None and match.key == f"k{i}"
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)], found / lookups


async def latency_memory(size: int, lookups: int) -> Timing:
    index = MemoryIndex(max_entries=size + 1)
    stored = questions(size)
    for i in range(size):  # bulk load through the public add
        await index.add("p", stored[i], f"k{i}", None)
    await index.settle()  # the HNSW index is built in a worker thread
    return await timed_lookups(index, stored, lookups)


async def latency_redis(size: int, lookups: int, url: str) -> Timing:
    """Lookups on a replica that learned every question from another one through Redis."""
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    writer = ReplicatedIndex(url, prefix, max_entries=size + 1)
    stored = questions(size)
    try:
        for i in range(size):
            await writer.add("p", stored[i], f"k{i}", None)
        reader = ReplicatedIndex(url, prefix, max_entries=size + 1)
        try:
            while reader.local.size < size:  # replay of the stream
                await reader.search("p", stored[0], 0.95)
                await asyncio.sleep(0.05)
            await reader.local.settle()
            return await timed_lookups(reader, stored, lookups)
        finally:
            await reader.close()
    finally:
        await writer.purge()
        await writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="'' to skip")
    args = parser.parse_args()
    embedder = LocalEmbedder()
    print(
        "| threshold | hits (of paraphrases) | recall | false hits with guards | false hits, bare similarity |"
    )
    print("|---|---|---|---|---|")
    for t, tp, fp, fp_bare, positives, recall in quality(embedder):
        print(f"| {t:.2f} | {tp}/{positives} | {recall:.2f} | {fp} | {fp_bare} |")
    print(
        "\n| index | stored questions (one partition) | lookup p50 ms | p99 ms | found |"
        "\n|---|---|---|---|---|"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        runs = [("in-process", latency_memory(size, args.lookups))]
        if args.redis:
            runs.append(("Redis-replicated", latency_redis(size, args.lookups, args.redis)))
        for name, run in runs:
            p50, p99, found = asyncio.run(run)
            print(f"| {name} | {size:,} | {p50:.3f} | {p99:.3f} | {found:.3f} |")


if __name__ == "__main__":
    main()
