"""A question in natural language -> a validated answer of the model -> rows.

``Asker.ask`` builds the prompt, asks the model through the gateway (``GatewayClient``),
runs the validation layer on each answer and, when one is rejected, sends the reasons back
for up to ``max_retries`` more answers. After that: the deterministic plan when the request
also carried SQL, else ``AnswerRejected`` (422, with every attempt's reasons). Plans must
also return what the deterministic plan of the same query returns (``result_matches``).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from portkey.errors import InvalidRequest
from portkey.orchestrator.errors import EngineFailed
from portkey.orchestrator.nl import prompt
from portkey.orchestrator.nl.checks import Checked, check_plan, check_sql
from portkey.orchestrator.nl.client import Completion, GatewayClient
from portkey.orchestrator.nl.models import PlanAnswer, SqlAnswer, response_format
from portkey.orchestrator.nl.reasons import AnswerRejected, Reason, Rejected, parse_answer
from portkey.orchestrator.service import Orchestrator, QueryResult
from portkey.orchestrator.settings import LLMSettings


@dataclass(slots=True)
class Spend:
    """What the model cost over every attempt, as the gateway reported it."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    models: list[str] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)

    def add(self, completion: Completion) -> None:
        self.prompt_tokens += int(completion.usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(completion.usage.get("completion_tokens") or 0)
        self.cost_usd += completion.cost_usd or 0.0
        if completion.model:
            self.models.append(completion.model)
        if completion.trace_id:
            self.trace_ids.append(completion.trace_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.models[-1] if self.models else None,
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.prompt_tokens + self.completion_tokens,
            },
            "cost_usd": round(self.cost_usd, 8),
            "trace_ids": self.trace_ids,
        }


@dataclass(slots=True)
class Answered:
    checked: Checked | None
    result: QueryResult | None
    spend: Spend
    attempts: list[dict[str, Any]]
    form: str
    #: "deterministic" when every answer was rejected and the request's own SQL ran
    fallback: str | None = None
    baseline: dict[str, Any] | None = None

    def llm(self) -> dict[str, Any]:
        answer = self.checked.answer.model_dump() if self.checked else None
        return {
            **self.spend.to_dict(),
            "form": self.form,
            "answer": answer,
            "validations": self.checked.passed if self.checked else [],
            "attempts": self.attempts,
            "fallback": self.fallback,
            "baseline": self.baseline,
        }


def _norm(value: Any) -> Any:
    if isinstance(value, float | Decimal):
        number = float(value)
        return None if math.isnan(number) else round(number, 4)
    return value


def _rows(result: QueryResult, ordered: bool) -> list[tuple[Any, ...]]:
    columns = [c.to_pylist() for c in result.table.columns]
    rows = [tuple(_norm(v) for v in r) for r in zip(*columns, strict=True)] if columns else []
    return rows if ordered else sorted(rows, key=repr)


class Asker:
    def __init__(self, orch: Orchestrator, client: GatewayClient, settings: LLMSettings) -> None:
        self.orch = orch
        self.client = client
        self.settings = settings

    def _check(self, answer: SqlAnswer | PlanAnswer) -> Checked:
        if isinstance(answer, SqlAnswer):
            return check_sql(answer, self.orch)
        return check_plan(answer, self.orch)

    def _estimate(self, checked: Checked) -> dict[str, Any] | None:
        """For a plan not run (explain): what the deterministic plan of it would move."""
        if checked.federated_sql is None:
            return None
        try:
            plan = self.orch.plan(checked.federated_sql)
        except InvalidRequest as exc:
            return {"deterministic_error": exc.message}
        known = [f.estimated_bytes for f in plan.fragments]
        total = (
            sum(b for b in known if b is not None) if all(b is not None for b in known) else None
        )
        return {"deterministic_estimated_bytes": total, "deterministic_plan": plan.to_dict()}

    def _run(
        self, checked: Checked, limit: int | None, timeout_s: float | None
    ) -> tuple[QueryResult, dict[str, Any] | None]:
        orch = self.orch
        if isinstance(checked.answer, SqlAnswer):
            return orch.query(checked.answer.sql, limit=limit, timeout_s=timeout_s), None
        max_rows = min(limit or orch.settings.max_rows, orch.settings.max_rows)
        timeout = min(timeout_s or orch.settings.timeout_s, orch.settings.timeout_s)
        passed = list(checked.passed)
        try:
            execution = orch.executor.run(checked.plan, timeout_s=timeout, max_rows=max_rows)
        except (EngineFailed, InvalidRequest) as exc:  # the plan's fault: tell the model
            # (unreachable engines and timeouts are not: they are answered as they are)
            raise Rejected(
                [Reason("run_failed", f"the plan failed: {exc.message}", None)], passed
            ) from exc
        result = QueryResult(checked.plan, execution)
        assert checked.federated_sql is not None
        try:
            base = orch.query(checked.federated_sql, limit=max_rows, timeout_s=timeout)
        except (EngineFailed, InvalidRequest) as exc:
            reason = Reason(
                "unverifiable", f"the deterministic plan of this plan failed: {exc.message}", None
            )
            raise Rejected([reason], passed) from exc
        ordered = checked.plan.local.args.get("order") is not None
        if not (execution.truncated or base.execution.truncated):
            got, want = _rows(result, ordered), _rows(base, ordered)
            if got != want:
                extra = next((r for r in got if r not in want), None)
                missing = next((r for r in want if r not in got), None)
                message = (
                    f"the plan returned {len(got)} rows, the deterministic plan {len(want)}; "
                    f"first unexpected row {extra!r}, first missing row {missing!r}"
                )
                raise Rejected([Reason("result_mismatch", message, "combine")], passed)
            checked.passed.append("result_matches")
        else:
            checked.plan.notes.append(
                "rows were capped (limit/max_rows): the result was not compared with the "
                "deterministic plan's"
            )
        baseline = {
            "bytes_moved": base.execution.bytes_moved,
            "rows_moved": base.execution.rows_moved,
            "plan_bytes_moved": execution.bytes_moved,
        }
        if execution.bytes_moved > base.execution.bytes_moved:
            checked.plan.notes.append(
                f"this plan moved {execution.bytes_moved} bytes, the deterministic plan "
                f"{base.execution.bytes_moved}: the deterministic plan is cheaper"
            )
        return result, baseline

    async def ask(
        self,
        question: str,
        *,
        sql: str | None = None,
        explain: bool = False,
        limit: int | None = None,
        timeout_s: float | None = None,
    ) -> Answered:
        catalog = self.orch.catalog
        tables = await asyncio.to_thread(catalog.tables)
        dialects = {name: e.dialect for name, e in catalog.engines.items()}
        messages = prompt.messages(question, self.settings, tables, dialects, sql)
        body = {
            "model": self.settings.model,
            "temperature": self.settings.temperature,
            "response_format": response_format(self.settings.form),
        }
        spend, attempts = Spend(), list[dict[str, Any]]()
        for number in range(1, self.settings.max_retries + 2):
            completion = await self.client.chat({**body, "messages": messages})
            spend.add(completion)
            try:
                answer = parse_answer(completion.content, self.settings.form)
                checked = await asyncio.to_thread(self._check, answer)
                if explain:
                    estimate = await asyncio.to_thread(self._estimate, checked)
                    return Answered(
                        checked, None, spend, attempts, self.settings.form, None, estimate
                    )
                ran, baseline = await asyncio.to_thread(self._run, checked, limit, timeout_s)
                return Answered(checked, ran, spend, attempts, self.settings.form, None, baseline)
            except Rejected as exc:
                attempts.append(
                    {
                        "attempt": number,
                        "passed": exc.passed,
                        "reasons": [r.to_dict() for r in exc.reasons],
                        "answer": completion.content[:4_000],
                    }
                )
                messages = [
                    *messages,
                    {"role": "assistant", "content": completion.content},
                    {"role": "user", "content": prompt.feedback(exc.reasons)},
                ]
        if sql is None:
            raise AnswerRejected(attempts)
        result: QueryResult | None = None
        if explain:
            plan = await asyncio.to_thread(self.orch.plan, sql)
        else:
            result = await asyncio.to_thread(self.orch.query, sql, limit=limit, timeout_s=timeout_s)
            plan = result.plan
        own = SqlAnswer(sql=sql, rationale="the request's own SQL (every answer was rejected)")
        fallback = Checked(own, plan, ["deterministic"])
        return Answered(fallback, result, spend, attempts, self.settings.form, "deterministic")
