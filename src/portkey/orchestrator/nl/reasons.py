"""Why an answer of the model was rejected: machine-readable reasons, and parsing the answer.

Every rejection is a ``Reason`` (a stable ``code``, a message for people and the model, and
``where``: the field of the answer it is about). ``parse_answer`` is the first two checks:
the text is JSON (``not_json`` / ``truncated_json``) and it fits the form's model
(``missing_field`` / ``extra_field`` / ``invalid_field``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from portkey.errors import GatewayError
from portkey.orchestrator.nl.models import ANSWERS, Form, PlanAnswer, SqlAnswer


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str
    where: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "where": self.where}


class Rejected(Exception):
    """An answer failed a check; ``reasons`` says which and why (all found at that stage)."""

    def __init__(self, reasons: list[Reason], passed: list[str]) -> None:
        super().__init__("; ".join(f"{r.code}: {r.message}" for r in reasons))
        self.reasons = reasons
        self.passed = passed


class AnswerRejected(GatewayError):
    """422: every answer the model gave was rejected; the body carries the last reasons."""

    status = 422
    type = "llm_answer_rejected"

    def __init__(self, attempts: list[dict[str, Any]]) -> None:
        last = attempts[-1]["reasons"] if attempts else []
        codes = ", ".join(dict.fromkeys(r["code"] for r in last)) or "none"
        super().__init__(
            f"no answer of the model passed validation after {len(attempts)} attempt(s) "
            f"(last reasons: {codes})",
            code="llm_answer_rejected",
            param="question",
        )
        self.attempts = attempts

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["attempts"] = self.attempts
        return body


def _strip_fence(text: str) -> str:
    body = text.strip()
    if body.startswith("```") and body.endswith("```"):
        body = body.strip("`")
        return body.removeprefix("json").strip()
    return body


def parse_answer(text: str, form: Form) -> SqlAnswer | PlanAnswer:
    """The model's text as the form's answer model, or Rejected with the reasons."""
    body = _strip_fence(text)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        # the text stops inside the JSON: at its end, or inside a string never closed
        ends = exc.pos >= len(body) or exc.msg.startswith("Unterminated string")
        cut = body.startswith(("{", "[")) and ends
        code = "truncated_json" if cut else "not_json"
        what = "ends before the JSON is complete" if cut else f"is not JSON ({exc.msg})"
        raise Rejected([Reason(code, f"the answer {what}", None)], []) from exc
    model = ANSWERS[form]
    try:
        answer = model.model_validate(data)
    except ValidationError as exc:
        reasons = []
        for err in exc.errors()[:10]:
            where = ".".join(str(p) for p in err["loc"]) or None
            kind = err["type"]
            code = {"missing": "missing_field", "extra_forbidden": "extra_field"}.get(
                kind, "invalid_field"
            )
            reasons.append(Reason(code, f"{where or 'answer'}: {err['msg']}", where))
        raise Rejected(reasons, ["json"]) from exc
    assert isinstance(answer, SqlAnswer | PlanAnswer)
    return answer
