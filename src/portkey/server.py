"""One process, one port: the top-level ASGI dispatcher and the ``serve`` entry point.

``/v1/*``, ``/health`` and ``/ready`` go to the hot-path gateway app; other faces (admin,
query, dashboard) mount under their own prefixes as they arrive.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from portkey.errors import NotFound
from portkey.gateway.app import GatewayApp
from portkey.gateway.responses import ASGIApp, Receive, Scope, Send, send_error
from portkey.gateway.runtime import Runtime, RuntimeHolder

CONFIG_ENV = "PORTKEY_CONFIG"


class Dispatcher:
    """Routes by path prefix; the gateway app also receives lifespan events."""

    def __init__(self, gateway: GatewayApp, mounts: Mapping[str, ASGIApp] | None = None) -> None:
        self.gateway = gateway
        self.mounts = dict(mounts or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.gateway(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith("/v1/") or path in ("/health", "/ready"):
            await self.gateway(scope, receive, send)
            return
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                await app(scope, receive, send)
                return
        if scope["type"] == "http":
            await send_error(send, NotFound(f"no route for {path}", code="unknown_url"))


def create_app(config_path: str | None = None) -> Dispatcher:
    """Build the whole service from a config file (default: $PORTKEY_CONFIG, else built-ins)."""
    path = config_path or os.environ.get(CONFIG_ENV) or None
    holder = RuntimeHolder(Runtime.from_path(path), path)
    gateway = GatewayApp(holder)
    from portkey.control.api.app import create_admin_app  # FastAPI: off the /v1 import path
    from portkey.dashboard.app import create_dashboard_app
    from portkey.observe.endpoint import MetricsEndpoint
    from portkey.orchestrator.api import create_query_app

    query_app = create_query_app(gateway)
    return Dispatcher(
        gateway,
        {
            "/admin": create_admin_app(gateway),
            "/metrics": MetricsEndpoint(gateway),
            "/query": query_app,
            "/catalog": query_app,
            "/dashboard": create_dashboard_app(gateway),
        },
    )
