"""Small HTTP/1.1 load client for the benchmark (stdlib asyncio; uvloop when available).

Two modes, each printing one JSON object on stdout:

* ``paced``: open-loop load at ``--rate`` requests/s for ``--duration`` s. Request *i* is due at
  ``t0 + i / rate`` whatever happened to earlier ones. Latency is measured from writing the
  request to the last byte of the answer; ``*_from_due_ms`` measure from the due time instead
  (so a stall is not hidden by the client waiting for it, but the client's own timer jitter,
  ~0.1-1 ms, is included).
  Keep-alive connections are pooled (at most ``--max-conns``). Each answer must be 200 and
  contain ``--expect``.
* ``probe``: ``--requests`` sequential streaming requests on one keep-alive connection (after one
  unmeasured warm-up request); for each, the time to the response headers (TTFB), to the first
  ``data:`` event, and to the end of the answer.

usage: client.py paced|probe --url URL [--header 'k: v']... [--stream] [options]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import payloads


@dataclass
class Answer:
    status: int
    body: bytes
    t_sent: float
    t_headers: float
    t_first_event: float | None
    t_end: float
    keep_alive: bool


class ChunkedDecoder:
    """Incremental decoder of a chunked body; ``feed`` returns True once the body is complete."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.pos = 0
        self.body = bytearray()

    def feed(self, data: bytes) -> bool:
        self.raw += data
        while True:
            eol = self.raw.find(b"\r\n", self.pos)
            if eol < 0:
                return False
            size = int(bytes(self.raw[self.pos : eol]).split(b";", 1)[0] or b"0", 16)
            if size == 0:
                return self.raw.find(b"\r\n\r\n", eol) >= 0 or self.raw.endswith(b"\r\n\r\n")
            if len(self.raw) < eol + 2 + size + 2:
                return False
            self.body += self.raw[eol + 2 : eol + 2 + size]
            self.pos = eol + 2 + size + 2


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()

    async def request(self, head: bytes, body: bytes) -> Answer:
        t_sent = time.perf_counter()
        self.writer.write(head + body)
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        t_headers = time.perf_counter()
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            hdrs[name.strip().lower()] = value.strip()
        keep_alive = hdrs.get("connection", "").lower() != "close"
        body_out, t_first = await self._read_body(hdrs)
        if "content-length" not in hdrs and "chunked" not in hdrs.get("transfer-encoding", ""):
            keep_alive = False
        return Answer(status, body_out, t_sent, t_headers, t_first, time.perf_counter(), keep_alive)

    async def _read_body(self, hdrs: dict[str, str]) -> tuple[bytes, float | None]:
        t_first: float | None = None
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            dec = ChunkedDecoder()
            while True:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("eof inside chunked body")
                complete = dec.feed(data)
                if t_first is None and b"data:" in dec.body:
                    t_first = time.perf_counter()
                if complete:
                    return bytes(dec.body), t_first
        length = int(hdrs["content-length"]) if "content-length" in hdrs else -1
        buf = bytearray()
        while length < 0 or len(buf) < length:
            data = await self.reader.read(65536 if length < 0 else length - len(buf))
            if not data:
                if length < 0:
                    break
                raise ConnectionError("eof inside body")
            buf += data
            if t_first is None and b"data:" in buf:
                t_first = time.perf_counter()
        return bytes(buf), t_first


def build_head(url: str, headers: list[str], body: bytes) -> tuple[str, int, bytes]:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    lines = [
        f"POST {u.path or '/'} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Authorization: Bearer sk-bench",
        f"Content-Length: {len(body)}",
    ]
    lines += headers
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode()


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an unsorted list; nan when empty."""
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def ms(x: float) -> float | None:
    """Seconds to milliseconds; None for nan (an empty sample)."""
    return None if math.isnan(x) else round(x * 1000, 3)


class Pool:
    def __init__(self, host: str, port: int, max_conns: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Conn] = []
        self.open = 0
        self.opened = 0
        self.max_conns = max_conns
        self.freed = asyncio.Condition()

    async def get(self) -> Conn:
        async with self.freed:
            while not self.idle and self.open >= self.max_conns:
                await self.freed.wait()
            if self.idle:
                return self.idle.pop()
            self.open += 1
            self.opened += 1
        try:
            return await Conn.open(self.host, self.port)
        except OSError:
            await self.discard(None)
            raise

    async def put(self, conn: Conn) -> None:
        async with self.freed:
            self.idle.append(conn)
            self.freed.notify()

    async def discard(self, conn: Conn | None) -> None:
        if conn is not None:
            conn.close()
        async with self.freed:
            self.open -= 1
            self.freed.notify()


async def paced(
    args: argparse.Namespace, head: bytes, body: bytes, host: str, port: int
) -> dict[str, Any]:
    pool = Pool(host, port, args.max_conns)
    expect = args.expect.encode()
    lat: list[float] = []  # from the moment the request is written
    lat_due: list[float] = []  # from the moment it was due (includes any wait in the client)
    errors: list[str] = []

    async def one(due: float) -> None:
        conn: Conn | None = None
        try:
            conn = await pool.get()
            ans = await asyncio.wait_for(conn.request(head, body), args.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
            errors.append(type(e).__name__)
            if conn is not None:
                await pool.discard(conn)
            return
        if ans.keep_alive:
            await pool.put(conn)
        else:
            await pool.discard(conn)
        if ans.status == 200 and expect in ans.body:
            lat.append(ans.t_end - ans.t_sent)
            lat_due.append(ans.t_end - due)
        else:
            errors.append(f"status {ans.status}" if ans.status != 200 else "bad body")

    n = max(1, round(args.rate * args.duration))
    tasks = []
    t0 = time.perf_counter() + 0.05
    for i in range(n):
        due = t0 + i / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    for conn in pool.idle:
        conn.close()
    return {
        "mode": "paced",
        "rate": args.rate,
        "sent": n,
        "ok": len(lat),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "achieved_rps": round(len(lat) / wall, 1),
        "conns_opened": pool.opened,
        "mean_ms": ms(sum(lat) / len(lat)) if lat else None,
        "p50_ms": ms(pct(lat, 50)),
        "p90_ms": ms(pct(lat, 90)),
        "p99_ms": ms(pct(lat, 99)),
        "max_ms": ms(max(lat)) if lat else None,
        "p50_from_due_ms": ms(pct(lat_due, 50)),
        "p99_from_due_ms": ms(pct(lat_due, 99)),
    }


async def probe(
    args: argparse.Namespace, head: bytes, body: bytes, host: str, port: int
) -> dict[str, Any]:
    rows: list[tuple[float, float, float]] = []
    bad = 0
    conn: Conn | None = None
    for i in range(args.requests + 1):
        if conn is None:
            conn = await Conn.open(host, port)
        t0 = time.perf_counter()
        try:
            ans = await asyncio.wait_for(conn.request(head, body), args.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            bad += 1
            conn.close()
            conn = None
            continue
        if not ans.keep_alive:
            conn.close()
            conn = None
        text, done, _ = payloads.parse_sse(ans.body.decode("utf-8", "replace"))
        if ans.status != 200 or text != payloads.TEXT or not done or ans.t_first_event is None:
            bad += 1
        elif i > 0:
            rows.append((ans.t_headers - t0, ans.t_first_event - t0, ans.t_end - t0))
    if conn is not None:
        conn.close()
    out: dict[str, Any] = {"mode": "probe", "requests": args.requests, "ok": len(rows), "bad": bad}
    for k, name in enumerate(("ttfb", "first_event", "total")):
        col = [r[k] for r in rows]
        out[f"{name}_p50_ms"] = ms(pct(col, 50))
        out[f"{name}_p90_ms"] = ms(pct(col, 90))
    return out


def event_loop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """uvloop.run when uvloop is installed, else asyncio.run."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return asyncio.run
    return uvloop.run  # type: ignore[no-any-return,unused-ignore]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["paced", "probe"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    ap.add_argument("--stream", action="store_true", help='send "stream": true')
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--max-conns", type=int, default=64)
    ap.add_argument("--expect", default=payloads.TEXT, help="substring every answer must have")
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    body = payloads.REQUEST_STREAM if args.stream or args.mode == "probe" else payloads.REQUEST_JSON
    host, port, head = build_head(args.url, args.header, body.encode())
    coro = paced if args.mode == "paced" else probe
    result = event_loop_runner()(coro(args, head, body.encode(), host, port))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
