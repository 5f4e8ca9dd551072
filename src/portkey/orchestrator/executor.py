"""Run a plan: fragments concurrently on their engines (threads), then the local DuckDB step.

A fragment with semi-join edges waits for its sources, then gets ``col IN (<distinct keys>)``
(written into its SQL as text, not as sqlglot nodes) when the keys are few enough
(``data.semijoin_max_keys``; an engine that reads a table in place, DuckDB, gets a long list
as a view of an Arrow table instead), or ``col >= <value>`` from a one-row source (a bound); past
that many keys, when its engine may create temporary tables, the keys are shipped into one
there (``shipping``) and the fragment reads
``col IN (SELECT k FROM <temp table>)`` on the same session; otherwise it runs unreduced.
When the plan has a join site and the keys exceed the IN-list limit, the other fragments'
answers are shipped whole to the big side's engine and the local step runs there instead: its
answer is the answer (if the engine refuses that SQL, keys are shipped as above). What is
shipped to an engine counts as moved rows and bytes.
Fragment answers are registered in a private DuckDB connection as Arrow tables and the local
step joins/aggregates them there. One deadline covers the whole query: past it every engine
still running is cancelled and the answer is a 504 saying what ran. When one fragment fails,
the others are cancelled and its error (503 naming an unreachable engine) is the answer.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
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
from portkey.orchestrator.planner import Fragment, Plan, SemiJoin
from portkey.orchestrator.planner.plan import RunRecord
from portkey.orchestrator.planner.site import site_sql
from portkey.orchestrator.shipping import (
    SITE_MAX_BYTES,
    KeyList,
    Shipment,
    ShipmentRefused,
    describe,
    key_filter,
    key_list,
    ship,
    ship_rows,
)

#: where the answer of a join site is kept among the fragments' results
_SITE = "_site"


@dataclass(slots=True)
class FragmentStats:
    name: str
    engine: str
    sql: str
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    semijoin_keys: int | None = None
    #: keys loaded into temporary tables on this fragment's engine (moved *to* it)
    shipped_rows: int = 0
    shipped_bytes: int = 0
    #: this fragment's engine ran the join and aggregates (its answer is the answer)
    join_site: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "fragment": self.name,
            "engine": self.engine,
            "sql": self.sql,
            "rows": self.rows,
            "bytes": self.bytes,
            "ms": round(self.seconds * 1000, 2),
            "semijoin_keys": self.semijoin_keys,
            "shipped_rows": self.shipped_rows,
            "shipped_bytes": self.shipped_bytes,
            "join_site": self.join_site,
        }


@dataclass(slots=True)
class _Run:
    """One run's own state: the plan it runs is shared (cached) and never written."""

    plan: Plan
    deadline: float
    stats: dict[str, FragmentStats]
    #: fragment name (or ``_SITE``) -> its answer, written by the coordinating thread only
    results: dict[str, pa.Table] = field(default_factory=dict)
    record: RunRecord = field(default_factory=RunRecord)

    def shipped(self, fragment: Fragment, index: int, what: str) -> None:
        """Record what became of the keys of ``fragment``'s edge number ``index``."""
        self.record.edges[(fragment.name, index)] = what


@dataclass(slots=True)
class Execution:
    table: pa.Table
    truncated: bool
    stats: list[FragmentStats] = field(default_factory=list)
    local_seconds: float = 0.0
    seconds: float = 0.0
    #: what this run did with keys and the join site (``Plan.ran`` shows it as steps)
    record: RunRecord = field(default_factory=RunRecord)

    @property
    def rows_moved(self) -> int:
        return sum(s.rows + s.shipped_rows for s in self.stats)

    @property
    def bytes_moved(self) -> int:
        return sum(s.bytes + s.shipped_bytes for s in self.stats)


#: fragments running at once in one process, over every query and executor
FRAGMENT_THREADS = 64
#: runs the fragments: starting threads per query cost ~1 ms a fragment; a job never waits
#: on another, so a busy pool only queues, never deadlocks (threads start as needed)
_POOL = ThreadPoolExecutor(max_workers=FRAGMENT_THREADS, thread_name_prefix="fragment")


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
        stats = {f.name: FragmentStats(f.name, f.engine, f.sql()) for f in plan.fragments}
        run = _Run(plan, start + timeout_s, stats)
        self._fragments(run, cancel or threading.Event())
        results = run.results
        local_start = time.perf_counter()
        if plan.passthrough or _SITE in results:
            table = results[_SITE if _SITE in results else plan.fragments[0].name]
            truncated = table.num_rows > max_rows
            table = table.slice(0, max_rows)
        else:
            table, truncated = self._local(plan, results, run.deadline, max_rows)
        done = time.perf_counter()
        return Execution(
            table, truncated, list(stats.values()), done - local_start, done - start, run.record
        )

    # -- fragments ------------------------------------------------------------------------
    def _reduction(
        self, run: _Run, fragment: Fragment, temp: bool = True
    ) -> tuple[exp.Expr | None, list[Shipment], list[KeyList]]:
        """The fragment's key filters, the temporary tables they read (``temp``) and the key
        lists whose placeholders they carry (``_sql`` fills them in)."""
        conds: list[exp.Expr] = []
        shipments: list[Shipment] = []
        lists: list[KeyList] = []
        engine = self.engines[fragment.engine]
        results, stat = run.results, run.stats[fragment.name]
        stat.semijoin_keys, stat.shipped_rows, stat.shipped_bytes = None, 0, 0
        for index, edge in enumerate(fragment.semijoins):
            shipped = partial(run.shipped, fragment, index)
            if edge.bound is not None:
                cond = _bound(results[edge.source], edge)
                conds += [cond] if cond is not None else []
                shipped(
                    f"bounded {fragment.name} on engine {fragment.engine} by the one value "
                    f"of {edge.source}: {cond.sql() if cond is not None else 'none'}"
                )
                continue
            keys = pc.unique(results[edge.source].column(edge.source_column).drop_null())
            if len(keys) == 0:
                conds.append(exp.false())
                stat.semijoin_keys = stat.semijoin_keys or 0
                shipped(f"{edge.source} has no keys: {fragment.name} answers no rows")
            elif len(keys) <= self.semijoin_max_keys and temp and _viewed(engine, len(keys)):
                # read in place (no wire, no write): counted as a key list, not as bytes
                shipment = ship(edge.source, keys)
                shipments.append(shipment)
                conds.append(key_filter(shipment, edge.target_column))
                stat.semijoin_keys = (stat.semijoin_keys or 0) + len(keys)
                shipped(
                    f"sent {len(keys)} keys of {edge.source} to {fragment.name} on engine "
                    f"{fragment.engine} as a view of an Arrow table ({shipment.name})"
                )
            elif len(keys) <= self.semijoin_max_keys:
                lists.append(key_list(keys))
                conds.append(lists[-1].filter(edge.target_column))
                stat.semijoin_keys = (stat.semijoin_keys or 0) + len(keys)
                shipped(
                    f"sent {len(keys)} keys of {edge.source} to {fragment.name} on engine "
                    f"{fragment.engine} as an IN-list"
                )
            elif temp and edge.temp_table and engine.temp_tables:
                shipment = ship(edge.source, keys)
                shipments.append(shipment)
                conds.append(key_filter(shipment, edge.target_column))
                stat.semijoin_keys = (stat.semijoin_keys or 0) + len(keys)
                stat.shipped_rows += shipment.rows
                stat.shipped_bytes += shipment.nbytes
                shipped(describe(shipment, fragment.name, fragment.engine))
            else:
                shipped(
                    f"{len(keys)} keys of {edge.source} exceed data.semijoin_max_keys "
                    f"({self.semijoin_max_keys}): {fragment.name} ran unreduced"
                )
        return (exp.and_(*conds) if conds else None), shipments, lists

    def _job(self, run: _Run, fragment: Fragment) -> Callable[[], Fetched]:
        """What to run for ``fragment`` now that its sources are done."""
        site = run.plan.join_site
        if site is not None and site.fragment == fragment.name:
            shipments = self._site_shipments(run, fragment)
            if shipments:
                stat = run.stats[fragment.name]
                sql = site_sql(run.plan, site, {s.source: s.name for s in shipments})
                stat.sql, stat.join_site = sql, True
                stat.shipped_rows = sum(s.rows for s in shipments)
                stat.shipped_bytes = sum(s.nbytes for s in shipments)
                ran = "; ".join(describe(s, "the join", fragment.engine) for s in shipments)
                run.record.site = (
                    f"{ran}; the join and aggregates ran there, next to {fragment.name}"
                )
                for index, edge in enumerate(fragment.semijoins):
                    what = f"{edge.source} went whole to the join site on {site.engine}"
                    run.shipped(fragment, index, what)
                return partial(self._fetch_site, run, fragment, sql, shipments)
        return partial(self._fetch_reduced, run, fragment)

    def _fetch_reduced(self, run: _Run, fragment: Fragment) -> Fetched:
        """The fragment with its key filters; if the engine would not take the temporary
        table (the role may not create one), without the keys that needed it."""
        stat = run.stats[fragment.name]
        extra, shipments, lists = self._reduction(run, fragment)
        stat.sql = _sql(fragment, extra, lists)
        try:
            return self._fetch(fragment, stat.sql, run.deadline, shipments)
        except ShipmentRefused as exc:
            extra, _, lists = self._reduction(run, fragment, temp=False)
            edges = run.record.edges
            for index in range(len(fragment.semijoins)):
                what = edges.get((fragment.name, index))
                if what and what.endswith("ran unreduced"):
                    run.shipped(fragment, index, f"{what} ({exc.message})")
            stat.sql = _sql(fragment, extra, lists)
            return self._fetch(fragment, stat.sql, run.deadline, [])

    def _site_shipments(self, run: _Run, fragment: Fragment) -> list[Shipment]:
        """The other fragments' answers to ship whole, or none (the join stays here)."""
        results = run.results
        others = [f.name for f in run.plan.fragments if f.name != fragment.name]
        keys = [
            len(pc.unique(results[e.source].column(e.source_column).drop_null()))
            for e in fragment.semijoins
        ]
        size = sum(results[n].nbytes for n in others)
        if all(k <= self.semijoin_max_keys for k in keys):
            run.record.site = "join site not used: the keys fit an IN-list"
            return []
        if size > SITE_MAX_BYTES or not self.engines[fragment.engine].temp_tables:
            run.record.site = f"join site not used: the small sides hold {size} bytes"
            return []
        return [ship_rows(n, results[n]) for n in others]

    def _fetch_site(
        self, run: _Run, fragment: Fragment, sql: str, shipments: list[Shipment]
    ) -> Fetched:
        """The local step on the big side's engine; if the engine refuses it, keys instead."""
        site = run.plan.join_site
        assert site is not None
        left = run.deadline - time.perf_counter()
        if left <= 0:
            raise QueryTimeout("the query ran out of time before the join site started")
        try:
            fetched = self.engines[fragment.engine].fetch(sql, left, shipments)
        except EngineFailed as exc:
            run.record.site = (
                f"join site on {site.engine} refused ({exc.message}): the join ran here"
            )
            run.stats[fragment.name].join_site = False
            return self._fetch_reduced(run, fragment)
        table = fetched.table
        named = run.plan.local.named_selects
        if len(named) == table.num_columns:
            table = table.rename_columns(named)
        fetched.table = conform(table, site.types)
        return fetched

    def _fetch(
        self, fragment: Fragment, sql: str, deadline: float, shipments: list[Shipment]
    ) -> Fetched:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise QueryTimeout("the query ran out of time before this fragment started")
        fetched = self.engines[fragment.engine].fetch(sql, left, shipments)
        fetched.table = conform(fetched.table, fragment.types)
        return fetched

    def _fragments(self, run: _Run, cancel: threading.Event) -> None:
        """Run every fragment, each once its sources are done; fills ``run.results``."""
        plan, results, stats, deadline = run.plan, run.results, run.stats, run.deadline
        waiting = list(plan.fragments)
        running: dict[Future[Fetched], Fragment] = {}
        pool = _POOL
        try:
            while waiting or running:
                for fragment in [f for f in waiting if _ready(plan, f, results)]:
                    waiting.remove(fragment)
                    running[pool.submit(self._job(run, fragment))] = fragment
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
                    stat = stats[fragment.name]
                    results[_SITE if stat.join_site else fragment.name] = fetched.table
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
            for future in running:  # not started yet: never starts (started ones were cancelled)
                future.cancel()

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


def _viewed(engine: Engine, keys: int) -> bool:
    """Whether ``keys`` join keys go to ``engine`` as a table it reads in place."""
    above = engine.view_keys_above
    return above is not None and keys > above


def _bound(table: pa.Table, edge: SemiJoin) -> exp.Expr | None:
    """``target >= value`` (or ``<=``) from a one-row answer; FALSE when it is NULL or
    empty (the comparison then holds for no row); None when there is nothing to bound by."""
    values = table.column(edge.source_column).to_pylist()
    if len(values) > 1:
        return None
    if not values or values[0] is None:
        return exp.false()
    value = values[0]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    node = exp.GTE if edge.bound == ">=" else exp.LTE
    return node(this=edge.target_column.copy(), expression=exp.convert(value))


def _sql(fragment: Fragment, extra: exp.Expr | None, lists: list[KeyList]) -> str:
    """The fragment's SQL with its key filters, the key lists written in as text."""
    sql = fragment.sql(extra)
    for keys in lists:
        sql = keys.fill(sql, fragment.dialect)
    return sql


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__


def _ready(plan: Plan, fragment: Fragment, results: Mapping[str, pa.Table]) -> bool:
    if plan.join_site is not None and plan.join_site.fragment == fragment.name:
        # a join site needs every other fragment's answer (they may all be shipped there)
        return all(f.name in results for f in plan.fragments if f is not fragment)
    return all(edge.source in results for edge in fragment.semijoins)


def _timeout_message(
    stats: Mapping[str, FragmentStats], running: Any, results: Mapping[str, pa.Table]
) -> str:
    done = ", ".join(f"{n} on {s.engine}" for n, s in stats.items() if n in results) or "none"
    still = ", ".join(f"{f.name} on {f.engine}" for f in running) or "none"
    return f"query timed out: finished {done}; still running (cancelled) {still}"
