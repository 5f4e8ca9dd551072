"""Run history, per-job locks and schedule slots, in the gateway's store (SQLite or PostgreSQL).

A lock is a row with a holder and an expiry the runner keeps pushing forward; a holder that
died (its process is gone on this host, or its lease expired) is taken over. A schedule slot is
claimed by compare-and-set, so of two replicas ticking at the same minute exactly one runs it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

from portkey.errors import Conflict
from portkey.store.db import Database
from portkey.store.migrations import migrate

LEASE_S = 60.0
_COLUMNS = (
    "id, job, status, triggered_by, started_at, finished_at, rows_read, rows_written, bytes, "
    "changes, verification, error, holder"
)


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def new_run_id() -> str:
    return f"{int(time.time() * 1000):013x}{secrets.token_hex(6)}"


def _dead(holder: str) -> bool:
    """A holder on this host whose process is gone."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(slots=True)
class RunRecord:
    id: str
    job: str
    status: str
    triggered_by: str
    started_at: float
    finished_at: float | None
    rows_read: int
    rows_written: int
    bytes: int
    changes: list[str]
    verification: dict[str, Any] | None
    error: str | None
    holder: str | None

    def to_dict(self) -> dict[str, Any]:
        end = self.finished_at or time.time()
        return {
            "id": self.id,
            "job": self.job,
            "status": self.status,
            "triggered_by": self.triggered_by,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(end - self.started_at, 3),
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "bytes": self.bytes,
            "changes": self.changes,
            "verification": self.verification,
            "error": self.error,
        }


class History:
    """Sync runs, locks and slots over one store ``Database`` (migrated on open)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        migrate(db)

    # -- runs ------------------------------------------------------------------------------
    def start(self, run_id: str, job: str, triggered_by: str, holder: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO sync_runs (id, job, status, triggered_by, started_at, holder) "
                "VALUES (?, ?, 'running', ?, ?, ?)",
                (run_id, job, triggered_by, time.time(), holder),
            )

    def progress(self, run_id: str, rows_read: int, rows_written: int, nbytes: int) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE sync_runs SET rows_read = ?, rows_written = ?, bytes = ? WHERE id = ?",
                (rows_read, rows_written, nbytes, run_id),
            )

    def finish(
        self,
        run_id: str,
        status: str,
        counts: tuple[int, int, int],
        changes: list[str],
        verification: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE sync_runs SET status = ?, finished_at = ?, rows_read = ?, "
                "rows_written = ?, bytes = ?, changes = ?, verification = ?, error = ? "
                "WHERE id = ?",
                (
                    status,
                    time.time(),
                    *counts,
                    json.dumps(changes),
                    None if verification is None else json.dumps(verification),
                    error,
                    run_id,
                ),
            )

    def runs(self, job: str | None = None, limit: int = 20) -> list[RunRecord]:
        where, params = ("WHERE job = ?", [job]) if job else ("", [])
        with self.db.transaction() as tx:
            rows = tx.query(
                f"SELECT {_COLUMNS} FROM sync_runs {where} ORDER BY started_at DESC, id DESC "
                "LIMIT ?",
                (*params, limit),
            )
        return [self._record(r) for r in rows]

    def get(self, run_id: str) -> RunRecord | None:
        with self.db.transaction() as tx:
            rows = tx.query(f"SELECT {_COLUMNS} FROM sync_runs WHERE id = ?", (run_id,))
        return self._record(rows[0]) if rows else None

    @staticmethod
    def _record(r: tuple[Any, ...]) -> RunRecord:
        status = str(r[2])
        holder = r[12]
        if status == "running" and holder and _dead(str(holder)):
            status = "interrupted"
        return RunRecord(
            str(r[0]),
            str(r[1]),
            status,
            str(r[3]),
            float(r[4]),
            None if r[5] is None else float(r[5]),
            int(r[6]),
            int(r[7]),
            int(r[8]),
            json.loads(r[9]) if r[9] else [],
            json.loads(r[10]) if r[10] else None,
            r[11],
            holder,
        )

    # -- locks -----------------------------------------------------------------------------
    def lock(self, job: str, holder: str, run_id: str) -> bool:
        """Take the job's lock (or renew it if ours); False when a live holder has it."""
        now = time.time()
        try:
            with self.db.transaction() as tx:
                if self.db.dialect == "postgres":
                    tx.query("SELECT pg_advisory_xact_lock(hashtext(?))", (f"sync:{job}",))
                rows = tx.query("SELECT holder, expires_at FROM sync_locks WHERE job = ?", (job,))
                if not rows:
                    tx.execute(
                        "INSERT INTO sync_locks (job, holder, run_id, expires_at) "
                        "VALUES (?, ?, ?, ?)",
                        (job, holder, run_id, now + LEASE_S),
                    )
                    return True
                current, expires = str(rows[0][0]), float(rows[0][1])
                if current != holder and expires > now and not _dead(current):
                    return False
                tx.execute(
                    "UPDATE sync_locks SET holder = ?, run_id = ?, expires_at = ? WHERE job = ?",
                    (holder, run_id, now + LEASE_S, job),
                )
                return True
        except Conflict:
            return False

    def unlock(self, job: str, holder: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM sync_locks WHERE job = ? AND holder = ?", (job, holder))

    def claim_slot(self, job: str, slot: float) -> bool:
        """Claim schedule slot ``slot`` (epoch seconds) of ``job``; True for exactly one caller."""
        try:
            with self.db.transaction() as tx:
                rows = tx.query("SELECT last_slot FROM sync_slots WHERE job = ?", (job,))
                if not rows:
                    tx.execute("INSERT INTO sync_slots (job, last_slot) VALUES (?, ?)", (job, slot))
                    return True
                changed = tx.execute(
                    "UPDATE sync_slots SET last_slot = ? WHERE job = ? AND last_slot < ?",
                    (slot, job, slot),
                )
                return bool(changed == 1)
        except Conflict:
            return False
