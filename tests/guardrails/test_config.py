"""Bad guardrail config is rejected, naming the guardrail and the field: in portkey.yaml and inline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from portkey.config.loader import ConfigError, load_file
from tests.guardrails.conftest import guard_config, hook, post
from tests.guardrails.servers import ReplyUpstream
from tests.support import GatewayServer

BAD = [
    (hook("default.regexMatch", rule="(unclosed"), "not a valid regex"),
    (hook("default.jsonSchema", schema={"type": "nonsense"}), "not a valid JSON schema"),
    (hook("default.nope"), "unknown check 'default.nope'"),
    (hook("default.webhook", webhookURL="ftp://x"), "webhookURL"),
    (hook("default.pii", categories=["DNA"]), "categories"),
    ({"id": "x", "checks": [{"id": "default.validJson"}], "deny": "maybe"}, "deny"),
]


@pytest.mark.parametrize(("bad", "message"), BAD)
def test_inline_config_rejected_with_400(
    gateway: GatewayServer, reply: ReplyUpstream, bad: dict[str, object], message: str
) -> None:
    response = post(
        gateway,
        guard_config(reply, output_guardrails=[bad]),
        {"model": "m", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["message"]
    assert "output_guardrails" in error["message"]


@pytest.mark.parametrize(("bad", "message"), BAD)
def test_file_rejected_naming_the_guardrail(
    tmp_path: Path, bad: dict[str, object], message: str
) -> None:
    import yaml

    bad = {k: v for k, v in bad.items() if k != "id"}
    path = tmp_path / "portkey.yaml"
    path.write_text(yaml.safe_dump({"guardrails": {"my-guard": bad}}))
    with pytest.raises(ConfigError) as rejected:
        load_file(path)
    text = str(rejected.value)
    assert "my-guard" in text and message in text


def test_unknown_guardrail_reference(tmp_path: Path) -> None:
    path = tmp_path / "portkey.yaml"
    path.write_text("configs:\n  c:\n    provider: openai\n    input_guardrails: [missing-one]\n")
    with pytest.raises(ConfigError) as rejected:
        load_file(path)
    assert "missing-one" in str(rejected.value)


def test_stored_config_with_a_bad_guardrail_is_a_400(
    make_gateway: Callable[[str], GatewayServer], tmp_path: Path
) -> None:
    import httpx

    key = "admin-key-for-guardrail-tests-01"
    server = make_gateway(
        f"store: {{url: 'sqlite:///{tmp_path / 's.db'}'}}\nadmin: {{api_key: {key}}}\n"
    )
    bad = {
        "provider": "openai",
        "api_key": "sk",
        "input_guardrails": [hook("default.regexMatch", rule="(")],
    }
    response = httpx.put(
        server.url + "/admin/configs/guarded", json=bad, headers={"authorization": f"Bearer {key}"}
    )
    assert response.status_code == 400
    assert "input_guardrails" in response.json()["error"]["message"]
    assert "not a valid regex" in response.json()["error"]["message"]
