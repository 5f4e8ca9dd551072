"""Caller API keys in the store: generated once, kept as a SHA-256 hash, scoped, revocable."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from portkey.control.models import ApiKeyCreated, ApiKeyIn, ApiKeyOut, ApiKeyScopes, KeyUsage
from portkey.control.store_base import StoreBase, _json
from portkey.errors import NotFound
from portkey.store.db import Tx

API_KEY_PREFIX = "pk-"


def hash_api_key(key: str) -> str:
    """API keys are 190 random bits: a plain SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(key.encode()).hexdigest()


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


class ApiKeyStore(StoreBase):
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
