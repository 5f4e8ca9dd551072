"""Run the real gateway for tests: in a thread (uvicorn, uvloop) or as a `portkey serve` process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from portkey.server import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"gateway at {url} not ready after {timeout}s")
        time.sleep(0.02)  # noqa: TID251 - test thread, not the event loop


class GatewayServer:
    """The whole service (Dispatcher) on uvicorn in a background thread."""

    def __init__(self, config_path: str | Path | None = None) -> None:
        self.config_path = str(config_path) if config_path else None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"
        self.app = create_app(self.config_path) if self.config_path else _defaults_app()
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    @property
    def holder(self) -> Any:
        return self.app.gateway.holder

    def __enter__(self) -> GatewayServer:
        self.thread.start()
        wait_ready(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _defaults_app() -> Any:
    env = os.environ.pop("PORTKEY_CONFIG", None)
    try:
        return create_app(None)
    finally:
        if env is not None:
            os.environ["PORTKEY_CONFIG"] = env


@contextlib.contextmanager
def serve_process(
    config_path: str | Path | None = None, *extra: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`portkey serve` as a real process (for reload signals, workers, cold start)."""
    port = free_port()
    cmd = [sys.executable, "-m", "portkey.cli.main", "serve", "--port", str(port), *extra]
    if config_path:
        cmd += ["--config", str(config_path)]
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PORTKEY_CONFIG", None) if config_path is None else None
    proc = subprocess.Popen(cmd, env=full_env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=20)
        yield proc, url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(check: Callable[[], Any], within_s: float = 10.0, what: str = "it") -> Any:
    """Poll ``check`` until it returns something truthy (that value), or fail after ``within_s``."""
    deadline = time.monotonic() + within_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)  # noqa: TID251 - test thread
    return result
