"""Script grammar (`+`-joined model tokens) and OpenAI payload builders for the fake upstream."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

Kind = Literal["chat", "completion", "embedding"]
DEFAULT_CHUNKS = 5
COMPLETION_TOKENS = 5

_FLAGS = {
    "empty": "empty",
    "done-only": "done_only",
    "error-first": "error_first",
    "malformed": "malformed",
    "error-200": "error_200",
    "echo": "echo",
}
_INT_FIELDS = {"delay": "delay_ms", "ttft": "ttft_ms", "gap": "gap_ms"}
_INT_RE = re.compile(r"^(status|flaky|delay|ttft|gap|chunks|cut|stall)-(\d{1,9})$")
_RETRY_MS_RE = re.compile(r"^retry-after-ms-(\d{1,12})$")
_RETRY_RE = re.compile(r"^retry-after-(\d{1,12}(?:\.\d{1,9})?)$")
_ECHO_HEADERS = ("authorization", "api-key")


@dataclass(slots=True)
class Script:
    """Behaviour requested by one model string; fields left at defaults mean "normal"."""

    status: int | None = None
    retry_after: str | None = None
    retry_after_ms: str | None = None
    flaky: int | None = None
    delay_ms: int = 0
    ttft_ms: int = 0
    gap_ms: int = 0
    chunks: int = DEFAULT_CHUNKS
    cut: int | None = None
    stall: int | None = None
    empty: bool = False
    done_only: bool = False
    error_first: bool = False
    malformed: bool = False
    error_200: bool = False
    echo: bool = False

    @property
    def error_status(self) -> int:
        """Status used by a scripted failure (`status-NNN`, else 503 for `flaky-N`)."""
        return self.status if self.status is not None else 503

    def retry_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        if self.retry_after_ms is not None:
            headers["retry-after-ms"] = self.retry_after_ms
        return headers


def parse_script(model: str) -> Script:
    """Parse `model` into a Script; unknown or malformed tokens are ignored."""
    script = Script()
    for raw_token in model.split("+"):
        token = raw_token.strip().lower()
        if token in _FLAGS:
            setattr(script, _FLAGS[token], True)
        elif m := _INT_RE.match(token):
            name, value = m.group(1), int(m.group(2))
            if name != "status" or 400 <= value <= 599:  # only error statuses are scriptable
                setattr(script, _INT_FIELDS.get(name, name), value)
        elif m := _RETRY_MS_RE.match(token):
            script.retry_after_ms = m.group(1)
        elif m := _RETRY_RE.match(token):
            script.retry_after = m.group(1)
    return script


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """OpenAI-style error payload for an HTTP error `status`."""
    if status == 429:
        err_type, code = "rate_limit_error", "rate_limit_exceeded"
    elif status >= 500:
        err_type, code = "server_error", "server_error"
    else:
        err_type = "invalid_request_error"
        code = {401: "invalid_api_key", 404: "model_not_found"}.get(status, "invalid_request")
    text = message if message is not None else f"fake upstream error {status}"
    return {"error": {"message": text, "type": err_type, "param": None, "code": code}}


ERROR_200_BODY = {
    "error": {
        "message": "fake upstream error",
        "type": "server_error",
        "param": None,
        "code": "fake",
    }
}
STREAM_ERROR_EVENT = {
    "error": {"message": "fake stream error", "type": "server_error", "code": "fake"}
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake saw it, before any scripted behaviour was applied."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw: bytes

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (without `raw`), as served by `GET /_fake/requests`."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
        }


def text_chars(value: Any) -> int:
    """Characters of text in a content value (string, list of strings or of text parts)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(text_chars(item) for item in value)
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return len(value["text"])
    return 0


def usage(prompt: int, completion: int) -> dict[str, int]:
    total = prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def vector(text: str) -> list[float]:
    """Deterministic 8-dim embedding in [-1, 1] derived from the SHA-256 of `text`."""
    words = struct.unpack("<8I", hashlib.sha256(text.encode()).digest())
    return [round(w / 0xFFFFFFFF * 2.0 - 1.0, 6) for w in words]


@dataclass(slots=True)
class Call:
    """One OpenAI API call to answer: endpoint kind, model string, parsed script and body."""

    kind: Kind
    model: str
    body: dict[str, Any]
    script: Script
    record: RecordedRequest
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def include_usage(self) -> bool:
        opts = self.body.get("stream_options")
        return isinstance(opts, dict) and opts.get("include_usage") is True

    @property
    def object_id(self) -> str:
        return f"{'cmpl' if self.kind == 'completion' else 'chatcmpl'}-{self.id}"

    def content(self) -> str:
        """The answer text: `Hello from <model>`, or the echo JSON with `echo`."""
        if not self.script.echo:
            return f"Hello from {self.model}"
        rec = self.record
        headers = {k: v for k, v in rec.headers.items() if k in _ECHO_HEADERS or k.startswith("x-")}
        echo = {"body": rec.body, "headers": headers, "path": rec.path, "query": rec.query}
        return orjson.dumps(echo).decode()

    def prompt_tokens(self) -> int:
        if self.kind == "chat":
            messages = self.body.get("messages")
            items = messages if isinstance(messages, list) else []
            source: Any = [m.get("content") for m in items if isinstance(m, dict)]
        else:
            source = self.body.get("prompt" if self.kind == "completion" else "input")
        return text_chars(source) // 4 + 1

    def embeddings(self) -> dict[str, Any]:
        raw = self.body.get("input")
        inputs = raw if isinstance(raw, list) else [raw]
        b64 = self.body.get("encoding_format") == "base64"
        data: list[dict[str, Any]] = []
        for index, item in enumerate(inputs):
            vec = vector(item if isinstance(item, str) else orjson.dumps(item).decode())
            emb: Any = base64.b64encode(struct.pack("<8f", *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": index, "embedding": emb})
        tokens = self.prompt_tokens()
        use = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": self.model, "usage": use}

    def completion(self) -> dict[str, Any]:
        content = self.content()
        if self.kind == "completion":
            choice: dict[str, Any] = {"text": content, "index": 0, "logprobs": None}
        else:
            message = {"role": "assistant", "content": content, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None}
        choice["finish_reason"] = "stop"
        obj = "text_completion" if self.kind == "completion" else "chat.completion"
        return self.envelope(obj, [choice], usage(self.prompt_tokens(), COMPLETION_TOKENS))

    def chunk(self, content: str | None, finish: str | None = None, role: bool = False) -> bytes:
        """A streaming chunk; `content=None` leaves it out of a chat delta."""
        if self.kind == "completion":
            choice: dict[str, Any] = {"text": content or "", "index": 0, "logprobs": None}
            obj = "text_completion"
        else:
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            if content is not None:
                delta["content"] = content
            choice = {"index": 0, "delta": delta, "logprobs": None}
            obj = "chat.completion.chunk"
        choice["finish_reason"] = finish
        return orjson.dumps(self.envelope(obj, [choice], None))

    def usage_chunk(self, completion_tokens: int) -> bytes:
        obj = "text_completion" if self.kind == "completion" else "chat.completion.chunk"
        use = usage(self.prompt_tokens(), completion_tokens)
        return orjson.dumps(self.envelope(obj, [], use))

    def envelope(self, obj: str, choices: list[Any], use: Any) -> dict[str, Any]:
        return {
            "id": self.object_id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
            "usage": use,
        }
