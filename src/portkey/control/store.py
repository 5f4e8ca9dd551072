"""The control plane's persistent state: virtual keys, API keys, budgets, limits, configs, audit.

Every write runs in one transaction with its audit entry and a bump of the store's revision,
so replicas polling the revision see each change whole. Secrets are encrypted before they
reach the database and never leave this module in clear, except in ``credentials()``, which
feeds the in-memory runtime.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from portkey.control.crypto import Keyring, MasterKeyError, mask
from portkey.control.models import (
    AuditEntry,
    Rotation,
    StoredConfig,
    VirtualKeyIn,
    VirtualKeyOut,
    VirtualKeyUpdate,
)
from portkey.control.store_base import _json
from portkey.control.store_keys import ApiKeyStore
from portkey.control.store_limits import LimitStore
from portkey.errors import NotFound
from portkey.store.db import Tx
from portkey.store.migrations import migrate

MASTER_CHECK = "master_key_check"
VK_COLUMNS = (
    "name, provider, secret, previous_secret, secret_hint, options, models, team, "
    "created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class Credential:
    """A virtual key with its secrets in clear; held only in memory."""

    name: str
    provider: str
    api_key: str | None
    previous_api_key: str | None
    custom_host: str | None
    options: dict[str, str]
    models: tuple[str, ...]
    team: str | None


class ControlStore(ApiKeyStore, LimitStore):
    """The whole store: virtual keys, configs and audit here; keys and limits in mixins."""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Migrate, then prove the master key is the one the store was written with."""
        migrate(self.db)
        token = self.keyring.encrypt(MASTER_CHECK, MASTER_CHECK)
        with self.db.transaction() as tx:  # the first replica to start writes the check value
            tx.execute(
                "INSERT INTO portkey_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (MASTER_CHECK, token),
            )
            rows = tx.query("SELECT value FROM portkey_meta WHERE key = ?", (MASTER_CHECK,))
        try:
            self.keyring.decrypt(rows[0][0], MASTER_CHECK)
        except MasterKeyError as exc:
            raise MasterKeyError(
                f"the master key does not open this store ({self.db.url}): {exc}"
            ) from exc

    def revision(self) -> int:
        with self.db.transaction() as tx:
            return int(tx.query("SELECT revision FROM portkey_revision WHERE id = 1")[0][0])

    # -- virtual keys ----------------------------------------------------------------------

    def _seal(self, name: str, secret: str | None) -> str:
        return self.keyring.encrypt(secret or "", f"vk:{name}")

    def create_virtual_key(self, vk: VirtualKeyIn, actor: str = "admin") -> VirtualKeyOut:
        secret = vk.api_key.get_secret_value() if vk.api_key else None
        now = time.time()
        options = {**vk.options, **({"custom_host": vk.custom_host} if vk.custom_host else {})}
        with self.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO virtual_keys ({VK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    vk.name,
                    vk.provider,
                    self._seal(vk.name, secret),
                    None,
                    mask(secret) if secret else "",
                    _json(options),
                    _json(vk.models),
                    vk.team,
                    now,
                    now,
                ),
            )
            out = self._vk_out(tx, vk.name)
            self._changed(tx, actor, "create", "virtual_key", vk.name, None, out.model_dump())
        return out

    def _vk_row(self, tx: Tx, name: str) -> tuple[Any, ...]:
        rows = tx.query(f"SELECT {VK_COLUMNS} FROM virtual_keys WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"no virtual key named {name!r}", param="name")
        return rows[0]

    def _vk_out(self, tx: Tx, name: str) -> VirtualKeyOut:
        return _vk_out(self._vk_row(tx, name), self.keyring)

    def get_virtual_key(self, name: str) -> VirtualKeyOut:
        with self.db.transaction() as tx:
            return self._vk_out(tx, name)

    def list_virtual_keys(self) -> list[VirtualKeyOut]:
        with self.db.transaction() as tx:
            rows = tx.query(f"SELECT {VK_COLUMNS} FROM virtual_keys ORDER BY name")
        return [_vk_out(row, self.keyring) for row in rows]

    def update_virtual_key(
        self, name: str, change: VirtualKeyUpdate, actor: str = "admin"
    ) -> VirtualKeyOut:
        with self.db.transaction() as tx:
            before = self._vk_out(tx, name)
            options = dict(before.options)
            if change.options is not None:
                options = {k: v for k, v in options.items() if k == "custom_host"}
                options.update(change.options)
            if change.custom_host is not None:
                options["custom_host"] = change.custom_host
            tx.execute(
                "UPDATE virtual_keys SET options = ?, models = ?, team = ?, updated_at = ? "
                "WHERE name = ?",
                (
                    _json(options),
                    _json(change.models if change.models is not None else before.models),
                    change.team if change.team is not None else before.team,
                    time.time(),
                    name,
                ),
            )
            after = self._vk_out(tx, name)
            self._changed(
                tx, actor, "update", "virtual_key", name, before.model_dump(), after.model_dump()
            )
        return after

    def rotate_virtual_key(
        self, name: str, rotation: Rotation, actor: str = "admin"
    ) -> VirtualKeyOut:
        with self.db.transaction() as tx:
            row = self._vk_row(tx, name)
            before = _vk_out(row, self.keyring)
            if rotation.finish:
                tx.execute(
                    "UPDATE virtual_keys SET previous_secret = NULL, updated_at = ? WHERE name = ?",
                    (time.time(), name),
                )
            else:
                assert rotation.api_key is not None
                secret = rotation.api_key.get_secret_value()
                tx.execute(
                    "UPDATE virtual_keys SET previous_secret = secret, secret = ?, secret_hint = ?, "
                    "updated_at = ? WHERE name = ?",
                    (self._seal(name, secret), mask(secret), time.time(), name),
                )
            after = self._vk_out(tx, name)
            action = "rotate.finish" if rotation.finish else "rotate"
            self._changed(
                tx, actor, action, "virtual_key", name, before.model_dump(), after.model_dump()
            )
        return after

    def delete_virtual_key(self, name: str, actor: str = "admin") -> None:
        with self.db.transaction() as tx:
            before = self._vk_out(tx, name)
            tx.execute("DELETE FROM virtual_keys WHERE name = ?", (name,))
            self._changed(tx, actor, "delete", "virtual_key", name, before.model_dump(), None)

    def credentials(self) -> list[Credential]:
        """Every virtual key with its secrets decrypted (MasterKeyError if one cannot be)."""
        with self.db.transaction() as tx:
            rows = tx.query(f"SELECT {VK_COLUMNS} FROM virtual_keys ORDER BY name")
        out = []
        for name, provider, secret, previous, _, options, models, team, *_ in rows:
            opts = orjson.loads(options)
            out.append(
                Credential(
                    name=name,
                    provider=provider,
                    api_key=self.keyring.decrypt(secret, f"vk:{name}") or None,
                    previous_api_key=(
                        self.keyring.decrypt(previous, f"vk:{name}") or None if previous else None
                    ),
                    custom_host=opts.pop("custom_host", None),
                    options=opts,
                    models=tuple(orjson.loads(models)),
                    team=team,
                )
            )
        return out

    def rewrap_secrets(self, new: Keyring, actor: str = "admin") -> int:
        """Re-encrypt every secret under ``new`` (which must hold the old key as previous)."""
        count = 0
        with self.db.transaction() as tx:
            for name, secret, previous in tx.query(
                "SELECT name, secret, previous_secret FROM virtual_keys"
            ):
                ctx = f"vk:{name}"
                fresh = new.encrypt(new.decrypt(secret, ctx), ctx)
                prev = new.encrypt(new.decrypt(previous, ctx), ctx) if previous else None
                tx.execute(
                    "UPDATE virtual_keys SET secret = ?, previous_secret = ? WHERE name = ?",
                    (fresh, prev, name),
                )
                count += 1
            tx.execute(
                "UPDATE portkey_meta SET value = ? WHERE key = ?",
                (new.encrypt(MASTER_CHECK, MASTER_CHECK), MASTER_CHECK),
            )
            self._changed(
                tx, actor, "rotate", "master_key", new.current_id, None, {"virtual_keys": count}
            )
        self.keyring = new
        return count

    # -- configs and audit -----------------------------------------------------------------

    def put_config(self, config: StoredConfig, actor: str = "admin") -> StoredConfig:
        now = time.time()
        with self.db.transaction() as tx:
            rows = tx.query("SELECT body FROM configs WHERE name = ?", (config.name,))
            before = orjson.loads(rows[0][0]) if rows else None
            tx.execute(
                "INSERT INTO configs (name, body, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET body = excluded.body, "
                "updated_at = excluded.updated_at",
                (config.name, _json(config.config), now, now),
            )
            action = "update" if rows else "create"
            self._changed(tx, actor, action, "config", config.name, before, config.config)
        return config

    def list_configs(self) -> list[StoredConfig]:
        with self.db.transaction() as tx:
            rows = tx.query("SELECT name, body FROM configs ORDER BY name")
        return [StoredConfig(name=r[0], config=orjson.loads(r[1])) for r in rows]

    def delete_config(self, name: str, actor: str = "admin") -> None:
        with self.db.transaction() as tx:
            rows = tx.query("SELECT body FROM configs WHERE name = ?", (name,))
            if not rows:
                raise NotFound(f"no stored config named {name!r}", param="name")
            tx.execute("DELETE FROM configs WHERE name = ?", (name,))
            self._changed(tx, actor, "delete", "config", name, orjson.loads(rows[0][0]), None)

    def audit(self, limit: int = 100, kind: str | None = None) -> list[AuditEntry]:
        where, params = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        with self.db.transaction() as tx:
            rows = tx.query(
                "SELECT id, at, actor, action, kind, name, before, after FROM audit_log "
                f"{where} ORDER BY id DESC LIMIT ?",
                (*params, limit),
            )
        return [
            AuditEntry(
                id=r[0],
                at=r[1],
                actor=r[2],
                action=r[3],
                kind=r[4],
                name=r[5],
                before=orjson.loads(r[6]) if r[6] else None,
                after=orjson.loads(r[7]) if r[7] else None,
            )
            for r in rows
        ]


def _vk_out(row: tuple[Any, ...], keyring: Keyring) -> VirtualKeyOut:
    name, provider, _, previous, hint, options, models, team, created, updated = row
    opts = orjson.loads(options)
    previous_hint = None
    if previous:
        prev = keyring.decrypt(previous, f"vk:{name}")
        previous_hint = mask(prev) if prev else ""
    return VirtualKeyOut(
        name=name,
        provider=provider,
        secret_hint=hint,
        previous_secret_hint=previous_hint,
        custom_host=opts.pop("custom_host", None),
        options=opts,
        models=orjson.loads(models),
        team=team,
        created_at=created,
        updated_at=updated,
    )
