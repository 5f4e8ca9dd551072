"""The ``portkey`` command as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fakes import FakeUpstream
from tests.support import free_port, serve_process

_SCRIPT = Path(sys.executable).with_name("portkey")
PORTKEY = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "portkey.cli.main"]

GOOD = """\
providers:
  openai-main:
    provider: openai
    api_key: ${CLI_TEST_KEY:-sk-test}
configs:
  main:
    strategy:
      mode: fallback
    targets:
      - virtual_key: openai-main
      - provider: groq
default_config: main
"""

BAD = """\
configs:
  x:
    strategy:
      mode: fallback
    targets:
      - provider: openai
      - provider: openai
        retry:
          attempts: 2
          colour: red
"""
BAD_ISSUE = "line 10, configs.x.targets[1].retry.colour: unknown field"


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PORTKEY_CONFIG"}
    return subprocess.run(
        [*PORTKEY, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read()


def test_config_schema_prints_json_schema() -> None:
    result = run_cli("config", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "portkey.yaml"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert {"version", "server", "providers", "configs", "default_config"} <= set(
        schema["properties"]
    )
    server = schema["$defs"]["ServerSettings"]["properties"]
    assert server["port"]["default"] == 8787
    assert server["workers"]["minimum"] == 1


def test_config_validate_good_file(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ok {path}: 1 providers, 1 configs"
    assert result.stderr == ""


def test_config_validate_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [f"invalid config {path}", f"  {BAD_ISSUE}"]


def test_config_validate_prints_user_text_verbatim(tmp_path: Path) -> None:
    """Names and values from the file are not read as console markup."""
    path = tmp_path / "markup.yaml"
    path.write_text("configs:\n  main:\n    virtual_key: '[bold]vk'\n")
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"invalid config {path}",
        "  line 3, configs.main.virtual_key: unknown virtual key '[bold]vk'",
    ]


def test_config_validate_keeps_a_long_issue_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "provider.yaml"
    path.write_text("configs:\n  main:\n    api_key: k\n    provider: not-a-provider\n")
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[1].startswith(
        "  line 4, configs.main.provider: unknown provider 'not-a-provider'; known: "
    )
    assert lines[1].endswith(", vllm, x-ai")


def test_config_validate_missing_env(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("providers:\n  a:\n    provider: openai\n    api_key: ${CLI_TEST_UNSET_VAR}\n")
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 2
    assert (
        "  line 4, providers.a.api_key: environment variable CLI_TEST_UNSET_VAR is not set"
        in result.stderr.splitlines()
    )


def test_serve_with_bad_config_exits_without_serving(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    port = free_port()
    started = time.monotonic()
    result = run_cli(
        "serve", "--port", str(port), "--config", str(path), "--log-level", "info", timeout=15
    )
    elapsed = time.monotonic() - started
    print(f"serve with a bad config exited after {elapsed:.2f}s")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"invalid config {path}", f"  {BAD_ISSUE}"]
    assert "Uvicorn running" not in result.stdout + result.stderr
    assert elapsed < 10
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))


def test_serve_cold_start(tmp_path: Path, fake: FakeUpstream) -> None:
    """Time from spawn to the first 200 on /health, then a routed request through it."""
    path = tmp_path / "portkey.yaml"
    path.write_text(
        "configs:\n  main:\n    provider: openai\n    api_key: sk-cold\n"
        f"    custom_host: {fake.base_url}\n"
        "default_config: main\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "PORTKEY_CONFIG"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [*PORTKEY, "serve", "--port", str(port), "--config", str(path)],
        env=env,
        start_new_session=True,
    )
    try:
        status = 0
        while time.monotonic() - started < 20:
            assert proc.poll() is None, "portkey serve exited during start-up"
            try:
                status, body = get(url + "/health")
                break
            except OSError:
                time.sleep(0.005)  # noqa: TID251 - test thread, not an event loop
        cold_start = time.monotonic() - started
        print(f"\nportkey serve cold start: {cold_start * 1000:.0f} ms to first 200 on /health")
        assert status == 200
        assert json.loads(body) == {"status": "ok"}

        request = urllib.request.Request(
            url + "/v1/chat/completions",
            data=json.dumps(
                {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer = json.loads(resp.read())
        assert answer["choices"][0]["message"]["content"] == "Hello from gpt-4o"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert proc.wait(timeout=10) == -signal.SIGTERM


def _listening_inode(port: int) -> str:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                return inode
    raise AssertionError(f"nothing listens on port {port}")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return found


def _holds_socket(pid: int, inode: str) -> bool:
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == f"socket:[{inode}]":
                return True
        except OSError:
            continue
    return False


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_serve_with_two_workers(tmp_path: Path, fake: FakeUpstream) -> None:
    path = tmp_path / "portkey.yaml"
    path.write_text(
        "configs:\n  main:\n    provider: openai\n    api_key: sk-w\n"
        f"    custom_host: {fake.base_url}\n"
        "    override_params: {model: from-workers}\n"
        "default_config: main\n"
    )
    with serve_process(path, "--workers", "2") as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        inode = _listening_inode(port)
        workers = [pid for pid in _children(proc.pid) if _holds_socket(pid, inode)]
        assert len(workers) == 2, f"workers holding the port: {workers}"

        statuses = [get(url + "/health")[0] for _ in range(100)]
        assert statuses == [200] * 100

        body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
        for _ in range(20):
            request = urllib.request.Request(
                url + "/v1/chat/completions",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as resp:
                answer = json.loads(resp.read())
            assert answer["choices"][0]["message"]["content"] == "Hello from from-workers"
        assert proc.poll() is None
        assert all(Path(f"/proc/{pid}").exists() for pid in workers)
