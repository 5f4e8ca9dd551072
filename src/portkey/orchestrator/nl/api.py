"""The HTTP side of questions: ``POST /query {question}`` rendered as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi.responses import JSONResponse, Response

from portkey.errors import InvalidRequest

if TYPE_CHECKING:
    from portkey.gateway.app import GatewayApp
    from portkey.orchestrator.nl.service import Answered, Asker
    from portkey.orchestrator.service import Orchestrator


def asker(gateway: GatewayApp, orch: Orchestrator) -> Asker:
    from portkey.orchestrator.nl.client import GatewayClient
    from portkey.orchestrator.nl.service import Asker

    llm = orch.settings.llm
    if llm is None:
        raise InvalidRequest(
            "questions need a model: configure data.llm {config, model} in portkey.yaml",
            code="llm_not_configured",
            param="question",
        )
    headers = {"x-portkey-metadata": '{"_source": "orchestrator"}'}
    if llm.api_key:
        headers["x-portkey-api-key"] = llm.api_key
    return Asker(orch, GatewayClient(gateway, llm.config, headers), llm)


def render(answered: Answered) -> Response:
    from portkey.orchestrator import render as base

    if answered.result is None:
        assert answered.checked is not None
        return JSONResponse({"plan": answered.checked.plan.to_dict(), "llm": answered.llm()})
    body: dict[str, Any] = base.body(answered.result)
    body["llm"] = answered.llm()
    return Response(
        orjson.dumps(body, default=base._default, option=orjson.OPT_NON_STR_KEYS),
        media_type="application/json",
    )


async def narrate(gateway: GatewayApp, orch: Orchestrator, advice: dict[str, Any]) -> None:
    """Let the model write the advice's narrative; one stating a number we did not compute is
    rejected (the reasons go back, up to ``max_retries``). Sets ``narrative`` (None if none
    passed) and ``narrative_attempts`` on ``advice``."""
    from portkey.orchestrator.nl.advisor import NARRATIVE_TASK, unverified_numbers
    from portkey.orchestrator.nl.service import Spend

    ask = asker(gateway, orch)
    facts = orjson.dumps({k: advice[k] for k in ("edges", "recommendations")}).decode()
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": NARRATIVE_TASK},
        {"role": "user", "content": facts},
    ]
    spend, attempts = Spend(), list[dict[str, Any]]()
    advice["narrative"] = None
    for _ in range(ask.settings.max_retries + 1):
        completion = await ask.client.chat({"model": ask.settings.model, "messages": messages})
        spend.add(completion)
        wrong = unverified_numbers(completion.content, advice)
        if not wrong:
            advice["narrative"] = completion.content
            break
        attempts.append({"code": "unverified_number", "numbers": wrong})
        messages += [
            {"role": "assistant", "content": completion.content},
            {"role": "user", "content": f"These numbers are not in the JSON: {wrong}. Again."},
        ]
    advice["narrative_attempts"] = attempts
    advice["narrative_llm"] = spend.to_dict()
