"""The catalog: every table of every configured engine, introspected once and cached.

Tables are addressed as ``engine.schema.table``; ``schema.table`` and ``table`` work when
they name one table only. Unknown or ambiguous names are 400s that name the closest
catalog entries. ``refresh()`` introspects every engine concurrently; an engine that cannot
be reached keeps its last known tables and reports its error. With a ``cache_path`` the
introspected catalog is kept in a JSON file (per engine, keyed by a fingerprint of its
settings) so a restart or another process (``portkey catalog refresh``) shares it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portkey.errors import GatewayError
from portkey.orchestrator.engines import ColumnInfo, Engine, TableInfo, create_engine
from portkey.orchestrator.errors import UnknownName
from portkey.orchestrator.keys import Keys, resolve_keys
from portkey.orchestrator.settings import DataSettings


@dataclass(slots=True)
class EngineState:
    engine: Engine
    tables: list[TableInfo] = field(default_factory=list)
    error: str | None = None
    refreshed_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.engine.name,
            "type": self.engine.settings.type,  # type: ignore[attr-defined]
            "dialect": self.engine.dialect,
            "tables": len(self.tables),
            "error": self.error,
            "refreshed_at": self.refreshed_at,
        }


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The catalog names nearest to ``name`` (also matching on the last dotted part)."""
    pool = list(dict.fromkeys(candidates))
    by_tail: dict[str, str] = {c.rsplit(".", 1)[-1]: c for c in pool}
    tail = name.rsplit(".", 1)[-1]
    found = difflib.get_close_matches(name, pool, n=n, cutoff=0.5)
    for t in difflib.get_close_matches(tail, list(by_tail), n=n, cutoff=0.5):
        if by_tail[t] not in found:
            found.append(by_tail[t])
    return found[:n]


def _suggest(found: list[str]) -> str:
    return f"; did you mean {', '.join(found)}?" if found else ""


class Catalog:
    """Engines by name and the tables they hold."""

    def __init__(self, settings: DataSettings, cache_path: Path | None = None) -> None:
        self.settings = settings
        self.cache_path = cache_path
        self.states: dict[str, EngineState] = {
            name: EngineState(create_engine(name, cfg)) for name, cfg in settings.engines.items()
        }
        self._lock = threading.Lock()
        self._loaded = False
        #: bumped whenever the tables may have changed (plans made before are stale)
        self.version = 0
        self._keys: tuple[int, Keys] | None = None

    def _fingerprint(self, name: str) -> str:
        cfg = self.settings.engines[name].model_dump_json()
        return hashlib.sha256(f"{name}:{cfg}".encode()).hexdigest()[:16]

    def _read_cache(self) -> set[str]:
        """Engines whose tables came from the cache file (unchanged settings)."""
        if self.cache_path is None or not self.cache_path.is_file():
            return set()
        try:
            data = json.loads(self.cache_path.read_text())
        except (OSError, ValueError):
            return set()
        found = set()
        for name, state in self.states.items():
            entry = data.get(name)
            if not entry or entry.get("fingerprint") != self._fingerprint(name):
                continue
            state.tables = [_table_from(name, t) for t in entry["tables"]]
            state.refreshed_at = entry.get("refreshed_at")
            found.add(name)
        return found

    def _write_cache(self) -> None:
        if self.cache_path is None:
            return
        try:
            data = json.loads(self.cache_path.read_text()) if self.cache_path.is_file() else {}
        except (OSError, ValueError):
            data = {}
        data |= {
            name: {
                "fingerprint": self._fingerprint(name),
                "refreshed_at": s.refreshed_at,
                "tables": [t.to_dict() for t in s.tables],
            }
            for name, s in self.states.items()
            if s.error is None
        }
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.cache_path)

    @property
    def engines(self) -> dict[str, Engine]:
        return {name: s.engine for name, s in self.states.items()}

    def refresh(self, names: Iterable[str] | None = None) -> dict[str, EngineState]:
        """Introspect the named engines (all by default) concurrently."""
        wanted = [self.states[n] for n in (names or self.states)]

        def one(state: EngineState) -> None:
            try:
                state.tables = state.engine.introspect()
                state.error = None
            except GatewayError as exc:
                state.error = exc.message
            state.refreshed_at = time.time()

        with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
            list(pool.map(one, wanted))
        self._loaded = True
        self.version += 1
        self._write_cache()
        return self.states

    def ensure_loaded(self) -> None:
        with self._lock:
            if not self._loaded:
                cached = self._read_cache()
                missing = [n for n in self.states if n not in cached]
                if missing or not self.states:
                    self.refresh(missing)
                self._loaded = True

    def tables(self) -> list[TableInfo]:
        self.ensure_loaded()
        return [t for s in self.states.values() for t in s.tables]

    def resolve(self, parts: tuple[str, ...]) -> TableInfo:
        """The one table that ``engine.schema.table``, ``schema.table`` or ``table`` names."""
        tables = self.tables()
        wanted = tuple(p.lower() for p in parts)
        hits = [t for t in tables if (t.engine, t.schema, t.name)[-len(wanted) :] == wanted]
        if len(wanted) == 2 and not hits:  # engine.table where the schema is implied
            hits = [t for t in tables if (t.engine, t.name) == wanted]
        name = ".".join(parts)
        if len(hits) == 1:
            return hits[0]
        if hits:
            options = ", ".join(sorted(t.qualified for t in hits))
            raise UnknownName(
                f"table {name!r} is ambiguous: it could be {options}; qualify it",
                code="ambiguous_table",
                param=name,
            )
        suggestions = closest(name, [t.qualified for t in tables])
        down = [s.engine.name for s in self.states.values() if s.error]
        note = f" (engines unavailable: {', '.join(down)})" if down else ""
        raise UnknownName(
            f"unknown table {name!r}{_suggest(suggestions)}{note}",
            code="unknown_table",
            param=name,
        )

    def keys(self) -> Keys:
        """``data.foreign_keys`` resolved against the tables (again when they change)."""
        tables = self.tables()
        cached = self._keys
        if cached is None or cached[0] != self.version:
            cached = (self.version, resolve_keys(self.settings.foreign_keys, tables))
            self._keys = cached
        return cached[1]

    def sqlglot_schema(self, tables: Iterable[TableInfo]) -> dict[str, Any]:
        """``{engine: {schema: {table: {column: type}}}}`` for sqlglot's optimizer."""
        out: dict[str, Any] = {}
        for t in tables:
            out.setdefault(t.engine, {}).setdefault(t.schema, {})[t.name] = {
                c.name: c.type for c in t.columns
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        self.ensure_loaded()
        return {
            "engines": [s.to_dict() for s in self.states.values()],
            "tables": [t.to_dict() for t in self.tables()],
            **self.keys().to_dict(),
        }


def _table_from(engine: str, data: Mapping[str, Any]) -> TableInfo:
    columns = tuple(ColumnInfo(c["name"], c["type"]) for c in data["columns"])
    keys = tuple(str(k) for k in data.get("partition_keys") or ())
    return TableInfo(engine, data["schema"], data["name"], columns, data.get("rows_estimate"), keys)


def unknown_column(column: str, tables: Mapping[str, TableInfo]) -> UnknownName:
    """400 for a column no table of the query has, with the closest column names."""
    names = [f"{alias}.{c.name}" for alias, t in tables.items() for c in t.columns]
    bare = column.rsplit(".", 1)[-1]
    found = difflib.get_close_matches(column, names, n=3, cutoff=0.5)
    found += [
        n
        for n in difflib.get_close_matches(bare, [n.rsplit(".", 1)[-1] for n in names], n=3)
        for n in [x for x in names if x.endswith("." + n)][:1]
        if n not in found
    ]
    return UnknownName(
        f"unknown column {column!r}{_suggest(found[:3])}", code="unknown_column", param=column
    )
