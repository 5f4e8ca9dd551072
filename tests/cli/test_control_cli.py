"""The control plane from the command line: keys, virtual keys, budgets, limits, audit, master key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from portkey.cli.main import app
from portkey.control.crypto import generate_key

SECRET = "sk-proj-cli-secret-value-4321"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("PORTKEY_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("PORTKEY_MASTER_KEY", generate_key())
    monkeypatch.delenv("PORTKEY_CONFIG", raising=False)
    return db


def run(*args: str, stdin: str | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exit_code == code, result.output
    return result.output


def test_keys_lifecycle_prints_the_key_once(env: Path) -> None:
    created = run(
        "keys", "create", "app", "--team", "ml", "--model", "gpt-4o", "--expires-in", "30d"
    )
    key = next(line for line in created.splitlines() if line.startswith("pk-"))
    listed = run("keys", "list")
    assert "app" in listed and key not in listed and key[-4:] in listed
    assert "revoked app" in run("keys", "revoke", "app")
    assert "revoked" in run("keys", "list")
    assert key.encode() not in env.read_bytes()
    run("keys", "create", "app", code=1)  # duplicate name: a clear error, not a traceback
    run("keys", "create", "bad", "--expires-in", "soon", code=2)


def test_virtual_keys_take_secrets_from_env_or_stdin_never_arguments(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_SECRET", SECRET)
    out = run(
        "vk", "add", "prod-openai-primary", "--provider", "openai", "--secret-env", "OPENAI_SECRET"
    )
    assert "sk-...4321" in out and SECRET not in out
    out = run(
        "vk", "add", "az", "--provider", "azure-openai", "--secret-stdin", stdin="k\n", code=2
    )
    assert "resource_name" in out
    run("vk", "rotate", "prod-openai-primary", "--secret-stdin", stdin="sk-proj-rotated-0000\n")
    listed = run("vk", "list")
    assert "sk-...0000" in listed and "sk-...4321" in listed  # new, and the fallback
    run("vk", "rotate", "prod-openai-primary", "--finish")
    assert "sk-...4321" not in run("vk", "list")
    assert SECRET.encode() not in env.read_bytes() and b"rotated-0000" not in env.read_bytes()
    run("vk", "remove", "prod-openai-primary")
    run("vk", "remove", "prod-openai-primary", code=1)


def test_budgets_limits_and_audit(env: Path) -> None:
    run("budgets", "add", "--scope", "team", "--target", "ml", "--usd", "50", "--period", "day")
    run("budgets", "add", "--scope", "team", "--target", "ml", code=2)  # no limit given
    run("limits", "add", "--scope", "model", "--target", "gpt-4o", "--rpm", "600")
    assert "600" in run("limits", "list") and "50.0" in run("budgets", "list")
    audit = run("audit")
    assert "budget" in audit and "rate_limit" in audit and "cli" in audit


def test_rotate_master_key_rewraps_every_secret(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S", SECRET)
    run("vk", "add", "vk", "--provider", "openai", "--secret-env", "S")
    new = generate_key()
    monkeypatch.setenv("NEW_KEY", new)
    assert "re-encrypted 1 secret" in run("admin", "rotate-master-key", "--new-key-env", "NEW_KEY")
    run("vk", "list", code=1)  # the old key alone no longer opens the store
    monkeypatch.setenv("PORTKEY_MASTER_KEY", new)
    assert "sk-...4321" in run("vk", "list")
    monkeypatch.setenv("NEW_KEY", "not-a-key")
    run("admin", "rotate-master-key", "--new-key-env", "NEW_KEY", code=2)
