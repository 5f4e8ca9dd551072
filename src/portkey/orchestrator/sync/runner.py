"""One sync run: plan -> DDL -> rows -> checkpoint, the rows and checkpoint in ONE transaction.

Exactly-once comes from where the checkpoint lives: in the target (``_portkey_sync_state``),
written in the same target transaction as the rows. Upserts (merge_keys) and same-engine jobs
stage every row first (a kill while staging leaves the target and checkpoint untouched; the
next run drops the staging table and starts over), then merge. Appends and full replaces
write batches straight into the target inside that transaction: a kill anywhere is rolled
back by the target, and each row is written once. After the commit a rerun reads the new
cursor, so reruns are idempotent. Targets that cannot commit rows and checkpoint together
(Trino, ClickHouse) always stage, and keep the checkpoint in a ledger of one-statement steps
whose interrupted apply the next run finishes (sync/ledger.py).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from portkey.errors import GatewayError, NotFound
from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.sync import plan as planning
from portkey.orchestrator.sync.endpoints import Endpoint, create_endpoint
from portkey.orchestrator.sync.ledger import Ledger
from portkey.orchestrator.sync.models import SyncJob
from portkey.orchestrator.sync.types import LType, TypeProblem

STATE_TABLE = "_portkey_sync_state"
Progress = Callable[[int, int], None]


class SyncFailed(GatewayError):
    status = 409
    type = "sync_failed"


@dataclass(slots=True)
class RunResult:
    job: str
    status: str = "running"
    rows_read: int = 0
    rows_written: int = 0
    bytes: int = 0
    seconds: float = 0.0
    changes: list[str] = field(default_factory=list)
    verification: dict[str, Any] | None = None
    cursor: Any = None
    error: str | None = None
    same_engine: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "status": self.status,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "changes": self.changes,
            "verification": self.verification,
            "cursor": _encode(self.cursor),
            "error": self.error,
            "same_engine": self.same_engine,
        }


@dataclass(slots=True)
class Opened:
    job: SyncJob
    src: Endpoint
    tgt: Endpoint
    src_conn: Any
    tgt_conn: Any

    @property
    def same(self) -> bool:
        return self.job.source.engine == self.job.target.engine


class Runner:
    """Runs the sync jobs of one ``data:`` section (synchronous: call it from a thread)."""

    def __init__(self, settings: DataSettings) -> None:
        self.settings = settings

    def job(self, name: str) -> SyncJob:
        job = self.settings.syncs.get(name)
        if job is None:
            known = ", ".join(sorted(self.settings.syncs)) or "none declared"
            raise NotFound(f"no sync job {name!r} (known: {known})", param="job")
        return job

    @contextmanager
    def open(self, name: str) -> Iterator[Opened]:
        job = self.job(name)
        engines = self.settings.engines
        src = create_endpoint(job.source.engine, engines[job.source.engine])
        same = job.source.engine == job.target.engine
        tgt = src if same else create_endpoint(job.target.engine, engines[job.target.engine])
        src_conn = src.connect()
        try:
            tgt_conn = src_conn if same else tgt.connect()
            try:
                yield Opened(job, src, tgt, src_conn, tgt_conn)
            finally:
                if not same:
                    with suppress(Exception):
                        tgt_conn.close()
        finally:
            with suppress(Exception):
                src_conn.close()

    def plan(self, name: str) -> planning.Plan:
        with self.open(name) as o:
            return self._plan(name, o)

    def _plan(self, name: str, o: Opened) -> planning.Plan:
        job = o.job
        plan = planning.Plan(name, f"{job.target.engine}.{job.target.table}")
        try:
            if job.source.table is not None:
                declared = o.src.columns(o.src_conn, job.source.table)
                if declared is None:
                    plan.errors.append(f"source table {job.source.table} does not exist")
                    return plan
            else:
                assert job.source.sql is not None
                declared = o.src.describe(o.src_conn, job.source.sql)
        except TypeProblem as exc:
            plan.errors.append(str(exc))
            return plan
        planning.source_columns(job, declared, o.src, o.tgt, plan)
        planning.keys(job, plan)
        if not plan.errors:
            existing = o.tgt.columns(o.tgt_conn, job.target.table)
            planning.drift(job, existing, o.tgt, plan)
        return plan

    def estimate(self, name: str) -> int | None:
        """Rows the next run will read (a count on the source), None when it cannot tell."""
        with self.open(name) as o:
            plan = self._plan(name, o)
            if plan.errors:
                return None
            run = _Run(o, plan, RunResult(name), None)
            try:
                last = run._checkpoint()
            except Exception:
                last = None
            sql = run.source_sql(last)
            return int(o.src.scalar(o.src_conn, f"SELECT count(*) FROM ({sql}) AS _portkey_q"))

    def run(self, name: str, progress: Progress | None = None) -> RunResult:
        """Run job ``name`` once; raises ``SyncPlanError`` before writing if it cannot run."""
        start = time.perf_counter()
        result = RunResult(name)
        with self.open(name) as o:
            plan = self._plan(name, o)
            plan.check()
            result.changes = list(plan.changes)
            result.same_engine = o.same
            _Run(o, plan, result, progress).execute()
            if o.job.verify_mode != "none":
                from portkey.orchestrator.sync.verify import verify

                result.verification = verify(o, plan)
        result.seconds = time.perf_counter() - start
        ok = result.verification is None or result.verification.get("ok", True)
        result.status = "succeeded" if ok else "failed"
        if not ok:
            result.error = "verification failed: " + str(result.verification)
        return result


class _Run:
    """The steps of one run over opened endpoints (kept apart from ``Runner`` for size)."""

    def __init__(
        self, o: Opened, plan: planning.Plan, result: RunResult, progress: Progress | None
    ) -> None:
        self.o, self.plan, self.result, self.progress = o, plan, result, progress
        job = o.job
        self.staging = o.tgt.staging_name(job.target.table)
        schema = job.target.table.rpartition(".")[0]
        self.state = f"{schema}.{STATE_TABLE}" if schema else STATE_TABLE
        self.cols = ", ".join(o.tgt.quote(c.name) for c in plan.columns)
        #: targets without one commit for rows and checkpoint keep a ledger instead
        self.ledger = None if o.tgt.atomic_commit else Ledger(o.tgt, o.tgt_conn, plan.job, schema)

    def execute(self) -> None:
        o = self.o
        ledger = self.ledger
        if ledger is not None:  # finish what a killed run left, before anything changes
            ledger.ensure()
            done = ledger.recover(o.job.target.table, self.staging)
            if done is not None:
                self.result.rows_written += done
                self.result.changes.append(
                    f"finished the apply an interrupted run left pending ({done} rows applied now)"
                )
        for statement in self.plan.statements:
            o.tgt.execute(o.tgt_conn, statement)
        if ledger is None:
            self._ensure_state()
        last = self._checkpoint()
        if not o.job.merge_keys and not o.same and o.tgt.direct_writes and ledger is None:
            self._direct(last)
            return
        o.tgt.execute(o.tgt_conn, f"DROP TABLE IF EXISTS {o.tgt.table_sql(self.staging)}")
        o.tgt.execute(
            o.tgt_conn,
            o.tgt.create_sql(
                self.staging, [(c.name, c.stored.ddl) for c in self.plan.columns], staging=True
            ),
        )
        try:
            sql = self.source_sql(last)
            top = self._stage_inside(sql) if o.same else self._stage(sql)
            cursor = top if top is not None else last
            if ledger is None:
                self._merge(cursor)
            else:
                self._commit_logged(ledger, cursor)
        except BaseException:
            if ledger is not None and ledger.pending():
                raise  # the staging table is what the next run finishes the apply from
            self._drop_staging()
            raise
        self._drop_staging()

    def _drop_staging(self) -> None:
        o = self.o
        with suppress(Exception):
            o.tgt.execute(o.tgt_conn, f"DROP TABLE IF EXISTS {o.tgt.table_sql(self.staging)}")

    def _commit_logged(self, ledger: Ledger, cursor: Any) -> None:
        job = self.o.job
        how = "upsert" if job.merge_keys else "full" if job.mode == "full" else "append"
        ledger.commit(
            job.target.table,
            self.staging,
            cursor=_encode(cursor),
            how=how,
            keys=list(job.merge_keys),
            columns=[c.name for c in self.plan.columns],
        )
        self.result.cursor = cursor

    def source_sql(self, last: Any) -> str:
        o, job = self.o, self.o.job
        select = ", ".join(f"{c.select} AS {o.src.quote(c.name)}" for c in self.plan.columns)
        base = (
            o.src.table_sql(job.source.table)
            if job.source.table is not None
            else f"({job.source.sql}) AS _portkey_src"
        )
        sql = f"SELECT {select} FROM {base}"
        cursor = self.plan.cursor
        if cursor is not None and last is not None:
            bound = _minus(last, job.lookback_amount(), cursor.ltype)
            op = ">=" if job.merge_keys else ">"
            sql += f" WHERE {cursor.select} {op} {o.src.literal(bound, cursor.ltype)}"
        return sql

    def _direct(self, last: Any) -> None:
        """Append or replace: every batch goes straight into the target, inside the one
        transaction that also moves the checkpoint (a kill rolls all of it back), so each row is
        written once instead of twice."""
        o, job = self.o, self.o.job
        with o.tgt.transaction(o.tgt_conn):
            if job.mode == "full":
                o.tgt.execute(o.tgt_conn, f"DELETE FROM {o.tgt.table_sql(job.target.table)}")
            top = self._stage(self.source_sql(last), job.target.table)
            self._save_state(top if top is not None else last)

    def _stage(self, sql: str, into: str | None = None) -> Any:
        o, r = self.o, self.result
        lossy, top, cursor = self.plan.lossy, None, self.plan.cursor
        batches = o.src.read(o.src_conn, sql, self.plan.schema, o.job.batch_rows)
        for batch in _prefetch(batches):
            batch = o.tgt.check_floats(batch, lossy)
            o.tgt.write(o.tgt_conn, into or self.staging, batch)
            r.rows_read += batch.num_rows
            r.rows_written += batch.num_rows
            r.bytes += batch.nbytes
            if cursor is not None and batch.num_rows:
                peak = pc.max(batch.column(cursor.name)).as_py()
                top = peak if top is None or (peak is not None and peak > top) else top
            if self.progress is not None:
                self.progress(r.rows_read, r.bytes)
        return top

    def _stage_inside(self, sql: str) -> Any:
        """Same engine on both sides: the rows never leave it."""
        o, r = self.o, self.result
        o.tgt.execute(
            o.tgt_conn, f"INSERT INTO {o.tgt.table_sql(self.staging)} ({self.cols}) {sql}"
        )
        stg = o.tgt.table_sql(self.staging)
        staged = int(o.tgt.scalar(o.tgt_conn, f"SELECT count(*) FROM {stg}"))
        r.rows_read = staged
        r.rows_written += staged
        if self.progress is not None:
            self.progress(r.rows_read, 0)
        cursor = self.plan.cursor
        if cursor is None:
            return None
        top = o.tgt.scalar(o.tgt_conn, f"SELECT max({o.tgt.quote(cursor.name)}) FROM {stg}")
        text = _encode(top)
        return None if text is None else _decode(text, cursor.ltype)

    def _merge(self, cursor: Any) -> None:
        o, job = self.o, self.o.job
        t, s = o.tgt.table_sql(job.target.table), o.tgt.table_sql(self.staging)
        if job.merge_keys:  # engines without hash joins (SQLite, MySQL) need it for the merge
            keys = ", ".join(o.tgt.quote(k) for k in job.merge_keys)
            name = o.tgt.quote(self.staging.rpartition(".")[2] + "_keys")
            with suppress(Exception):  # e.g. MySQL cannot index TEXT keys without a prefix
                o.tgt.execute(o.tgt_conn, f"CREATE INDEX {name} ON {s} ({keys})")
        with o.tgt.transaction(o.tgt_conn):
            if job.merge_keys:
                o.tgt.execute(
                    o.tgt_conn,
                    o.tgt.delete_matching_sql(job.target.table, self.staging, job.merge_keys),
                )
            elif job.mode == "full":
                o.tgt.execute(o.tgt_conn, f"DELETE FROM {t}")
            o.tgt.execute(o.tgt_conn, f"INSERT INTO {t} ({self.cols}) SELECT {self.cols} FROM {s}")
            self._save_state(cursor)

    def _save_state(self, cursor: Any) -> None:
        """The checkpoint, written inside the transaction that writes the rows."""
        o, p = self.o, self.o.tgt.param
        state = o.tgt.table_sql(self.state)
        o.tgt.execute(o.tgt_conn, f"DELETE FROM {state} WHERE job = {p}", (self.plan.job,))
        o.tgt.execute(
            o.tgt_conn,
            f"INSERT INTO {state} (job, cursor_value, rows_merged, updated_at) "
            f"VALUES ({p}, {p}, {p}, {p})",
            (self.plan.job, _encode(cursor), self.result.rows_written, time.time()),
        )
        self.result.cursor = cursor

    def _ensure_state(self) -> None:
        o = self.o
        o.tgt.execute(
            o.tgt_conn,
            f"CREATE TABLE IF NOT EXISTS {o.tgt.table_sql(self.state)} (job VARCHAR(200) "
            "PRIMARY KEY, cursor_value TEXT, rows_merged BIGINT, updated_at DOUBLE PRECISION)",
        )

    def _checkpoint(self) -> Any:
        o, cursor = self.o, self.plan.cursor
        if cursor is None or o.job.mode != "incremental":
            return None
        if self.ledger is not None and self.ledger.latest() is not None:
            text = self.ledger.cursor()
            return None if text is None else _decode(text, cursor.ltype)
        # no ledger entry yet: a checkpoint kept by an earlier version in the state table
        state, p = o.tgt.table_sql(self.state), o.tgt.param
        if self.ledger is not None and o.tgt.columns(o.tgt_conn, self.state) is None:
            return None
        text = o.tgt.scalar(
            o.tgt_conn, f"SELECT cursor_value FROM {state} WHERE job = {p}", (self.plan.job,)
        )
        return None if text is None else _decode(str(text), cursor.ltype)


def _prefetch(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Read the next batches in a thread while this one is written (at most ``depth`` ahead,
    so memory stays bounded by the batch size)."""
    box: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        box.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
            box.put(None)
        except BaseException as exc:
            box.put(exc)
        finally:
            with suppress(Exception):
                batches.close()  # type: ignore[attr-defined]

    thread = threading.Thread(target=produce, name="portkey-sync-read", daemon=True)
    thread.start()
    try:
        while (item := box.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with suppress(queue.Empty):
                box.get(timeout=0.05)
        thread.join()


def _encode(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return json.dumps(value.isoformat())
    if isinstance(value, Decimal):
        return json.dumps(str(value))
    return json.dumps(value)


def _decode(text: str, ltype: LType) -> Any:
    value = json.loads(text)
    if value is None:
        return None
    if ltype.kind in ("timestamp", "timestamptz"):
        return datetime.fromisoformat(str(value))
    if ltype.kind == "date":
        return date.fromisoformat(str(value))
    if ltype.kind == "decimal":
        return Decimal(str(value))
    return value


def _minus(value: Any, amount: float, ltype: LType) -> Any:
    if not amount:
        return value
    if isinstance(value, datetime | date):
        return value - timedelta(seconds=amount)
    if isinstance(value, Decimal):
        return value - Decimal(str(amount))
    if isinstance(value, int):
        return value - int(amount)
    if isinstance(value, float):
        return value - amount
    return value
