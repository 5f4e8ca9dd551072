"""Gemini ``streamGenerateContent?alt=sse`` -> OpenAI chat.completion.chunk events.

Each SSE event is a whole GenerateContentResponse: text parts become content deltas,
functionCall parts whole tool calls, ``finishReason`` a finish chunk, and ``usageMetadata``
(running totals) the usage chunk. Gemini sends no end-of-stream event, so ``data: [DONE]``
is written by ``close`` only when every candidate has finished and the body ended whole: a
body cut before a finishReason, or mid-event, never looks complete.
"""

from __future__ import annotations

import orjson

from portkey.errors import UpstreamBadResponse
from portkey.formats.gemini.response import (
    blocked,
    candidate_parts,
    classify_error,
    finish_reason,
    new_id,
    tool_call,
    usage,
)
from portkey.formats.sse_events import SSEParser, chunk_base, parse_event, sse, wants_usage
from portkey.providers.base import Json

DONE = b"data: [DONE]\n\n"


class GeminiStreamDecoder:
    """One per streamed request; feed upstream bytes, get OpenAI SSE bytes."""

    __slots__ = (
        "_base",
        "_calls",
        "_failed",
        "_finished",
        "_open",
        "_sse",
        "_usage",
        "_want_usage",
    )

    def __init__(self, canonical: Json) -> None:
        self._sse = SSEParser()
        self._want_usage = wants_usage(canonical)
        self._base: Json = chunk_base(canonical, new_id("chatcmpl-"))
        self._open: set[int] = set()  # candidates that have begun (role sent)
        self._finished: set[int] = set()
        self._calls: dict[int, int] = {}  # candidate -> tool calls sent so far
        self._usage: Json | None = None
        self._failed = False

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for _name, payload in self._sse.feed(data):
            try:
                self._event(payload, out)
            except UpstreamBadResponse as exc:
                if not out:
                    raise  # nothing to keep: the attempt fails whole
                self._failed = True  # keep what came before, then say why it stopped
                out.append(sse({"error": exc.to_dict()["error"]}))
                break
        return b"".join(out)

    def close(self) -> bytes:
        out: list[bytes] = []
        rest = self._sse.rest()
        if rest:  # the body ended without the blank line that closes an event
            event = parse_event(rest)
            if event is not None:
                self._event(event[1], out)
        if self._failed or not self._open or self._open - self._finished:
            return b"".join(out)  # cut short or failed: no [DONE], the gateway says so
        if self._want_usage and self._usage is not None:
            out.append(sse({**self._base, "choices": [], "usage": self._usage}))
        out.append(DONE)
        return b"".join(out)

    # -- one GenerateContentResponse -----------------------------------------------------

    def _event(self, payload: str, out: list[bytes]) -> None:
        if self._failed or not payload.strip() or payload == "[DONE]":
            return
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise UpstreamBadResponse(
                f"Gemini sent a stream event that is not JSON: {exc}"
            ) from exc
        if not isinstance(event, dict):
            raise UpstreamBadResponse("Gemini sent a stream event that is not an object")
        if isinstance(event.get("error"), dict):
            self._failed = True
            error = classify_error(int(event["error"].get("code") or 500), event, None)
            out.append(sse({"error": error.to_dict()["error"]}))
            return
        if event.get("responseId") and not self._open:
            self._base["id"] = "chatcmpl-" + str(event["responseId"])
        if event.get("modelVersion"):
            self._base["model"] = str(event["modelVersion"])
        if isinstance(event.get("usageMetadata"), dict):
            self._usage = usage(event["usageMetadata"])
        candidates = event.get("candidates")
        if isinstance(candidates, list):
            for position, candidate in enumerate(candidates):
                if isinstance(candidate, dict):
                    self._candidate(candidate, position, out)
        elif blocked(event):  # the prompt was blocked: one empty, filtered answer
            self._begin(0, out)
            self._finish(0, "content_filter", out)

    def _candidate(self, candidate: Json, position: int, out: list[bytes]) -> None:
        index = candidate.get("index")
        index = index if isinstance(index, int) else position
        if index in self._finished:
            return
        self._begin(index, out)
        for part in candidate_parts(candidate):
            if "functionCall" in part:
                call = tool_call(part)
                n = self._calls.get(index, 0)
                self._calls[index] = n + 1
                out.append(self._chunk(index, {"tool_calls": [{"index": n, **call}]}))
            elif isinstance(part.get("text"), str) and part["text"]:
                key = "reasoning_content" if part.get("thought") else "content"
                out.append(self._chunk(index, {key: part["text"]}))
        native = candidate.get("finishReason")
        if native:
            self._finish(index, finish_reason(native, index in self._calls), out)

    def _begin(self, index: int, out: list[bytes]) -> None:
        if index not in self._open:
            self._open.add(index)
            out.append(self._chunk(index, {"role": "assistant", "content": ""}))

    def _finish(self, index: int, reason: str, out: list[bytes]) -> None:
        self._finished.add(index)
        out.append(self._chunk(index, {}, reason))

    def _chunk(self, index: int, delta: Json, finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**self._base, "choices": [choice]})
