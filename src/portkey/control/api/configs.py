"""Admin routes: stored routing configs (checked against the running providers before storing)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response

from portkey.control.api.deps import ACTOR, Admin, Service, call, write
from portkey.control.models import NAME_PATTERN, StoredConfig
from portkey.control.validation import routing_config
from portkey.errors import InvalidRequest, NotFound

router = APIRouter(tags=["configs"], dependencies=[Admin])


@router.get("/configs", response_model=list[StoredConfig])
async def list_configs(control: Service) -> list[StoredConfig]:
    return await call(control, control.store.list_configs)


@router.get("/configs/{name}", response_model=StoredConfig)
async def get_config(name: str, control: Service) -> StoredConfig:
    for stored in await call(control, control.store.list_configs):
        if stored.name == name:
            return stored
    raise NotFound(f"no stored config named {name!r}", param="name")


@router.put("/configs/{name}", response_model=StoredConfig)
async def put_config(
    name: str, body: dict[str, Any], request: Request, control: Service
) -> StoredConfig:
    """Create or replace a config (a Portkey config object); it must compile against the
    running providers, so an unknown virtual key is a 400 naming it."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidRequest(f"invalid config name {name!r}", param="name")
    routing_config(body, request.app.state.gateway.holder.current.file)
    return await write(
        control, control.store.put_config, StoredConfig(name=name, config=body), ACTOR
    )


@router.delete("/configs/{name}", status_code=204)
async def delete_config(name: str, control: Service) -> Response:
    await write(control, control.store.delete_config, name, ACTOR)
    return Response(status_code=204)
