"""A/B results per prompt variant: requests, latency, cost and feedback with a 95% interval.

Reads the request log (``request_logs``, written by portkey.observe with the prompt id,
version and label in each record's metadata) and the feedback rows for those traces. The
interval is the normal approximation of the weighted mean (n_eff = (Σw)² / Σw²), with
Student's t for few samples; it is empty below two feedback values.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import orjson

from portkey.prompts.store import PromptStore

#: two-sided 95% Student's t by degrees of freedom (1..30); above 30, 1.96
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def interval(values: list[tuple[float, float]]) -> dict[str, Any]:
    """Weighted mean of (value, weight) pairs with a 95% confidence interval."""
    pairs = [(v, w) for v, w in values if w > 0]
    total = sum(w for _, w in pairs)
    if not pairs or total == 0:
        return {"count": 0, "mean": None, "ci95": None}
    mean = sum(v * w for v, w in pairs) / total
    if len(pairs) < 2:
        return {"count": 1, "mean": mean, "ci95": None}
    n_eff = total**2 / sum(w * w for _, w in pairs)
    var = sum(w * (v - mean) ** 2 for v, w in pairs) / total * len(pairs) / (len(pairs) - 1)
    dof = max(1, round(n_eff) - 1)
    t = T95[dof - 1] if dof <= len(T95) else 1.96
    half = t * math.sqrt(var / n_eff)
    return {"count": len(pairs), "mean": mean, "ci95": [mean - half, mean + half]}


def results(store: PromptStore, prompt_id: str, since_s: float) -> dict[str, Any]:
    needle = orjson.dumps({"prompt_id": prompt_id}).decode()[1:-1]  # '"prompt_id":"x"'
    with store.db.transaction() as tx:
        rows = tx.query(
            "SELECT trace_id, metadata, status, latency_ms, cost_usd FROM request_logs "
            "WHERE ts >= ? AND metadata LIKE ?",
            (time.time() - since_s, f"%{needle}%"),
        )
    variants: dict[tuple[str, str], dict[str, Any]] = {}
    for trace_id, meta_text, status, latency, cost in rows:
        meta = orjson.loads(meta_text)
        if meta.get("prompt_id") != prompt_id:
            continue
        key = (meta.get("prompt_label") or "", meta.get("prompt_version") or "")
        v = variants.setdefault(key, {"traces": [], "latency": [], "cost": 0.0, "errors": 0})
        v["traces"].append(trace_id)
        v["latency"].append(float(latency))
        v["cost"] += float(cost or 0.0)
        v["errors"] += int(status) >= 400 and int(status) not in (246,)
    feedback = store.feedback([t for v in variants.values() for t in v["traces"]])
    out = []
    for (label, version), v in sorted(variants.items()):
        scores = [pair for t in v["traces"] for pair in feedback.get(t, [])]
        latency = v["latency"]
        out.append({
            "label": label or None, "version": int(version) if version else None,
            "requests": len(v["traces"]), "errors": v["errors"],
            "latency_ms": {"mean": statistics.fmean(latency), "p50": statistics.median(latency)},
            "cost_usd": v["cost"], "feedback": interval(scores),
        })  # fmt: skip
    return {"prompt_id": prompt_id, "since_s": since_s, "variants": out}
