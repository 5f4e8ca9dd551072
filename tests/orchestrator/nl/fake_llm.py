"""A scripted OpenAI-compatible model: each request takes the next canned answer of the script.

``llm.script(["...", "..."])`` queues answer texts (the message content, verbatim: JSON or
not); ``llm.requests`` holds every request body it received. With the queue empty it answers
``{}`` (which the validator rejects as missing fields).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from aiohttp import web

from tests.fakes.runner import AppServer


class ScriptedLLM:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self.server = AppServer(app)

    def script(self, answers: list[str]) -> None:
        with self._lock:
            self._queue.clear()
            self._queue.extend(answers)
            self.requests.clear()

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            content = self._queue.popleft() if self._queue else "{}"
        prompt_tokens = sum(len(str(m.get("content", ""))) // 4 for m in body["messages"])
        return web.json_response(
            {
                "id": f"chatcmpl-scripted-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1_800_000_000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(content) // 4 + 1,
                    "total_tokens": prompt_tokens + len(content) // 4 + 1,
                },
            }
        )

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    def __enter__(self) -> ScriptedLLM:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(None, None, None)
