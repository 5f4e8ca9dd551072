"""Mongo-style queries over ``metadata.*``, ``params.*`` and ``url.*``, compiled to predicates.

A query object ANDs its fields; ``$and`` / ``$or`` combine sub-queries. Operators: ``$eq $ne
$in $nin $gt $gte $lt $lte $regex``. A bare value means ``$eq``. As in MongoDB, a missing field
satisfies ``$ne`` and ``$nin`` and nothing else. Comparisons accept numbers and numeric strings
(metadata values are strings); booleans are not numbers and equal only booleans.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Facts = Mapping[str, Any]  # {"metadata": {...}, "params": {...}, "url": {"pathname": ...}}
Predicate = Callable[[Facts], bool]
MISSING = object()


def compile_query(query: Mapping[str, Any]) -> Predicate:
    parts = [_compile_item(key, value) for key, value in query.items()]
    if len(parts) == 1:
        return parts[0]
    return lambda facts: all(p(facts) for p in parts)


def _compile_item(key: str, value: Any) -> Predicate:
    if key == "$and":
        subs = [compile_query(q) for q in value]
        return lambda facts: all(p(facts) for p in subs)
    if key == "$or":
        subs = [compile_query(q) for q in value]
        return lambda facts: any(p(facts) for p in subs)
    root, _, rest = key.partition(".")
    ops = value if isinstance(value, dict) else {"$eq": value}
    tests = [_compile_op(op, operand) for op, operand in ops.items()]

    def predicate(facts: Facts) -> bool:
        found = lookup(facts.get(root), rest)
        return all(test(found) for test in tests)

    return predicate


def lookup(container: Any, dotted: str) -> Any:
    """Flat key first (metadata keys may hold dots), then a nested path."""
    if not isinstance(container, Mapping):
        return MISSING
    if dotted in container:
        return container[dotted]
    current: Any = container
    for part in dotted.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(found: Any, expected: Any) -> bool:
    if isinstance(found, bool) or isinstance(expected, bool):  # True == 1 in Python, not here
        return isinstance(found, bool) and isinstance(expected, bool) and found == expected
    if found == expected:
        return True
    a, b = _number(found), _number(expected)
    return a is not None and b is not None and a == b and type(found) is not type(expected)


def _compare(cmp: Callable[[float, float], bool], operand: Any) -> Callable[[Any], bool]:
    bound = _number(operand)

    def test(found: Any) -> bool:
        value = _number(found)
        return bound is not None and value is not None and cmp(value, bound)

    return test


def _compile_op(op: str, operand: Any) -> Callable[[Any], bool]:
    if op == "$eq":
        return lambda found: found is not MISSING and _equal(found, operand)
    if op == "$ne":
        return lambda found: found is MISSING or not _equal(found, operand)
    if op == "$in":
        return lambda found: found is not MISSING and any(_equal(found, x) for x in operand)
    if op == "$nin":
        return lambda found: found is MISSING or not any(_equal(found, x) for x in operand)
    if op == "$gt":
        return _compare(lambda a, b: a > b, operand)
    if op == "$gte":
        return _compare(lambda a, b: a >= b, operand)
    if op == "$lt":
        return _compare(lambda a, b: a < b, operand)
    if op == "$lte":
        return _compare(lambda a, b: a <= b, operand)
    if op == "$regex":
        pattern = re.compile(operand)
        return lambda found: found is not MISSING and bool(pattern.search(str(found)))
    raise ValueError(f"unknown operator {op!r}")
