"""Loopback servers for guardrail tests: an upstream that says what the test scripts, a webhook.

``ReplyUpstream`` answers OpenAI chat/completions with the text registered for the request's
model name (``say(text)`` returns that name); streams send the text word by word, so a
violation can sit in the middle of a stream. With no registered text it echoes the last
user message (to see masking both ways). ``/v1/moderations`` answers ``flagged`` when the
input contains a word from ``FLAGGED_WORDS``.

``WebhookReceiver`` records each POST and answers as ``mode`` says: ``pass``, ``fail``,
``slow`` (sleeps past any sane timeout), ``error`` (HTTP 500) or ``garbage`` (not JSON).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

FLAGGED_WORDS = ("kill", "bomb")


class _Threaded:
    """An aiohttp app on 127.0.0.1 (ephemeral port) in a thread with its own loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.lock = threading.Lock()
        self.closing = False

    def app(self) -> web.Application:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        self.runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    def __enter__(self) -> Self:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.closing = True
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class ReplyUpstream(_Threaded):
    def __init__(self) -> None:
        super().__init__()
        self.replies: dict[str, tuple[str, float]] = {}
        self.sizes: dict[str, int] = {}
        self.received: dict[str, list[Any]] = {}
        self.moderations: list[Any] = []

    def say(self, text: str | None, gap_s: float = 0.0, size: int = 0) -> str:
        """A model name that makes the upstream answer ``text`` (None: echo the user).

        Streams send a word per chunk, or ``size`` characters per chunk when set.
        """
        model = f"m-{uuid.uuid4().hex[:12]}"
        if size:
            self.sizes[model] = size
        if text is not None:
            self.replies[model] = (text, gap_s)
        else:
            self.replies[model] = ("", gap_s)
            self.received.setdefault(model, [])
        return model

    def bodies(self, model: str) -> list[Any]:
        with self.lock:
            return list(self.received.get(model, []))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._chat)
        app.router.add_post("/v1/moderations", self._moderate)
        return app

    def _text(self, body: dict[str, Any]) -> tuple[str, float]:
        model = str(body.get("model"))
        text, gap = self.replies.get(model, (f"Hello from {model}", 0.0))
        if text:
            return text, gap
        messages = body.get("messages") or []
        users = [m.get("content") for m in messages if m.get("role") == "user"]
        return str(users[-1] if users else body.get("prompt", "")), gap

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        with self.lock:
            self.received.setdefault(str(body.get("model")), []).append(body)
        text, gap = self._text(body)
        chat = request.path.endswith("chat/completions")
        if body.get("stream"):
            return await self._stream(request, body, text, gap, chat)
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop"}
        usage = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
        return web.json_response(
            {
                "id": "chatcmpl-reply",
                "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [choice],
                "usage": usage,
            },
            dumps=lambda v: orjson.dumps(v).decode(),
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], text: str, gap: float, chat: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        size = self.sizes.get(str(body.get("model")), 0)
        if size:
            words = [text[i : i + size] for i in range(0, len(text), size)]
        else:
            words = [w + " " for w in text.split(" ")]
            words[-1] = words[-1][:-1]

        def chunk(piece: str | None, finish: str | None = None) -> bytes:
            if chat:
                delta = {} if piece is None else {"content": piece}
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": piece or "", "finish_reason": finish}
            event = {
                "id": "chatcmpl-reply",
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": 1,
                "model": body.get("model"),
                "choices": [choice],
            }
            return b"data: " + orjson.dumps(event) + b"\n\n"

        try:
            for word in words:
                await response.write(chunk(word))
                if gap:
                    await asyncio.sleep(gap)
            await response.write(chunk(None, "stop"))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def _moderate(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        with self.lock:
            self.moderations.append(body)
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        results = []
        for item in items:
            hit = any(w in str(item).lower() for w in FLAGGED_WORDS)
            results.append(
                {
                    "flagged": hit,
                    "categories": {"violence": hit, "hate": False},
                    "category_scores": {"violence": 0.98 if hit else 0.01, "hate": 0.0},
                }
            )
        return web.json_response({"id": "modr-1", "model": "omni", "results": results})


class WebhookReceiver(_Threaded):
    def __init__(self) -> None:
        super().__init__()
        self.mode = "pass"
        self.posts: list[Any] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        return app

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        with self.lock:
            self.posts.append({"body": body, "headers": dict(request.headers)})
        mode = self.mode
        if mode == "slow":  # far past any timeout, but let go when the receiver stops
            for _ in range(200):
                if self.closing:
                    break
                await asyncio.sleep(0.05)
        if mode == "error":
            return web.Response(status=500, text="boom")
        if mode == "garbage":
            return web.Response(status=200, text="not json")
        verdict = mode == "pass"
        return web.json_response({"verdict": verdict, "data": {"reason": f"receiver said {mode}"}})
