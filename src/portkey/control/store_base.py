"""What every part of the control store shares: the database, the keyring, audited writes."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from portkey.control.crypto import Keyring
from portkey.errors import NotFound
from portkey.store.db import Database, Tx


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _new_id() -> str:
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


class StoreBase:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

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

    def _delete(self, table: str, kind: str, ident: str, actor: str) -> None:
        with self.db.transaction() as tx:
            if not tx.execute(f"DELETE FROM {table} WHERE id = ?", (ident,)):
                raise NotFound(f"no {kind} with id {ident!r}", param="id")
            self._changed(tx, actor, "delete", kind, ident)
