"""Conditional-routing queries: `compile_query` against a small reference evaluator.

The reference spells out the documented semantics directly: a query ANDs its fields and the
operators of one field; `$and`/`$or` combine sub-queries; a bare value means `$eq`; a missing
field satisfies `$ne` and `$nin` and nothing else; numbers and numeric strings compare as
numbers (metadata values are strings); booleans are not numbers; `$regex` searches strings.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from portkey.config.routing import check_query
from portkey.gateway.conditions import compile_query

MISSING = object()

# -- reference -----------------------------------------------------------------------------


def ref_lookup(facts: dict[str, Any], key: str) -> Any:
    root, _, rest = key.partition(".")
    current: Any = facts.get(root, MISSING)
    if isinstance(current, dict) and rest in current:  # flat keys may hold dots
        return current[rest]
    for part in rest.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


def ref_number(value: Any) -> float | None:
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


def ref_equal(found: Any, expected: Any) -> bool:
    if isinstance(found, bool) or isinstance(expected, bool):
        return isinstance(found, bool) and isinstance(expected, bool) and found == expected
    if isinstance(found, str) and isinstance(expected, str):
        return found == expected
    a, b = ref_number(found), ref_number(expected)
    if a is not None and b is not None:
        return a == b
    return bool(found == expected)


COMPARE: dict[str, Callable[[float, float], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def ref_op(op: str, operand: Any, found: Any) -> bool:
    if op == "$ne":
        return found is MISSING or not ref_equal(found, operand)
    if op == "$nin":
        return found is MISSING or not any(ref_equal(found, x) for x in operand)
    if found is MISSING:
        return False
    if op == "$eq":
        return ref_equal(found, operand)
    if op == "$in":
        return any(ref_equal(found, x) for x in operand)
    if op == "$regex":
        return isinstance(found, str) and re.search(operand, found) is not None
    a, b = ref_number(found), ref_number(operand)
    return a is not None and b is not None and COMPARE[op](a, b)


def ref_eval(query: dict[str, Any], facts: dict[str, Any]) -> bool:
    for key, value in query.items():
        if key == "$and":
            ok = all(ref_eval(q, facts) for q in value)
        elif key == "$or":
            ok = any(ref_eval(q, facts) for q in value)
        else:
            ops = value if isinstance(value, dict) else {"$eq": value}
            found = ref_lookup(facts, key)
            ok = all(ref_op(op, operand, found) for op, operand in ops.items())
        if not ok:
            return False
    return True


# -- generators ----------------------------------------------------------------------------

NUMERIC_TEXT = ["0", "1", "2", "10", "2.5", "-3", "1e2", "007", "1.0"]
PLAIN_TEXT = ["", "a", "abc", "pro", "free", "vip-1", "x.y"]
texts = st.one_of(st.sampled_from(NUMERIC_TEXT + PLAIN_TEXT), st.text("ab1.-", max_size=4))
numbers = st.sampled_from([0, 1, 2, 10, -3, 100, 0.0, 1.0, 2.5, -3.0])  # few, to collide often
scalars = st.one_of(texts, numbers, st.booleans(), st.none())

#: each field holds the kind of value it would in a request (metadata is strings only)
STRING_FIELDS = ["metadata.tier", "metadata.user.tier", "params.model", "url.pathname"]
ANY_FIELDS = ["params.n", "params.flag", "params.nested.k", "params.tags.0", "params.tags.1"]


@st.composite
def facts_strategy(draw: st.DrawFn) -> dict[str, Any]:
    def maybe(value: st.SearchStrategy[Any]) -> Any:
        return MISSING if draw(st.integers(0, 4)) == 0 else draw(value)

    metadata = {"tier": maybe(texts), "user.tier": maybe(texts), "region": maybe(texts)}
    params = {
        "model": maybe(texts),
        "n": maybe(st.one_of(numbers, texts)),
        "flag": maybe(st.one_of(st.booleans(), numbers)),
        "nested": maybe(st.fixed_dictionaries({}, optional={"k": scalars})),
        "tags": maybe(st.lists(scalars, max_size=3)),
    }
    return {
        "metadata": {k: v for k, v in metadata.items() if v is not MISSING},
        "params": {k: v for k, v in params.items() if v is not MISSING},
        "url": {"pathname": draw(st.sampled_from(["/v1/chat/completions", "/v1/embeddings"]))},
    }


REGEXES = ["^a", "b$", "1", "^$", "pro|free", r"\d", "^/v1/chat", "vip-"]


@st.composite
def field_ops(draw: st.DrawFn, string_field: bool) -> Any:
    ops = ["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"]
    if string_field:
        ops.append("$regex")
    chosen = draw(st.lists(st.sampled_from(ops), min_size=1, max_size=3, unique=True))
    out: dict[str, Any] = {}
    for op in chosen:
        if op == "$regex":
            out[op] = draw(st.sampled_from(REGEXES))
        elif op in ("$in", "$nin"):
            out[op] = draw(st.lists(scalars, max_size=4))
        else:
            out[op] = draw(scalars)
    if len(out) == 1 and "$eq" in out and draw(st.booleans()):
        return out["$eq"]  # a bare value means $eq
    return out


@st.composite
def field_query(draw: st.DrawFn) -> dict[str, Any]:
    fields = draw(st.lists(st.sampled_from(STRING_FIELDS + ANY_FIELDS), min_size=1, max_size=2))
    return {f: draw(field_ops(f in STRING_FIELDS)) for f in fields}


queries = st.recursive(
    field_query(),
    lambda inner: st.one_of(
        st.builds(lambda qs: {"$and": qs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda qs: {"$or": qs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda a, b: {**a, **b}, inner, field_query()),
    ),
    max_leaves=6,
)


# -- properties ----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(query=queries, facts=facts_strategy())
@example(query={"params.flag": {"$eq": 1}}, facts={"params": {"flag": True}})
@example(query={"params.flag": {"$in": [0]}}, facts={"params": {"flag": False}})
@example(query={"params.flag": True}, facts={"params": {"flag": 1}})
@example(query={"params.n": {"$nin": [True]}}, facts={"params": {"n": 1}})
def test_compile_query_matches_the_reference(query: dict[str, Any], facts: dict[str, Any]) -> None:
    check_query(query)  # every generated query is one the config accepts
    assert compile_query(query)(facts) is ref_eval(query, facts)


OPERATORS = ["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"]


@settings(max_examples=300, deadline=None)
@given(
    op=st.sampled_from(OPERATORS),
    operand=st.one_of(scalars, st.lists(scalars, max_size=4)),
    found=st.one_of(st.just(MISSING), scalars),
)
def test_each_operator_matches_the_reference(op: str, operand: Any, found: Any) -> None:
    if (op in ("$in", "$nin")) != isinstance(operand, list):
        operand = [operand] if op in ("$in", "$nin") else operand[0] if operand else None
    facts = {"params": {} if found is MISSING else {"x": found}}
    assert compile_query({"params.x": {op: operand}})(facts) is ref_op(op, operand, found)


@settings(max_examples=200, deadline=None)
@given(pattern=st.sampled_from(REGEXES), found=st.one_of(st.just(MISSING), texts))
def test_regex_matches_the_reference(pattern: str, found: Any) -> None:
    facts = {"metadata": {} if found is MISSING else {"tier": found}}
    expected = ref_op("$regex", pattern, found)
    assert compile_query({"metadata.tier": {"$regex": pattern}})(facts) is expected


@settings(max_examples=60, deadline=None)
@given(facts=facts_strategy(), query=field_query())
def test_ne_is_the_negation_of_eq_and_nin_of_in(
    query: dict[str, Any], facts: dict[str, Any]
) -> None:
    for key, value in query.items():
        operand = value.get("$eq", 1) if isinstance(value, dict) else value
        eq = compile_query({key: {"$eq": operand}})(facts)
        ne = compile_query({key: {"$ne": operand}})(facts)
        assert eq is not ne
        in_ = compile_query({key: {"$in": [operand, "zz"]}})(facts)
        nin = compile_query({key: {"$nin": [operand, "zz"]}})(facts)
        assert in_ is not nin


# -- examples that document the semantics --------------------------------------------------

FACTS = {
    "metadata": {"tier": "pro", "score": "91", "user.id": "u1"},
    "params": {"model": "gpt-4o", "max_tokens": 100, "stream": False, "tags": ["a", "b"]},
    "url": {"pathname": "/v1/chat/completions"},
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"metadata.tier": "pro"}, True),
        ({"metadata.tier": {"$eq": "free"}}, False),
        ({"metadata.score": {"$gt": 90}}, True),  # numeric string vs number
        ({"metadata.score": {"$gt": "100"}}, False),
        ({"metadata.score": {"$eq": 91}}, True),
        ({"metadata.tier": {"$gt": 1}}, False),  # not a number: no comparison matches
        ({"metadata.tier": {"$lte": 1}}, False),
        ({"metadata.user.id": "u1"}, True),  # a flat key holding a dot
        ({"metadata.missing": {"$ne": "x"}}, True),
        ({"metadata.missing": {"$nin": ["x"]}}, True),
        ({"metadata.missing": {"$eq": None}}, False),
        ({"metadata.missing": {"$lt": 5}}, False),
        ({"params.max_tokens": {"$gte": 100, "$lt": 101}}, True),
        ({"params.max_tokens": {"$in": [50, "100"]}}, True),
        ({"params.stream": {"$eq": 0}}, False),  # booleans are not numbers
        ({"params.stream": False}, True),
        ({"params.tags.1": "b"}, True),
        ({"params.tags.2": {"$ne": "b"}}, True),
        ({"params.model": {"$regex": "^gpt-4"}}, True),
        ({"url.pathname": {"$regex": "embeddings$"}}, False),
        ({"$or": [{"metadata.tier": "free"}, {"params.model": "gpt-4o"}]}, True),
        ({"$and": [{"metadata.tier": "pro"}, {"params.model": "other"}]}, False),
        ({"metadata.tier": "pro", "params.model": "other"}, False),
    ],
)
def test_query_examples(query: dict[str, Any], expected: bool) -> None:
    assert compile_query(query)(FACTS) is expected
