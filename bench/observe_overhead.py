"""What request logs + metrics + cost cost per request, in CPU instructions (callgrind).

Instruction counts do not depend on what else the machine is doing, so this answers "how much
more work per request" even on a busy machine, where req/s and CPU-seconds are noise. For each
setup (on: ``bench/observe_on.yaml``, the defaults with batches as large as under load; off:
``bench/observe_off.yaml``) the gateway runs under
``valgrind --tool=callgrind`` twice, serving ``--small`` then ``--large`` sequential chat
completions from the canned upstream; the difference of the two totals divided by the
difference in requests is the per-request cost (start-up and shutdown cancel out; the log
writer's batches and its shutdown flush are inside the totals, all threads counted).

    .venv/bin/python bench/observe_overhead.py [--small 200] [--large 1200]

Needs valgrind (Debian's package). Takes a few minutes: Python under callgrind is ~50x slower.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)  # noqa: TID251 - a script, no event loop
    raise SystemExit(f"nothing answered on port {port}")


def run(config: str | None, requests: int, upstream: int, workdir: str) -> int:
    """Total instructions of a gateway that served ``requests`` chat completions."""
    port = free_port()
    out = os.path.join(workdir, f"cg-{Path(config).stem if config else 'default'}-{requests}.%p")
    env = {k: v for k, v in os.environ.items() if k not in ("PORTKEY_CONFIG",)}
    env["PORTKEY_DATA_DIR"] = tempfile.mkdtemp(prefix="portkey-cg-")
    # numpy's OpenBLAS threads spin for a while after the import (tens of millions of
    # instructions, landing at random in one run or another): one thread, no spinning
    env["OPENBLAS_NUM_THREADS"] = "1"
    if config:
        env["PORTKEY_CONFIG"] = config
    cmd = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--trace-children=no",
        str(ROOT / ".venv/bin/python"), "-m", "portkey.cli.main", "serve",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        headers = {
            "Content-Type": "application/json",
            "Authorization": "Bearer sk-bench",
            "x-portkey-provider": "openai",
            "x-portkey-custom-host": f"http://127.0.0.1:{upstream}/v1",
        }
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(requests):
            conn.request("POST", "/v1/chat/completions", body=BODY, headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
        time.sleep(1.0)  # noqa: TID251 - a script; the writer flushes its last batch
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
    total = 0
    for path in glob.glob(out.replace("%p", "*")):
        for line in Path(path).read_text(errors="replace").splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--keep", help="keep the callgrind out files in this folder")
    parser.add_argument(
        "--only", choices=("off", "on"), help="measure one setup (the other reads as n/a)"
    )
    args = parser.parse_args()
    upstream = free_port()
    canned = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/canned_upstream.py"), "--json-port", str(upstream)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(upstream, 30)
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
        workdir = args.keep or tempfile.mkdtemp(prefix="portkey-callgrind-")
        per_request: dict[str, float] = {"off": float("nan"), "on": float("nan")}
        setups = (("off", "bench/observe_off.yaml"), ("on", "bench/observe_on.yaml"))
        for name, config in ((n, str(ROOT / c)) for n, c in setups):
            if args.only and name != args.only:
                continue
            small = run(config, args.small, upstream, workdir)
            large = run(config, args.large, upstream, workdir)
            per_request[name] = (large - small) / (args.large - args.small)
            print(f"{name}: {per_request[name]:,.0f} instructions per request", file=sys.stderr)
    finally:
        canned.terminate()
    off, on = per_request["off"], per_request["on"]
    print("| observability | instructions per request | vs off |")
    print("|---|---|---|")
    print(f"| off (logs, metrics disabled) | {off:,.0f} | 1.00 |")
    print(f"| on (SQLite logs, metrics, cost; 500-row batches) | {on:,.0f} | {on / off:.3f} |")


if __name__ == "__main__":
    main()
