"""Config as code: plan shows drift (exit 2), apply makes the store match, export round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from portkey.cli.main import app
from portkey.control.crypto import generate_key
from tests.control.conftest import pg_url as pg_url

YAML = """
providers:
  prod-openai-primary:
    provider: openai
    api_key: ${OPENAI_PRIMARY}
    models: [gpt-4o, gpt-4o-mini]
  prod-anthropic-fallback:
    provider: anthropic
    api_key: ${ANTHROPIC_FALLBACK}
configs:
  main:
    strategy: {mode: fallback}
    targets:
      - {virtual_key: prod-openai-primary}
      - {virtual_key: prod-anthropic-fallback, override_params: {model: claude-sonnet-4-5}}
budgets:
  - {scope: team, target: ml, period: month, limit_usd: 500}
rate_limits:
  - {scope: model, target: gpt-4o, rpm: 600}
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'code.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def config(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PORTKEY_DATABASE_URL", store_url)
    monkeypatch.setenv("PORTKEY_MASTER_KEY", generate_key())
    monkeypatch.setenv("OPENAI_PRIMARY", "sk-proj-primary-1111")
    monkeypatch.setenv("ANTHROPIC_FALLBACK", "sk-ant-fallback-2222")
    path = tmp_path / "portkey.yaml"
    path.write_text(YAML)
    return path


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_plan_apply_is_idempotent_and_never_prints_secrets(config: Path) -> None:
    drift = run("config", "plan", "-c", str(config), code=2)
    assert "+ virtual_key prod-openai-primary" in drift and "+ budget team/ml/month" in drift
    applied = run("config", "apply", "-c", str(config), "--yes")
    assert "applied 5 change(s)" in applied
    assert "in sync" in run("config", "plan", "-c", str(config))
    assert "nothing to apply" in run("config", "apply", "-c", str(config), "--yes")
    changed = (
        config.read_text()
        .replace("rpm: 600", "rpm: 900")
        .replace("limit_usd: 500", "limit_usd: 750")
    )
    config.write_text(changed)
    drift = run("config", "plan", "-c", str(config), code=2)
    assert (
        "~ rate_limit model/gpt-4o (rpm)" in drift and "~ budget team/ml/month (limit_usd)" in drift
    )
    for text in (drift, applied):
        assert "sk-proj-primary-1111" not in text and "sk-ant-fallback-2222" not in text


def test_a_changed_secret_is_a_drift_and_apply_rotates_it(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("config", "apply", "-c", str(config), "--yes")
    monkeypatch.setenv("OPENAI_PRIMARY", "sk-proj-primary-3333")
    drift = run("config", "plan", "-c", str(config), code=2)
    assert "~ virtual_key prod-openai-primary (secret)" in drift and "3333" not in drift
    run("config", "apply", "-c", str(config), "--yes")
    assert "sk-...3333" in run("vk", "list")


def test_store_only_items_are_deleted_unless_told_not_to(config: Path) -> None:
    run("config", "apply", "-c", str(config), "--yes")
    run("limits", "add", "--scope", "team", "--target", "ops", "--rpm", "10")
    assert "- rate_limit team/ops" in run("config", "plan", "-c", str(config), code=2)
    run("config", "apply", "-c", str(config), "--yes", "--no-delete")
    assert "team/ops" in run("config", "plan", "-c", str(config), code=2)
    run("config", "apply", "-c", str(config), "--yes")
    assert "in sync" in run("config", "plan", "-c", str(config))


def test_missing_secret_refuses_to_apply_anything(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text(YAML.replace("${ANTHROPIC_FALLBACK}", "${ANTHROPIC_FALLBACK:-}"))
    monkeypatch.delenv("ANTHROPIC_FALLBACK")
    out = run("config", "apply", "-c", str(config), "--yes", code=1)
    assert "providers.prod-anthropic-fallback.api_key" in out
    assert "+ virtual_key" in run("config", "plan", "-c", str(config), code=2)  # nothing applied


def test_export_writes_loadable_yaml_with_secret_references(config: Path, tmp_path: Path) -> None:
    run("config", "apply", "-c", str(config), "--yes")
    exported = tmp_path / "exported.yaml"
    run("config", "export", "-c", str(config), "-o", str(exported))
    text = exported.read_text()
    assert "${PROD_OPENAI_PRIMARY_API_KEY}" in text and "sk-proj" not in text
    import os

    os.environ["PROD_OPENAI_PRIMARY_API_KEY"] = "sk-proj-primary-1111"
    os.environ["PROD_ANTHROPIC_FALLBACK_API_KEY"] = "sk-ant-fallback-2222"
    try:
        assert "2 providers, 1 configs" in run("config", "validate", str(exported))
        assert "in sync" in run("config", "plan", "-c", str(exported))  # the round trip is exact
    finally:
        del os.environ["PROD_OPENAI_PRIMARY_API_KEY"], os.environ["PROD_ANTHROPIC_FALLBACK_API_KEY"]
