"""``portkey prompts ...`` against a running gateway's admin API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from portkey.cli.main import app
from tests.guardrails.servers import ReplyUpstream
from tests.prompts.conftest import ADMIN_KEY, admin, prompts_yaml
from tests.support import GatewayServer


def test_list_show_label_diff(
    start: Callable[[str], GatewayServer],
    store_url: str,
    reply: ReplyUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start(prompts_yaml(store_url, reply, "prompts:\n  clip: {template: 'v1 {{a}}'}\n"))
    made = admin(server).post("/prompts/clip/versions", json={"template": "v2 {{a}} {{b}}"})
    newest = made.json()["version"]
    monkeypatch.setenv("PORTKEY_ADMIN_KEY", ADMIN_KEY)
    runner = CliRunner()
    listed = runner.invoke(app, ["prompts", "list", "--url", server.url])
    assert listed.exit_code == 0 and "clip" in listed.stdout
    moved = runner.invoke(
        app, ["prompts", "label", "clip", "staging", str(newest), "--url", server.url]
    )
    assert moved.exit_code == 0, moved.stdout
    assert admin(server).get("/prompts/clip").json()["labels"]["staging"] == newest
    diff = runner.invoke(app, ["prompts", "diff", "clip", "1", str(newest), "--url", server.url])
    assert diff.exit_code == 0 and "+[user] v2 {{a}} {{b}}" in diff.stdout
    bad = runner.invoke(app, ["prompts", "label", "clip", "staging", "999", "--url", server.url])
    assert bad.exit_code == 1
