"""Benchmark driver for the Portkey gateway (stdlib only; started by bench/run.sh).

Starts a canned OpenAI upstream (nginx when installed, else canned_upstream.py) plus the slow-SSE
upstream, then measures each target in turn:

* ``direct``: the load generators straight at the upstream (the baseline: no gateway);
* ``gateway``: ours, ``portkey serve``, routed with ``x-portkey-provider`` /
  ``x-portkey-custom-host`` headers (``--gateway-cmd`` starts something else instead);
* ``gateway-anthropic``: the same gateway and the same OpenAI-shaped requests, routed to provider
  ``anthropic`` at a canned Anthropic Messages upstream (``canned_upstream.py --anthropic-port``):
  the gateway translates each request to the Messages API and each answer (JSON, SSE) back.

Per target: cold start (gateway only), a correctness check, wrk closed-loop runs (JSON and
stream, several concurrencies), a paced open-loop run (client.py), the slow-SSE probe, and the
gateway process tree's CPU time per request and RSS. Prints a markdown report on stdout and
writes ``results.json`` and ``report.md`` under ``--out`` (``$BENCH_OUT``, default a temp dir).

Placement: upstream, wrk, client.py and this driver on CPU 0; the gateway on CPU 1. Only
processes started here are stopped (each in its own session, signalled by process group). All
sockets are on 127.0.0.1 and every load run is bounded by its duration and a hard timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import payloads  # noqa: E402

HOST = "127.0.0.1"
CHAT = "/v1/chat/completions"
LUA = os.path.join(HERE, "chat.lua")
DEFAULT_GATEWAY_CMD = f"{REPO}/.venv/bin/portkey serve --host 127.0.0.1 --port {{port}}"
CLK_TCK = os.sysconf("SC_CLK_TCK")

Json = dict[str, Any]


def pause(seconds: float) -> None:
    """Blocking sleep: this driver is synchronous and runs no event loop."""
    time.sleep(seconds)  # noqa: TID251


# ------------------------------------------------------------------------------- /proc


def _stat(pid: int) -> tuple[int, int] | None:
    """(session id, utime+stime+cutime+cstime ticks) of a live process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    f_ = s[s.rfind(")") + 2 :].split()
    return int(f_[3]), sum(int(x) for x in f_[11:15])


def vm_rss(pid: int) -> int:
    """VmRSS of a live process in bytes (0 if it is gone), from /proc/PID/status."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def session_pids(sid: int) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st is not None and st[0] == sid:
                pids.append(int(d))
    return pids


def tree_usage(sid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) summed over the live processes of a session (the process tree)."""
    cpu = rss = 0
    for pid in session_pids(sid):
        st = _stat(pid)
        if st is not None:
            cpu += st[1]
            rss += vm_rss(pid)
    return cpu / CLK_TCK, rss


def cpu_jiffies() -> dict[str, tuple[int, int]]:
    """{'cpu0': (busy, total), ...} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                v = [int(x) for x in parts[1:9]]
                out[parts[0]] = (sum(v) - v[3] - v[4], sum(v))
    return out


def busy_pct(a: dict[str, tuple[int, int]], b: dict[str, tuple[int, int]]) -> dict[str, float]:
    return {
        k: round(100.0 * (b[k][0] - a[k][0]) / max(1, b[k][1] - a[k][1]), 1) for k in b if k in a
    }


def other_busy(exclude: set[int], seconds: float = 1.0) -> list[str]:
    """Processes outside our sessions that used more than 5 % of a core over ``seconds``."""

    def snap() -> dict[int, int]:
        out = {}
        for d in os.listdir("/proc"):
            st = _stat(int(d)) if d.isdigit() else None
            if st is not None and st[0] not in exclude:
                out[int(d)] = st[1]
        return out

    a = snap()
    pause(seconds)
    found = []
    for pid, ticks in snap().items():
        share = 100.0 * (ticks - a.get(pid, ticks)) / CLK_TCK / seconds
        if share > 5:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    name = f.read().strip()
            except OSError:
                name = "?"
            found.append(f"{name}[{pid}] {share:.0f}%")
    return found


class RssSampler(threading.Thread):
    """Samples a session's total RSS every 50 ms and keeps the peak."""

    def __init__(self, sid: int | None) -> None:
        super().__init__(daemon=True)
        self.sid = sid
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while self.sid is not None and not self._halt.is_set():
            self.peak = max(self.peak, tree_usage(self.sid)[1])
            self._halt.wait(0.05)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


# ------------------------------------------------------------------------------- processes


class Proc:
    """A process started here, in its own session; stop() signals only its process group."""

    def __init__(self, name: str, argv: list[str], log: str, env: dict[str, str] | None = None):
        self.name, self.argv = name, argv
        self._log: TextIO = open(log, "a")  # noqa: SIM115 (closed in stop)
        self.t_spawn = time.perf_counter()
        self.p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=os.path.dirname(log),
            start_new_session=True,
        )
        self.sid = self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self) -> None:
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if self.alive() or session_pids(self.sid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.sid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.p.wait(grace)
        self._log.close()


def pinned(cpu: str | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def wait_port(port: int, proc: Proc, timeout: float) -> None:
    t0 = time.monotonic()
    while not port_open(port):
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited (rc={proc.p.returncode}); see its log")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{proc.name}: port {port} not open after {timeout} s")
        pause(0.02)


def sh(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"n/a ({type(e).__name__})"


# ------------------------------------------------------------------------------- upstream


def nginx_conf(rt: str, ports: Ports) -> str:
    """nginx serving the canned JSON on ports.json and the canned SSE on ports.stream."""
    docroot = os.path.join(rt, "www")
    os.makedirs(os.path.join(docroot, "v1", "chat"), exist_ok=True)
    with open(os.path.join(docroot, CHAT.lstrip("/")), "w") as f:
        f.write(payloads.sse_body())
    temps = "".join(
        f"  {k}_temp_path {rt}/tmp-{k};\n"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    answer = payloads.completion_json()
    assert not set("'$\\\n") & set(answer)
    not_found = 'return 404 \'{"error":{"message":"not found"}}\';'
    return f"""worker_processes 1;
daemon off;
pid {rt}/nginx.pid;
error_log {rt}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
{temps}  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  default_type application/json;
  server {{
    listen {HOST}:{ports.json} backlog=4096;
    location = {CHAT} {{ return 200 '{answer}'; }}
    location / {{ {not_found} }}
  }}
  server {{
    # The SSE body is too long for a config string, so it is a static file. nginx's static
    # handler answers POST with 405; error_page turns that into the file with status 200.
    listen {HOST}:{ports.stream} backlog=4096;
    root {docroot};
    location = {CHAT} {{
      types {{ }}
      default_type "text/event-stream; charset=utf-8";
      add_header Cache-Control no-cache;
      error_page 405 =200 $uri;
    }}
    location / {{ {not_found} }}
  }}
}}
"""


@dataclass
class Ports:
    json: int
    stream: int
    slow: int
    anthropic: int
    gateway: int

    @classmethod
    def from_base(cls, base: int) -> Ports:
        return cls(base + 1, base + 2, base + 3, base + 4, base + 10)


def start_upstreams(args: argparse.Namespace, ports: Ports, rt: str) -> tuple[list[Proc], str]:
    """Start the fast upstream (nginx, or the Python fallback) and the slow-SSE one on CPU 0."""
    procs: list[Proc] = []
    helper = [sys.executable, os.path.join(HERE, "canned_upstream.py")]
    slow_argv = [*helper, "--slow-port", str(ports.slow), "--delay-ms", str(args.slow_delay_ms)]
    use_nginx = args.upstream in ("auto", "nginx") and shutil.which("nginx") is not None
    if args.upstream == "nginx" and not use_nginx:
        raise RuntimeError("--upstream nginx but nginx is not installed")
    if use_nginx:
        conf = os.path.join(rt, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(rt, ports))
        argv = ["nginx", "-p", rt, "-e", os.path.join(rt, "nginx-error.log"), "-c", conf]
        kind = "nginx " + sh(["nginx", "-v"]).rsplit("/", 1)[-1]
    else:
        argv = [*helper, "--json-port", str(ports.json), "--stream-port", str(ports.stream)]
        kind = "canned_upstream.py (python, " + ("uvloop)" if has_uvloop() else "asyncio)")
    procs.append(Proc("upstream", pinned(args.load_cpu, argv), os.path.join(rt, "upstream.log")))
    procs.append(Proc("slow-sse", pinned(args.load_cpu, slow_argv), os.path.join(rt, "slow.log")))
    waits = [(ports.json, procs[0]), (ports.stream, procs[0]), (ports.slow, procs[1])]
    if ANTHROPIC in args.targets:
        argv = [*helper, "--anthropic-port", str(ports.anthropic)]
        log = os.path.join(rt, "anthropic.log")
        procs.append(Proc("anthropic-upstream", pinned(args.load_cpu, argv), log))
        waits.append((ports.anthropic, procs[2]))
    for port, proc in waits:
        wait_port(port, proc, 15)
    return procs, kind


def has_uvloop() -> bool:
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------- targets


ANTHROPIC = "gateway-anthropic"
TARGETS = ("direct", "gateway", ANTHROPIC)


@dataclass
class Target:
    name: str
    urls: dict[str, str]  # scenario (json|stream|slow) -> URL; no "slow": no slow-SSE probe
    headers: dict[str, dict[str, str]]  # scenario -> extra request headers
    cmd: str | None = None  # None: nothing to start (direct)
    health_url: str | None = None
    result: Json = field(default_factory=dict)
    expect_stream: str = "[DONE]"  # what every streamed answer of the paced run must contain


def direct_target(ports: Ports) -> Target:
    up = {"json": ports.json, "stream": ports.stream, "slow": ports.slow}
    urls = {k: f"http://{HOST}:{p}{CHAT}" for k, p in up.items()}
    return Target("direct", urls, {k: {} for k in up})


def anthropic_upstream_target(ports: Ports) -> Target:
    """The canned Anthropic upstream itself, for its own paced baseline (no gateway)."""
    url = f"http://{HOST}:{ports.anthropic}{payloads.ANTHROPIC_PATH}"
    hdrs = {"x-api-key": payloads.ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
    return Target(
        "anthropic-upstream",
        {"json": url, "stream": url},
        {"json": hdrs, "stream": hdrs},
        expect_stream='"type":"message_stop"',
    )


def gateway_target(
    args: argparse.Namespace, ports: Ports, name: str, provider: str, up: dict[str, int]
) -> Target:
    """Our gateway, routed per scenario to ``provider`` at the canned upstream port ``up[k]``."""
    gw = f"http://{HOST}:{ports.gateway}"
    hdrs = {
        k: {"x-portkey-provider": provider, "x-portkey-custom-host": f"http://{HOST}:{p}/v1"}
        for k, p in up.items()
    }
    cmd = args.gateway_cmd.replace("{port}", str(ports.gateway))
    return Target(name, dict.fromkeys(up, gw + CHAT), hdrs, cmd, gw + "/health")


def make_targets(args: argparse.Namespace, ports: Ports) -> list[Target]:
    out = []
    for name in args.targets:
        if name == "direct":
            out.append(direct_target(ports))
        elif name == "gateway":
            up = {"json": ports.json, "stream": ports.stream, "slow": ports.slow}
            out.append(gateway_target(args, ports, name, "openai", up))
        elif name == ANTHROPIC:
            # one canned Anthropic port answers both (the body's "stream" picks); no slow probe
            up = {"json": ports.anthropic, "stream": ports.anthropic}
            out.append(gateway_target(args, ports, name, "anthropic", up))
        else:
            raise SystemExit(f"unknown target {name!r} (known: {', '.join(TARGETS)})")
    return out


def start_gateway(args: argparse.Namespace, target: Target, rt: str) -> Proc:
    """Start the gateway command on the gateway CPU; leading NAME=value words go to its env."""
    assert target.cmd is not None
    words = shlex.split(target.cmd)
    env = {k: v for k, v in os.environ.items() if k != "PORTKEY_CONFIG"}  # no config file
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    if not words:
        raise SystemExit(f"--gateway-cmd has no command: {target.cmd!r}")
    log = os.path.join(rt, f"{target.name}.log")
    return Proc(target.name, pinned(args.gw_cpu, words), log, env)


# ------------------------------------------------------------------------------- requests


def post(url: str, body: str, headers: dict[str, str], timeout: float = 10.0) -> tuple[int, str]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or HOST, u.port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench", **headers}
        conn.request("POST", u.path, body=body.encode(), headers=hdrs)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def get_status(url: str, timeout: float = 2.0) -> int:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or HOST, u.port, timeout=timeout)
    try:
        conn.request("GET", u.path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def poll(fn: Callable[[], bool], proc: Proc, deadline: float) -> float | None:
    """Call fn every 5 ms until it is true; ms since the spawn, or None (timeout / died)."""
    while time.perf_counter() < deadline and proc.alive():
        try:
            if fn():
                return round((time.perf_counter() - proc.t_spawn) * 1000, 1)
        except (OSError, http.client.HTTPException):
            pass
        pause(0.005)
    return None


def cold_start(target: Target, proc: Proc, timeout: float) -> Json:
    """Spawn -> first 200 from /health, and -> first successful chat completion."""
    assert target.health_url is not None
    deadline = proc.t_spawn + timeout
    health = poll(lambda: get_status(target.health_url or "") == 200, proc, deadline)
    chat = None
    if health is not None:
        url, hdrs = target.urls["json"], target.headers["json"]

        def chat_ok() -> bool:
            status, body = post(url, payloads.REQUEST_JSON, hdrs)
            return status == 200 and payloads.json_content(body) == payloads.TEXT

        chat = poll(chat_ok, proc, deadline)
    return {"health_ms": health, "first_chat_ms": chat}


def check(target: Target) -> Json:
    """One JSON and one streaming request must return the upstream's canned answer."""
    status, body = post(target.urls["json"], payloads.REQUEST_JSON, target.headers["json"])
    content = payloads.json_content(body)
    out: Json = {
        "json": {
            "ok": status == 200 and content == payloads.TEXT,
            "status": status,
            "identical_bytes": body == payloads.completion_json(),
            "body_head": body[:300],
        }
    }
    status, body = post(target.urls["stream"], payloads.REQUEST_STREAM, target.headers["stream"])
    text, done, events = payloads.parse_sse(body)
    out["stream"] = {
        "ok": status == 200 and text == payloads.TEXT and done,
        "status": status,
        "done": done,
        "events": events,
        "upstream_events": len(payloads.sse_events()),
        "body_head": body[:300],
    }
    return out


def anthropic_baseline(args: argparse.Namespace, ports: Ports, log: Callable[[str], None]) -> Json:
    """Check the canned Anthropic upstream directly, then its paced runs (no gateway)."""
    t = anthropic_upstream_target(ports)
    status, body = post(t.urls["json"], payloads.REQUEST_JSON, t.headers["json"])
    ok_json = status == 200 and payloads.anthropic_content(body) == payloads.TEXT
    status, body = post(t.urls["stream"], payloads.REQUEST_STREAM, t.headers["stream"])
    text, stopped = payloads.anthropic_sse_text(body)
    ok_stream = status == 200 and stopped and text == payloads.TEXT
    res: Json = {"name": t.name, "status": "ok" if ok_json and ok_stream else "check failed"}
    res["paced"] = {}
    if res["status"] == "ok":
        for scenario in ("json", "stream"):
            res["paced"][scenario] = run_client(args, t, "paced", scenario, None)
            log(f"{t.name}: paced {scenario}: " + short(res["paced"][scenario]))
    return res


# ------------------------------------------------------------------------------- load runs


@dataclass
class Meter:
    """Gateway CPU time, peak RSS and per-core busy time around one load run."""

    sid: int | None
    cpu0: float = 0.0
    cpu: float = 0.0
    peak: int = 0
    busy: dict[str, float] = field(default_factory=dict)
    jiffies: dict[str, tuple[int, int]] = field(default_factory=dict)
    sampler: RssSampler | None = None
    t0: float = 0.0
    wall: float = 0.0

    def __enter__(self) -> Meter:
        self.t0 = time.perf_counter()
        self.cpu0 = tree_usage(self.sid)[0] if self.sid else 0.0
        self.jiffies = cpu_jiffies()
        self.sampler = RssSampler(self.sid)
        self.sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.sampler is not None
        self.peak = self.sampler.stop()
        self.cpu = (tree_usage(self.sid)[0] - self.cpu0) if self.sid else 0.0
        self.busy = busy_pct(self.jiffies, cpu_jiffies())
        self.wall = time.perf_counter() - self.t0

    def fields(self, requests: int) -> Json:
        gw = self.sid is not None
        return {
            "gw_cpu_s": round(self.cpu, 3) if gw else None,
            "gw_cpu_pct": round(100 * self.cpu / self.wall, 1) if gw and self.wall else None,
            "gw_cpu_us_per_req": round(1e6 * self.cpu / requests, 1) if gw and requests else None,
            "gw_peak_rss_mb": round(self.peak / 2**20, 1) if gw else None,
            "cpu_busy_pct": self.busy,
        }


def run_wrk(
    args: argparse.Namespace, target: Target, scenario: str, conns: int, sid: int | None
) -> Json:
    body = payloads.REQUEST_STREAM if scenario == "stream" else payloads.REQUEST_JSON
    hdrs = "\n".join(f"{k}: {v}" for k, v in target.headers[scenario].items())
    env = dict(os.environ, BENCH_BODY=body, BENCH_HEADERS=hdrs)
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{args.duration}s", "--timeout", "5s", "-s", LUA]
    argv = pinned(args.load_cpu, [*argv, target.urls[scenario]])
    with Meter(sid) as m:
        try:
            p = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=args.duration + 30
            )
            out = p.stdout + p.stderr
        except subprocess.TimeoutExpired:
            out = "wrk: hard timeout"
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        return {"scenario": scenario, "conns": conns, "error": out[-400:]}
    w = json.loads(line[8:])
    errors = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    return {
        "scenario": scenario,
        "conns": conns,
        "requests": w["requests"],
        "rps": round(w["requests"] / (w["duration_us"] / 1e6), 1),
        "p50_ms": w["p50_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "max_ms": w["max_us"] / 1000,
        "socket_errors": errors,
        "non2xx": w["non2xx"],
        **m.fields(w["requests"]),
    }


def run_client(
    args: argparse.Namespace, target: Target, mode: str, scenario: str, sid: int | None
) -> Json:
    argv = [sys.executable, os.path.join(HERE, "client.py"), mode, "--url", target.urls[scenario]]
    for k, v in target.headers[scenario].items():
        argv += ["--header", f"{k}: {v}"]
    if mode == "paced":
        argv += ["--rate", str(args.paced_rate), "--duration", str(args.paced_duration)]
        limit = args.paced_duration + 30
        if scenario == "stream":
            argv += ["--stream", "--expect", target.expect_stream]
    else:
        argv += ["--requests", str(args.probe_requests)]
        limit = args.probe_requests + 30
    with Meter(sid) as m:
        try:
            p = subprocess.run(
                pinned(args.load_cpu, argv), capture_output=True, text=True, timeout=limit
            )
            out = p.stdout.strip().splitlines()
            res: Json = json.loads(out[-1]) if out else {"error": p.stderr[-400:]}
        except (subprocess.TimeoutExpired, ValueError) as e:
            res = {"error": repr(e)}
    res["scenario"] = scenario
    if mode == "paced":
        res.update(m.fields(int(res.get("ok") or 0)))
    return res


def measure(args: argparse.Namespace, target: Target, rt: str, log: Callable[[str], None]) -> None:
    r = target.result
    r.update(name=target.name, cmd=target.cmd, status="starting", wrk=[], paced={})
    proc = start_gateway(args, target, rt) if target.cmd else None
    try:
        sid = proc.sid if proc else None
        if proc is not None:
            r["cold_start"] = cold_start(target, proc, args.ready_timeout)
            log(f"{target.name}: cold start {r['cold_start']}")
            if r["cold_start"]["first_chat_ms"] is None:
                r["status"] = "did not start" if proc.alive() else f"exited rc={proc.p.returncode}"
                return
        r["check"] = check(target)
        ok = r["check"]["json"]["ok"] and r["check"]["stream"]["ok"]
        c = r["check"]
        log(f"{target.name}: check json={c['json']['ok']} stream={c['stream']['ok']}")
        if not ok:
            r["status"] = "check failed"
            return
        if sid is not None:
            pause(1.0)
            r["idle_rss_mb"] = round(tree_usage(sid)[1] / 2**20, 1)
        r["status"] = "ok"
        load_runs(args, target, sid, log)
        if sid is not None:
            r["peak_rss_mb"] = max(
                [x.get("gw_peak_rss_mb") or 0 for x in r["wrk"]]
                + [x.get("gw_peak_rss_mb") or 0 for x in r["paced"].values()]
            )
            if proc is not None and not proc.alive():
                r["status"] = f"exited during the run (rc={proc.p.returncode})"
    finally:
        if proc is not None:
            proc.stop()
            if r["status"] != "ok":
                r["log_tail"] = tail(os.path.join(rt, f"{target.name}.log"))


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def load_runs(
    args: argparse.Namespace, target: Target, sid: int | None, log: Callable[[str], None]
) -> None:
    r = target.result
    if args.wrk:
        if args.warmup:
            warm = argparse.Namespace(**{**vars(args), "duration": args.warmup})
            run_wrk(warm, target, "json", 16, None)
        for scenario in ("json", "stream"):
            for conns in args.conns:
                w = run_wrk(args, target, scenario, conns, sid)
                r["wrk"].append(w)
                log(f"{target.name}: wrk {scenario} c={conns}: " + short(w))
                pause(0.5)
    for scenario in ("json", "stream"):
        p = run_client(args, target, "paced", scenario, sid)
        r["paced"][scenario] = p
        log(f"{target.name}: paced {scenario} @{args.paced_rate}/s: " + short(p))
    if "slow" in target.urls:
        r["slow_sse"] = run_client(args, target, "probe", "slow", sid)
        log(f"{target.name}: slow-SSE probe: " + short(r["slow_sse"]))


def short(d: Json) -> str:
    keys = ["rps", "ok", "errors", "p50_ms", "p99_ms", "socket_errors", "non2xx"]
    keys += ["ttfb_p50_ms", "first_event_p50_ms", "gw_cpu_us_per_req", "cpu_busy_pct", "error"]
    return ", ".join(f"{k}={d[k]}" for k in keys if k in d)


# ------------------------------------------------------------------------------- report


def cell(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.2f}".rstrip("0").rstrip(".")
    return str(x)


def pair(a: Any, b: Any) -> str:
    return f"{cell(a)} / {cell(b)}"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def diff(a: Any, b: Any) -> float | None:
    return round(a - b, 3) if isinstance(a, int | float) and isinstance(b, int | float) else None


def best(t: Json, scenario: str) -> float | None:
    vals = [w["rps"] for w in t["wrk"] if w["scenario"] == scenario and "rps" in w]
    return max(vals) if vals else None


def wrk_cpu(t: Json, scenario: str) -> float | None:
    """Gateway CPU µs/request at the highest concurrency of a scenario."""
    runs = [w for w in t["wrk"] if w["scenario"] == scenario and "rps" in w]
    return max(runs, key=lambda w: w["conns"]).get("gw_cpu_us_per_req") if runs else None


SUMMARY_HEADERS = [
    "target",
    "status",
    "JSON req/s",
    "stream req/s",
    "paced p50 / p99 ms",
    "added p50 / p99 ms",
    "slow-SSE TTFB / first token ms",
    "added TTFB / first token ms",
    "CPU µs/req JSON / stream",
    "RSS MB idle / peak",
    "cold start ms /health / chat",
]


def summary_rows(report: Json) -> list[list[Any]]:
    base = next((t for t in report["targets"] if t["name"] == "direct"), None)
    bp = base["paced"].get("json", {}) if base else {}
    bs = base.get("slow_sse", {}) if base else {}
    rows = []
    for t in report["targets"]:
        p, s, cs = t["paced"].get("json", {}), t.get("slow_sse", {}), t.get("cold_start", {})
        rel = t is not base and base is not None
        rows.append(
            [
                t["name"],
                t["status"],
                best(t, "json"),
                best(t, "stream"),
                pair(p.get("p50_ms"), p.get("p99_ms")),
                pair(
                    diff(p.get("p50_ms"), bp.get("p50_ms")), diff(p.get("p99_ms"), bp.get("p99_ms"))
                )
                if rel
                else "-",
                pair(s.get("ttfb_p50_ms"), s.get("first_event_p50_ms")),
                pair(
                    diff(s.get("ttfb_p50_ms"), bs.get("ttfb_p50_ms")),
                    diff(s.get("first_event_p50_ms"), bs.get("first_event_p50_ms")),
                )
                if rel
                else "-",
                pair(wrk_cpu(t, "json"), wrk_cpu(t, "stream")) if t["cmd"] else "-",
                pair(t.get("idle_rss_mb"), t.get("peak_rss_mb")) if t["cmd"] else "-",
                pair(cs.get("health_ms"), cs.get("first_chat_ms")) if t["cmd"] else "-",
            ]
        )
    return rows


def pooled_cpu(t: Json, scenario: str) -> float | None:
    """Gateway CPU µs/request over all wrk runs of a scenario (total CPU / total requests)."""
    runs = [w for w in t["wrk"] if w["scenario"] == scenario and w.get("gw_cpu_s") is not None]
    n = sum(w["requests"] for w in runs)
    return round(1e6 * sum(w["gw_cpu_s"] for w in runs) / n, 1) if n else None


def signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+.0f}" if abs(x) >= 10 else f"{x:+.2f}"


def _get(t: Json, kind: str, scenario: str, key: str) -> Any:
    return t.get(kind, {}).get(scenario, {}).get(key)


def translation_lines(report: Json) -> list[str]:
    """gateway-anthropic against the passthrough gateway of the same run: the translation cost."""
    by = {t["name"]: t for t in report["targets"] if t["status"] == "ok"}
    gw, ga = by.get("gateway"), by.get(ANTHROPIC)
    if gw is None or ga is None:
        return []
    parts = []
    for sc, label in (("json", "JSON"), ("stream", "stream")):
        cpu_a, cpu_g = pooled_cpu(ga, sc), pooled_cpu(gw, sc)
        rps = best(ga, sc), best(gw, sc)
        ratio = f"{rps[0] / rps[1]:.2f}x" if rps[0] and rps[1] else "-"
        d50 = diff(_get(ga, "paced", sc, "p50_ms"), _get(gw, "paced", sc, "p50_ms"))
        d99 = diff(_get(ga, "paced", sc, "p99_ms"), _get(gw, "paced", sc, "p99_ms"))
        parts.append(
            f"{label}: CPU {signed(diff(cpu_a, cpu_g))} µs/req ({cell(cpu_a)} vs {cell(cpu_g)}, "
            f"all wrk runs pooled), req/s {ratio}, paced p50 / p99 {signed(d50)} / "
            f"{signed(d99)} ms"
        )
    line = f"**Translation cost** ({ANTHROPIC} minus gateway, same run): " + "; ".join(parts) + "."
    up, direct = report.get("anthropic_upstream") or {}, by.get("direct")
    if up and direct:
        up_d = [
            " / ".join(
                signed(diff(_get(up, "paced", sc, k), _get(direct, "paced", sc, k)))
                for k in ("p50_ms", "p99_ms")
            )
            for sc in ("json", "stream")
        ]
        line += (
            " The latency figures include the upstreams' own difference: the canned Anthropic "
            f"upstream (Python), measured directly in this run, answers paced p50 / p99 {up_d[0]}"
            f" ms (JSON) and {up_d[1]} ms (stream) against the nginx one that `gateway` uses."
        )
    return [line, ""]


def render(report: Json) -> str:
    a, env = report["args"], report["env"]
    others = ", ".join(report.get("other_busy_at_start") or []) or "none"
    others_end = ", ".join(report.get("other_busy_at_end") or []) or "none"
    out = [
        f"# Portkey gateway benchmark, {report['run_id']}",
        "",
        f"Machine: {env['cpu']}, {env['nproc']} cores, kernel {env['kernel']}; load average at "
        f"start {env['loadavg']}; other busy processes (> 5 % of a core) at start: {others}; "
        f"at the end: {others_end}.",
        f"Upstream: {report['upstream']}; {env['wrk']}; client and driver: Python "
        f"{env['python']}{' + uvloop' if env['uvloop'] else ''}; git {env['git_head'] or '-'}.",
        f"Placement: upstream, wrk, client on CPU {a['load_cpu']}; gateway on CPU {a['gw_cpu']}"
        + ("" if a["load_cpu"] is not None else " (no pinning: fewer than 2 cores)")
        + f". wrk: {a['duration']} s per run, closed loop, 1 thread; paced: {a['paced_rate']:g} "
        f"req/s open loop for {a['paced_duration']:g} s; slow-SSE probe: {a['probe_requests']} "
        f"sequential streams, upstream events {a['slow_delay_ms']:g} ms apart.",
        "",
        "## Summary",
        "",
        table(SUMMARY_HEADERS, summary_rows(report)),
        "",
        *translation_lines(report),
        *detail_tables(report),
        "How to read: bench/README.md. req/s: best wrk run. 'added' = this target minus direct, "
        "same run. CPU µs/req: gateway process-tree CPU time / requests, at the highest wrk "
        "concurrency. cpu0/cpu1 %: whole-core busy time during a run; cpu0 near 100 % means the "
        "load side, not the target, is the limit; 'cpu1 not gw' above a few % means another "
        "process shared the gateway's core: rerun on a quiet machine before trusting that row.",
    ]
    for t in report["targets"]:
        if t["status"] != "ok":
            out.append(f"\n**{t['name']}: {t['status']}** (details in results.json)")
            if t.get("log_tail"):
                out += ["", "```", t["log_tail"].rstrip(), "```"]
    return "\n".join(out) + "\n"


WRK_COLS = [
    ("mode", "scenario"),
    ("conns", "conns"),
    ("req/s", "rps"),
    ("p50 ms", "p50_ms"),
    ("p99 ms", "p99_ms"),
    ("sock err", "socket_errors"),
    ("non-2xx", "non2xx"),
    ("CPU µs/req", "gw_cpu_us_per_req"),
    ("gw CPU %", "gw_cpu_pct"),
    ("cpu0 %", "cpu0"),
    ("cpu1 %", "cpu1"),
    ("cpu1 not gw %", "cpu1_not_gw"),
    ("error", "error"),
]
PACED_COLS = [
    ("mode", "scenario"),
    ("ok", "ok"),
    ("errors", "errors"),
    ("req/s", "achieved_rps"),
    ("p50 ms", "p50_ms"),
    ("p90 ms", "p90_ms"),
    ("p99 ms", "p99_ms"),
    ("max ms", "max_ms"),
    ("p99 from due ms", "p99_from_due_ms"),
    ("CPU µs/req", "gw_cpu_us_per_req"),
    ("cpu0 %", "cpu0"),
    ("cpu1 %", "cpu1"),
    ("cpu1 not gw %", "cpu1_not_gw"),
    ("error", "error"),
]
PROBE_COLS = [
    ("ok", "ok"),
    ("of", "requests"),
    ("TTFB p50 ms", "ttfb_p50_ms"),
    ("TTFB p90 ms", "ttfb_p90_ms"),
    ("first event p50 ms", "first_event_p50_ms"),
    ("first event p90 ms", "first_event_p90_ms"),
    ("total p50 ms", "total_p50_ms"),
]


def section(title: str, cols: list[tuple[str, str]], rows: list[tuple[str, Json]]) -> list[str]:
    if not rows:
        return []
    body = [[name] + [d.get(k) for _, k in cols] for name, d in rows]
    return [f"## {title}", "", table(["target"] + [h for h, _ in cols], body), ""]


def with_cpu(run: Json) -> Json:
    """A run's fields plus cpu0/cpu1 busy % and the part of cpu1 the gateway did not use."""
    busy = run.get("cpu_busy_pct", {})
    other = busy.get("cpu1", 0.0) - (run.get("gw_cpu_pct") or 0.0) if "cpu1" in busy else None
    return {**run, **busy, "cpu1_not_gw": round(max(0.0, other), 1) if other is not None else None}


def detail_tables(report: Json) -> list[str]:
    targets = report["targets"]
    wrk = [(t["name"], with_cpu(w)) for t in targets for w in t["wrk"]]
    paced = [(t["name"], with_cpu(p)) for t in targets for p in t["paced"].values()]
    up = report.get("anthropic_upstream")
    if up:  # the canned Anthropic upstream alone: gateway-anthropic's own baseline
        paced += [(up["name"], with_cpu(p)) for p in up["paced"].values()]
    probe = [(t["name"], t["slow_sse"]) for t in targets if t.get("slow_sse")]
    return (
        section("Closed loop (wrk)", WRK_COLS, wrk)
        + section("Paced, open loop (client.py)", PACED_COLS, paced)
        + section("Slow SSE: time to first byte / first token", PROBE_COLS, probe)
    )


# ------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="short runs (about a minute in all)")
    ap.add_argument("--duration", type=float, help="seconds per wrk run (default 10; quick: 2)")
    ap.add_argument("--conns", help="wrk concurrencies, comma-separated (default 16,64)")
    ap.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated, any of {','.join(TARGETS)} (default: all)",
    )
    ap.add_argument(
        "--gateway-cmd",
        default=DEFAULT_GATEWAY_CMD,
        help="command for the gateway target; {port} is replaced; leading NAME=value words go "
        "to its environment; PORTKEY_CONFIG is removed from it (default: %(default)s)",
    )
    ap.add_argument("--paced-rate", type=float, default=200.0, help="req/s of the paced run")
    ap.add_argument("--paced-duration", type=float, help="seconds (default 10; quick: 3)")
    ap.add_argument("--probe-requests", type=int, help="slow-SSE probes (default 30; quick: 10)")
    ap.add_argument("--slow-delay-ms", type=float, default=10.0, help="slow-SSE event spacing")
    ap.add_argument("--warmup", type=float, help="wrk warm-up seconds (default 2; quick: 1)")
    ap.add_argument(
        "--upstream",
        choices=["auto", "nginx", "python"],
        default="auto",
        help="fast canned upstream: nginx if installed (auto), or canned_upstream.py",
    )
    ap.add_argument("--base-port", type=int, default=18300, help="ports base+1..3, base+10")
    ap.add_argument("--ready-timeout", type=float, default=60.0, help="gateway start limit, s")
    ap.add_argument(
        "--out",
        default=os.environ.get("BENCH_OUT"),
        help="results folder (default: $BENCH_OUT, else a new temp dir)",
    )
    args = ap.parse_args(argv)
    q = args.quick
    args.duration = args.duration or (2.0 if q else 10.0)
    args.duration = int(args.duration) if float(args.duration).is_integer() else args.duration
    args.conns = [int(c) for c in (args.conns or "16,64").split(",") if c.strip()]
    args.paced_duration = args.paced_duration or (3.0 if q else 10.0)
    args.probe_requests = args.probe_requests or (10 if q else 30)
    args.warmup = (1.0 if q else 2.0) if args.warmup is None else args.warmup
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    two = len(os.sched_getaffinity(0)) >= 2 and shutil.which("taskset") is not None
    args.load_cpu, args.gw_cpu = ("0", "1") if two else (None, None)
    args.wrk = shutil.which("wrk") is not None
    return args


def env_info() -> Json:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    git = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "loadavg": load,
        "python": platform.python_version(),
        "uvloop": has_uvloop(),
        "wrk": " ".join(sh(["wrk", "-v"]).split()[:2]) if shutil.which("wrk") else "no wrk",
        "git_head": git if "fatal" not in git else None,
    }


def main() -> int:
    args = parse_args()
    ports = Ports.from_base(args.base_port)
    busy = [
        p
        for p in (ports.json, ports.stream, ports.slow, ports.anthropic, ports.gateway)
        if port_open(p)
    ]
    if busy:
        raise SystemExit(f"ports in use on {HOST}: {busy} (another run? try --base-port)")
    out = args.out or tempfile.mkdtemp(prefix="portkey-bench-")
    run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    rt = os.path.join(out, f"run-{run_id}")
    os.makedirs(rt, exist_ok=True)
    if args.load_cpu is not None:
        os.sched_setaffinity(0, {int(args.load_cpu)})  # keep the driver off the gateway core

    def log(msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    if not args.wrk:
        log("wrk is not installed: closed-loop runs are skipped")
    targets = make_targets(args, ports)
    report: Json = {"run_id": run_id, "env": env_info(), "out": out, "targets": []}
    report["args"] = {k: v for k, v in vars(args).items() if k != "out"}
    report["other_busy_at_start"] = other_busy({os.getsid(0)})
    upstreams: list[Proc] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        upstreams, report["upstream"] = start_upstreams(args, ports, rt)
        base = check(direct_target(ports))
        if not (base["json"]["ok"] and base["stream"]["ok"]):
            raise RuntimeError(f"the canned upstream fails its own check: {base}")
        log(f"upstream: {report['upstream']}; logs and files in {rt}")
        for t in targets:
            report["targets"].append(t.result)
            if t.name == ANTHROPIC:
                report["anthropic_upstream"] = anthropic_baseline(args, ports, log)
                if report["anthropic_upstream"]["status"] != "ok":
                    t.result.update(name=t.name, cmd=t.cmd, wrk=[], paced={})
                    t.result["status"] = "canned Anthropic upstream fails its own check"
                    continue
            measure(args, t, rt, log)
    finally:
        for p in upstreams:
            p.stop()
    report["other_busy_at_end"] = other_busy({os.getsid(0)})
    md = render(report)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {out}/results.json and report.md")
    return 0 if all(t["status"] == "ok" for t in report["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
