"""Scriptable fake OpenAI-compatible upstream server for gateway tests and the offline demo."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

from portkey.devtools._fake_scripts import (
    ERROR_200_BODY,
    STREAM_ERROR_EVENT,
    Call,
    Kind,
    RecordedRequest,
    error_body,
    parse_script,
)

__all__ = [
    "STATE_KEY",
    "FakeState",
    "FakeUpstream",
    "RecordedRequest",
    "create_fake_app",
    "start_fake_upstream",
]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_MODELS = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small")
_ROUTES: tuple[tuple[Kind, str], ...] = (
    ("chat", "chat/completions"),
    ("completion", "completions"),
    ("embedding", "embeddings"),
)
_STALL_MAX_S = 120.0
_POLL_S = 0.02


class FakeState:
    """Thread-safe record of requests, stream disconnects and `flaky-N` counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._attempts: dict[tuple[str, str], int] = {}

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot copy of the recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def disconnects(self) -> int:
        with self._lock:
            return self._disconnects

    def note_disconnect(self) -> None:
        with self._lock:
            self._disconnects += 1

    def attempt(self, key: tuple[str, str]) -> int:
        """Count one more request for `key` and return its 1-based attempt number."""
        with self._lock:
            self._attempts[key] = self._attempts.get(key, 0) + 1
            return self._attempts[key]

    def clear(self) -> None:
        """Forget recorded requests, the disconnect count and all `flaky-N` counters."""
        with self._lock:
            self._requests.clear()
            self._disconnects = 0
            self._attempts.clear()


STATE_KEY = web.AppKey("portkey_fake_state", FakeState)
_RECORD_KEY = web.RequestKey("portkey_fake_record", RecordedRequest)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def _error(
    status: int, message: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return _json(error_body(status, message), status=status, headers=headers)


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def _record(request: web.Request) -> None:
    raw = await request.read()
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    rec = RecordedRequest(
        method=request.method,
        path=request.path,
        query=dict(request.query),
        headers=headers,
        body=_parse_body(raw),
        raw=raw,
    )
    request[_RECORD_KEY] = rec
    request.app[STATE_KEY].record(rec)


@web.middleware
async def _guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Record the request, and turn any unscripted failure into an OpenAI-style JSON error."""
    try:
        if not request.path.startswith("/_fake/"):
            await _record(request)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, f"fake upstream: {exc.reason}")
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as exc:
        return _error(500, f"fake upstream internal error: {type(exc).__name__}")


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _wait(request: web.Request, seconds: float) -> bool:
    """Sleep `seconds` while watching the client; False as soon as it has gone away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not _client_gone(request):
        remaining = deadline - loop.time()
        if remaining <= 0:
            return True
        await asyncio.sleep(min(remaining, _POLL_S))
    return False


async def _wait_or_raise(request: web.Request, seconds: float) -> None:
    if seconds > 0 and not await _wait(request, seconds):
        raise ConnectionResetError("client went away")


def _hard_close(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()


def _scripted_failure(request: web.Request, call: Call) -> web.Response | None:
    """The error answer for `status-NNN` / `flaky-N`, or None when this call succeeds."""
    script = call.script
    if script.flaky is not None:
        auth = call.record.headers.get("authorization") or call.record.headers.get("api-key", "")
        if request.app[STATE_KEY].attempt((call.model, auth)) > script.flaky:
            return None
    elif script.status is None:
        return None
    return _error(script.error_status, headers=script.retry_headers())


async def _respond(request: web.Request, call: Call) -> web.StreamResponse:
    """Answer a non-streaming call."""
    script = call.script
    if script.delay_ms and not await _wait(request, script.delay_ms / 1000):
        return _error(499, "client went away")
    failure = _scripted_failure(request, call)
    if failure is not None:
        return failure
    if script.error_200:
        return _json(ERROR_200_BODY, headers=script.retry_headers())
    if script.malformed:
        return web.Response(body=b'{"id": "broken', content_type="application/json")
    return _json(call.embeddings() if call.kind == "embedding" else call.completion())


class _Sse:
    """Writes the `data:` events of one streamed answer, honouring `gap-N`."""

    def __init__(self, request: web.Request, call: Call) -> None:
        self.request = request
        self.call = call
        self.resp = web.StreamResponse(headers=_SSE_HEADERS)
        self.sent = 0

    async def send(self, data: bytes) -> None:
        if self.sent:
            await _wait_or_raise(self.request, self.call.script.gap_ms / 1000)
        await self.resp.write(b"data: " + data + b"\n\n")
        self.sent += 1

    async def special(self) -> bool:
        """Play `empty`, `done-only`, `error-first` or `malformed`; False if none applies."""
        script = self.call.script
        if script.done_only:
            await self.send(b"[DONE]")
        elif script.error_first:
            await self.send(orjson.dumps(STREAM_ERROR_EVENT))
        elif script.malformed:
            await self.send(self.call.chunk("tok0 ", role=self.call.kind == "chat"))
            await self.send(b"{not json")
            await self.send(b"[DONE]")
        elif not script.empty:
            return False
        await self.resp.write_eof()
        return True

    async def interrupt(self, index: int, n_pieces: int) -> bool:
        """Apply `cut-N` / `stall-N` before content chunk `index`; True if the stream ended."""
        script = self.call.script
        if script.stall is not None and index == min(script.stall, n_pieces):
            await _wait_or_raise(self.request, _STALL_MAX_S)
        elif script.cut is None or index != min(script.cut, n_pieces):
            return False
        _hard_close(self.request)  # no final chunk, no [DONE]: the client sees a truncated body
        return True

    async def play(self) -> None:
        call, script = self.call, self.call.script
        await self.resp.prepare(self.request)
        await _wait_or_raise(self.request, script.ttft_ms / 1000)
        if await self.special():
            return
        pieces = [call.content()] if script.echo else [f"tok{i} " for i in range(script.chunks)]
        if call.kind == "chat":
            await self.send(call.chunk("", role=True))
        for index in range(len(pieces) + 1):
            if await self.interrupt(index, len(pieces)):
                return
            if index < len(pieces):
                await self.send(call.chunk(pieces[index]))
        await self.send(call.chunk(None if call.kind == "chat" else "", finish="stop"))
        if call.include_usage:
            await self.send(call.usage_chunk(len(pieces)))
        await self.send(b"[DONE]")
        await self.resp.write_eof()


async def _stream(request: web.Request, call: Call) -> web.StreamResponse:
    """Answer a streaming call, counting clients that leave before the stream is finished."""
    script = call.script
    state = request.app[STATE_KEY]
    sse = _Sse(request, call)
    try:
        await _wait_or_raise(request, script.delay_ms / 1000)
        failure = _scripted_failure(request, call)
        if failure is not None:
            return failure
        if script.error_200:
            return _json(ERROR_200_BODY, headers=script.retry_headers())
        await sse.play()
    except ConnectionError:  # a write or a watched wait found the client gone
        state.note_disconnect()
        _hard_close(request)
    except asyncio.CancelledError:  # handler_cancellation: aiohttp cancels us on disconnect
        state.note_disconnect()
        raise
    except Exception as exc:  # never append a 500 to a half-written stream
        if not sse.resp.prepared:
            return _error(500, f"fake upstream internal error: {type(exc).__name__}")
        _hard_close(request)
    return sse.resp


def _endpoint(kind: Kind) -> _Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        rec = request[_RECORD_KEY]
        if not isinstance(rec.body, dict):
            return _error(400, "We could not parse the JSON body of your request. (fake upstream)")
        model = str(rec.body.get("model") or request.match_info.get("deployment") or "fake-model")
        call = Call(kind=kind, model=model, body=rec.body, script=parse_script(model), record=rec)
        if kind != "embedding" and rec.body.get("stream") is True:
            return await _stream(request, call)
        return await _respond(request, call)

    return handler


async def _models(request: web.Request) -> web.StreamResponse:
    data = [
        {"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in _MODELS
    ]
    return _json({"object": "list", "data": data})


async def _get_requests(request: web.Request) -> web.StreamResponse:
    return _json([r.to_json() for r in request.app[STATE_KEY].requests])


async def _delete_requests(request: web.Request) -> web.StreamResponse:
    request.app[STATE_KEY].clear()
    return _json({"cleared": True})


async def _stats(request: web.Request) -> web.StreamResponse:
    return _json({"disconnects": request.app[STATE_KEY].disconnects})


def create_fake_app(state: FakeState | None = None) -> web.Application:
    """Build the fake upstream app; its FakeState is at `app[STATE_KEY]`."""
    app = web.Application(middlewares=[_guard], client_max_size=64 * 1024**2)
    app[STATE_KEY] = state if state is not None else FakeState()
    for kind, suffix in _ROUTES:
        handler = _endpoint(kind)
        app.router.add_post(f"/v1/{suffix}", handler)
        app.router.add_post(f"/openai/deployments/{{deployment}}/{suffix}", handler)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/_fake/requests", _get_requests)
    app.router.add_delete("/_fake/requests", _delete_requests)
    app.router.add_get("/_fake/stats", _stats)
    return app


async def start_fake_upstream(
    host: str = "127.0.0.1", port: int = 0, *, shutdown_timeout: float = 0.25
) -> tuple[web.AppRunner, int]:
    """Serve a fresh fake app in the running loop; returns the runner and the bound port.

    `runner.cleanup()` stops it; in-flight handlers (e.g. `stall-N`) get `shutdown_timeout` s.
    """
    runner = web.AppRunner(
        create_fake_app(),
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    for address in runner.addresses:
        bound = int(address[1])
        break
    return runner, bound


class FakeUpstream:
    """Run the fake on 127.0.0.1 (ephemeral port) in a background thread with its own loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._state: FakeState | None = None
        self.port = 0

    def __enter__(self) -> Self:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-upstream", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start_fake_upstream(), loop)
        try:
            self._runner, self.port = future.result(timeout=30)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self._state = self._runner.app[STATE_KEY]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, runner, thread = self._loop, self._runner, self._thread
        if loop is None or thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        self._loop = self._thread = self._runner = None

    @property
    def state(self) -> FakeState:
        if self._state is None:
            raise RuntimeError("FakeUpstream is not running")
        return self._state

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def disconnects(self) -> int:
        return self.state.disconnects

    def clear(self) -> None:
        self.state.clear()
