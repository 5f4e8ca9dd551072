"""When the store's database goes away the gateway serves from memory and says so; no secret leaks."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from pydantic import SecretStr

from portkey.config.models import StoreSettings
from portkey.control.models import ApiKeyIn, VirtualKeyIn
from portkey.control.plane import open_store
from portkey.control.store import ControlStore
from tests.control.auth_upstream import AuthCheckingUpstream
from tests.support import GatewayServer, free_port

HI = [{"role": "user", "content": "hi"}]


class TcpProxy:
    """Forwards a local port to PostgreSQL until ``cut()``: the database 'goes down'."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.open = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.conns.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    p = TcpProxy(("127.0.0.1", 5432))
    yield p
    p.close()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)  # noqa: TID251 - test thread


def ready(server: GatewayServer) -> dict[str, object]:
    result: dict[str, object] = httpx.get(server.url + "/ready").json()
    return result


def test_database_down_keeps_serving_from_memory_and_ready_says_degraded(
    make_gateway: Callable[[str], GatewayServer], pg_url: str, master_key: str, proxy: TcpProxy
) -> None:
    via_proxy = pg_url.replace(":5432/", f":{proxy.port}/")
    store: ControlStore = open_store(StoreSettings(url=pg_url))
    with AuthCheckingUpstream({"sk-live-upstream"}) as upstream:
        store.create_virtual_key(
            VirtualKeyIn(
                name="vk",
                provider="openai",
                api_key=SecretStr("sk-live-upstream"),
                custom_host=upstream.base_url,
            )
        )
        key = store.create_api_key(ApiKeyIn(name="app")).key
        server = make_gateway(f"store: {{url: '{via_proxy}', refresh_interval_s: 0.1}}\n")
        c = OpenAI(
            base_url=server.base_url,
            api_key=key,
            max_retries=0,
            default_headers={"x-portkey-virtual-key": "vk"},
        )
        assert ready(server)["status"] == "ok"
        assert c.chat.completions.create(model="gpt-4o", messages=HI).choices

        proxy.cut()
        wait_for(lambda: ready(server)["status"] == "degraded")
        body = ready(server)
        assert body["ready"] is True and "store unreachable" in str(body["reason"])
        started = time.monotonic()
        assert c.chat.completions.create(model="gpt-4o", messages=HI).choices  # from memory
        assert time.monotonic() - started < 2.0  # never waits on the dead database

        proxy.restore()
        wait_for(lambda: ready(server)["status"] == "ok")
    store.db.close()


def test_no_secret_in_logs(
    make_gateway: Callable[[str], GatewayServer],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"sqlite:///{tmp_path / 'control.db'}"
    store = open_store(StoreSettings(url=url))
    caplog.set_level(logging.DEBUG)
    with AuthCheckingUpstream({"sk-other"}) as upstream:  # the stored secret is refused
        store.create_virtual_key(
            VirtualKeyIn(
                name="vk",
                provider="openai",
                api_key=SecretStr("sk-logged-never-1234"),
                custom_host=upstream.base_url,
            )
        )
        key = store.create_api_key(ApiKeyIn(name="app")).key
        server = make_gateway(f"store: {{url: '{url}', refresh_interval_s: 0.1}}\n")
        c = OpenAI(
            base_url=server.base_url,
            api_key=key,
            max_retries=0,
            default_headers={"x-portkey-virtual-key": "vk"},
        )
        for _ in range(3):
            with pytest.raises(Exception):  # noqa: B017 - any failure will do: 401 upstream
                c.chat.completions.create(model="gpt-4o", messages=HI)
    store.db.close()
    assert "sk-logged-never-1234" not in caplog.text
    assert key not in caplog.text
