"""The control store behaves the same on SQLite and PostgreSQL: one suite, both backends."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from portkey.control.crypto import Keyring, MasterKeyError, generate_key, parse_key
from portkey.control.models import (
    ApiKeyIn,
    BudgetIn,
    RateLimitIn,
    Rotation,
    StoredConfig,
    VirtualKeyIn,
    VirtualKeyUpdate,
)
from portkey.control.store import ControlStore
from portkey.control.store_keys import hash_api_key
from portkey.errors import Conflict, NotFound
from portkey.store.db import open_database
from portkey.store.migrations import available, current_version
from tests.support import free_port


def keyring() -> Keyring:
    return Keyring(parse_key(generate_key(), "test"))


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(url: str) -> Iterator[ControlStore]:
    opened = ControlStore(open_database(url), keyring())
    opened.start()
    yield opened
    opened.db.close()


def vk(name: str = "prod-openai-primary", secret: str = "sk-proj-abcdefgh1234") -> VirtualKeyIn:
    return VirtualKeyIn(name=name, provider="openai", api_key=SecretStr(secret), models=["gpt-4o"])


def test_migrations_apply_once_and_concurrent_starts_agree(url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            ControlStore(open_database(url), keyring()).start()
        except MasterKeyError:
            pass  # each thread has its own key: only the first to write the check wins
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert current_version(open_database(url)) == available()[-1].version


def test_virtual_key_lifecycle_masks_and_encrypts(store: ControlStore) -> None:
    created = store.create_virtual_key(vk())
    assert created.secret_hint == "sk-...1234"
    assert "abcdefgh" not in created.model_dump_json()
    assert store.credentials()[0].api_key == "sk-proj-abcdefgh1234"
    with pytest.raises(Conflict):
        store.create_virtual_key(vk())
    updated = store.update_virtual_key(
        "prod-openai-primary", VirtualKeyUpdate(models=["gpt-4o-mini"])
    )
    assert updated.models == ["gpt-4o-mini"]
    rotated = store.rotate_virtual_key(
        "prod-openai-primary", Rotation(api_key=SecretStr("sk-proj-new99999"))
    )
    assert (rotated.secret_hint, rotated.previous_secret_hint) == ("sk-...9999", "sk-...1234")
    cred = store.credentials()[0]
    assert (cred.api_key, cred.previous_api_key) == ("sk-proj-new99999", "sk-proj-abcdefgh1234")
    finished = store.rotate_virtual_key("prod-openai-primary", Rotation(finish=True))
    assert finished.previous_secret_hint is None
    store.delete_virtual_key("prod-openai-primary")
    with pytest.raises(NotFound):
        store.get_virtual_key("prod-openai-primary")


def test_api_keys_are_stored_hashed_and_revocable(store: ControlStore) -> None:
    created = store.create_api_key(ApiKeyIn(name="app", team="ml", expires_at=time.time() + 60))
    assert created.key.startswith("pk-") and created.key_hint.endswith(created.key[-4:])
    record = store.api_key_records()[0]
    assert record.key_hash == hash_api_key(created.key) and record.team == "ml"
    with pytest.raises(Conflict):
        store.create_api_key(ApiKeyIn(name="app"))
    assert store.revoke_api_key(created.id).revoked_at is not None
    assert store.get_api_key("app").revoked_at is not None


def test_every_write_is_audited_and_bumps_the_revision(store: ControlStore) -> None:
    start = store.revision()
    store.create_virtual_key(vk())
    store.create_budget(BudgetIn(scope="team", target="ml", limit_usd=10))
    limit = store.create_rate_limit(RateLimitIn(scope="model", target="gpt-4o", rpm=60))
    store.put_config(StoredConfig(name="c", config={"virtual_key": "prod-openai-primary"}))
    store.delete_rate_limit(limit.id)
    assert store.revision() == start + 5
    entries = store.audit()
    assert [(e.action, e.kind) for e in entries][:2] == [
        ("delete", "rate_limit"),
        ("create", "config"),
    ]
    assert all("abcdefgh" not in e.model_dump_json() for e in entries)
    assert store.audit(kind="virtual_key")[0].after["secret_hint"] == "sk-...1234"  # type: ignore[index]


def test_budget_usage_and_key_usage_accumulate(store: ControlStore) -> None:
    budget = store.create_budget(BudgetIn(scope="team", target="ml", limit_tokens=1000))
    store.add_budget_usage([(budget.id, 100.0, 0.5, 10), (budget.id, 100.0, 0.25, 5)])
    listed = store.list_budgets()[0]
    assert (listed.spent_usd, listed.spent_tokens, listed.window_start) == (0.75, 15, 100.0)
    key = store.create_api_key(ApiKeyIn(name="app"))
    store.add_key_usage([(key.id, "2026-11-23", 2, 40, 0.01)])
    store.add_key_usage([(key.id, "2026-11-23", 1, 20, 0.02)])
    usage = store.key_usage(key.id)
    assert [(u.name, u.requests, u.tokens) for u in usage] == [("app", 3, 60)]
    assert usage[0].cost_usd == pytest.approx(0.03)


def test_master_key_rotation_rewraps_and_a_wrong_key_is_refused(url: str) -> None:
    old = keyring()
    store = ControlStore(open_database(url), old)
    store.start()
    store.create_virtual_key(vk())
    new = Keyring(parse_key(generate_key(), "new"), (old.current,))
    assert store.rewrap_secrets(new) == 1
    store.db.close()
    reopened = ControlStore(open_database(url), Keyring(new.current))  # the new key alone
    reopened.start()
    assert reopened.credentials()[0].api_key == "sk-proj-abcdefgh1234"
    with pytest.raises(MasterKeyError, match="does not open this store"):
        ControlStore(open_database(url), old).start()  # the old key alone no longer works
    reopened.db.close()


def test_serve_refuses_to_start_with_the_wrong_master_key(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    ControlStore(open_database(f"sqlite:///{db}"), keyring()).start()
    config = tmp_path / "portkey.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{db}'}}\n")
    env = {**os.environ, "PORTKEY_MASTER_KEY": generate_key()}
    proc = subprocess.run(
        [sys.executable, "-m", "portkey.cli.main", "serve", "--port", str(free_port()),
         "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "master key does not open this store" in proc.stdout + proc.stderr
