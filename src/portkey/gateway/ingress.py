"""Ingress: turn an HTTP request into a plain ``Call`` (dicts and strings, no models).

Reads the Portkey request headers, checks the body's shape with a table of field types,
and picks the routing plan (config header, provider headers or the file's default config).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping
from typing import Any

import orjson

from portkey.errors import InvalidRequest
from portkey.gateway.plan import Plan
from portkey.gateway.runtime import Runtime
from portkey.providers.base import CHAT, COMPLETIONS, EMBEDDINGS

NUMBER = (int, float)
#: body field -> (accepted types, what to say when wrong). bool is excluded from numbers below.
FIELD_TYPES: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    CHAT: {
        "model": ((str,), "a string"),
        "messages": ((list,), "a list of messages"),
        "stream": ((bool,), "a boolean"),
        "temperature": (NUMBER, "a number"),
        "top_p": (NUMBER, "a number"),
        "n": ((int,), "an integer"),
        "max_tokens": ((int,), "an integer"),
        "max_completion_tokens": ((int,), "an integer"),
        "presence_penalty": (NUMBER, "a number"),
        "frequency_penalty": (NUMBER, "a number"),
        "stop": ((str, list), "a string or a list of strings"),
        "tools": ((list,), "a list"),
        "stream_options": ((dict,), "an object"),
        "response_format": ((dict,), "an object"),
        "seed": ((int,), "an integer"),
        "user": ((str,), "a string"),
        "logit_bias": ((dict,), "an object"),
    },
    COMPLETIONS: {
        "model": ((str,), "a string"),
        "prompt": ((str, list), "a string or a list"),
        "stream": ((bool,), "a boolean"),
        "max_tokens": ((int,), "an integer"),
        "temperature": (NUMBER, "a number"),
        "stream_options": ((dict,), "an object"),
    },
    EMBEDDINGS: {
        "model": ((str,), "a string"),
        "input": ((str, list), "a string or a list"),
        "dimensions": ((int,), "an integer"),
    },
}
REQUIRED: dict[str, tuple[str, ...]] = {
    CHAT: ("messages",),
    COMPLETIONS: ("prompt",),
    EMBEDDINGS: ("input",),
}


class Call:
    """One client request on its way through the gateway."""

    __slots__ = (
        "attempt_started",
        "attempts",
        "bearer",
        "body",
        "cache",
        "control",
        "disconnected",
        "forward_names",
        "guard",
        "headers",
        "metadata",
        "path",
        "raw",
        "raw_headers",
        "retries",
        "route",
        "span",
        "started",
        "stream",
        "timeout_override",
        "trace_id",
        "upstream",
        "upstream_s",
        "warnings",
    )

    def __init__(self, route: str, path: str, headers: dict[str, str], started: float) -> None:
        self.route = route
        self.path = path
        self.headers = headers  # x-portkey-* and authorization, decoded
        self.started = started
        self.body: dict[str, Any] = {}
        self.raw = b""
        self.stream = False
        self.metadata: dict[str, str] = {}
        self.trace_id = headers.get("x-portkey-trace-id") or new_trace_id()
        self.bearer: str | None = None
        self.forward_names: tuple[str, ...] = ()
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.timeout_override: float | None = None
        self.upstream_s = 0.0
        self.retries = 0
        self.attempts: list[Any] = []
        self.attempt_started = 0.0  # perf_counter when the answering attempt began
        self.span: Any = None  # portkey.observe.tracing.SpanIds, when tracing is on
        self.warnings: list[str] = []
        self.upstream: Any = None  # the upstream response being streamed, for disconnects
        self.disconnected = False
        self.control: Any = None  # the control plane's Admission, when a gate admitted it
        self.cache: Any = None  # the cache's Ticket, when the plan caches
        self.guard: Any = None  # portkey.guardrails.runner.GuardState, once a guardrail ran

    def facts(self) -> Mapping[str, Any]:
        """What conditional routing may look at."""
        return {"metadata": self.metadata, "params": self.body, "url": {"pathname": self.path}}


_PROCESS_TAG = os.urandom(6).hex()
_counter = itertools.count()


def new_trace_id() -> str:
    """Unique and time-ordered: ms timestamp, a random per-process tag, a counter (no syscall)."""
    return f"{time.time_ns() // 1_000_000:012x}-{_PROCESS_TAG}-{next(_counter):08x}"


#: headers kept on the Call besides x-portkey-*: credentials and the W3C trace context
CALL_HEADERS = frozenset({b"authorization", b"traceparent"})


def read_headers(raw: list[tuple[bytes, bytes]], call_headers: dict[str, str]) -> None:
    for name, value in raw:
        if name.startswith(b"x-portkey-") or name in CALL_HEADERS:
            call_headers[name.decode("latin-1")] = value.decode("latin-1")


def apply_headers(call: Call, raw_headers: list[tuple[bytes, bytes]]) -> None:
    h = call.headers
    auth = h.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        call.bearer = token.strip() if scheme.lower() == "bearer" else auth.strip()
    meta = h.get("x-portkey-metadata")
    if meta:
        call.metadata = parse_metadata(meta)
    timeout = h.get("x-portkey-request-timeout")
    if timeout:
        call.timeout_override = parse_timeout(timeout)
    forward = h.get("x-portkey-forward-headers")
    if forward:
        call.forward_names = tuple(n.strip().lower() for n in forward.split(",") if n.strip())
    call.raw_headers = raw_headers


def json_object(data: str | bytes, what: str, param: str | None) -> dict[str, Any]:
    """Parse client JSON that must be an object; a 400 naming ``what`` otherwise."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc}", param=param) from exc
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"{what} must be a JSON object", param=param)
    return parsed


def parse_metadata(text: str) -> dict[str, str]:
    data = json_object(text, "x-portkey-metadata", "x-portkey-metadata")
    for key, value in data.items():
        if not isinstance(value, str):
            raise InvalidRequest(
                f"x-portkey-metadata.{key} must be a string", param="x-portkey-metadata"
            )
    return data


def parse_timeout(text: str) -> float:
    try:
        ms = int(text)
    except ValueError:
        ms = -1
    if ms <= 0:
        raise InvalidRequest(
            "x-portkey-request-timeout must be a positive integer (milliseconds)",
            param="x-portkey-request-timeout",
        )
    return ms / 1000


def parse_body(call: Call, raw: bytes) -> None:
    """Parse and type-check the JSON body into ``call.body``."""
    body = json_object(raw, "request body", None)
    types = FIELD_TYPES[call.route]
    for key, (accepted, wanted) in types.items():
        if key in body:
            value = body[key]
            if value is None and key not in REQUIRED[call.route] and key != "model":
                continue
            if not isinstance(value, accepted) or (
                isinstance(value, bool) and bool not in accepted
            ):
                raise InvalidRequest(f"'{key}' must be {wanted}", param=key, code="invalid_type")
    for key in REQUIRED[call.route]:
        if key not in body:
            raise InvalidRequest(
                f"'{key}' is required", param=key, code="missing_required_parameter"
            )
    if call.route == CHAT:
        check_messages(body["messages"])
    call.body = body
    call.raw = raw
    call.stream = body.get("stream") is True


def check_messages(messages: list[Any]) -> None:
    if not messages:
        raise InvalidRequest("'messages' must not be empty", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"messages[{i}] must be an object with a string 'role'", param=f"messages[{i}]"
            )


def check_model(call: Call, plan: Plan) -> None:
    if "model" not in call.body and not plan.model_optional:
        raise InvalidRequest(
            "'model' is required (or set override_params.model in the config)",
            param="model",
            code="missing_required_parameter",
        )


def select_plan(runtime: Runtime, headers: Mapping[str, str]) -> Plan:
    """Config header, then provider/virtual-key headers, then the file's default config."""
    config = headers.get("x-portkey-config")
    if config:
        return runtime.inline_plan(config)
    provider = headers.get("x-portkey-provider")
    virtual_key = headers.get("x-portkey-virtual-key")
    if provider or virtual_key:
        host = headers.get("x-portkey-custom-host")
        key = (provider, virtual_key, host)
        plan = runtime.plans.get(key)
        if plan is None:
            data: dict[str, object] = {}
            if provider:
                data["provider"] = provider.removeprefix("@")
            if virtual_key:
                data["virtual_key"] = virtual_key
            if host:
                data["custom_host"] = host
            plan = runtime.compile_data(data)
            runtime.plans.put(key, plan)
        return plan
    if runtime.default is not None:
        return runtime.default
    raise InvalidRequest(
        "no route: send x-portkey-config, x-portkey-provider or x-portkey-virtual-key "
        "(or set default_config in portkey.yaml)",
        param="x-portkey-provider",
        code="missing_provider",
    )
