"""What the control plane adds per request: auth, scopes, rate limits, budgets (memory and Redis).

Drives the real ``Gate`` (``admit`` + ``before_attempt`` + ``finish`` and the settle task) in
one process, against a real store and real counter backends, and prints microseconds per
request for each setup next to the baseline of a gateway with no keys at all. No HTTP: this
isolates the cost the control plane puts on the hot path (the HTTP harness is ``bench.py``).

    .venv/bin/python bench/control_overhead.py [--requests 20000] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from portkey.config.models import LimitsSettings, PortkeyFile
from portkey.control.budgets import make_ledger
from portkey.control.charge import make_charger
from portkey.control.crypto import Keyring, generate_key, parse_key
from portkey.control.gate import Gate
from portkey.control.models import ApiKeyIn, BudgetIn, RateLimitIn
from portkey.control.plane import ControlPlane
from portkey.control.ratelimit import make_rate_limiter
from portkey.control.store import ControlStore
from portkey.gateway.ingress import Call
from portkey.gateway.plan import leaves
from portkey.gateway.runtime import Runtime, RuntimeHolder
from portkey.store.db import SqliteDatabase

BODY = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "hello there"}],
    "max_tokens": 64,
}
USAGE = {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}


async def setup(tmp: Path, name: str, limits: LimitsSettings, with_key: bool, with_limits: bool
                ) -> tuple[Gate, Any, str | None]:  # fmt: skip
    store = ControlStore(
        SqliteDatabase(tmp / f"{name}.db"), Keyring(parse_key(generate_key(), "k"))
    )
    store.start()
    key = None
    if with_key:
        key = store.create_api_key(ApiKeyIn(name="bench", team="ml")).key
    if with_limits:
        store.create_rate_limit(RateLimitIn(scope="api_key", target="bench", rpm=10**9, tpm=10**12))
        store.create_rate_limit(RateLimitIn(scope="model", target="gpt-4o", rpm=10**9))
        store.create_budget(BudgetIn(scope="team", target="ml", limit_usd=10**9, period="month"))
    file = PortkeyFile.model_validate({"limits": limits.model_dump(),
                                       "configs": {"c": {"provider": "openai", "api_key": "sk-x"}}})  # fmt: skip
    holder = RuntimeHolder(Runtime.build(file))
    plane = ControlPlane(holder, store)
    await plane.refresh(force=True)
    prefix = f"bench-{secrets.token_hex(4)}:"
    limiter = make_rate_limiter(limits, prefix=prefix)
    ledger = make_ledger(limits, prefix=prefix)
    gate = Gate(plane, limiter, ledger, charger=make_charger(limiter, ledger))
    return gate, holder.current.named["c"], key


async def measure(gate: Gate, plan: Any, key: str | None, n: int) -> tuple[float, float]:
    """(µs on the request path: admit + before_attempt, µs settling afterwards, off it)."""
    leaf = leaves(plan.root)[0]
    headers = {"x-portkey-api-key": key} if key else {}
    for phase in ("warm", "timed"):
        count = n // 10 if phase == "warm" else n
        hot = settle = 0.0
        for _ in range(count):
            t0 = time.perf_counter()
            call = Call("chat", "/v1/chat/completions", dict(headers), t0)
            call.body = BODY
            await gate.admit(call, plan)
            await gate.before_attempt(leaf, call)
            gate.finish(call, leaf, USAGE)
            t1 = time.perf_counter()
            await gate.drain()
            hot += t1 - t0
            settle += time.perf_counter() - t1
    return hot / n * 1e6, settle / n * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    memory = LimitsSettings()
    redis = LimitsSettings(backend="redis", redis_url=args.redis)
    cases = [
        ("no keys, no limits (baseline)", memory, False, False),
        ("API key + scopes", memory, True, False),
        ("key + 3 rate limits + budget, in-process", memory, True, True),
        ("key + 3 rate limits + budget, Redis", redis, True, True),
    ]
    print(f"{args.requests} requests per case; gate work per request (admit, attempt, settle)\n")
    print("| setup | request path µs | added vs baseline | settle µs (background) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        base = None
        for i, (label, limits, with_key, with_limits) in enumerate(cases):
            gate, plan, key = await setup(Path(tmp), f"c{i}", limits, with_key, with_limits)
            n = args.requests if limits.backend == "memory" else max(2000, args.requests // 10)
            us, settle = await measure(gate, plan, key, n)
            base = us if base is None else base
            print(f"| {label} | {us:.1f} | +{us - base:.1f} | {settle:.1f} |")
            await gate.limiter.close()
            await gate.ledger.close()


if __name__ == "__main__":
    asyncio.run(main())
