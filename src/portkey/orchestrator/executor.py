"""Run a plan: fragments concurrently on their engines (threads), then the local DuckDB step.

A fragment with semi-join edges waits for its sources, then gets ``col IN (<distinct keys>)``
when the keys are few enough (``data.semijoin_max_keys``); otherwise it runs unreduced.
Fragment answers are registered in a private DuckDB connection as Arrow tables and the local
step joins/aggregates them there. One deadline covers the whole query: past it every engine
still running is cancelled and the answer is a 504 saying what ran. When one fragment fails,
the others are cancelled and its error (503 naming an unreachable engine) is the answer.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from portkey.errors import GatewayError, InvalidRequest
from portkey.orchestrator.engines import Engine, Fetched
from portkey.orchestrator.engines.base import conform
from portkey.orchestrator.errors import EngineFailed, FragmentRefused, QueryTimeout
from portkey.orchestrator.planner import Fragment, Plan


@dataclass(slots=True)
class FragmentStats:
    name: str
    engine: str
    sql: str
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    semijoin_keys: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fragment": self.name,
            "engine": self.engine,
            "sql": self.sql,
            "rows": self.rows,
            "bytes": self.bytes,
            "ms": round(self.seconds * 1000, 2),
            "semijoin_keys": self.semijoin_keys,
        }


@dataclass(slots=True)
class Execution:
    table: pa.Table
    truncated: bool
    stats: list[FragmentStats] = field(default_factory=list)
    local_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def rows_moved(self) -> int:
        return sum(s.rows for s in self.stats)

    @property
    def bytes_moved(self) -> int:
        return sum(s.bytes for s in self.stats)


def _in_list(values: pa.Array, column: exp.Column) -> exp.Expr:
    if len(values) == 0:
        return exp.false()
    items = [exp.convert(v) for v in values.to_pylist()]
    return exp.In(this=column.copy(), expressions=items)


class Executor:
    def __init__(
        self,
        engines: Mapping[str, Engine],
        semijoin_max_keys: int,
        memory_limit: str = "4GB",
    ) -> None:
        self.engines = engines
        self.semijoin_max_keys = semijoin_max_keys
        self.memory_limit = memory_limit
        self._local_handle: duckdb.DuckDBPyConnection | None = None
        self._local_lock = threading.Lock()

    def _local_db(self) -> duckdb.DuckDBPyConnection:
        """One in-memory DuckDB for every local step (a cursor each: private views).

        Opening a DuckDB costs ~20 ms, a cursor well under one. Its memory is bounded and
        big intermediates spill to a temporary directory instead of failing.
        """
        with self._local_lock:
            if self._local_handle is None:
                spill = Path(tempfile.gettempdir()) / f"portkey-duckdb-{os.getpid()}"
                db = duckdb.connect(
                    config={"memory_limit": self.memory_limit, "temp_directory": str(spill)}
                )
                # the local step sees only the fragments' Arrow tables: no files, no network
                db.execute("SET enable_external_access = false")
                db.execute("SET lock_configuration = true")
                self._local_handle = db
            return self._local_handle

    def run(
        self,
        plan: Plan,
        *,
        timeout_s: float,
        max_rows: int,
        cancel: threading.Event | None = None,
    ) -> Execution:
        """Run ``plan``; setting ``cancel`` (the client went away) stops every engine."""
        start = time.perf_counter()
        deadline = start + timeout_s
        results, stats = self._fragments(plan, deadline, cancel or threading.Event())
        local_start = time.perf_counter()
        if plan.passthrough:
            table = results[plan.fragments[0].name]
            truncated = table.num_rows > max_rows
            table = table.slice(0, max_rows)
        else:
            table, truncated = self._local(plan, results, deadline, max_rows)
        done = time.perf_counter()
        return Execution(table, truncated, stats, done - local_start, done - start)

    # -- fragments ------------------------------------------------------------------------
    def _reduction(
        self, fragment: Fragment, results: Mapping[str, pa.Table], stat: FragmentStats
    ) -> exp.Expr | None:
        conds: list[exp.Expr] = []
        for edge in fragment.semijoins:
            keys = pc.unique(results[edge.source].column(edge.source_column).drop_null())
            if len(keys) <= self.semijoin_max_keys:
                conds.append(_in_list(keys, edge.target_column))
                stat.semijoin_keys = (stat.semijoin_keys or 0) + len(keys)
        return exp.and_(*conds) if conds else None

    def _fetch(self, fragment: Fragment, sql: str, deadline: float) -> Fetched:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise QueryTimeout("the query ran out of time before this fragment started")
        fetched = self.engines[fragment.engine].fetch(sql, left)
        fetched.table = conform(fetched.table, fragment.types)
        return fetched

    def _fragments(
        self, plan: Plan, deadline: float, cancel: threading.Event
    ) -> tuple[dict[str, pa.Table], list[FragmentStats]]:
        results: dict[str, pa.Table] = {}
        stats = {f.name: FragmentStats(f.name, f.engine, f.sql()) for f in plan.fragments}
        waiting = list(plan.fragments)
        running: dict[Future[Fetched], Fragment] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, len(plan.fragments)))
        try:
            while waiting or running:
                for fragment in [f for f in waiting if _ready(f, results)]:
                    waiting.remove(fragment)
                    extra = self._reduction(fragment, results, stats[fragment.name])
                    sql = fragment.sql(extra)
                    stats[fragment.name].sql = sql
                    running[pool.submit(self._fetch, fragment, sql, deadline)] = fragment
                left = deadline - time.perf_counter()
                step = max(0.0, min(left, _CANCEL_POLL_S))
                done, _ = wait(list(running), timeout=step, return_when=FIRST_COMPLETED)
                if cancel.is_set():
                    raise QueryCancelled("the client went away: every engine was cancelled")
                if not done and time.perf_counter() >= deadline:
                    raise QueryTimeout(_timeout_message(stats, running.values(), results))
                for future in done:
                    fragment = running.pop(future)
                    try:
                        fetched = future.result()
                    except EngineFailed as exc:
                        raise FragmentRefused(exc, fragment) from exc
                    results[fragment.name] = fetched.table
                    stat = stats[fragment.name]
                    stat.rows, stat.bytes, stat.seconds = (
                        fetched.rows,
                        fetched.bytes,
                        fetched.seconds,
                    )
        except BaseException:
            for name in {f.engine for f in running.values()}:
                threading.Thread(target=self.engines[name].cancel, daemon=True).start()
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return results, list(stats.values())

    # -- the local step -------------------------------------------------------------------
    def _local(
        self, plan: Plan, results: Mapping[str, pa.Table], deadline: float, max_rows: int
    ) -> tuple[pa.Table, bool]:
        con = self._local_db().cursor()
        try:
            for name, table in results.items():
                con.register(name, table)
            left = deadline - time.perf_counter()
            timer = threading.Timer(max(0.0, left), con.interrupt)
            timer.start()
            try:
                reader = con.sql(plan.local.sql(dialect="duckdb")).to_arrow_reader(65536)
                batches: list[pa.RecordBatch] = []
                rows = 0
                truncated = False
                for batch in reader:
                    if rows + batch.num_rows > max_rows:
                        batches.append(batch.slice(0, max_rows - rows))
                        truncated = True
                        break
                    batches.append(batch)
                    rows += batch.num_rows
                table = pa.Table.from_batches(batches, schema=reader.schema)
            except duckdb.InterruptException as exc:
                raise QueryTimeout("the query timed out in the local join step") from exc
            except (duckdb.BinderException, duckdb.ConversionException) as exc:
                # a type or name problem of the query itself (e.g. text compared with a date)
                raise InvalidRequest(
                    f"the query failed in the local step: {_first_line(exc)}",
                    code="local_step_failed",
                    param="sql",
                ) from exc
            except duckdb.Error as exc:
                raise GatewayError(
                    f"the local step failed: {_first_line(exc)}", code="local_step_failed"
                ) from exc
            finally:
                timer.cancel()
            return table, truncated
        finally:
            con.close()


#: how often a running query looks whether its client went away
_CANCEL_POLL_S = 0.1


class QueryCancelled(GatewayError):
    """The caller gave up (disconnected); 499 as nginx logs it, never seen by that caller."""

    status = 499
    type = "query_cancelled"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__


def _ready(fragment: Fragment, results: Mapping[str, pa.Table]) -> bool:
    return all(edge.source in results for edge in fragment.semijoins)


def _timeout_message(
    stats: Mapping[str, FragmentStats], running: Any, results: Mapping[str, pa.Table]
) -> str:
    done = ", ".join(f"{n} on {s.engine}" for n, s in stats.items() if n in results) or "none"
    still = ", ".join(f"{f.name} on {f.engine}" for f in running) or "none"
    return f"query timed out: finished {done}; still running (cancelled) {still}"
