"""OpenTelemetry traces: one SERVER span per request, one CLIENT span per upstream attempt.

Nothing here runs on the hot path. The gateway only draws span ids for a request
(``ids_for``: two random numbers) and sends ``traceparent`` upstream; the spans themselves are
built afterwards, in the log writer's thread, from the finished request's record, with the
times it measured. The span ids drawn up front are the ones exported (``_PresetIds``), so the
``traceparent`` an upstream saw names a span that exists. With no exporter configured
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` unset) this module is
never imported and tracing costs nothing. Attributes follow the GenAI semantic conventions.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from portkey.observe.record import Pending, tokens

log = logging.getLogger("portkey.observe")

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
#: gen_ai.operation.name per gateway route
OPERATIONS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "text_completion",
    "/v1/embeddings": "embeddings",
    "/v1/messages": "chat",
}


@dataclass(slots=True)
class SpanIds:
    """The ids of one request's span, drawn when it arrives."""

    trace_id: int
    span_id: int
    parent_id: int | None  # the caller's span, from its traceparent
    sampled: bool

    def traceparent(self) -> str:
        """What the upstream is sent: this request's span as its parent."""
        flags = "01" if self.sampled else "00"
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{flags}"


def parse_traceparent(value: str | None) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) of a W3C ``traceparent``; None when malformed."""
    if not value:
        return None
    match = TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    trace_id, parent_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not parent_id:
        return None  # all zeros: invalid by the spec
    return trace_id, parent_id, bool(int(match[3], 16) & 1)


class _PresetIds(RandomIdGenerator):
    """Gives the SDK the ids the gateway drew for a request (per thread), else random ones."""

    def __init__(self) -> None:
        self._next = threading.local()

    def preset(self, trace_id: int | None, span_id: int) -> None:
        self._next.trace_id, self._next.span_id = trace_id, span_id

    def generate_span_id(self) -> int:
        span_id = getattr(self._next, "span_id", None)
        if span_id is None:
            return super().generate_span_id()
        self._next.span_id = None
        return int(span_id)

    def generate_trace_id(self) -> int:
        trace_id = getattr(self._next, "trace_id", None)
        if trace_id is None:
            return super().generate_trace_id()
        self._next.trace_id = None
        return int(trace_id)


class Tracing:
    """The tracer provider and the writer sink that turns finished requests into spans."""

    def __init__(self, exporter: SpanExporter | None = None, service_name: str = "") -> None:
        """``exporter`` None: OTLP over HTTP, configured by the standard OTEL_* variables."""
        batch = exporter is None
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        self.ids = _PresetIds()
        name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "portkey-gateway"
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": name}), id_generator=self.ids
        )
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("portkey.gateway")

    @staticmethod
    def ids_for(traceparent: str | None) -> SpanIds:
        """The hot path's whole share: continue the caller's trace or start one."""
        parent = parse_traceparent(traceparent)
        span_id = random.getrandbits(64) or 1
        if parent is None:
            return SpanIds(random.getrandbits(128) or 1, span_id, None, True)
        return SpanIds(parent[0], span_id, parent[1], parent[2])

    def export(self, batch: Iterable[Pending]) -> None:
        """A writer sink: spans for every sampled request of the batch."""
        for pending in batch:
            ids = pending.span
            if ids is not None and ids.sampled:
                try:
                    self._spans(pending, ids)
                except Exception:  # a span is never worth a lost batch of logs
                    log.exception("could not build the trace of %s", pending.trace_id)

    def _spans(self, p: Pending, ids: SpanIds) -> None:
        start_ns = int(p.ts * 1e9)
        end_ns = start_ns + int(p.latency_ms * 1e6)
        operation = OPERATIONS.get(p.route, "chat")
        context = None
        if ids.parent_id is not None:
            remote = SpanContext(
                ids.trace_id, ids.parent_id, is_remote=True, trace_flags=TraceFlags(1)
            )
            context = trace.set_span_in_context(NonRecordingSpan(remote))
        self.ids.preset(None if context is not None else ids.trace_id, ids.span_id)
        attributes = _request_attributes(p, operation)
        span = self.tracer.start_span(
            f"{operation} {p.model}" if p.model else operation,
            context=context,
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=start_ns,
        )
        if p.status >= 400:
            span.set_status(Status(StatusCode.ERROR, p.error_type or str(p.status)))
        inside = trace.set_span_in_context(span)
        for attempt in p.attempts:
            offset = int((attempt.started - p.started) * 1e9) if attempt.started else 0
            began = start_ns + max(0, offset)
            child = self.tracer.start_span(
                f"{operation} {attempt.provider}",
                context=inside,
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": operation,
                    "gen_ai.system": attempt.provider,
                    "portkey.target": attempt.target,
                    "http.response.status_code": attempt.status,
                    "error.type": attempt.error_type,
                },
                start_time=began,
            )
            child.set_status(Status(StatusCode.ERROR, attempt.message[:200]))
            child.end(began + int(attempt.duration_ms * 1e6))
        if p.target is not None and p.error_type is None and not p.cache_status.endswith("HIT"):
            offset = int((p.attempt_started - p.started) * 1e9) if p.attempt_started else 0
            child = self.tracer.start_span(
                f"{operation} {p.provider}",
                context=inside,
                kind=SpanKind.CLIENT,
                attributes={
                    k: v
                    for k, v in attributes.items()
                    if k.startswith("gen_ai.") or k == "http.response.status_code"
                }
                | {"portkey.target": p.target},
                start_time=start_ns + max(0, offset),
            )
            child.end(end_ns)
        span.end(end_ns)

    def close(self) -> None:
        self.provider.shutdown()  # flushes what the batch processor holds


def _request_attributes(p: Pending, operation: str) -> dict[str, Any]:
    prompt, completion, cached, reasoning = tokens(p.usage)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "http.route": p.route,
        "http.response.status_code": p.status,
        "portkey.trace_id": p.trace_id,
        "portkey.cache_status": p.cache_status,
        "portkey.retries": p.retries,
        "portkey.stream": p.stream,
        "portkey.gateway_overhead_ms": round(p.overhead_ms, 3),
    }
    optional = {
        "gen_ai.system": p.provider,
        "gen_ai.request.model": p.model,
        "gen_ai.usage.input_tokens": prompt if p.usage else None,
        "gen_ai.usage.output_tokens": completion if p.usage else None,
        "gen_ai.usage.cached_input_tokens": cached or None,
        "gen_ai.usage.reasoning_tokens": reasoning or None,
        "portkey.cost_usd": p.cost,
        "portkey.ttft_ms": None if p.ttft_ms is None else round(p.ttft_ms, 3),
        "portkey.target": p.target,
        "portkey.virtual_key": p.virtual_key,
        "portkey.api_key_id": p.api_key_id,
        "error.type": p.error_type,
    }
    attributes.update({k: v for k, v in optional.items() if v is not None})
    return attributes
