"""``GET /metrics``: the Prometheus text exposition of this process (plain ASGI)."""

from __future__ import annotations

from typing import Any

from portkey.errors import MethodNotAllowed, NotFound
from portkey.gateway.responses import Receive, Scope, Send, send_error
from portkey.observe.metrics import CONTENT_TYPE, Metrics


class MetricsEndpoint:
    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway

    def metrics(self) -> Metrics | None:
        router = self.gateway.router
        found = getattr(router.observer, "metrics", None) if router is not None else None
        return found if isinstance(found, Metrics) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await send_error(send, MethodNotAllowed("use GET /metrics"))
            return
        metrics = self.metrics()
        if metrics is None:
            await send_error(send, NotFound("metrics are off (metrics.enabled: false)"))
            return
        body = metrics.render()
        headers = [
            (b"content-type", CONTENT_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
