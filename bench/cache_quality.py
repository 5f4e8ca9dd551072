"""Semantic cache quality and lookup speed, on the labelled pairs in tests/data.

A pair "hits" when the cache would answer its second question with the first one's answer:
same partition (``portkey.cache.semantic.guards``) and cosine >= threshold. Reports precision
and recall per threshold (with and without the guards, to show what they buy), then lookup
latency of the in-process index with 10k and 100k stored questions.

    .venv/bin/python bench/cache_quality.py [--sizes 10000,100000] [--lookups 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np

from portkey.cache.semantic.embedder import LocalEmbedder
from portkey.cache.semantic.guards import normalise, partition_key, reordered
from portkey.cache.semantic.index_memory import MemoryIndex

PAIRS = Path(__file__).parent.parent / "tests" / "data" / "semantic_cache_pairs.jsonl"
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


async def latency(size: int, lookups: int) -> tuple[float, float]:
    """p50/p99 ms of a search in ONE partition holding ``size`` questions (the worst case)."""
    rng = np.random.default_rng(7)
    index = MemoryIndex(max_entries=size + 1)
    vectors = rng.standard_normal((size, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i in range(size):  # bulk load through the public add
        await index.add("p", vectors[i], f"k{i}", None)
    times = []
    for q in rng.standard_normal((lookups, 384)).astype(np.float32):
        q /= np.linalg.norm(q)
        started = time.perf_counter()
        await index.search("p", q, 0.95)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    embedder = LocalEmbedder()
    print(
        "| threshold | hits (of paraphrases) | recall | false hits with guards | false hits, bare similarity |"
    )
    print("|---|---|---|---|---|")
    for t, tp, fp, fp_bare, positives, recall in quality(embedder):
        print(f"| {t:.2f} | {tp}/{positives} | {recall:.2f} | {fp} | {fp_bare} |")
    print("\n| stored questions (one partition) | lookup p50 ms | p99 ms |\n|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        p50, p99 = asyncio.run(latency(size, args.lookups))
        print(f"| {size:,} | {p50:.3f} | {p99:.3f} |")


if __name__ == "__main__":
    main()
