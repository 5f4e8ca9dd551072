"""OpenAI-style error answers for the FastAPI faces (``/admin``, ``/query``, ``/catalog``).

Request validation failures become 400s naming the field (not FastAPI's 422), unknown routes
404 and wrong methods 405, so clients handle these errors the same way as gateway errors.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from portkey.errors import GatewayError, InvalidRequest, MethodNotAllowed, NotFound


def error_response(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


def field_path(loc: tuple[Any, ...]) -> str:
    """``body.targets.0.weight`` -> ``targets.0.weight``: the field as the client wrote it."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ()}
    detail = "; ".join(f"{field_path(tuple(e['loc']))}: {e['msg']}" for e in errors[:5])
    return error_response(
        InvalidRequest(detail or "invalid request", param=field_path(tuple(first["loc"])))
    )


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


def install_error_handlers(app: FastAPI, routes: str = "route") -> None:
    """Answer every failure of ``app`` with an error object; 404s say "no {routes} for ..."."""

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        where = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            return error_response(NotFound(f"no {routes} for {where}"))
        if exc.status_code == 405:
            return error_response(MethodNotAllowed(f"method {request.method} not allowed here"))
        return error_response(GatewayError(str(exc.detail), status=exc.status_code))

    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, http_error)
