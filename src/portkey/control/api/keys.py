"""Admin routes: caller API keys (the key is shown once, at creation), usage and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from portkey.control.api.deps import ACTOR, Admin, Service, call, write
from portkey.control.models import ApiKeyCreated, ApiKeyIn, ApiKeyOut, AuditEntry, KeyUsage
from portkey.errors import NotFound

router = APIRouter(dependencies=[Admin])


@router.get("/api-keys", response_model=list[ApiKeyOut], tags=["API keys"])
async def list_api_keys(control: Service) -> list[ApiKeyOut]:
    return await call(control, control.store.list_api_keys)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, tags=["API keys"])
async def create_api_key(spec: ApiKeyIn, control: Service) -> ApiKeyCreated:
    """Create a caller key. The answer's ``key`` is shown this once: only its hash is stored."""
    return await write(control, control.store.create_api_key, spec, ACTOR)


@router.get("/api-keys/{ref}", response_model=ApiKeyOut, tags=["API keys"])
async def get_api_key(ref: str, control: Service) -> ApiKeyOut:
    return await call(control, control.store.get_api_key, ref)


@router.post("/api-keys/{ref}/revoke", response_model=ApiKeyOut, tags=["API keys"])
async def revoke_api_key(ref: str, control: Service) -> ApiKeyOut:
    return await write(control, control.store.revoke_api_key, ref, ACTOR)


@router.get("/usage", tags=["usage"])
async def usage(
    control: Service,
    api_key: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
) -> dict[str, list[KeyUsage]]:
    """Requests, tokens and cost per caller key and UTC day (newest first)."""
    key_id = None
    if api_key is not None:
        try:
            key_id = (await call(control, control.store.get_api_key, api_key)).id
        except NotFound:
            raise NotFound(f"no API key with id or name {api_key!r}", param="api_key") from None
    return {"data": await call(control, control.store.key_usage, key_id, since)}


@router.get("/audit", response_model=dict[str, list[AuditEntry]], tags=["audit"])
async def audit(
    control: Service,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, list[AuditEntry]]:
    """Every admin change, newest first: who, what, when, before/after (secrets masked)."""
    return {"data": await call(control, control.store.audit, limit, kind)}
