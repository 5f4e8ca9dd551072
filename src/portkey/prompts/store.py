"""Prompt rows in the store (SQLite or PostgreSQL): versions, labels, partials, feedback.

Blocking calls: the service runs them in a thread, never on the request path. Versions are
immutable: ``add_version`` with the content of the newest version returns that version
instead of storing a copy.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from portkey.errors import NotFound
from portkey.store.db import Database, Tx


@dataclass(frozen=True, slots=True)
class StoredVersion:
    prompt_id: str
    version: int
    content: dict[str, Any]
    hash: str
    note: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class StoredState:
    """Everything the registry holds in memory."""

    revision: int
    versions: tuple[StoredVersion, ...]
    labels: dict[str, dict[str, int]]  # prompt id -> label -> version
    partials: dict[str, str]


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _bump(tx: Tx) -> None:
    tx.execute("UPDATE prompt_revision SET revision = revision + 1 WHERE id = 1")


class PromptStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def revision(self) -> int:
        with self.db.transaction() as tx:
            rows = tx.query("SELECT revision FROM prompt_revision WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    def load(self) -> StoredState:
        with self.db.transaction() as tx:
            rev = tx.query("SELECT revision FROM prompt_revision WHERE id = 1")
            rows = tx.query(
                "SELECT prompt_id, version, content, hash, note, created_at FROM prompt_versions "
                "ORDER BY prompt_id, version"
            )
            labels = tx.query("SELECT prompt_id, label, version FROM prompt_labels")
            partials = tx.query("SELECT name, content FROM prompt_partials")
        versions = tuple(
            StoredVersion(r[0], int(r[1]), orjson.loads(r[2]), r[3], r[4], float(r[5]))
            for r in rows
        )
        by_prompt: dict[str, dict[str, int]] = {}
        for prompt_id, label, version in labels:
            by_prompt.setdefault(prompt_id, {})[label] = int(version)
        return StoredState(int(rev[0][0]) if rev else 0, versions, by_prompt,
                           {n: c for n, c in partials})  # fmt: skip

    def add_version(
        self, prompt_id: str, content: dict[str, Any], labels: list[str], note: str | None = None
    ) -> tuple[int, bool]:
        """(version, created): a new version, or the newest one when its content is the same."""
        digest = content_hash(content)
        with self.db.transaction() as tx:
            rows = tx.query(
                "SELECT version, hash FROM prompt_versions WHERE prompt_id = ? "
                "ORDER BY version DESC LIMIT 1",
                (prompt_id,),
            )
            created = not rows or rows[0][1] != digest
            version = int(rows[0][0]) + 1 if rows else 1
            if not created:
                version = int(rows[0][0])
            else:
                tx.execute(
                    "INSERT INTO prompt_versions (prompt_id, version, content, hash, note, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (prompt_id, version, orjson.dumps(content).decode(), digest, note, time.time()),
                )
            moved = any(self._set_label(tx, prompt_id, label, version) for label in labels)
            if created or moved:
                _bump(tx)
        return version, created

    def _set_label(self, tx: Tx, prompt_id: str, label: str, version: int) -> bool:
        rows = tx.query(
            "SELECT version FROM prompt_labels WHERE prompt_id = ? AND label = ?",
            (prompt_id, label),
        )
        if rows and int(rows[0][0]) == version:
            return False
        if rows:
            tx.execute(
                "UPDATE prompt_labels SET version = ?, updated_at = ? WHERE prompt_id = ? AND label = ?",
                (version, time.time(), prompt_id, label),
            )
        else:
            tx.execute(
                "INSERT INTO prompt_labels (prompt_id, label, version, updated_at) VALUES (?, ?, ?, ?)",
                (prompt_id, label, version, time.time()),
            )
        return True

    def set_label(self, prompt_id: str, label: str, version: int) -> None:
        with self.db.transaction() as tx:
            exists = tx.query(
                "SELECT 1 FROM prompt_versions WHERE prompt_id = ? AND version = ?",
                (prompt_id, version),
            )
            if not exists:
                raise NotFound(f"prompt {prompt_id!r} has no version {version}", param="version")
            if self._set_label(tx, prompt_id, label, version):
                _bump(tx)

    def delete_label(self, prompt_id: str, label: str) -> None:
        with self.db.transaction() as tx:
            if tx.execute(
                "DELETE FROM prompt_labels WHERE prompt_id = ? AND label = ?", (prompt_id, label)
            ):
                _bump(tx)

    def put_partial(self, name: str, content: str) -> bool:
        with self.db.transaction() as tx:
            rows = tx.query("SELECT content FROM prompt_partials WHERE name = ?", (name,))
            if rows and rows[0][0] == content:
                return False
            if rows:
                tx.execute(
                    "UPDATE prompt_partials SET content = ?, updated_at = ? WHERE name = ?",
                    (content, time.time(), name),
                )
            else:
                tx.execute(
                    "INSERT INTO prompt_partials (name, content, updated_at) VALUES (?, ?, ?)",
                    (name, content, time.time()),
                )
            _bump(tx)
        return True

    def add_feedback(
        self, trace_id: str, value: float, weight: float, metadata: dict[str, Any]
    ) -> str:
        feedback_id = f"fb_{time.time_ns():020d}{secrets.token_hex(4)}"
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO prompt_feedback (id, trace_id, value, weight, metadata, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    feedback_id,
                    trace_id,
                    value,
                    weight,
                    orjson.dumps(metadata).decode(),
                    time.time(),
                ),
            )
        return feedback_id

    def feedback(self, trace_ids: list[str]) -> dict[str, list[tuple[float, float]]]:
        """trace id -> [(value, weight)] for the given traces."""
        out: dict[str, list[tuple[float, float]]] = {}
        for i in range(0, len(trace_ids), 500):
            chunk = trace_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            with self.db.transaction() as tx:
                rows = tx.query(
                    f"SELECT trace_id, value, weight FROM prompt_feedback WHERE trace_id IN ({marks})",
                    chunk,
                )
            for trace, value, weight in rows:
                out.setdefault(trace, []).append((float(value), float(weight)))
        return out
