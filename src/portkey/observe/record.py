"""One request's log record: captured cheaply on the hot path, turned into a row off it.

On the hot path ``finished`` keeps plain values and one clock reading (a tuple); in the
writer's thread ``resolve`` derives the ``Pending`` record from them and ``to_row`` applies the
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
from time import perf_counter as _clock
from types import MappingProxyType
from typing import Any

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
    return value if type(value) is int and value > 0 else 0


def tokens(usage: Mapping[str, Any] | None) -> tuple[int, int, int, int]:
    """(prompt, completion, cached, reasoning) from OpenAI- or Anthropic-shaped usage."""
    # flat on purpose (once per record): ``type() is int`` also keeps bools out
    if not usage:
        return 0, 0, 0, 0
    get = usage.get
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        prompt, completion = get("prompt_tokens"), get("completion_tokens")
        details = get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else 0
        details = get("completion_tokens_details")
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else 0
        return (
            prompt if type(prompt) is int and prompt > 0 else 0,
            completion if type(completion) is int and completion > 0 else 0,
            cached if type(cached) is int and cached > 0 else 0,
            reasoning if type(reasoning) is int and reasoning > 0 else 0,
        )
    cached = _int(get("cache_read_input_tokens"))
    prompt = _int(get("input_tokens")) + cached + _int(get("cache_creation_input_tokens"))
    return prompt, _int(get("output_tokens")), cached, 0


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


def _tail() -> str:
    return "-%06x" % random.SystemRandom().getrandbits(24)  # noqa: UP031


#: a random tail per process (forked workers draw their own): it tells replicas apart, the
#: counter tells a process's rows apart
_TAIL = [_tail()]
os.register_at_fork(after_in_child=lambda: _TAIL.__setitem__(0, _tail()))


def new_id(ts: float) -> str:
    """Time-ordered text id: epoch nanoseconds (zero-padded), a per-process counter, random."""
    # %-formatting (``%d`` truncates the float as int() would): half an f-string's work
    return "%020d-%06d" % (ts * 1e9, next(_SEQUENCE) % 1_000_000) + _TAIL[0]  # noqa: UP031


#: (target, provider, status) -> the ``attempts`` JSON of a request answered at the first try
_ANSWERED: dict[tuple[str | None, str | None, int], str] = {}
_MAX_ANSWERED = 4096


def _attempts(pending: Pending) -> str:
    target = pending.target
    answered = target is not None and pending.error_type is None
    if not pending.attempts:
        if not answered:
            return "[]"
        key = (target, pending.provider, pending.status)
        found = _ANSWERED.get(key)
        if found is None:
            found = orjson.dumps(
                [dict(zip(("target", "provider", "status"), key, strict=True))]
            ).decode()
            if len(_ANSWERED) < _MAX_ANSWERED:
                _ANSWERED[key] = found
        return found
    tried = [a.to_dict() if hasattr(a, "to_dict") else a for a in pending.attempts]
    if answered:
        tried.append({"target": target, "provider": pending.provider, "status": pending.status})
    return orjson.dumps(tried).decode()


def to_row(pending: Pending, policy: str, limit: int) -> tuple[Any, ...]:
    """The ``request_logs`` row (in ``COLUMNS`` order)."""
    found = pending.counts
    if found is None:
        found = pending.counts = tokens(pending.usage)
    prompt, completion, cached, reasoning = found
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


#: what the hot path keeps of a finished request (``finished``): plain values, and only the
#: containers a record needs (usage, attempts, metadata when not empty), never the ``Call``
Finished = tuple[Any, ...]
_NO_ATTEMPTS: list[Any] = []  # shared, never mutated: a request with no failed attempt
_NO_METADATA: Mapping[str, str] = MappingProxyType({})


def finished(
    call: Any,
    leaf: Any,
    status: int,
    usage: Mapping[str, Any] | None,
    cost: float | None,
    error: Any,
    first_token_s: float | None,
    response_body: bytes | None,
) -> Finished:
    """On the hot path: what ``resolve`` needs of a finished request, read off the ``Call``.

    Holding the ``Call`` until its batch is written kept its whole object graph (headers, the
    parsed body, lists...) alive: a dozen GC-tracked objects per queued request, which made
    the garbage collector run (and promote) every few dozen requests (~10k instructions per
    request, callgrind). The values here are mostly atomic: few tracked objects per request."""
    ticket = call.cache
    key = getattr(call.control, "key", None)
    return (
        leaf,
        status,
        usage,
        cost,
        error,
        first_token_s,
        response_body,
        _clock(),
        call.started,
        call.attempts or _NO_ATTEMPTS,
        call.body.get("model"),
        None if key is None else key.id,
        None if ticket is None else ticket.status,
        call.headers.get("x-portkey-config"),
        call.upstream_s,
        call.trace_id,
        call.path,
        call.stream,
        call.retries,
        call.metadata or _NO_METADATA,
        call.raw,
        call.span,
        call.attempt_started,
        call.guard,
    )


def wall_offset() -> float:
    """``time.time() - time.perf_counter()`` now: turns a perf_counter reading into epoch
    seconds (read once per batch, so a record needs no wall-clock reading of its own)."""
    return time.time() - _clock()


def resolve(item: Finished, keep_bodies: bool, offset: float) -> Pending:
    """The ``Pending`` record of a finished request (in the writer's thread), from what
    ``finished`` kept. ``offset``: see ``wall_offset``."""
    (leaf, status, usage, cost, error, first_token_s, response_body, now, started, attempts,
     model, key_id, ticket, config, upstream_s, trace_id, path, stream, retries, metadata, raw,
     span, attempt_started, guard) = item  # fmt: skip
    if leaf is not None:
        provider = leaf.spec.id
        override = leaf.override_params
        model = (override.get("model") if override else None) or model
        virtual_key, target = leaf.virtual_key, leaf.path
    else:
        last = attempts[-1] if attempts else None
        provider = last.provider if last is not None else None
        target = last.target if last is not None else None
        virtual_key = None
    if config is not None and config.lstrip().startswith("{"):
        config = "inline"
    # a stream's upstream time ends at its first event
    answered = now if first_token_s is None else first_token_s
    overhead = answered - started - upstream_s
    return Pending(
        trace_id,
        started + offset,
        path,
        stream,
        key_id,
        virtual_key,
        config,
        provider,
        model if isinstance(model, str) else None,
        status,
        None if error is None else getattr(error, "type", None),
        target,
        retries,
        attempts,
        "DISABLED" if ticket is None else ticket.decode(),
        usage,
        cost,
        None if first_token_s is None else (first_token_s - started) * 1000,
        (now - started) * 1000,
        overhead * 1000 if overhead > 0 else 0.0,
        metadata,
        raw if keep_bodies else None,
        response_body if keep_bodies else None,
        span,
        started,
        attempt_started,
        guard,
    )
