"""The engine interface: introspect a catalog, run one read-only subquery, return Arrow.

Every adapter is a subclass with its sqlglot dialect and three small methods. Drivers are
synchronous; the executor runs ``fetch`` in threads and calls ``cancel`` from another thread
when the query times out or a sibling branch fails. Driver exceptions are mapped here, at the
boundary: cannot connect -> ``EngineUnavailable`` (503), statement timeout -> ``QueryTimeout``
(504), anything else the engine refuses -> ``EngineFailed`` (502).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import pyarrow as pa
from sqlglot import exp

from portkey.orchestrator.errors import EngineFailed, EngineUnavailable
from portkey.orchestrator.settings import _Engine
from portkey.orchestrator.shipping import Shipment, ShipmentRefused

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    #: the type in DuckDB's spelling (the planner's lingua franca), e.g. ``DECIMAL(15, 2)``
    type: str


@dataclass(frozen=True, slots=True)
class TableInfo:
    engine: str
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    #: the engine's own row-count estimate (statistics), None when it has none
    rows: int | None = None
    #: columns the engine partitions the table by (a filter on them prunes partitions)
    partition_keys: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.engine}.{self.schema}.{self.name}"

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "schema": self.schema,
            "name": self.name,
            "qualified": self.qualified,
            "rows_estimate": self.rows,
            "partition_keys": list(self.partition_keys),
            "columns": [{"name": c.name, "type": c.type} for c in self.columns],
        }


@dataclass(slots=True)
class Fetched:
    """One subquery's answer and what it cost to move."""

    table: pa.Table
    seconds: float
    rows: int = field(init=False)
    bytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.rows = self.table.num_rows
        self.bytes = self.table.nbytes


def duckdb_type(type_sql: str, dialect: str) -> str:
    """A type name as an engine spells it, in DuckDB's spelling (unknown types -> TEXT)."""
    try:
        return exp.DataType.build(type_sql, dialect=dialect).sql("duckdb")
    except Exception:
        return "TEXT"


_ARROW_TYPES: dict[str, pa.DataType] = {
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "BIGINT": pa.int64(),
    "INT": pa.int32(),
    "SMALLINT": pa.int16(),
    "DOUBLE": pa.float64(),
    "REAL": pa.float32(),
    "FLOAT": pa.float32(),
    "TEXT": pa.string(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
}


def rows_to_arrow(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Rows of Python values (a DB-API cursor's) as an Arrow table; types are inferred."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [values_to_array(list(col)) for col in columns]
    return pa.Table.from_arrays(arrays, names=list(names))


def values_to_array(values: list[Any]) -> pa.Array:
    """Python values as one Arrow array (type inferred; a numeric NaN makes it double)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # a numeric NaN/Infinity: no Arrow decimal holds it, a double does
        if all(v is None or isinstance(v, Decimal) for v in values):
            return pa.array([None if v is None else float(v) for v in values], pa.float64())
        raise


def conform(table: pa.Table, types: Mapping[str, str]) -> pa.Table:
    """Cast columns an engine returned loosely (dates as text, empty as NULL) to planned types."""
    for i, name in enumerate(table.column_names):
        want = _ARROW_TYPES.get(types.get(name, "").split("(")[0].upper())
        have = table.schema.field(i).type
        if want is None or have == want:
            continue
        loose = pa.types.is_null(have) or (pa.types.is_string(have) and pa.types.is_temporal(want))
        if loose or (pa.types.is_integer(have) and pa.types.is_integer(want)):
            table = table.set_column(i, name, table.column(i).cast(want))
    return table


class Engine(ABC):
    """One configured engine: its name, dialect and a way to run SQL on it."""

    dialect: str = "duckdb"
    #: errors of the driver that mean "could not reach the engine"
    unreachable: tuple[type[BaseException], ...] = ()
    #: the adapter can load shipped join keys into a session-scoped temporary table
    holds_keys: bool = False
    #: key lists longer than this go to the engine as a table it reads in place (nothing is
    #: written, so ``temp_tables`` is not needed): DuckDB views an Arrow table, where a long
    #: IN-list costs it more to parse than the query itself. None: key lists go as SQL text
    view_keys_above: int | None = None
    #: connections kept for the next fetch once one ends cleanly (0: a new one each time);
    #: an adapter sets it when ``_reusable`` can tell a clean connection
    pool_size: int = 0
    #: seconds an idle pooled connection may wait before it is closed instead of reused
    pool_idle_s: float = 60.0

    def __init__(self, name: str, settings: _Engine) -> None:
        self.name = name
        self.settings = settings
        self._active: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._pool_idle: list[tuple[float, Any]] = []
        #: connections a fetch left unclean (a temporary table it could not drop)
        self._dirty: set[int] = set()

    # -- what an adapter implements --------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection, read-only where the engine has a way to say so."""

    @abstractmethod
    def _run(self, conn: Any, sql: str, timeout_s: float) -> pa.Table:
        """Run one SELECT on ``conn`` with a statement timeout and return it as Arrow."""

    @abstractmethod
    def _introspect(self, conn: Any) -> list[TableInfo]:
        """Every table (and view) of the configured schemas, with columns and row estimates."""

    def _interrupt(self, conn: Any) -> None:
        """Cancel what ``conn`` is running (called from another thread)."""
        conn.interrupt()

    def _is_timeout(self, exc: BaseException) -> bool:
        return False

    def _reusable(self, conn: Any) -> bool:
        """Whether ``conn``, after a fetch that ended without an error, is clean for the next
        one (no open transaction, no temporary table left, not broken)."""
        return False

    def _alive(self, conn: Any) -> bool:
        """Whether an idle pooled connection may still be used (checked without a round trip
        where the adapter can, e.g. the server closed the socket)."""
        return True

    def _load_keys(self, conn: Any, shipment: Shipment, timeout_s: float) -> None:
        """Create ``shipment.name`` as a temporary table of this session and load its keys."""
        raise NotImplementedError(f"{type(self).__name__} cannot hold shipped keys")

    def _drop_keys(self, conn: Any, shipment: Shipment) -> None:
        """Drop the temporary table (the session's end would, too; this is the prompt way)."""
        raise NotImplementedError(f"{type(self).__name__} cannot hold shipped keys")

    @property
    def temp_tables(self) -> bool:
        """Whether shipped keys may go into a temporary table here (adapter and settings)."""
        return self.holds_keys and self.settings.temp_tables

    def may_hold(self, shipment: Shipment) -> bool:
        """Whether ``shipment`` may be loaded here: into a temporary table, or (keys) viewed."""
        return self.temp_tables or (shipment.keys and self.view_keys_above is not None)

    # -- shared ---------------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self._pooled()
        if conn is None:
            try:
                conn = self._connect()
            except self.unreachable as exc:
                raise EngineUnavailable(
                    f"engine {self.name!r} is unreachable: {_first_line(exc)}",
                    code="engine_unavailable",
                    param=self.name,
                ) from exc
        key = id(conn)
        with self._lock:
            self._active[key] = conn
        clean = False
        try:
            yield conn
            clean = True
        finally:
            with self._lock:
                self._active.pop(key, None)
            if not (clean and self._give_back(conn)):
                with suppress(Exception):
                    conn.close()

    def _pooled(self) -> Any:
        """An idle pooled connection, or None (stale ones are closed on the way)."""
        now = time.monotonic()
        stale, found = [], None
        with self._lock:
            stale = [c for t, c in self._pool_idle if now - t > self.pool_idle_s]
            self._pool_idle = [(t, c) for t, c in self._pool_idle if now - t <= self.pool_idle_s]
            while self._pool_idle and found is None:
                _, conn = self._pool_idle.pop()
                if self._check_alive(conn):
                    found = conn
                else:
                    stale.append(conn)
        for conn in stale:
            with suppress(Exception):
                conn.close()
        return found

    def _check_alive(self, conn: Any) -> bool:
        try:
            return self._alive(conn)
        except Exception:
            return False

    def _give_back(self, conn: Any) -> bool:
        if not self.pool_size or id(conn) in self._dirty:
            self._dirty.discard(id(conn))
            return False
        try:
            if not self._reusable(conn):
                return False
        except Exception:
            return False
        with self._lock:
            if len(self._pool_idle) >= self.pool_size:
                return False
            self._pool_idle.append((time.monotonic(), conn))
        return True

    def close_idle(self) -> None:
        """Close every pooled connection (the engine stays usable)."""
        with self._lock:
            idle, self._pool_idle = self._pool_idle, []
        for _, conn in idle:
            with suppress(Exception):
                conn.close()

    def _guard(self, call: Callable[[], T]) -> T:
        from portkey.orchestrator.errors import QueryTimeout

        try:
            return call()
        except (EngineUnavailable, EngineFailed, QueryTimeout):
            raise
        except Exception as exc:
            if self._is_timeout(exc):
                raise QueryTimeout(
                    f"engine {self.name!r} hit its statement timeout", param=self.name
                ) from exc
            if isinstance(exc, self.unreachable):
                raise EngineUnavailable(
                    f"engine {self.name!r} is unreachable: {_first_line(exc)}",
                    code="engine_unavailable",
                    param=self.name,
                ) from exc
            raise EngineFailed(
                f"engine {self.name!r} failed: {_first_line(exc)}", param=self.name
            ) from exc

    def fetch(
        self, sql: str, timeout_s: float | None = None, shipments: Sequence[Shipment] = ()
    ) -> Fetched:
        """Run ``sql`` (already in this engine's dialect) and return its rows as Arrow.

        ``shipments`` are loaded first into temporary tables of the same session (``sql``
        reads them); they are dropped afterwards whatever happens (timeout, cancel, error).
        """
        if not all(map(self.may_hold, shipments)):
            raise EngineFailed(
                f"engine {self.name!r} may not create temporary tables", param=self.name
            )
        limit = min(
            timeout_s or self.settings.statement_timeout_s, self.settings.statement_timeout_s
        )
        start = time.perf_counter()

        def run() -> pa.Table:
            with self._connection() as conn:
                loaded: list[Shipment] = []
                try:
                    for shipment in shipments:
                        loaded.append(shipment)  # a half-made table is dropped too
                        self._ship(conn, shipment, limit)
                    return self._run(conn, sql, limit)
                finally:
                    for shipment in loaded:
                        try:
                            self._drop_keys(conn, shipment)
                        except Exception:
                            self._dirty.add(id(conn))  # never handed out again

        table = self._guard(run)
        return Fetched(table, time.perf_counter() - start)

    def _ship(self, conn: Any, shipment: Shipment, timeout_s: float) -> None:
        try:
            self._load_keys(conn, shipment, timeout_s)
        except Exception as exc:
            if self._is_timeout(exc) or isinstance(exc, self.unreachable):
                raise
            raise ShipmentRefused(
                f"engine {self.name!r} would not take temporary table {shipment.name}: "
                f"{_first_line(exc)}",
                code="temp_table_refused",
                param=self.name,
            ) from exc

    def explain(self, sql: str, timeout_s: float | None = None) -> pa.Table:
        """The engine's own plan for ``sql`` (a validated read-only query): it is compiled,
        names and functions are checked by the engine, nothing is run."""
        return self.fetch(f"EXPLAIN {sql}", timeout_s).table

    def introspect(self) -> list[TableInfo]:
        def run() -> list[TableInfo]:
            with self._connection() as conn:
                return self._introspect(conn)

        return self._guard(run)

    def cancel(self) -> None:
        """Cancel every statement this engine is running for us (best effort)."""
        with self._lock:
            conns = list(self._active.values())
        for conn in conns:
            with suppress(Exception):
                self._interrupt(conn)

    def wanted(self, schema: str) -> bool:
        allowed = self.settings.schemas
        return allowed is None or schema in allowed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
