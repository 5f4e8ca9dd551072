"""One request's log record: captured cheaply on the hot path, turned into a row off it.

On the hot path ``finished`` keeps references and two clock readings (a tuple); in the
writer's thread ``Finished.resolve`` derives the ``Pending`` record from them and ``to_row`` applies the
body policy: ``off`` stores no body, ``hashed`` a SHA-256 of
it, ``full`` the body cut at ``max_body_bytes`` with every secret-looking value masked. Headers
are never stored, so ``Authorization`` and provider keys cannot reach the log.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

#: the columns of ``request_logs``, in order
COLUMNS = (
    "id",
    "trace_id",
    "ts",
    "route",
    "api_key_id",
    "virtual_key",
    "config",
    "provider",
    "model",
    "status",
    "error_type",
    "target",
    "retries",
    "attempts",
    "cache_status",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
    "ttft_ms",
    "latency_ms",
    "overhead_ms",
    "metadata",
    "request_body",
    "response_body",
    "guardrails",
)
#: values that look like credentials, masked in stored bodies (OpenAI, Anthropic, ours, AWS...)
SECRET = re.compile(
    rb"(sk-[A-Za-z0-9_\-]{8,}|pk-[A-Za-z0-9_\-]{8,}|AKIA[0-9A-Z]{16}|Bearer\s+[A-Za-z0-9._\-]{8,}"
    rb"|AIza[0-9A-Za-z_\-]{20,}|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]+)"
)
#: JSON fields whose values are secrets whatever they look like
SECRET_FIELDS = re.compile(
    rb'("(?:api_key|apikey|api-key|authorization|password|secret|access_token|token)"\s*:\s*)"[^"]*"',
    re.IGNORECASE,
)


@dataclass(slots=True)
class Pending:
    """What the hot path hands over: references and numbers only."""

    trace_id: str
    ts: float
    route: str
    stream: bool
    api_key_id: str | None
    virtual_key: str | None
    config: str | None
    provider: str | None
    model: str | None
    status: int
    error_type: str | None
    target: str | None
    retries: int
    attempts: list[Any]
    cache_status: str
    usage: Mapping[str, Any] | None
    cost: float | None
    ttft_ms: float | None
    latency_ms: float
    overhead_ms: float
    metadata: Mapping[str, str]
    request_body: bytes | None
    response_body: bytes | None
    #: for traces: the request's span ids, perf_counter at arrival and at the answering try
    span: Any = None
    started: float = 0.0
    attempt_started: float = 0.0
    #: portkey.guardrails.runner.GuardState when a guardrail ran (its ``summary()``)
    guard: Any = None
    #: ``tokens(usage)``, once the first reader (row or metrics) has worked it out
    counts: tuple[int, int, int, int] | None = None


def counts(pending: Pending) -> tuple[int, int, int, int]:
    """``tokens(pending.usage)``, worked out once per record."""
    found = pending.counts
    if found is None:
        found = pending.counts = tokens(pending.usage)
    return found


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _detail(usage: Mapping[str, Any], name: str, field: str) -> int:
    details = usage.get(name)
    return _int(details.get(field)) if isinstance(details, dict) else 0


def tokens(usage: Mapping[str, Any] | None) -> tuple[int, int, int, int]:
    """(prompt, completion, cached, reasoning) from OpenAI- or Anthropic-shaped usage."""
    if not usage:
        return 0, 0, 0, 0
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return (
            _int(usage.get("prompt_tokens")),
            _int(usage.get("completion_tokens")),
            _detail(usage, "prompt_tokens_details", "cached_tokens"),
            _detail(usage, "completion_tokens_details", "reasoning_tokens"),
        )
    cached = _int(usage.get("cache_read_input_tokens"))
    prompt = (
        _int(usage.get("input_tokens")) + cached + _int(usage.get("cache_creation_input_tokens"))
    )
    return prompt, _int(usage.get("output_tokens")), cached, 0


def redact(body: bytes) -> bytes:
    """The body with secret-looking values and secret-named JSON fields masked."""
    body = SECRET_FIELDS.sub(rb'\1"***"', body)
    return SECRET.sub(b"***", body)


def stored_body(body: bytes | None, policy: str, limit: int) -> str | None:
    if body is None or policy == "off":
        return None
    if policy == "hashed":
        return "sha256:" + hashlib.sha256(body).hexdigest()
    return redact(body[:limit]).decode("utf-8", "replace")


_SEQUENCE = itertools.count()
_random = random.Random(os.urandom(16))  # seeded per process, forked workers included
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(16)))


def new_id(ts: float) -> str:
    """Time-ordered text id: epoch nanoseconds (zero-padded), a per-process counter, random."""
    # the random tail tells replicas apart; getrandbits, not urandom: no syscall per row;
    # %-formatting (``%d`` truncates the float as int() would): half an f-string's work
    return "%020d-%06d-%06x" % (  # noqa: UP031 - see above
        ts * 1e9,
        next(_SEQUENCE) % 1_000_000,
        _random.getrandbits(24),
    )


def _attempts(pending: Pending) -> str:
    tried = [a.to_dict() if hasattr(a, "to_dict") else a for a in pending.attempts]
    if pending.target is not None and pending.error_type is None:
        tried.append(
            {"target": pending.target, "provider": pending.provider, "status": pending.status}
        )
    return orjson.dumps(tried).decode()


def to_row(pending: Pending, policy: str, limit: int) -> tuple[Any, ...]:
    """The ``request_logs`` row (in ``COLUMNS`` order)."""
    prompt, completion, cached, reasoning = counts(pending)
    metadata, guard = pending.metadata, pending.guard
    if policy == "off":
        request_body = response_body = None
    else:
        request_body = stored_body(pending.request_body, policy, limit)
        response_body = stored_body(pending.response_body, policy, limit)
    return (
        new_id(pending.ts),
        pending.trace_id,
        pending.ts,
        pending.route,
        pending.api_key_id,
        pending.virtual_key,
        pending.config,
        pending.provider,
        pending.model,
        pending.status,
        pending.error_type,
        pending.target,
        pending.retries,
        _attempts(pending),
        pending.cache_status,
        int(pending.stream),
        prompt,
        completion,
        cached,
        reasoning,
        pending.cost,
        pending.ttft_ms,
        pending.latency_ms,
        pending.overhead_ms,
        orjson.dumps(dict(metadata)).decode() if metadata else "{}",
        request_body,
        response_body,
        None if guard is None else orjson.dumps(guard.summary()).decode(),
    )


class Finished(NamedTuple):
    """What the hot path keeps of a finished request: references and two clock readings.

    The request's ``Call`` is not touched again once it is finished, so the ``Pending``
    record is derived from it later, in the writer's thread (``resolve``)."""

    call: Any
    leaf: Any
    status: int
    usage: Mapping[str, Any] | None
    cost: float | None
    error: Any
    first_token_s: float | None
    response_body: bytes | None
    keep_bodies: bool
    ended: float  # perf_counter
    ended_wall: float  # time.time()

    def resolve(self) -> Pending:
        """The ``Pending`` record, derived from the finished ``Call`` and answering ``Leaf``."""
        call, leaf, status, usage, cost, error, first_token_s, response_body, keep_bodies = self[:9]
        now = self.ended
        latency = now - call.started
        answered = (
            now if first_token_s is None else first_token_s
        )  # a stream's upstream time ends there
        attempts = call.attempts
        provider = (
            leaf.spec.id if leaf is not None else (attempts[-1].provider if attempts else None)
        )
        model = (leaf.override_params or {}).get("model") if leaf is not None else None
        model = model or call.body.get("model")
        control = call.control
        key = getattr(control, "key", None)
        ticket = call.cache
        config = call.headers.get("x-portkey-config")
        return Pending(
            trace_id=call.trace_id,
            ts=self.ended_wall - latency,
            route=call.path,
            stream=call.stream,
            api_key_id=key.id if key is not None else None,
            virtual_key=leaf.virtual_key if leaf is not None else None,
            config=None
            if config is None
            else ("inline" if config.lstrip().startswith("{") else config),
            provider=provider,
            model=model if isinstance(model, str) else None,
            status=status,
            error_type=getattr(error, "type", None) if error is not None else None,
            target=leaf.path if leaf is not None else (attempts[-1].target if attempts else None),
            retries=call.retries,
            attempts=attempts,
            cache_status="DISABLED" if ticket is None else ticket.status.decode(),
            usage=usage,
            cost=cost,
            ttft_ms=None if first_token_s is None else (first_token_s - call.started) * 1000,
            latency_ms=latency * 1000,
            overhead_ms=max(0.0, answered - call.started - call.upstream_s) * 1000,
            metadata=call.metadata,
            request_body=call.raw if keep_bodies else None,
            response_body=response_body if keep_bodies else None,
            span=call.span,
            started=call.started,
            attempt_started=call.attempt_started,
            guard=call.guard,
        )


def finished(  # noqa: PLR0913 - the hook's flat arguments, passed through
    call: Any,
    leaf: Any,
    status: int,
    usage: Mapping[str, Any] | None,
    cost: float | None,
    error: Any,
    first_token_s: float | None,
    response_body: bytes | None,
    keep_bodies: bool,
) -> Finished:
    """The hot path's share of a log record: a tuple and the time (no lookups, no JSON)."""
    return Finished(
        call, leaf, status, usage, cost, error, first_token_s, response_body, keep_bodies,
        time.perf_counter(), time.time(),
    )  # fmt: skip
