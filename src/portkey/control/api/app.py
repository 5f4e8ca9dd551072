"""The admin API under ``/admin``: a FastAPI app beside the hot-path gateway, one process.

Every answer that is not a success is an OpenAI-style error object; request validation
failures are 400s naming the field (not FastAPI's 422), so clients handle admin errors the
same way as gateway errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from portkey.control.api import cache, configs, keys, limits, virtual_keys
from portkey.control.api.errors import install_error_handlers
from portkey.observe import analytics_api
from portkey.observe import api as logs_api
from portkey.prompts import api as prompts_api

if TYPE_CHECKING:
    from portkey.gateway.app import GatewayApp

PREFIX = "/admin"


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
    install_error_handlers(app, "admin route")
    for module in (virtual_keys, keys, limits, configs, cache):
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(logs_api.router, prefix=PREFIX)
    app.include_router(analytics_api.router, prefix=PREFIX)
    app.include_router(prompts_api.router, prefix=PREFIX)
    from portkey.orchestrator.sync import api as syncs_api

    app.include_router(syncs_api.router, prefix=PREFIX)
    return app
