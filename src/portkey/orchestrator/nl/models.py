"""What the model must answer, as Pydantic models: their JSON schema is the structured output.

Two forms, chosen by ``data.llm.form``: ``sql`` (one federated query in DuckDB's dialect,
which the deterministic planner splits) or ``plan`` (per-engine subqueries in each engine's
dialect plus a DuckDB combine step over their outputs). Unknown fields are refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Form = Literal["sql", "plan"]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlAnswer(_Answer):
    """One read-only query over ``engine.schema.table`` names, in DuckDB's dialect."""

    sql: str = Field(min_length=1, max_length=100_000)
    rationale: str = Field(max_length=4_000)


class Subquery(_Answer):
    """One subquery that runs on one engine, in that engine's own dialect."""

    engine: str = Field(min_length=1, max_length=63)
    sql: str = Field(min_length=1, max_length=100_000)
    #: the name the combine step reads this subquery's rows by
    output: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    #: the subquery's output column names, in order
    columns: list[str] = Field(min_length=1, max_length=200)


class PlanAnswer(_Answer):
    subqueries: list[Subquery] = Field(min_length=1, max_length=16)
    #: DuckDB SQL over the subqueries' outputs (by ``output`` name) that gives the answer
    combine: str = Field(min_length=1, max_length=100_000)
    rationale: str = Field(max_length=4_000)


ANSWERS: dict[str, type[_Answer]] = {"sql": SqlAnswer, "plan": PlanAnswer}


def _strict(schema: Any, defs: dict[str, Any]) -> Any:
    """Pydantic's schema in the shape OpenAI's strict mode accepts: refs inlined, every
    property required, no additional properties, no unsupported keywords."""
    if isinstance(schema, list):
        return [_strict(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _strict(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    out = {
        k: _strict(v, defs)
        for k, v in schema.items()
        if k not in {"$defs", "title", "description", "default"}
    }
    if out.get("type") == "object":
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties", {}))
    return out


def response_format(form: Form) -> dict[str, Any]:
    """``response_format`` for a chat completion: the form's JSON schema, strict."""
    schema = ANSWERS[form].model_json_schema()
    return {
        "type": "json_schema",
        "json_schema": {
            "name": f"portkey_{form}_answer",
            "strict": True,
            "schema": _strict(schema, schema.get("$defs", {})),
        },
    }
