"""Shared fixtures: the fake upstream, the real gateway, and a guard against real network."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes import FakeUpstream
from tests.support import GatewayServer

REQUIRE_SERVICES = os.environ.get("PORTKEY_REQUIRE_SERVICES") == "1"

# Gateways started by tests keep their control-plane store (and generated master key) in a
# throwaway directory, never in the user's data dir; tests that need their own store say so
# in their portkey.yaml (store.url).
os.environ["PORTKEY_DATA_DIR"] = tempfile.mkdtemp(prefix="portkey-tests-")
os.environ.pop("PORTKEY_DATABASE_URL", None)
os.environ.pop("PORTKEY_MASTER_KEY", None)


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # unix sockets
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to loopback only: a connection anywhere else fails the test."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(sock: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach the network: {address}")
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="session")
def gateway() -> Iterator[GatewayServer]:
    """A gateway on built-in defaults (no portkey.yaml): route with headers or inline config."""
    with GatewayServer() as server:
        yield server


@pytest.fixture
def make_gateway(tmp_path: Any) -> Iterator[Any]:
    """Start a gateway on a portkey.yaml written from the given text."""
    started: list[GatewayServer] = []

    def start(yaml_text: str) -> GatewayServer:
        path = tmp_path / f"portkey-{len(started)}.yaml"
        path.write_text(yaml_text)
        server = GatewayServer(path).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
