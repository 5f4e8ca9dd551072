"""portkey.yaml's ``data.syncs.<name>``: what one sync job moves, how, and when.

Parsed strictly once with the rest of ``data:``; cross-field rules (engines exist, the cursor
and merge keys are coherent, the cron expression parses) fail with a message naming the field.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from portkey.config.routing import Strict

_IDENT = r"^[A-Za-z_][A-Za-z0-9_$]*$"
_TABLE = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class Source(Strict):
    engine: str
    #: ``schema.table`` or ``table`` (exactly one of table / sql)
    table: str | None = Field(default=None, pattern=_TABLE)
    #: a SELECT in the source engine's dialect
    sql: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Source:
        if (self.table is None) == (self.sql is None):
            raise ValueError("give exactly one of source.table or source.sql")
        return self


class Target(Strict):
    engine: str
    table: str = Field(pattern=_TABLE)


class ColumnSpec(Strict):
    #: the column's name in the target (a rename)
    rename: str | None = Field(default=None, pattern=_IDENT)
    #: a SQL expression in the source's dialect computing this column (a light transform)
    expr: str | None = None
    #: the column's type, e.g. ``decimal(18,2)``, ``varchar(40)``, ``timestamptz`` (needed
    #: with ``expr``; otherwise it casts the source column)
    type: str | None = None
    #: accept a mapping that loses information (narrower type, time zone dropped, NaN -> NULL)
    allow_lossy: bool = False
    #: leave this source column out
    skip: bool = False


class Verify(Strict):
    #: ``counts`` compares row counts; ``checksums`` also order-independent hashes per key range
    mode: Literal["none", "counts", "checksums"] = "counts"
    #: key ranges the checksums are grouped by (a mismatch names the ranges that differ)
    ranges: int = Field(default=16, ge=1, le=4096)


class SyncJob(Strict):
    source: Source
    target: Target
    mode: Literal["full", "incremental"] = "full"
    #: incremental: the column whose value only grows (updated_at, id)
    cursor: str | None = Field(default=None, pattern=_IDENT)
    #: incremental: re-read this much before the last cursor, for late rows (``2h``, ``30m``,
    #: seconds, or a number of ids for an integer cursor); needs merge_keys
    lookback: str | float | None = None
    #: upsert on these target columns; none -> append (incremental) or replace (full)
    merge_keys: list[str] = Field(default_factory=list)
    schema_drift: Literal["evolve", "freeze", "fail"] = "evolve"
    #: per source column (or new computed column): rename, transform, type, allow_lossy, skip
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    #: a cron expression (5 fields) for the service's scheduler; none -> manual runs only
    schedule: str | None = None
    verify: Verify | Literal["none", "counts", "checksums"] = Field(default_factory=Verify)
    #: rows per batch read and written (memory is bounded by this)
    batch_rows: int = Field(default=50_000, ge=1, le=10_000_000)

    @field_validator("merge_keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if not re.match(_IDENT, key):
                raise ValueError(f"merge key {key!r} is not a column name")
        if len(set(keys)) != len(keys):
            raise ValueError("merge_keys repeat a column")
        return keys

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"schedule {value!r} is not a 5-field cron expression")
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str | float | None) -> str | float | None:
        if isinstance(value, str) and not _DURATION.match(value):
            raise ValueError(f"lookback {value!r}: use a number or a duration like 30m, 2h, 1d")
        if isinstance(value, float | int) and value < 0:
            raise ValueError("lookback must not be negative")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> SyncJob:
        if self.mode == "incremental" and self.cursor is None:
            raise ValueError("mode incremental needs a cursor column")
        if self.mode == "full" and self.cursor is not None:
            raise ValueError("cursor is only used with mode: incremental")
        if self.lookback is not None and not self.merge_keys:
            raise ValueError("lookback re-reads rows: it needs merge_keys (else rows repeat)")
        for name, spec in self.columns.items():
            if spec.expr is not None and spec.type is None:
                raise ValueError(f"columns.{name}: an expr needs a type")
            if spec.skip and name in self.merge_keys:
                raise ValueError(f"columns.{name}: a merge key cannot be skipped")
        return self

    @property
    def verify_mode(self) -> str:
        return self.verify if isinstance(self.verify, str) else self.verify.mode

    @property
    def verify_ranges(self) -> int:
        return 16 if isinstance(self.verify, str) else self.verify.ranges

    def lookback_amount(self) -> float:
        """The lookback as a number: seconds for a time cursor, units for a numeric one."""
        if self.lookback is None:
            return 0.0
        if isinstance(self.lookback, float | int):
            return float(self.lookback)
        match = _DURATION.match(self.lookback)
        assert match is not None
        return float(match.group(1)) * _UNITS[match.group(2)]


def check_syncs(engines: set[str], syncs: dict[str, SyncJob]) -> None:
    """Rules across ``data:``: every job names declared engines, job names are identifiers."""
    for name, job in syncs.items():
        if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", name):
            raise ValueError(f"syncs.{name}: job names use letters, digits, _ . -")
        for side in ("source", "target"):
            engine = getattr(job, side).engine
            if engine not in engines:
                known = ", ".join(sorted(engines)) or "none declared"
                raise ValueError(
                    f"syncs.{name}.{side}.engine: no engine {engine!r} in data.engines ({known})"
                )
