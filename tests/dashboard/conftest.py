"""Dashboard fixtures: the observe gateway (SQLite and PostgreSQL stores) and headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.observe.conftest import admin as admin
from tests.observe.conftest import server as server
from tests.observe.conftest import store_url as store_url

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (its own browser download does not work here).

    Module scope, not session: Playwright's sync API keeps an event loop running in the main
    thread while it is open, and every later test that calls asyncio.run would fail."""
    if not CHROMIUM.exists():
        if REQUIRE_SERVICES:
            raise RuntimeError("no /usr/bin/chromium (apt-get install chromium)")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $PORTKEY_TEST_ARTIFACTS, else a pytest temp dir (never the tree)."""
    chosen = os.environ.get("PORTKEY_TEST_ARTIFACTS")
    if chosen:
        path = Path(chosen) / "dashboard"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("dashboard-artifacts")
