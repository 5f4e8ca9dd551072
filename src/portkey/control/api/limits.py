"""Admin routes: budgets (with their current spend) and rate limits."""

from __future__ import annotations

from fastapi import APIRouter, Response

from portkey.control.api.deps import ACTOR, Admin, Service, call, write
from portkey.control.models import BudgetIn, BudgetOut, RateLimitIn, RateLimitOut

router = APIRouter(dependencies=[Admin])


@router.get("/budgets", response_model=list[BudgetOut], tags=["budgets"])
async def list_budgets(control: Service) -> list[BudgetOut]:
    return await call(control, control.store.list_budgets)


@router.post("/budgets", response_model=BudgetOut, status_code=201, tags=["budgets"])
async def create_budget(spec: BudgetIn, control: Service) -> BudgetOut:
    return await write(control, control.store.create_budget, spec, ACTOR)


@router.delete("/budgets/{budget_id}", status_code=204, tags=["budgets"])
async def delete_budget(budget_id: str, control: Service) -> Response:
    await write(control, control.store.delete_budget, budget_id, ACTOR)
    return Response(status_code=204)


@router.get("/rate-limits", response_model=list[RateLimitOut], tags=["rate limits"])
async def list_rate_limits(control: Service) -> list[RateLimitOut]:
    return await call(control, control.store.list_rate_limits)


@router.post("/rate-limits", response_model=RateLimitOut, status_code=201, tags=["rate limits"])
async def create_rate_limit(spec: RateLimitIn, control: Service) -> RateLimitOut:
    return await write(control, control.store.create_rate_limit, spec, ACTOR)


@router.delete("/rate-limits/{limit_id}", status_code=204, tags=["rate limits"])
async def delete_rate_limit(limit_id: str, control: Service) -> Response:
    await write(control, control.store.delete_rate_limit, limit_id, ACTOR)
    return Response(status_code=204)
