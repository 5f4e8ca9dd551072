"""Versioned SQL migrations, applied in order on start: ``NNNN_name.sql`` files in this folder.

Each file runs once, inside one transaction with its ``schema_migrations`` row, so a crash
leaves the schema at a whole version. Replicas starting together take a lock first (a
PostgreSQL advisory lock; SQLite's ``BEGIN IMMEDIATE`` write lock), so only one applies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from portkey.store.db import Database

#: any constant will do: it only has to be the same in every replica
ADVISORY_LOCK_ID = 804_217_734


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).iterdir():
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(int(version), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def statements(sql: str) -> list[str]:
    """Split a migration into statements (our files hold no ``;`` inside literals)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def migrate(db: Database) -> list[int]:
    """Apply every migration not yet applied; returns the versions applied now."""
    applied_now: list[int] = []
    with db.transaction() as tx:
        if db.dialect == "postgres":
            tx.query("SELECT pg_advisory_xact_lock(?)", (ADVISORY_LOCK_ID,))
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
        )
        done = {row[0] for row in tx.query("SELECT version FROM schema_migrations")}
        for migration in available():
            if migration.version in done:
                continue
            _apply(tx, migration)
            applied_now.append(migration.version)
    return applied_now


def _apply(tx: Any, migration: Migration) -> None:
    for statement in statements(migration.sql):
        tx.execute(statement)
    tx.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.name, time.time()),
    )


def current_version(db: Database) -> int:
    with db.transaction() as tx:
        rows = tx.query("SELECT MAX(version) FROM schema_migrations")
    return int(rows[0][0] or 0)
