"""Guardrail quality and cost: PII precision/recall, per-check latency, added latency and TTFT.

1. PII detection on ``tests/data/pii_corpus.jsonl`` (sentences with PII planted at known
   offsets, plus hard negatives: failed Luhn/IBAN checksums, invalid SSNs and IPs, versions,
   dates, ISBNs, prices). A detection counts when type, start and end are all exact;
   "overlap" recall also counts a detection of the right type that overlaps the span.
2. Each check's own time on a ~1 KB prompt (median of N runs, in-process, no network).
3. Through a real gateway (uvicorn, in a thread) and a local upstream: p50 latency of a chat
   completion with no guardrail (the baseline, measured in the same run) and with input and
   output guardrails; time to first token of a stream with no guardrail, with a streamed
   output "must not contain" check, and with streamed PII masking.

    .venv/bin/python bench/guardrails_quality.py [--runs 2000] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

from portkey.guardrails.checks.pii import KINDS, find  # noqa: E402
from portkey.guardrails.registry import build  # noqa: E402
from portkey.guardrails.runner import GuardState  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "pii_corpus.jsonl"
PROMPT = (
    "Hi team, please summarise the attached notes for the quarterly review. The meeting is "
    "on Tuesday at 10:30 in room 4B; we will go over the budget (about 1500 EUR), the hiring "
    "plan and the roadmap for version 2.10. Send questions to the usual channel. "
) * 4
CHECKS: list[tuple[str, dict[str, Any]]] = [
    ("default.regexMatch", {"rule": r"\bDROP\s+TABLE\b", "not": True}),
    ("default.contains", {"words": ["darn", "heck", "confidential"], "operator": "none"}),
    ("default.wordCount", {"maxWords": 500}),
    ("default.tokenCount", {"maxTokens": 2000}),
    ("default.containsCode", {"not": True}),
    ("default.validUrls", {"denied_domains": ["evil.test"]}),
    ("default.jsonSchema", {"schema": {"type": "object"}}),
    ("default.language", {"language": ["en"]}),
    ("default.secrets", {}),
    ("default.pii", {}),
    ("default.pii", {"redact": True}),
]


def pii_quality() -> None:
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    overlap: Counter[str] = Counter()
    misses: list[str] = []
    for row in rows:
        text = row["text"]
        expected = {(s["type"], s["start"], s["end"]) for s in row["spans"]}
        found = {(s.kind, s.start, s.end) for s in find(text)}
        for span in found:
            (tp if span in expected else fp)[span[0]] += 1
            if span not in expected:
                misses.append(f"  FP {span[0]:<11} {text[span[1] : span[2]]!r} in {text!r}")
        for kind, start, end in expected:
            if (kind, start, end) not in found:
                fn[kind] += 1
                misses.append(f"  FN {kind:<11} {text[start:end]!r} in {text!r}")
            if any(k == kind and s < end and start < e for k, s, e in found):
                overlap[kind] += 1
    print(f"PII detection on {CORPUS.name}: {len(rows)} texts, "
          f"{sum(len(r['spans']) for r in rows)} expected spans")  # fmt: skip
    print(
        f"{'type':<12} {'expected':>8} {'found':>6} {'precision':>9} {'recall':>7} {'overlap recall':>14}"
    )
    for kind in (*KINDS, "ALL"):
        t = sum(tp.values()) if kind == "ALL" else tp[kind]
        f = sum(fp.values()) if kind == "ALL" else fp[kind]
        n = sum(fn.values()) if kind == "ALL" else fn[kind]
        o = sum(overlap.values()) if kind == "ALL" else overlap[kind]
        expected_n = t + n
        precision = t / (t + f) if t + f else float("nan")
        recall = t / expected_n if expected_n else float("nan")
        o_recall = o / expected_n if expected_n else float("nan")
        print(
            f"{kind:<12} {expected_n:>8} {t + f:>6} {precision:>9.3f} {recall:>7.3f} {o_recall:>14.3f}"
        )
    if misses:
        print("errors:")
        print("\n".join(misses))


async def check_latency(runs: int) -> None:
    print(f"\nper-check time on a {len(PROMPT)}-character prompt (median of {runs}, µs)")
    state = GuardState(None, {"messages": [{"role": "user", "content": PROMPT}]})
    for check_id, params in CHECKS:
        check = build(check_id, params)
        await check.run(PROMPT, state)  # warm (the language model loads at build time)
        times = []
        for _ in range(runs):
            state.masks = None
            t0 = time.perf_counter()
            await check.run(PROMPT, state)
            times.append(time.perf_counter() - t0)
        label = check_id + (" (redact)" if params.get("redact") else "")
        print(f"  {label:<28} {statistics.median(times) * 1e6:>8.1f}")


def _p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def gateway_latency(requests: int) -> None:
    from tests.guardrails.servers import ReplyUpstream
    from tests.support import GatewayServer

    with ReplyUpstream() as reply, GatewayServer() as gateway:
        base = {"provider": "openai", "api_key": "sk-x", "custom_host": reply.url + "/v1"}
        no_secrets = {"id": "s", "deny": True, "checks": [{"id": "default.secrets"}]}
        pii_mask = {"id": "p", "action": "mask", "restore": True, "checks": [{"id": "default.pii"}]}
        words = {"id": "w", "deny": True, "checks": [{"id": "default.contains",
                 "parameters": {"words": ["darn", "heck"], "operator": "none"}}]}  # fmt: skip
        variants = {
            "no guardrail (baseline)": base,
            "input: secrets (block)": {**base, "input_guardrails": [no_secrets]},
            "input: PII mask + restore": {**base, "input_guardrails": [pii_mask]},
            "output: word list (block)": {**base, "output_guardrails": [words]},
            "output: PII mask": {**base, "output_guardrails": [pii_mask]},
        }
        answer = reply.say(PROMPT)
        body = {"model": answer, "messages": [{"role": "user", "content": PROMPT}]}
        with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
            print(f"\nchat completion through the gateway, p50 of {requests} requests per variant, "
                  "variants interleaved (ms)")  # fmt: skip
            times: dict[str, list[float]] = {name: [] for name in variants}
            for i in range(requests + 20):
                for name, config in variants.items():
                    headers = {"x-portkey-config": json.dumps(config), "authorization": "Bearer x"}
                    t0 = time.perf_counter()
                    r = client.post("/chat/completions", json=body, headers=headers)
                    if i >= 20:
                        times[name].append(time.perf_counter() - t0)
                    assert r.status_code in (200, 246), r.text
            baseline = _p50(times["no guardrail (baseline)"])
            for name, samples in times.items():
                p50 = _p50(samples)
                print(
                    f"  {name:<28} {p50:>7.3f}  (+{p50 - baseline:.3f} ms, x{p50 / baseline:.2f})"
                )
            stream_ttft(client, reply, base, words, pii_mask, requests)


def stream_ttft(
    client: httpx.Client, reply: Any, base: dict[str, Any], words: Any, mask: Any, requests: int
) -> None:
    text = " ".join(f"word{i}" for i in range(60))
    model = reply.say(text, gap_s=0.0005)
    variants = {
        "no guardrail (baseline)": base,
        "output: word list, streamed": {**base, "output_guardrails": [words]},
        "output: PII mask, streamed": {**base, "output_guardrails": [mask]},
    }
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "q"}]}
    print(f"\nstreamed chat, 60 chunks: p50 time to first content / to the end "
          f"({requests} runs per variant, interleaved, ms)")  # fmt: skip
    firsts: dict[str, list[float]] = {name: [] for name in variants}
    totals: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(requests + 10):
        for name, config in variants.items():
            headers = {"x-portkey-config": json.dumps(config), "authorization": "Bearer x"}
            t0 = time.perf_counter()
            first = None
            with client.stream("POST", "/chat/completions", json=body, headers=headers) as r:
                for line in r.iter_lines():
                    if first is None and '"content":"word' in line:
                        first = time.perf_counter() - t0
            if i >= 10 and first is not None:
                firsts[name].append(first)
                totals[name].append(time.perf_counter() - t0)
    baseline = _p50(firsts["no guardrail (baseline)"])
    for name in variants:
        ttft = _p50(firsts[name])
        print(f"  {name:<28} TTFT {ttft:>7.3f} (+{ttft - baseline:.3f})  "
              f"total {_p50(totals[name]):>7.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--skip-gateway", action="store_true")
    args = parser.parse_args()
    pii_quality()
    asyncio.run(check_latency(args.runs))
    if not args.skip_gateway:
        gateway_latency(args.requests)


if __name__ == "__main__":
    main()
