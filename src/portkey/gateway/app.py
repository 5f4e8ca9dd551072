"""The hot-path ASGI app: /v1 endpoints, /health and /ready. Plain ASGI, no framework."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from portkey.cache import make_cache_service, reconfigured
from portkey.cache.service import CacheService
from portkey.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from portkey.gateway import ingress, models_endpoint
from portkey.gateway.ingress import Call
from portkey.gateway.plan import Leaf
from portkey.gateway.reload import Reloader
from portkey.gateway.responses import (
    SSE_HEADERS,
    RawHeaders,
    Receive,
    Scope,
    Send,
    json_body,
    passed_upstream_headers,
    send_error,
    send_json,
)
from portkey.gateway.router import Answer, Router, usage_of
from portkey.gateway.runtime import RuntimeHolder
from portkey.gateway.streaming import UsageFilter, Watchdog, error_event, pump
from portkey.guardrails.stream import guarded_writer
from portkey.observe.hook import cost_header
from portkey.providers.base import CHAT, COMPLETIONS, EMBEDDINGS
from portkey.transport.http import Transport, UpstreamResponse

log = logging.getLogger("portkey.gateway")

POST_ROUTES = {
    "/v1/chat/completions": CHAT,
    "/v1/completions": COMPLETIONS,
    "/v1/embeddings": EMBEDDINGS,
}
CACHE_DISABLED = (b"x-portkey-cache-status", b"DISABLED")
#: served by portkey.gateway.anthropic_ingress (imported on first use: it imports this module)
ANTHROPIC_ROUTES = frozenset({"/v1/messages", "/v1/messages/count_tokens"})


class GatewayApp:
    """Serves the OpenAI-compatible API from the current runtime."""

    def __init__(self, holder: RuntimeHolder) -> None:
        self.holder = holder
        self.router: Router | None = None
        self.transport: Transport | None = None
        self.reloader: Reloader | None = None
        self.ready = False
        #: the control plane (portkey.control.service.ControlService), once started
        self.control: Any = None
        self.cache: CacheService | None = None
        #: the prompt registry (portkey.prompts.service.PromptService), once started
        self.prompts: Any = None
        #: runs scheduled data.syncs jobs (portkey.orchestrator.sync.scheduler), when any
        self.scheduler: Any = None
        self._background: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        route = POST_ROUTES.get(path)
        if route is not None and method == "POST":
            await self.proxy(route, scope, receive, send)
        elif path in ANTHROPIC_ROUTES and method == "POST":
            await self.anthropic(scope, receive, send)
        elif path == "/v1/models" and method == "GET":
            await models_endpoint.handle(self, scope, send)
        elif path.startswith("/v1/prompts/") and method == "POST":
            from portkey.prompts import endpoints

            await endpoints.handle(self, scope, receive, send)
        elif path == "/v1/feedback" and method == "POST":
            from portkey.prompts import feedback

            await feedback.handle(self, scope, receive, send)
        elif path == "/health":
            await send_json(send, 200, b'{"status":"ok"}')
        elif path == "/ready":
            await self.readiness(send)
        elif route is not None or path == "/v1/models" or path in ANTHROPIC_ROUTES:
            await send_error(send, MethodNotAllowed(f"method {method} not allowed on {path}"))
        else:
            await send_error(send, NotFound(f"no route for {method} {path}", code="unknown_url"))

    # -- lifecycle -------------------------------------------------------------------------

    async def startup(self) -> None:
        settings = self.holder.current.file.server
        from portkey.control.service import ControlService  # heavy: imported at startup only

        self.control = await ControlService.start(self.holder)
        cache_settings = self.holder.current.file.cache
        self.cache = make_cache_service(cache_settings)
        self.transport = Transport(settings.upstream)
        self.router = Router(
            self.transport, settings.unsupported_params, self.control.gate, self.cache
        )
        from portkey.observe.service import ObserveService  # logs, metrics: off the hot path

        store = self.control.store
        observer = await ObserveService.start(self.holder, store.db, store.list_budgets)
        self.router.observer = observer
        if isinstance(observer, ObserveService):
            observer.health.start_probes(self.holder, self.transport)
            if observer.metrics is not None:
                observer.metrics.watch_pool(self.transport.pool_usage)
        from portkey.prompts.service import PromptService

        self.prompts = await PromptService.start(self.holder.current.file, store.db)
        if any(job.schedule for job in self.holder.current.file.data.syncs.values()):
            self.scheduler = await asyncio.to_thread(self._sync_scheduler, store.db)
        self.reloader = Reloader(self.holder, self._on_reload)
        self.reloader.start()
        self.ready = True

    def _on_reload(self) -> None:
        if self.router is not None:
            self.router.policy = self.holder.current.file.server.unsupported_params
        if self.prompts is not None:
            task = asyncio.get_running_loop().create_task(
                self.prompts.reload(self.holder.current.file)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if self.cache is not None and self.router is not None:
            previous = self.cache
            self.cache = self.router.cache = reconfigured(previous, self.holder.current.file.cache)
            if self.cache is not previous:
                log.info("cache settings changed: a new %s cache", self.cache.backend.name)
                task = asyncio.get_running_loop().create_task(previous.close())
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def shutdown(self) -> None:
        self.ready = False
        if self.reloader is not None:
            self.reloader.stop()
        if self.prompts is not None:
            await self.prompts.close()
        if self.scheduler is not None:
            await asyncio.to_thread(self.scheduler.stop)  # lets a running sync job finish
        if self.router is not None:
            await self.router.observer.close()  # before the store closes: it flushes there
        if self.control is not None:
            await self.control.stop()
        if self.cache is not None:
            await self.cache.close()
        if self.transport is not None:
            await self.transport.close()

    def _sync_scheduler(self, db: Any) -> Any:
        """Start the sync scheduler (one run per cron slot across replicas: a store lock)."""
        from portkey.orchestrator.sync.history import History
        from portkey.orchestrator.sync.scheduler import Scheduler

        scheduler = Scheduler(lambda: self.holder.current.file.data, History(db))
        scheduler.start()
        return scheduler

    async def readiness(self, send: Send) -> None:
        """200 while serving (``degraded`` when the store is unreachable), else 503."""
        degraded = self.control.plane.degraded if self.control is not None else None
        body: dict[str, Any] = {"ready": self.ready, "status": "ok" if self.ready else "starting"}
        if self.ready and degraded:
            body.update(status="degraded", reason=degraded)
        if self.ready:
            body["checks"] = checks = {"store": {"status": "degraded" if degraded else "ok"}}
            if self.cache is not None:
                checks["cache"] = self.cache.health()
            status = getattr(self.router.observer, "status", None) if self.router else None
            if status is not None:
                checks.update(status())
            if checks.get("logs", {}).get("status") == "failing" and body["status"] == "ok":
                body.update(status="degraded", reason=checks["logs"]["error"])
        await send_json(send, 200 if self.ready else 503, json_body(body))

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # report, do not crash the server loop silently
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- proxied routes --------------------------------------------------------------------

    async def proxy(self, route: str, scope: Scope, receive: Receive, send: Send) -> None:
        call = Call(route, scope["path"], {}, time.perf_counter())
        ingress.read_headers(scope["headers"], call.headers)
        runtime = self.holder.current
        try:
            if self.router is None:
                raise GatewayError("gateway is not started", status=503)
            call.trace_id = call.headers.get("x-portkey-trace-id") or call.trace_id
            ingress.apply_headers(call, scope["headers"])
            tracing = self.router.observer.tracing
            if tracing is not None:
                call.span = tracing.ids_for(call.headers.get("traceparent"))
            if self.control is not None:
                self.control.gate.identify(call)
            raw = await read_body(scope, receive, runtime.file.server.max_body_bytes)
            ingress.parse_body(call, raw)
            plan = ingress.select_plan(runtime, call.headers)
            ingress.check_model(call, plan)
            if call.stream:
                await StreamResponse(self.router, call, receive, send).run(plan)
                return
            answer = await self.router.run(plan, call)
        except GatewayError as exc:
            await send_error(send, exc, failure_headers(call))
            if self.router is not None:
                self.router.observer.finish(call, None, exc.http_status, None, error=exc)
            return
        observer, usage = self.router.observer, usage_of(answer.body)
        cost = observer.price(call, answer.leaf, usage)
        headers = [*answer_headers(call, answer.leaf, answer.response), *cost_header(cost)]
        status, body = answer.status or answer.response.status, answer.body
        await send_json(send, status, body, headers)
        observer.finish(call, answer.leaf, status, usage, cost, response_body=body)

    async def anthropic(self, scope: Scope, receive: Receive, send: Send) -> None:
        from portkey.gateway.anthropic_ingress import handle

        await handle(self, scope, receive, send)


class StreamResponse:
    """One streamed answer: headers go out as soon as an upstream answers 200."""

    def __init__(
        self,
        router: Router,
        call: Call,
        receive: Receive,
        send: Send,
        transform: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.router = router
        self.call = call
        self.receive = receive
        self.send = send
        self.leaf: Leaf | None = None
        #: rewrites outgoing SSE bytes (e.g. OpenAI events -> Anthropic events)
        self.transform = transform
        #: for the observer: the stream's usage chunk, its failure, when its first event came
        self.usage: dict[str, Any] | None = None
        self.failure: GatewayError | None = None
        self.first_token_s: float | None = None

    async def run(self, plan: Any) -> None:
        watcher = asyncio.ensure_future(self._watch_disconnect())
        try:
            await self._run(plan)
        finally:
            watcher.cancel()
        first, observer = self.first_token_s, self.router.observer
        observer.finish(
            self.call, self.leaf, 200, self.usage, error=self.failure, first_token_s=first
        )

    async def _run(self, plan: Any) -> None:
        call = self.call
        try:
            answer = await self.router.run(plan, call, self.on_open)
        except GatewayError as exc:
            if self.leaf is None:
                raise
            self.failure = exc
            await self.write(error_event(exc))
            await self.end()
            return
        await self._forward(answer)

    async def _forward(self, answer: Answer) -> None:
        cache = self.router.cache
        storing = cache is not None and not answer.cached and self.call.cache is not None
        recorded: list[bytes] | None = [answer.body] if storing else None
        filt = UsageFilter(answer.strip_usage)
        self.first_token_s = time.perf_counter()
        write = guarded_writer(answer.leaf.guard, self.call, self.write, self.router.transport)
        failure = None
        try:
            await write(filt(answer.body))
        except GatewayError as exc:  # a guardrail stopped it on the first block
            failure, answer.done = exc, True
            answer.response.close()
        if not answer.done and answer.chunks is not None and answer.framer is not None:
            watchdog = Watchdog(answer.response, answer.leaf.idle_timeout_s)
            tap = recorded.append if recorded is not None else None
            failure = await pump(answer.chunks, answer.framer, watchdog, filt, write, tap)
        if failure is not None and not self.call.disconnected:
            await self.write(error_event(failure))
        await self.end()
        self.usage, self.failure = filt.usage, failure
        if self.router.gate is not None:
            self.router.gate.finish(self.call, None if answer.cached else answer.leaf, filt.usage)
        complete = failure is None and not self.call.disconnected
        if recorded is not None and cache is not None and complete:  # never a broken stream
            cache.store(self.call, answer.leaf, b"".join(recorded))

    async def on_open(self, leaf: Leaf, response: UpstreamResponse) -> None:
        """Send the response headers; the router calls this once, for the answering target."""
        self.leaf = leaf
        headers = [*SSE_HEADERS, *answer_headers(self.call, leaf, response)]
        status = 246 if self.call.guard is not None and self.call.guard.flagged else 200
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, data: bytes) -> None:
        if self.transform is not None:
            data = self.transform(data)
        if data:
            await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self) -> None:
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch_disconnect(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.call.disconnected = True
                if self.call.upstream is not None:
                    self.call.upstream.close()
                return


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise InvalidRequest("invalid content-length header") from None
            if declared > limit:
                raise PayloadTooLarge(f"request body is larger than {limit} bytes")
            break
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("client disconnected while sending the body")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        if not message.get("more_body", False):
            if not parts:
                return chunk
            parts.append(chunk)
            return b"".join(parts)
        parts.append(chunk)


def base_headers(call: Call) -> RawHeaders:
    overhead = (time.perf_counter() - call.started - call.upstream_s) * 1000
    ticket = call.cache
    headers = [
        (b"x-portkey-trace-id", call.trace_id.encode("latin-1")),
        (b"x-portkey-retry-attempt-count", str(call.retries).encode()),
        CACHE_DISABLED if ticket is None else (b"x-portkey-cache-status", ticket.status),
        (b"x-portkey-gateway-overhead-ms", f"{overhead:.3f}".encode()),
    ]
    if ticket is not None and ticket.age is not None:
        headers.append((b"x-portkey-cache-age", str(ticket.age).encode()))
    if call.warnings:
        headers.append(
            (b"x-portkey-warnings", "; ".join(call.warnings).encode("latin-1", "replace"))
        )
    if call.control is not None and call.control.headers:
        headers.extend(call.control.headers)
    return headers


def answer_headers(call: Call, leaf: Leaf, response: UpstreamResponse) -> RawHeaders:
    headers = base_headers(call)
    headers.append((b"x-portkey-provider", leaf.spec.id.encode()))
    headers.append((b"x-portkey-last-used-option-index", leaf.path.encode()))
    passed = passed_upstream_headers(response.headers)
    if call.control is not None and call.control.headers:  # our limits replace the upstream's
        passed = [(n, v) for n, v in passed if not n.startswith(b"x-ratelimit-")]
    headers.extend(passed)
    return headers


def failure_headers(call: Call) -> RawHeaders:
    headers = base_headers(call)
    if call.attempts:
        last = call.attempts[-1]
        headers.append((b"x-portkey-provider", last.provider.encode()))
        headers.append((b"x-portkey-last-used-option-index", last.target.encode()))
    return headers
