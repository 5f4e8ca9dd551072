"""Column types as one neutral vocabulary, their Arrow form, and each dialect's spelling.

A ``LType`` is what a column holds (``decimal(38,9)``, ``varchar(20)``, ``timestamptz``,
``json``...). Each dialect has a table saying how it stores each kind, and whether that is
exact; a lossy mapping is only taken when the column says ``allow_lossy``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

INTS = ("int8", "int16", "int32", "int64")
FLOATS = ("float32", "float64")
KINDS = (
    *INTS,
    *FLOATS,
    "decimal",
    "string",
    "json",
    "uuid",
    "bool",
    "date",
    "timestamp",
    "timestamptz",
    "binary",
)
_INT_DIGITS = {"int8": 3, "int16": 5, "int32": 10, "int64": 19}


@dataclass(frozen=True, slots=True)
class LType:
    kind: str
    precision: int = 0
    scale: int = 0
    #: varchar length; 0 = unbounded text
    length: int = 0

    def __str__(self) -> str:
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.kind == "string":
            return f"varchar({self.length})" if self.length else "text"
        return self.kind

    def arrow(self) -> pa.DataType:
        if self.kind == "decimal":
            if self.precision <= 38:
                return pa.decimal128(self.precision, self.scale)
            return pa.decimal256(self.precision, self.scale)
        return _ARROW[self.kind]


_ARROW: dict[str, pa.DataType] = {
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
    "json": pa.string(),
    "uuid": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
}

#: neutral and common dialect spellings -> kind (lower case, without parameters)
_NAMES: dict[str, str] = {
    "tinyint": "int8",
    "int1": "int8",
    "smallint": "int16",
    "int2": "int16",
    "integer": "int32",
    "int": "int32",
    "int4": "int32",
    "mediumint": "int32",
    "bigint": "int64",
    "int8": "int64",
    "int64": "int64",
    "int32": "int32",
    "int16": "int16",
    "real": "float32",
    "float": "float32",
    "float4": "float32",
    "float32": "float32",
    "double": "float64",
    "double precision": "float64",
    "float8": "float64",
    "float64": "float64",
    "decimal": "decimal",
    "numeric": "decimal",
    "varchar": "string",
    "character varying": "string",
    "char": "string",
    "character": "string",
    "bpchar": "string",
    "nvarchar": "string",
    "text": "string",
    "string": "string",
    "tinytext": "string",
    "mediumtext": "string",
    "longtext": "string",
    "clob": "string",
    "json": "json",
    "jsonb": "json",
    "uuid": "uuid",
    "bool": "bool",
    "boolean": "bool",
    "date": "date",
    "timestamp": "timestamp",
    "datetime": "timestamp",
    "timestamp without time zone": "timestamp",
    "timestamptz": "timestamptz",
    "timestamp with time zone": "timestamptz",
    "bytea": "binary",
    "blob": "binary",
    "binary": "binary",
    "varbinary": "binary",
    "longblob": "binary",
}
_PARAMS = re.compile(r"^\s*([a-z0-9_ ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")


class TypeProblem(ValueError):
    """A type that cannot be read or has no exact mapping (the message names both types)."""


def parse(text: str) -> LType:
    """``decimal(18,2)``, ``varchar(40)``, ``timestamp with time zone``, ``jsonb``... -> LType."""
    spelled = text.strip().lower()
    for suffix in ("_text", "_int"):  # SQLite spellings of ours (see sqlite.py)
        spelled = spelled.replace(suffix, "")
    match = _PARAMS.match(spelled)
    kind = _NAMES.get(match.group(1)) if match else None
    if match is None or kind is None:
        raise TypeProblem(f"unknown type {text!r}")
    first = int(match.group(2)) if match.group(2) else None
    second = int(match.group(3)) if match.group(3) else 0
    if kind == "decimal":
        if first is None:
            raise TypeProblem(f"{text!r} has no precision: declare decimal(p,s)")
        if not 1 <= first <= 76 or not 0 <= second <= first:
            raise TypeProblem(f"{text!r}: precision 1..76 and 0 <= scale <= precision")
        return LType("decimal", first, second)
    if kind == "string":
        return LType("string", length=first or 0)
    return LType(kind)


def from_arrow(dtype: pa.DataType) -> LType:
    """The LType of an Arrow type (what DuckDB answers)."""
    if pa.types.is_decimal(dtype):
        return LType("decimal", dtype.precision, dtype.scale)
    if pa.types.is_timestamp(dtype):
        return LType("timestamptz" if dtype.tz else "timestamp")
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return LType("string")
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return LType("binary")
    if pa.types.is_date(dtype):
        return LType("date")
    for kind, arrow in _ARROW.items():
        if arrow == dtype and kind not in ("json", "uuid"):
            return LType(kind)
    raise TypeProblem(f"unsupported Arrow type {dtype}")


def holds(wide: LType, narrow: LType) -> bool:
    """Whether a column of type ``wide`` stores every value of ``narrow`` exactly."""
    if wide == narrow:
        return True
    w, n = wide.kind, narrow.kind
    if w in INTS and n in INTS:
        return INTS.index(w) >= INTS.index(n)
    if w == "float64" and (n == "float32" or n in INTS[:3]):
        return True
    if w == "decimal" and n in INTS:
        return wide.precision - wide.scale >= _INT_DIGITS[n]
    if w == "decimal" and n == "decimal":
        return wide.scale >= narrow.scale and (
            wide.precision - wide.scale >= narrow.precision - narrow.scale
        )
    if w == "string" and n in ("string", "json", "uuid"):
        if wide.length == 0:
            return True
        if n == "uuid":
            return wide.length >= 36
        return narrow.length != 0 and wide.length >= narrow.length
    return False
