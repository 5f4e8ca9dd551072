"""The prompt: the task, a schema digest pruned to the relevant tables, dialect notes, examples.

The digest carries names and types only, never data values (nothing a table holds can
instruct the model). Tables are ranked by how many words of the question match their name
or their columns' names (``c_mktsegment`` matches "segment"); ties keep catalog order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from portkey.orchestrator.engines import TableInfo
from portkey.orchestrator.settings import LLMSettings

_WORD = re.compile(r"[a-z0-9]+")
#: characters of the schema digest at most (about 1,500 tokens)
DIGEST_CHARS = 6_000

TASKS = {
    "sql": (
        "You write ONE read-only SQL query (SELECT or WITH only) in DuckDB's dialect that "
        "answers the question over the tables below. Name tables as engine.schema.table. "
        'Answer with JSON only: {"sql": ..., "rationale": ...}.'
    ),
    "plan": (
        "You write an orchestration plan that answers the question: one read-only subquery "
        "per engine, in THAT engine's dialect, reading only that engine's tables (name them "
        "schema.table), each with an output name and its output columns in order; then one "
        "DuckDB query (combine) that reads only those outputs by name. Answer with JSON only: "
        '{"subqueries": [{"engine", "sql", "output", "columns"}], "combine": ..., '
        '"rationale": ...}.'
    ),
}


def _words(text: str) -> set[str]:
    out = set()
    for word in _WORD.findall(text.lower()):
        out.add(word)
        if len(word) > 4 and word.endswith("s"):
            out.add(word[:-1])
    return out


def _score(table: TableInfo, words: set[str]) -> int:
    """The table named in the question (5), a word inside its name (2), words inside its
    columns' names (1 each)."""
    long = [w for w in words if len(w) >= 4]
    name = 5 if table.name in words else 2 * any(w in table.name for w in long)
    parts = [p for c in table.columns for p in c.name.lower().split("_")[1:] or [c.name]]
    return name + sum(1 for p in parts if p in words or any(w in p for w in long))


def relevant(tables: Sequence[TableInfo], question: str, limit: int) -> list[TableInfo]:
    words = _words(question)
    ranked = sorted(enumerate(tables), key=lambda item: (-_score(item[1], words), item[0]))
    return [t for _, t in ranked[:limit]]


def digest(tables: Sequence[TableInfo], dialects: dict[str, str]) -> str:
    lines = [f"engine {name}: {dialect} dialect" for name, dialect in sorted(dialects.items())]
    for t in tables:
        cols = ", ".join(f"{c.name} {c.type}" for c in t.columns)
        rows = f" ~{t.rows} rows" if t.rows else ""
        line = f"{t.qualified}{rows}: {cols}"
        if sum(len(x) + 1 for x in lines) + len(line) > DIGEST_CHARS:
            lines.append("(more tables omitted)")
            break
        lines.append(line)
    return "\n".join(lines)


def messages(
    question: str,
    settings: LLMSettings,
    tables: Sequence[TableInfo],
    dialects: dict[str, str],
    sql: str | None = None,
) -> list[dict[str, Any]]:
    """The conversation that asks for an answer (retries append the rejection reasons)."""
    chosen = relevant(tables, question, settings.digest_tables)
    system = f"{TASKS[settings.form]}\n\nSchema:\n{digest(chosen, dialects)}"
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for example in settings.few_shot:
        out += [
            {"role": "user", "content": example.question},
            {"role": "assistant", "content": example.answer},
        ]
    ask = question if sql is None else f"{question}\n\nThe query to orchestrate:\n{sql}"
    out.append({"role": "user", "content": ask})
    return out


def feedback(reasons: Sequence[Any]) -> str:
    body = orjson.dumps([r.to_dict() for r in reasons]).decode()
    return (
        "Your answer was rejected by the validator for these reasons (JSON): "
        f"{body}\nAnswer again with corrected JSON only."
    )
