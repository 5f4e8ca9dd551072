"""OpenAI chat SSE events -> Anthropic Messages SSE events, one translator per streamed answer.

Whatever the provider, a stream reaches the ingress as OpenAI ``chat.completion.chunk`` events
(passed through or decoded by the provider's format). The translator emits Anthropic's sequence::

    message_start, ping,
    (content_block_start, content_block_delta*, content_block_stop)*   text / tool_use blocks
    message_delta (stop_reason, usage), message_stop                   only after data: [DONE]

An in-band ``data: {"error": ...}`` event (the gateway's honest end of a broken stream) becomes
``event: error`` and nothing follows it, never a ``message_stop``. SSE comments pass through.
``message_start`` carries the gateway's input-token estimate; the upstream's real count, known
at the end, arrives in ``message_delta`` (whose usage the ``anthropic`` SDK takes as final).
"""

from __future__ import annotations

from typing import Any

import orjson

from portkey.gateway.anthropic_ingress import response
from portkey.gateway.streaming import event_data

Json = dict[str, Any]
PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def sse(payload: Json) -> bytes:
    name: str = payload["type"]
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class AnthropicStream:
    """Callable over blocks of OpenAI SSE bytes; returns the Anthropic SSE bytes to send."""

    __slots__ = (
        "_buf",
        "_open",
        "_tools",
        "finish",
        "finished",
        "index",
        "input_estimate",
        "matched",
        "model",
        "started",
        "stop_sequences",
        "usage",
    )

    def __init__(
        self, model: str = "", input_estimate: int = 0, stop_sequences: tuple[str, ...] = ()
    ) -> None:
        self.model = model
        self.input_estimate = input_estimate
        self.stop_sequences = stop_sequences
        self._buf = b""
        self.started = False
        self.finished = False
        self.index = -1  # index of the last content block opened
        self._open: str | None = None  # kind of the block now open ("text", "tool:<n>")
        self._tools: dict[int, int] = {}  # OpenAI tool-call index -> Anthropic block index
        self.finish: str | None = None
        self.matched: str | None = None
        self.usage: Json | None = None

    def __call__(self, data: bytes) -> bytes:
        if self.finished:
            return b""
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        *events, self._buf = buf.split(b"\n\n")
        out: list[bytes] = []
        for event in events:
            try:
                out.append(self._event(event))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                out.append(self._error({"message": f"cannot translate the stream: {exc}"}))
            if self.finished:
                break
        return b"".join(out)

    def _event(self, event: bytes) -> bytes:
        if not event.strip():
            return b""
        data = event_data(event)
        if data is None:  # comments (": ...") pass; other data-less events say nothing
            return event + b"\n\n" if event.startswith(b":") else b""
        if data.strip() == b"[DONE]":
            return self._finish()
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._error({"message": "upstream sent a malformed stream event"})
        if not isinstance(chunk, dict):
            return self._error({"message": "upstream sent a stream event that is not an object"})
        if chunk.get("error"):
            return self._error(chunk["error"])
        return self._chunk(chunk)

    # -- events ---------------------------------------------------------------------------

    def _start(self, chunk: Json) -> bytes:
        self.started = True
        message: Json = {
            "id": response.message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_estimate, "output_tokens": 0},
        }
        return sse({"type": "message_start", "message": message}) + PING

    def _chunk(self, chunk: Json) -> bytes:
        out = [b""] if self.started else [self._start(chunk)]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                out.append(self._thinking(reasoning))
            if delta.get("thinking_blocks"):
                out.append(self._signed(delta["thinking_blocks"]))
            text = delta.get("content")
            if isinstance(text, str) and text:
                out.append(self._text(text))
            for call in delta.get("tool_calls") or ():
                out.append(self._tool(call))
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
            if isinstance(choice.get("stop_reason"), str):
                self.matched = choice["stop_reason"]
        return b"".join(out)

    def _text(self, text: str) -> bytes:
        out = b""
        if self._open != "text":
            out = self._close() + self._begin({"type": "text", "text": ""}, "text")
        delta = {"type": "text_delta", "text": text}
        return out + sse({"type": "content_block_delta", "index": self.index, "delta": delta})

    def _thinking(self, text: str) -> bytes:
        out = b""
        if self._open != "thinking":
            block = {"type": "thinking", "thinking": "", "signature": ""}
            out = self._close() + self._begin(block, "thinking")
        delta = {"type": "thinking_delta", "thinking": text}
        return out + sse({"type": "content_block_delta", "index": self.index, "delta": delta})

    def _signed(self, blocks: Any) -> bytes:
        """A whole signed thinking block closes the open one; redacted ones come whole."""
        out = b""
        for block in response.signed_thinking(blocks):
            if block["type"] == "thinking":
                if self._open != "thinking":  # the text never streamed: send it now
                    out += self._thinking(block["thinking"])
                delta = {"type": "signature_delta", "signature": block["signature"]}
                out += sse({"type": "content_block_delta", "index": self.index, "delta": delta})
                out += self._close()
            else:
                out += self._close() + self._begin(block, "redacted") + self._close()
        return out

    def _tool(self, call: Json) -> bytes:
        position = call.get("index", 0)
        function = call.get("function") or {}
        out = b""
        if position not in self._tools:
            block: Json = {
                "type": "tool_use",
                "id": response.tool_use_id(call),
                "name": function.get("name") or "",
                "input": {},
            }
            out = self._close() + self._begin(block, f"tool:{position}")
            self._tools[position] = self.index
        partial = function.get("arguments")
        if isinstance(partial, dict):
            partial = orjson.dumps(partial).decode()
        if isinstance(partial, str) and partial:
            delta = {"type": "input_json_delta", "partial_json": partial}
            index = self._tools[position]
            out += sse({"type": "content_block_delta", "index": index, "delta": delta})
        return out

    def _begin(self, block: Json, kind: str) -> bytes:
        self.index += 1
        self._open = kind
        return sse({"type": "content_block_start", "index": self.index, "content_block": block})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return sse({"type": "content_block_stop", "index": self.index})

    def _finish(self) -> bytes:
        out = b"" if self.started else self._start({})
        out += self._close()
        self.finished = True
        reason, sequence = response.stop_reason(self.finish, bool(self._tools))
        if reason == "end_turn" and self.matched in self.stop_sequences:
            reason, sequence = "stop_sequence", self.matched
        use: Json = {"output_tokens": 0}
        if self.usage is not None:
            use = response.usage(self.usage)
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out += sse({"type": "message_delta", "delta": delta, "usage": use})
        return out + sse({"type": "message_stop"})

    def _error(self, payload: Any) -> bytes:
        self.finished = True
        return sse(response.stream_error(payload))
