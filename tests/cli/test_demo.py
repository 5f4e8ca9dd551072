"""`portkey demo` (the README's first command) runs offline, end to end, and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_every_scenario_and_every_tour(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    env.pop("PORTKEY_DATA_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "portkey.cli.main", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "fallback: primary 503" in out and "loadbalance 70/30" in out
    assert "Control plane" in out and "401" in out and "429" in out
    assert "Request log" in out and "portkey_requests_total{" in out
    # the orchestrator joined DuckDB orders with SQLite customers: 4 countries x 500 orders
    assert "Data orchestrator" in out and out.count("│ 500    │") == 4
    # the demo's store and master key lived in a temp dir, not in the user's data dir
    assert not (tmp_path / "xdg" / "portkey").exists()
