"""What every admin route needs: the admin key check and the running control service."""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request

from portkey.control.service import ControlService
from portkey.control.store import ControlStore
from portkey.control.store_keys import API_KEY_PREFIX
from portkey.errors import AuthFailed, PermissionDenied, StoreUnavailable

ADMIN_KEY_ENV = "PORTKEY_ADMIN_KEY"
ACTOR = "admin-api"
T = TypeVar("T")


def admin_key(request: Request) -> str | None:
    return (
        os.environ.get(ADMIN_KEY_ENV) or request.app.state.gateway.holder.current.file.admin.api_key
    )


def require_admin(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_portkey_admin_key: Annotated[str | None, Header()] = None,
) -> None:
    """401 without the admin key; 403 when no admin key is configured at all."""
    expected = admin_key(request)
    if not expected:
        raise PermissionDenied(
            f"the admin API is disabled: set {ADMIN_KEY_ENV} (or admin.api_key in portkey.yaml)",
            code="admin_disabled",
        )
    given = x_portkey_admin_key
    if given is None and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    if not given or (given.startswith(API_KEY_PREFIX) and not expected.startswith(API_KEY_PREFIX)):
        raise AuthFailed("admin key required", param="authorization", code="missing_admin_key")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthFailed("invalid admin key", param="authorization", code="invalid_admin_key")


def service(request: Request) -> ControlService:
    control: ControlService | None = request.app.state.gateway.control
    if control is None:
        raise StoreUnavailable("the control plane is not started yet")
    return control


Admin = Depends(require_admin)
Service = Annotated[ControlService, Depends(service)]


async def call(control: ControlService, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking store call in a thread."""
    return await asyncio.to_thread(fn, *args)


async def write(control: ControlService, fn: Callable[..., T], *args: Any) -> T:
    """Run a store write, then apply it to this process at once (others follow by polling)."""
    result = await asyncio.to_thread(fn, *args)
    await control.plane.refresh()
    return result


def store_of(control: ControlService) -> ControlStore:
    return control.store
