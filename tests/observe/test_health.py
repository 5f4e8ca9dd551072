"""/ready's checks (store, cache, log writer, providers passive and probed), `portkey doctor`
and `portkey logs` against a running gateway."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from typer.testing import CliRunner

from portkey.cli.main import app
from tests.fakes import FakeUpstream
from tests.support import GatewayServer, free_port, wait_for

ADMIN = "health-admin-key-0123456789"


def yaml(fake: FakeUpstream, probes: str = "[]") -> str:
    return f"""
admin: {{api_key: {ADMIN}}}
logs: {{flush_interval_s: 0.02}}
health: {{min_requests: 2, probes: {probes}}}
providers:
  fake: {{provider: openai, custom_host: '{fake.base_url}', api_key: sk-health}}
  dead: {{provider: openai, custom_host: 'http://127.0.0.1:{free_port()}', api_key: sk-dead}}
"""


def ready(server: GatewayServer) -> dict[str, Any]:
    response = httpx.get(server.url + "/ready")
    assert response.status_code == 200
    return dict(response.json())


def test_ready_reports_each_part_and_providers_judged_by_recent_attempts(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> None:
    server = make_gateway(yaml(fake))
    body = ready(server)
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["store"] == {"status": "ok"}
    assert checks["logs"]["status"] == "ok" and checks["logs"]["dropped"] == 0
    assert checks["cache"] == {"status": "ok", "backend": "memory"}

    sdk = OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    for _ in range(3):
        with pytest.raises(openai.APIStatusError):
            sdk.chat.completions.create(
                model="status-503",
                messages=[{"role": "user", "content": "x"}],
                extra_headers={"x-portkey-virtual-key": "fake"},
            )
    providers = wait_for(lambda: ready(server)["checks"]["providers"].get("openai"))
    assert providers["status"] == "unhealthy"
    assert providers["failures"] == providers["attempts"] == 3
    assert providers["last_error"]
    for _ in range(9):
        sdk.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-portkey-virtual-key": "fake"},
        )
    healthier = wait_for(
        lambda: (p := ready(server)["checks"]["providers"]["openai"])["attempts"] == 12 and p
    )
    assert healthier["status"] == "degraded"  # 25%: at least half of the 50% limit
    assert healthier["error_rate"] == 0.25


def test_probes_list_models_and_doctor_prints_them(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> None:
    server = make_gateway(
        yaml(fake, "[{provider: fake, interval_s: 1}, {provider: dead, timeout_s: 2}]")
    )
    providers = wait_for(
        lambda: (p := ready(server)["checks"]["providers"]).get("probe:dead") and p
    )
    assert providers["probe:fake"]["status"] == "ok"
    assert providers["probe:fake"]["models"] >= 1
    assert providers["probe:dead"]["status"] == "unhealthy"
    assert providers["probe:dead"]["error"]

    result = CliRunner().invoke(app, ["doctor", "--url", server.url])
    assert result.exit_code == 1  # a probe fails
    assert "probe:fake" in result.output and "probe:dead" in result.output
    assert "unhealthy" in result.output


def test_a_probe_of_an_unknown_provider_is_refused_at_load(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream, tmp_path: Any
) -> None:
    from portkey.config.loader import ConfigError, load_file

    path = tmp_path / "portkey.yaml"
    path.write_text(yaml(fake, "[{provider: nowhere}]"))
    with pytest.raises(ConfigError, match=r"health.probes\[0\].provider"):
        load_file(path)


def test_doctor_is_green_on_a_healthy_gateway_and_logs_cli_finds_requests(
    make_gateway: Callable[[str], GatewayServer],
    fake: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_gateway(yaml(fake))
    result = CliRunner().invoke(app, ["doctor", "--url", server.url])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output

    marker = f"trace-{uuid.uuid4().hex[:12]}"
    OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0,
        default_headers={"x-portkey-virtual-key": "fake", "x-portkey-trace-id": marker},
    ).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])  # fmt: skip
    monkeypatch.setenv("PORTKEY_ADMIN_KEY", ADMIN)

    def found() -> Any:
        out = CliRunner().invoke(
            app, ["logs", "search", "--url", server.url, "--trace-id", marker, "--json"]
        )
        return out.exit_code == 0 and out.output.strip() and out

    rows = [json.loads(line) for line in found_output(wait_for(found).output)]
    assert [r["trace_id"] for r in rows] == [marker]
    assert rows[0]["status"] == 200 and rows[0]["provider"] == "openai"
    tail = CliRunner().invoke(
        app, ["logs", "tail", "--url", server.url, "--limit", "5"], env={"COLUMNS": "200"}
    )
    assert tail.exit_code == 0 and marker in tail.output
    missing_key = CliRunner().invoke(
        app, ["logs", "search", "--url", server.url], env={"PORTKEY_ADMIN_KEY": ""}
    )
    assert missing_key.exit_code == 2 and "PORTKEY_ADMIN_KEY" in missing_key.output


def found_output(text: str) -> list[str]:
    """print_json pretty-prints: split the output back into one JSON document per row."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        doc, end = decoder.raw_decode(text, at)
        docs.append(json.dumps(doc))
        at = end
        while at < len(text) and text[at].isspace():
            at += 1
    return docs
