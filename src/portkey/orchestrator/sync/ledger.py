"""Exactly-once for targets that cannot commit rows and checkpoint in one transaction.

Trino (most connectors have no multi-statement write transactions) and ClickHouse (an
``EXCHANGE TABLES`` of two pairs is applied pair after pair) keep their checkpoint in an
append-only ledger in the target, ``_portkey_sync_log``: one row per step, each written by one
statement, each statement atomic on its own. A run stages its rows, then

1. appends a ``pending`` entry: the new cursor, the target's row count, the staged row count,
   how the rows go in (append, upsert on keys, full replace) and the staged columns;
2. applies the staging table to the target (in ``Endpoint.transaction``: chdb swaps one shadow
   table in atomically, Trino runs the statements one by one);
3. appends a ``done`` entry with the cursor; only then is the staging table dropped.

A kill anywhere is finished by the next run before it reads anything:

- before ``pending``: nothing in the target changed; the staging table is rebuilt;
- after ``pending``: the apply is finished from the staging table that was kept. Upserts and
  full replaces apply it again (idempotent: the same rows replace the same keys, or the whole
  table). An append looks at the target's count: the count before plus the staged rows means
  it went in; the count before means it did not, and it is applied now; anything else means
  something else wrote the target, and the run stops rather than guess.
"""

from __future__ import annotations

import json
import time
from contextlib import suppress
from typing import Any

from portkey.orchestrator.sync.endpoints.base import Endpoint

LOG_TABLE = "_portkey_sync_log"
#: entries kept per job (older ones are pruned where the target can delete)
KEEP = 20


class LedgerConflict(RuntimeError):
    """The target changed in a way no interrupted run of this job explains."""


class Ledger:
    """The ledger of one job in one target (``schema`` is the target table's schema)."""

    def __init__(self, tgt: Endpoint, conn: Any, job: str, schema: str) -> None:
        self.tgt, self.conn, self.job = tgt, conn, job
        self.table = tgt.table_sql(f"{schema}.{LOG_TABLE}" if schema else LOG_TABLE)

    def ensure(self) -> None:
        self.tgt.execute(self.conn, self.tgt.ledger_create_sql(self.table))

    def latest(self) -> tuple[int, dict[str, Any]] | None:
        """The job's last entry, as (seq, entry)."""
        text = self.tgt.scalar(
            self.conn,
            f"SELECT entry FROM {self.table} WHERE job = {self.tgt.param} ORDER BY seq DESC LIMIT 1",
            (self.job,),
        )
        if text is None:
            return None
        entry: dict[str, Any] = json.loads(str(text))
        return int(entry["seq"]), entry

    def pending(self) -> bool:
        """Whether the last entry is an unfinished apply (True when it cannot be read: the
        staging table is then kept, and the next run decides from the ledger)."""
        try:
            last = self.latest()
        except Exception:
            return True
        return last is not None and last[1]["phase"] == "pending"

    def cursor(self) -> str | None:
        """The committed cursor (as the runner encoded it), None before the first run."""
        last = self.latest()
        if last is None:
            return None
        entry = last[1]
        if entry["phase"] != "done":
            raise LedgerConflict(f"sync job {self.job!r}: an unfinished apply was not recovered")
        value: str | None = entry["cursor"]
        return value

    def recover(self, target: str, staging: str) -> int | None:
        """Finish the apply a killed run left pending: the rows it applied now (0: the killed
        run had applied them), None when nothing was pending."""
        last = self.latest()
        if last is None or last[1]["phase"] != "pending":
            return None
        seq, entry = last
        if self.tgt.columns(self.conn, staging) is None:
            raise LedgerConflict(
                f"sync job {self.job!r}: a pending apply lost its staging table {staging}"
            )
        rows = self._count(target)
        applied = entry["how"] == "append" and rows == entry["before"] + entry["staged"]
        if entry["how"] == "append" and not applied and rows != entry["before"]:
            raise LedgerConflict(
                f"sync job {self.job!r}: target {target} holds {rows} rows; an interrupted "
                f"append left it at {entry['before']} (not applied) or "
                f"{entry['before'] + entry['staged']} (applied): something else wrote it"
            )
        if not applied:
            self._apply(target, staging, entry)
        self._append(seq + 1, {**_done(entry), "recovered": True})
        return 0 if applied else int(entry["staged"])

    def commit(
        self,
        target: str,
        staging: str,
        *,
        cursor: str | None,
        how: str,
        keys: list[str],
        columns: list[str],
    ) -> None:
        """Steps 1-3: pending, apply, done."""
        last = self.latest()
        seq = 0 if last is None else last[0]
        entry = {
            "phase": "pending",
            "cursor": cursor,
            "how": how,
            "keys": keys,
            "columns": columns,
            "before": self._count(target),
            "staged": self._count(staging),
            "at": time.time(),
        }
        self._append(seq + 1, entry)
        self._apply(target, staging, entry)
        self._append(seq + 2, _done(entry))
        with suppress(Exception):  # not every Trino connector can DELETE
            p = self.tgt.param
            self.tgt.execute(
                self.conn,
                f"DELETE FROM {self.table} WHERE job = {p} AND seq <= {p}",
                (self.job, seq + 2 - KEEP),
            )

    def _apply(self, target: str, staging: str, entry: dict[str, Any]) -> None:
        tgt, conn = self.tgt, self.conn
        t, s = tgt.table_sql(target), tgt.table_sql(staging)
        cols = ", ".join(tgt.quote(c) for c in entry["columns"])
        with tgt.transaction(conn):
            if entry["how"] == "upsert":
                tgt.execute(conn, tgt.delete_matching_sql(target, staging, entry["keys"]))
            elif entry["how"] == "full":
                tgt.execute(conn, f"DELETE FROM {t}")
            tgt.execute(conn, f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {s}")

    def _append(self, seq: int, entry: dict[str, Any]) -> None:
        p = self.tgt.param
        self.tgt.execute(
            self.conn,
            f"INSERT INTO {self.table} (job, seq, entry) VALUES ({p}, {p}, {p})",
            (self.job, seq, json.dumps({**entry, "seq": seq})),
        )

    def _count(self, table: str) -> int:
        return int(self.tgt.scalar(self.conn, f"SELECT count(*) FROM {self.tgt.table_sql(table)}"))


def _done(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "phase": "done",
        "cursor": entry["cursor"],
        "staged": entry["staged"],
        "at": time.time(),
    }
