"""The orchestrator service: validate -> plan -> execute, the one door the API and CLI use."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from portkey.errors import GatewayError
from portkey.orchestrator.catalog import Catalog
from portkey.orchestrator.errors import FragmentRefused, TranslationFailed
from portkey.orchestrator.executor import Execution, Executor
from portkey.orchestrator.planner import ALL_RULES, Fragment, Plan, PlanOptions, plan_query
from portkey.orchestrator.settings import DataSettings
from portkey.orchestrator.validate import DEFAULT_DIALECT, bind_params, parse_read_only

#: plans kept for queries asked again (keyed by SQL, params, options and catalog version)
PLAN_CACHE_SIZE = 256
#: re-plans of one query after engines refused fragments (each keeps more work local)
MAX_REPLANS = 3


def _suspects(origins: set[str]) -> set[str]:
    """Of what a refused fragment carried, what the engine most likely could not compile:
    the expressions that call functions (other than CAST); all of them when none does."""
    calls = {
        o
        for o in origins
        if any(
            isinstance(n, exp.Func) and not isinstance(n, exp.Cast)
            for n in sqlglot.parse_one(o).walk()
        )
    }
    return calls or origins


@dataclass(slots=True)
class QueryResult:
    #: the plan as planned (maybe cached, shared by other runs: never changed by this one)
    planned: Plan
    execution: Execution

    @property
    def plan(self) -> Plan:
        """The plan as this run left it: its steps and notes say what the run did."""
        return self.planned.ran(self.execution.record)

    @property
    def table(self) -> pa.Table:
        return self.execution.table

    def stats(self) -> dict[str, Any]:
        ex = self.execution
        return {
            "rows": ex.table.num_rows,
            "truncated": ex.truncated,
            "rows_moved": ex.rows_moved,
            "bytes_moved": ex.bytes_moved,
            "ms": round(ex.seconds * 1000, 2),
            "local_ms": round(ex.local_seconds * 1000, 2),
            "engines": [s.to_dict() for s in ex.stats],
        }


class Orchestrator:
    """One catalog of engines and the way to query them together."""

    def __init__(self, settings: DataSettings, cache_path: Path | None = None) -> None:
        self.settings = settings
        self.catalog = Catalog(settings, cache_path)
        self.executor = Executor(
            self.catalog.engines, settings.semijoin_max_keys, settings.local_memory_limit
        )
        #: plans of recent queries (parsing and optimizing take 10-70 ms), shared as they are:
        #: a run keeps what it does in its ``Execution``, never on the plan
        self._plans: OrderedDict[tuple[Any, ...], Plan] = OrderedDict()
        self._plans_lock = threading.Lock()

    def plan(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        dialect: str = DEFAULT_DIALECT,
        *,
        options: PlanOptions = ALL_RULES,
    ) -> Plan:
        """The query's plan, from the cache when it was asked before: callers share it and
        must not change it (``Executor.run`` does not)."""
        self.catalog.ensure_loaded()
        key = (sql, dialect, repr(params), options, self.catalog.version)
        with self._plans_lock:
            cached = self._plans.get(key)
            if cached is not None:
                self._plans.move_to_end(key)
        if cached is not None:
            return cached
        plan = self._plan(sql, params, dialect, options)
        for fragment in plan.fragments:
            fragment.freeze()
        with self._plans_lock:
            self._plans[key] = plan
            while len(self._plans) > PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        return plan

    def _plan(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] | None,
        dialect: str,
        options: PlanOptions,
    ) -> Plan:
        tree = bind_params(parse_read_only(sql, dialect), params)
        try:
            return plan_query(tree, self.catalog, options)
        except GatewayError:
            raise
        except Exception as exc:  # a shape the planner does not handle: say so, not a 500
            raise TranslationFailed(
                f"cannot plan this query: {type(exc).__name__}: {exc}", code="unplannable"
            ) from exc

    def query(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        timeout_s: float | None = None,
        dialect: str = DEFAULT_DIALECT,
        options: PlanOptions = ALL_RULES,
        cancel: threading.Event | None = None,
    ) -> QueryResult:
        max_rows = min(limit or self.settings.max_rows, self.settings.max_rows)
        timeout = min(timeout_s or self.settings.timeout_s, self.settings.timeout_s)
        notes: list[str] = []
        for attempt in range(MAX_REPLANS + 1):
            plan = self.plan(sql, params, dialect, options=options)
            try:
                execution = self.executor.run(
                    plan, timeout_s=timeout, max_rows=max_rows, cancel=cancel
                )
            except FragmentRefused as exc:
                fragment = exc.fragment
                assert isinstance(fragment, Fragment)
                fresh = _suspects(set(fragment.origins) - options.refused)
                if not fresh or attempt == MAX_REPLANS:
                    raise
                # what the engine could not compile is evaluated locally instead
                notes.append(
                    f"{fragment.engine} refused {fragment.name} ({exc.message}): re-planned"
                )
                options = replace(options, refused=options.refused | fresh)
                continue
            execution.record.notes[:0] = notes
            return QueryResult(plan, execution)
        raise AssertionError("unreachable")
