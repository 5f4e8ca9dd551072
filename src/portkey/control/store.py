"""The control plane's persistent state: virtual keys, API keys, budgets, limits, configs, audit.

Every write runs in one transaction with its audit entry and a bump of the store's revision,
so replicas polling the revision see each change whole. Secrets are encrypted before they
reach the database and never leave this module in clear, except in ``credentials()``, which
feeds the in-memory runtime.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from portkey.control.crypto import Keyring, MasterKeyError, mask
from portkey.control.models import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    ApiKeyScopes,
    AuditEntry,
    BudgetIn,
    BudgetOut,
    KeyUsage,
    RateLimitIn,
    RateLimitOut,
    Rotation,
    StoredConfig,
    VirtualKeyIn,
    VirtualKeyOut,
    VirtualKeyUpdate,
)
from portkey.errors import NotFound
from portkey.store.db import Database, Tx
from portkey.store.migrations import migrate

API_KEY_PREFIX = "pk-"
MASTER_CHECK = "master_key_check"
VK_COLUMNS = (
    "name, provider, secret, previous_secret, secret_hint, options, models, team, "
    "created_at, updated_at"
)


def hash_api_key(key: str) -> str:
    """API keys are 190 random bits: a plain SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _new_id() -> str:
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


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


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    name: str
    key_hash: str
    team: str | None
    scopes: ApiKeyScopes
    metadata: dict[str, str]
    expires_at: float | None
    revoked_at: float | None


class ControlStore:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Migrate, then prove the master key is the one the store was written with."""
        migrate(self.db)
        with self.db.transaction() as tx:
            rows = tx.query("SELECT value FROM portkey_meta WHERE key = ?", (MASTER_CHECK,))
            if not rows:
                token = self.keyring.encrypt(MASTER_CHECK, MASTER_CHECK)
                tx.execute(
                    "INSERT INTO portkey_meta (key, value) VALUES (?, ?)", (MASTER_CHECK, token)
                )
                return
        try:
            self.keyring.decrypt(rows[0][0], MASTER_CHECK)
        except MasterKeyError as exc:
            raise MasterKeyError(
                f"the master key does not open this store ({self.db.url}): {exc}"
            ) from exc

    def revision(self) -> int:
        with self.db.transaction() as tx:
            return int(tx.query("SELECT revision FROM portkey_revision WHERE id = 1")[0][0])

    def _changed(
        self,
        tx: Tx,
        actor: str,
        action: str,
        kind: str,
        name: str,
        before: Any = None,
        after: Any = None,
    ) -> None:
        tx.execute("UPDATE portkey_revision SET revision = revision + 1 WHERE id = 1")
        tx.execute(
            "INSERT INTO audit_log (id, at, actor, action, kind, name, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _new_id(),
                time.time(),
                actor,
                action,
                kind,
                name,
                None if before is None else _json(before),
                None if after is None else _json(after),
            ),
        )

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

    # -- API keys --------------------------------------------------------------------------

    def create_api_key(self, spec: ApiKeyIn, actor: str = "admin") -> ApiKeyCreated:
        key_id = secrets.token_hex(4)
        key = f"{API_KEY_PREFIX}{key_id}-{secrets.token_urlsafe(24)}"
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO api_keys (id, name, key_hash, last4, team, scopes, metadata, "
                "expires_at, revoked_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    spec.name,
                    hash_api_key(key),
                    key[-4:],
                    spec.team,
                    _json(spec.scopes.model_dump()),
                    _json(spec.metadata),
                    spec.expires_at,
                    None,
                    now,
                ),
            )
            out = self._api_key_out(tx, key_id)
            self._changed(tx, actor, "create", "api_key", spec.name, None, out.model_dump())
        return ApiKeyCreated(**out.model_dump(), key=key)

    def _api_key_rows(self, tx: Tx, where: str = "", params: tuple[Any, ...] = ()) -> list[Any]:
        return tx.query(
            "SELECT id, name, key_hash, last4, team, scopes, metadata, expires_at, revoked_at, "
            f"created_at FROM api_keys {where} ORDER BY created_at",
            params,
        )

    def _api_key_out(self, tx: Tx, ref: str) -> ApiKeyOut:
        rows = self._api_key_rows(tx, "WHERE id = ? OR name = ?", (ref, ref))
        if not rows:
            raise NotFound(f"no API key with id or name {ref!r}", param="id")
        return _api_key_out(rows[0])

    def get_api_key(self, ref: str) -> ApiKeyOut:
        with self.db.transaction() as tx:
            return self._api_key_out(tx, ref)

    def list_api_keys(self) -> list[ApiKeyOut]:
        with self.db.transaction() as tx:
            return [_api_key_out(row) for row in self._api_key_rows(tx)]

    def revoke_api_key(self, ref: str, actor: str = "admin") -> ApiKeyOut:
        with self.db.transaction() as tx:
            before = self._api_key_out(tx, ref)
            tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), before.id),
            )
            after = self._api_key_out(tx, before.id)
            self._changed(
                tx, actor, "revoke", "api_key", before.name, before.model_dump(), after.model_dump()
            )
        return after

    def api_key_records(self) -> list[ApiKeyRecord]:
        with self.db.transaction() as tx:
            rows = self._api_key_rows(tx)
        return [
            ApiKeyRecord(
                id=r[0],
                name=r[1],
                key_hash=r[2],
                team=r[4],
                scopes=ApiKeyScopes.model_validate(orjson.loads(r[5])),
                metadata=orjson.loads(r[6]),
                expires_at=r[7],
                revoked_at=r[8],
            )
            for r in rows
        ]

    # -- budgets and rate limits -----------------------------------------------------------

    def create_budget(self, spec: BudgetIn, actor: str = "admin") -> BudgetOut:
        out = BudgetOut(**spec.model_dump(), id=_new_id(), created_at=time.time())
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO budgets (id, scope, target, period, limit_usd, limit_tokens, "
                "alert_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    out.id,
                    out.scope,
                    out.target,
                    out.period,
                    out.limit_usd,
                    out.limit_tokens,
                    out.alert_at,
                    out.created_at,
                ),
            )
            self._changed(tx, actor, "create", "budget", out.id, None, out.model_dump())
        return out

    def list_budgets(self) -> list[BudgetOut]:
        with self.db.transaction() as tx:
            return self._budgets(tx)

    def _budgets(self, tx: Tx) -> list[BudgetOut]:
        rows = tx.query(
            "SELECT b.id, b.scope, b.target, b.period, b.limit_usd, b.limit_tokens, "
            "b.alert_at, b.created_at, u.window_start, u.spent_usd, u.spent_tokens "
            "FROM budgets b LEFT JOIN budget_usage u ON u.budget_id = b.id "
            "AND u.window_start = (SELECT MAX(window_start) FROM budget_usage "
            "WHERE budget_id = b.id) ORDER BY b.created_at"
        )
        return [
            BudgetOut(
                id=r[0],
                scope=r[1],
                target=r[2],
                period=r[3],
                limit_usd=r[4],
                limit_tokens=r[5],
                alert_at=r[6],
                created_at=r[7],
                window_start=r[8] or 0.0,
                spent_usd=r[9] or 0.0,
                spent_tokens=r[10] or 0,
            )
            for r in rows
        ]

    def update_budget(self, budget_id: str, spec: BudgetIn, actor: str = "admin") -> BudgetOut:
        """Change a budget's limits in place (its spend so far is kept)."""
        with self.db.transaction() as tx:
            before = next((b for b in self._budgets(tx) if b.id == budget_id), None)
            if before is None:
                raise NotFound(f"no budget with id {budget_id!r}", param="id")
            tx.execute(
                "UPDATE budgets SET limit_usd = ?, limit_tokens = ?, alert_at = ? WHERE id = ?",
                (spec.limit_usd, spec.limit_tokens, spec.alert_at, budget_id),
            )
            after = next(b for b in self._budgets(tx) if b.id == budget_id)
            self._changed(
                tx, actor, "update", "budget", budget_id, before.model_dump(), after.model_dump()
            )
        return after

    def delete_budget(self, budget_id: str, actor: str = "admin") -> None:
        self._delete("budgets", "budget", budget_id, actor)

    def add_budget_usage(self, usage: list[tuple[str, float, float, int]]) -> None:
        """Add (budget id, window start, usd, tokens) to the persisted spend (not audited)."""
        with self.db.transaction() as tx:
            for budget_id, window, usd, tokens in usage:
                tx.execute(
                    "INSERT INTO budget_usage (budget_id, window_start, spent_usd, spent_tokens) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (budget_id, window_start) DO UPDATE SET "
                    "spent_usd = budget_usage.spent_usd + excluded.spent_usd, "
                    "spent_tokens = budget_usage.spent_tokens + excluded.spent_tokens",
                    (budget_id, window, usd, tokens),
                )

    def add_key_usage(self, usage: list[tuple[str, str, int, int, float]]) -> None:
        """Add (API key id, UTC day, requests, tokens, usd) to the usage table (not audited)."""
        with self.db.transaction() as tx:
            for key_id, day, requests, tokens, usd in usage:
                tx.execute(
                    "INSERT INTO api_key_usage (api_key_id, day, requests, tokens, cost_usd) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (api_key_id, day) DO UPDATE SET "
                    "requests = api_key_usage.requests + excluded.requests, "
                    "tokens = api_key_usage.tokens + excluded.tokens, "
                    "cost_usd = api_key_usage.cost_usd + excluded.cost_usd",
                    (key_id, day, requests, tokens, usd),
                )

    def key_usage(self, key_id: str | None = None, since_day: str | None = None) -> list[KeyUsage]:
        """Usage per key and day, newest day first; ``since_day`` is ``YYYY-MM-DD``."""
        clauses, params = [], []
        if key_id is not None:
            clauses.append("u.api_key_id = ?")
            params.append(key_id)
        if since_day is not None:
            clauses.append("u.day >= ?")
            params.append(since_day)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self.db.transaction() as tx:
            rows = tx.query(
                "SELECT u.api_key_id, k.name, u.day, u.requests, u.tokens, u.cost_usd "
                "FROM api_key_usage u LEFT JOIN api_keys k ON k.id = u.api_key_id "
                f"{where} ORDER BY u.day DESC, u.api_key_id",
                tuple(params),
            )
        return [
            KeyUsage(
                api_key_id=r[0], name=r[1], day=r[2], requests=r[3], tokens=r[4], cost_usd=r[5]
            )
            for r in rows
        ]

    def create_rate_limit(self, spec: RateLimitIn, actor: str = "admin") -> RateLimitOut:
        out = RateLimitOut(**spec.model_dump(), id=_new_id(), created_at=time.time())
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO rate_limits (id, scope, target, rpm, tpm, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (out.id, out.scope, out.target, out.rpm, out.tpm, out.created_at),
            )
            self._changed(tx, actor, "create", "rate_limit", out.id, None, out.model_dump())
        return out

    def list_rate_limits(self) -> list[RateLimitOut]:
        with self.db.transaction() as tx:
            return self._rate_limits(tx)

    def _rate_limits(self, tx: Tx) -> list[RateLimitOut]:
        rows = tx.query(
            "SELECT id, scope, target, rpm, tpm, created_at FROM rate_limits ORDER BY created_at"
        )
        return [
            RateLimitOut(id=r[0], scope=r[1], target=r[2], rpm=r[3], tpm=r[4], created_at=r[5])
            for r in rows
        ]

    def update_rate_limit(
        self, limit_id: str, spec: RateLimitIn, actor: str = "admin"
    ) -> RateLimitOut:
        with self.db.transaction() as tx:
            before = next((r for r in self._rate_limits(tx) if r.id == limit_id), None)
            if before is None:
                raise NotFound(f"no rate limit with id {limit_id!r}", param="id")
            tx.execute(
                "UPDATE rate_limits SET rpm = ?, tpm = ? WHERE id = ?",
                (spec.rpm, spec.tpm, limit_id),
            )
            after = next(r for r in self._rate_limits(tx) if r.id == limit_id)
            self._changed(
                tx, actor, "update", "rate_limit", limit_id, before.model_dump(), after.model_dump()
            )
        return after

    def delete_rate_limit(self, limit_id: str, actor: str = "admin") -> None:
        self._delete("rate_limits", "rate_limit", limit_id, actor)

    def _delete(self, table: str, kind: str, ident: str, actor: str) -> None:
        with self.db.transaction() as tx:
            if not tx.execute(f"DELETE FROM {table} WHERE id = ?", (ident,)):
                raise NotFound(f"no {kind} with id {ident!r}", param="id")
            self._changed(tx, actor, "delete", kind, ident)

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


def _api_key_out(row: tuple[Any, ...]) -> ApiKeyOut:
    key_id, name, _, last4, team, scopes, metadata, expires, revoked, created = row
    return ApiKeyOut(
        id=key_id,
        name=name,
        key_hint=f"{API_KEY_PREFIX}{key_id}-...{last4}",
        team=team,
        scopes=ApiKeyScopes.model_validate(orjson.loads(scopes)),
        metadata=orjson.loads(metadata),
        expires_at=expires,
        revoked_at=revoked,
        created_at=created,
    )
