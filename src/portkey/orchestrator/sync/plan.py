"""The drift planner: what a job moves, as which types, and what it changes in the target.

Pure over the two schemas: source columns + the job's column specs + the target's columns
(None when the table does not exist) -> a ``Plan`` of typed columns, DDL, and errors. Every
error is found before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from portkey.errors import InvalidRequest
from portkey.orchestrator.sync.endpoints.base import Endpoint, Stored
from portkey.orchestrator.sync.models import SyncJob
from portkey.orchestrator.sync.types import LType, TypeProblem, holds, parse


class SyncPlanError(InvalidRequest):
    """The job cannot run as configured (each problem names the column and both types)."""


@dataclass(frozen=True, slots=True)
class Column:
    #: the source column (None for a computed one)
    source: str | None
    #: the SQL, in the source's dialect, producing the value
    select: str
    #: its name in the target
    name: str
    #: the exact type of the values moved
    ltype: LType
    #: how the target stores it
    stored: Stored
    allow_lossy: bool = False


@dataclass(slots=True)
class Plan:
    job: str
    target: str
    columns: list[Column] = field(default_factory=list)
    create: bool = False
    #: human-readable changes to the target, in order
    changes: list[str] = field(default_factory=list)
    #: DDL run on the target before any row is written
    statements: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: source columns left out (schema_drift: freeze)
    frozen_out: list[str] = field(default_factory=list)
    cursor: Column | None = None

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.ltype.arrow()) for c in self.columns])

    @property
    def lossy(self) -> set[str]:
        return {c.name for c in self.columns if c.allow_lossy}

    def check(self) -> None:
        if self.errors:
            raise SyncPlanError(
                f"sync {self.job}: " + "; ".join(self.errors),
                param=self.job,
                code="sync_plan_failed",
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "target": self.target,
            "create": self.create,
            "changes": self.changes,
            "statements": self.statements,
            "errors": self.errors,
            "frozen_out": self.frozen_out,
            "columns": [
                {
                    "source": c.source,
                    "name": c.name,
                    "type": str(c.ltype),
                    "target_type": c.stored.ddl,
                    "lossy": c.stored.lossy if c.allow_lossy else None,
                }
                for c in self.columns
            ],
        }


def source_columns(
    job: SyncJob, declared: list[tuple[str, str]], src: Endpoint, tgt: Endpoint, plan: Plan
) -> None:
    """Type every column the job moves; lossy mappings without ``allow_lossy`` are errors."""
    for name, spelled in declared:
        spec = job.columns.get(name)
        if spec is not None and spec.skip:
            continue
        try:
            have = parse(spelled)
        except TypeProblem as exc:
            if spec is None or spec.type is None:
                plan.errors.append(f"column {name}: {exc}; declare columns.{name}.type")
                continue
            have = None
        _add(job, name, have, src.quote(name), src, tgt, plan)
    known = {n for n, _ in declared}
    for name, spec in job.columns.items():
        if spec.expr is not None and name not in known:
            _add(job, None, None, f"({spec.expr})", src, tgt, plan, alias=name)
        elif name not in known and not spec.skip:
            plan.errors.append(f"columns.{name}: no such source column (and no expr)")


def _add(
    job: SyncJob,
    name: str | None,
    have: LType | None,
    select: str,
    src: Endpoint,
    tgt: Endpoint,
    plan: Plan,
    alias: str | None = None,
) -> None:
    key = name or alias or ""
    spec = job.columns.get(key)
    lossy_ok = bool(spec and spec.allow_lossy)
    ltype = have
    if spec is not None and spec.type is not None:
        try:
            ltype = parse(spec.type)
        except TypeProblem as exc:
            plan.errors.append(f"columns.{key}.type: {exc}")
            return
        if have is not None and not holds(ltype, have) and not lossy_ok:
            plan.errors.append(
                f"column {key}: casting {have} to {ltype} can lose data; set allow_lossy"
            )
            return
        if have != ltype:
            select = f"CAST({select} AS {src.stored(ltype).ddl})"
    assert ltype is not None
    if ltype.kind in src.unreadable and name is not None:
        plan.errors.append(f"column {key}: reading {ltype} from {src.dialect} is not supported yet")
        return
    try:
        stored = tgt.stored(ltype)
    except KeyError:
        plan.errors.append(f"column {key}: {ltype} has no mapping to {tgt.dialect}")
        return
    if stored.lossy and not lossy_ok:
        plan.errors.append(
            f"column {key}: {ltype} -> {tgt.dialect} {stored.ddl} is lossy ({stored.lossy}); "
            f"set columns.{key}.allow_lossy to accept it"
        )
        return
    target_name = spec.rename if spec is not None and spec.rename else key
    column = Column(name, select, target_name, ltype, stored, lossy_ok)
    plan.columns.append(column)
    if job.cursor is not None and job.cursor in (name, alias):
        plan.cursor = column


def drift(job: SyncJob, existing: list[tuple[str, str]] | None, tgt: Endpoint, plan: Plan) -> None:
    """Compare the planned columns with the target's: create, add, widen, or stop."""
    table = job.target.table
    if existing is None:
        plan.create = True
        cols = [(c.name, c.stored.ddl) for c in plan.columns]
        plan.statements.append(tgt.create_sql(table, cols))
        plan.changes.append(f"create table {table} ({', '.join(f'{n} {d}' for n, d in cols)})")
        return
    have = {n.lower(): (n, spelled) for n, spelled in existing}
    keep: list[Column] = []
    for col in plan.columns:
        found = have.get(col.name.lower())
        if found is None:
            _new_column(job, col, tgt, plan, keep)
            continue
        try:
            current = parse(found[1])
        except TypeProblem:
            plan.errors.append(f"column {col.name}: target type {found[1]!r} is not one we map")
            continue
        keep.append(col)
        if holds(current, col.ltype) or holds(current, col.stored.reads_as):
            continue
        if not (holds(col.stored.reads_as, current) or holds(col.ltype, current)):
            plan.errors.append(
                f"column {col.name}: incompatible change: target has {current}, "
                f"source now has {col.ltype}"
            )
        elif job.schema_drift != "evolve":
            plan.errors.append(
                f"column {col.name}: widening {current} -> {col.ltype} needs "
                f"schema_drift: evolve (is {job.schema_drift})"
            )
        else:
            alter = tgt.alter_sql(table, col.name, col.stored.ddl)
            if alter is None:
                plan.errors.append(
                    f"column {col.name}: {tgt.dialect} cannot alter {current} -> {col.ltype}"
                )
            else:
                plan.statements.append(alter)
                plan.changes.append(f"widen {col.name}: {current} -> {col.stored.ddl}")
    plan.columns = keep


def _new_column(job: SyncJob, col: Column, tgt: Endpoint, plan: Plan, keep: list[Column]) -> None:
    if job.schema_drift == "evolve":
        t = tgt.table_sql(job.target.table)
        plan.statements.append(f"ALTER TABLE {t} ADD COLUMN {tgt.quote(col.name)} {col.stored.ddl}")
        plan.changes.append(f"add column {col.name} {col.stored.ddl}")
        keep.append(col)
    elif job.schema_drift == "freeze":
        plan.frozen_out.append(col.name)
        plan.changes.append(f"ignore new column {col.name} (schema_drift: freeze)")
    else:
        plan.errors.append(f"column {col.name}: new in the source (schema_drift: fail)")


def keys(job: SyncJob, plan: Plan) -> None:
    names = {c.name for c in plan.columns}
    for key in job.merge_keys:
        if key not in names:
            plan.errors.append(f"merge key {key}: not a column written to the target")
    if job.cursor is not None and plan.cursor is None:
        plan.errors.append(f"cursor {job.cursor}: not a source column")
