"""A/B: a label split by weights, sticky per user; feedback; results per variant with a CI."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.guardrails.servers import ReplyUpstream
from tests.prompts.conftest import admin, prompts_yaml, sdk
from tests.support import GatewayServer

AB = """
prompts:
  split:
    config: main
    model: MODEL
    template: "Tell {{name}} a joke (A)"
    ab: {production: 70, staging: 30}
"""


def ab_gateway(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream, model: str
) -> GatewayServer:
    server = start(prompts_yaml(store_url, reply, AB.replace("MODEL", model)))
    variant = {"template": "Tell {{name}} a joke (B)", "model": model, "labels": ["staging"]}
    assert admin(server).post("/prompts/split/versions", json=variant).status_code == 201
    return server


def label_for(http: httpx.Client, user: str) -> str:
    response = http.post(
        "/prompts/split/render",
        json={"variables": {"name": user}},
        headers={"x-portkey-metadata": json.dumps({"_user": user})},
    )
    assert response.status_code == 200
    content = response.json()["data"]["messages"][0]["content"]
    label = response.headers["x-portkey-prompt-label"]
    assert content.endswith("(A)" if label == "production" else "(B)")
    return label


def test_split_follows_the_weights_and_sticks_per_user(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    server = ab_gateway(start, store_url, reply, "gpt-4o")
    n = 600
    http = httpx.Client(base_url=server.base_url)
    labels = {f"user-{i}": label_for(http, f"user-{i}") for i in range(n)}
    share = Counter(labels.values())["staging"] / n
    bound = 4 * math.sqrt(0.3 * 0.7 / n)  # 4 standard deviations of a binomial share
    assert abs(share - 0.3) < bound, share
    for user in list(labels)[:50]:  # the same user always gets the same variant
        assert label_for(http, user) == labels[user]
    pinned = http.post("/prompts/split@production/render",
                        json={"variables": {"name": "x"}}, headers={"x-portkey-metadata": '{"_user": "user-1"}'})  # fmt: skip
    assert pinned.headers["x-portkey-prompt-label"] == "production"  # a pin skips the draw


def test_feedback_and_results_per_variant(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    server = ab_gateway(start, store_url, reply, reply.say("a joke"))
    traces: dict[str, list[str]] = {"production": [], "staging": []}
    client = sdk(server)
    for i in range(40):
        user = f"fb-{i}"
        answer = client.prompts.completions.create(
            prompt_id="split",
            variables={"name": user},
            extra_headers={"x-portkey-metadata": json.dumps({"_user": user})},
        )
        headers = answer.get_headers() or {}
        traces[headers["prompt-label"]].append(headers["trace-id"])
    assert traces["production"] and len(traces["staging"]) >= 2
    expected: dict[str, list[float]] = {}
    for label, ids in traces.items():
        for j, trace in enumerate(ids):
            value = (8.0 if label == "staging" else 5.0) + (j % 3)  # staging scores higher
            sent = client.feedback.create(trace_id=trace, value=int(value), weight=1.0)
            assert sent.status == "success"
            expected.setdefault(label, []).append(value)
    api = admin(server)
    deadline = time.monotonic() + 10
    while True:
        results = api.get("/prompts/split/ab", params={"since_s": 600}).json()["variants"]
        counts = {v["label"]: v["requests"] for v in results}
        if counts == {k: len(v) for k, v in traces.items()} or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # noqa: TID251 - test thread, not the event loop
    assert counts == {k: len(v) for k, v in traces.items()}
    for variant in results:
        values = expected[variant["label"]]
        feedback = variant["feedback"]
        assert feedback["count"] == len(values)
        assert feedback["mean"] == pytest.approx(statistics.fmean(values))
        low, high = feedback["ci95"]
        assert low < feedback["mean"] < high
        half = (high - low) / 2
        assert half == pytest.approx(
            _t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)), rel=1e-6
        )
        assert variant["latency_ms"]["p50"] > 0 and variant["errors"] == 0


def _t95(dof: int) -> float:
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
             9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
             16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074,
             23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045,
             30: 2.042}  # fmt: skip
    return table.get(dof, 1.96)


def test_bad_feedback_is_a_400(
    start: Callable[[str], GatewayServer], store_url: str, reply: ReplyUpstream
) -> None:
    server = start(prompts_yaml(store_url, reply, ""))
    for body, field in (({"value": 1}, "trace_id"), ({"trace_id": "t", "value": 99}, "value"),
                        ({"trace_id": "t", "value": 1, "weight": 2}, "weight"),
                        ({"trace_id": "t", "value": 1, "extra": 1}, "unknown")):  # fmt: skip
        response = httpx.post(server.base_url + "/feedback", json=body)
        assert response.status_code == 400, body
        assert field in response.json()["error"]["message"]
    assert httpx.post(server.base_url + "/feedback", content=b"[").status_code == 400
