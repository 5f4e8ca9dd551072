"""The admin API under ``/admin``: a FastAPI app beside the hot-path gateway, one process.

Every answer that is not a success is an OpenAI-style error object; request validation
failures are 400s naming the field (not FastAPI's 422), so clients handle admin errors the
same way as gateway errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from portkey.control.api import cache, configs, keys, limits, virtual_keys
from portkey.errors import GatewayError, InvalidRequest, MethodNotAllowed, NotFound
from portkey.observe import analytics_api
from portkey.observe import api as logs_api
from portkey.prompts import api as prompts_api

if TYPE_CHECKING:
    from portkey.gateway.app import GatewayApp

PREFIX = "/admin"


def _error(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    detail = "; ".join(f"{_field_path(tuple(e['loc']))}: {e['msg']}" for e in errors[:5])
    return _error(InvalidRequest(detail, param=_field_path(tuple(first["loc"]))))


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return _error(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _error(NotFound(f"no admin route for {request.method} {request.url.path}"))
    if exc.status_code == 405:
        return _error(MethodNotAllowed(f"method {request.method} not allowed here"))
    return _error(GatewayError(str(exc.detail), status=exc.status_code))


def create_admin_app(gateway: GatewayApp) -> FastAPI:
    app = FastAPI(
        title="Portkey admin API",
        version="1",
        description="Virtual keys, caller API keys, budgets, rate limits, stored configs, "
        "usage and the audit log. Authenticate with the admin key "
        "(`Authorization: Bearer <admin key>` or `x-portkey-admin-key`).",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.gateway = gateway
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_error)
    for module in (virtual_keys, keys, limits, configs, cache):
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(logs_api.router, prefix=PREFIX)
    app.include_router(analytics_api.router, prefix=PREFIX)
    app.include_router(prompts_api.router, prefix=PREFIX)
    from portkey.orchestrator.sync import api as syncs_api

    app.include_router(syncs_api.router, prefix=PREFIX)
    return app
