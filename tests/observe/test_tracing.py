"""OpenTelemetry: spans per request and per attempt, W3C traceparent in and out, OTLP export."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from openai import OpenAI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from portkey.observe.tracing import Tracing, parse_traceparent
from tests.fakes import FakeUpstream
from tests.support import GatewayServer, wait_for

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


def gateway_yaml(fake: FakeUpstream) -> str:
    return f"""
logs: {{flush_interval_s: 0.05}}
providers:
  fake: {{provider: openai, custom_host: '{fake.base_url}', api_key: sk-trace-test}}
configs:
  fallback:
    strategy: {{mode: fallback}}
    targets:
      - {{virtual_key: fake, override_params: {{model: status-503}}}}
      - {{virtual_key: fake}}
"""


def sdk(server: GatewayServer, **headers: str) -> OpenAI:
    return OpenAI(
        base_url=server.base_url,
        api_key="unused",
        max_retries=0,
        default_headers={"x-portkey-config": "fallback", **headers},
    )


def ask(client: OpenAI, marker: str) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": marker}]
    )


def upstream_traceparents(fake: FakeUpstream, marker: str) -> list[str]:
    return [
        r.headers.get("traceparent", "")
        for r in fake.requests
        if marker in r.raw.decode(errors="replace")
    ]


@pytest.fixture
def traced(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> Iterator[tuple[GatewayServer, InMemorySpanExporter]]:
    """A gateway whose spans go to an in-memory exporter."""
    server = make_gateway(gateway_yaml(fake))
    exporter = InMemorySpanExporter()
    observer = server.app.gateway.router.observer
    assert observer.tracing is None  # no OTEL_EXPORTER_OTLP_ENDPOINT: tracing is off
    observer.tracing = Tracing(exporter=exporter)
    yield server, exporter
    observer.tracing.close()


def test_a_request_continues_the_callers_trace_with_a_span_per_attempt(
    traced: tuple[GatewayServer, InMemorySpanExporter], fake: FakeUpstream
) -> None:
    server, exporter = traced
    marker = uuid.uuid4().hex
    answer = ask(sdk(server, traceparent=f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"), marker)
    assert answer.usage is not None

    spans = wait_for(
        lambda: len(exporter.get_finished_spans()) >= 3 and exporter.get_finished_spans()
    )
    [request] = [s for s in spans if s.kind is SpanKind.SERVER]
    attempts = sorted((s for s in spans if s.kind is SpanKind.CLIENT), key=lambda s: s.start_time)
    assert len(attempts) == 2
    assert f"{request.context.trace_id:032x}" == PARENT_TRACE
    assert request.parent is not None and f"{request.parent.span_id:016x}" == PARENT_SPAN
    assert request.name == "chat gpt-4o-mini"
    attrs = request.attributes
    assert attrs["gen_ai.system"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    assert attrs["http.response.status_code"] == 200
    # the failed first target, then the one that answered, both children of the request
    failed, answered = attempts
    assert all(a.parent.span_id == request.context.span_id for a in attempts)
    assert failed.attributes["http.response.status_code"] == 503
    assert failed.status.status_code is StatusCode.ERROR
    assert answered.attributes["http.response.status_code"] == 200
    assert request.start_time <= failed.start_time < failed.end_time <= answered.end_time
    assert answered.end_time <= request.end_time
    # the upstream was told the trace, with the exported request span as its parent
    sent = upstream_traceparents(fake, marker)
    assert len(sent) == 2
    for value in sent:
        parsed = parse_traceparent(value)
        assert parsed is not None
        assert parsed[0] == request.context.trace_id and parsed[1] == request.context.span_id


def test_without_a_valid_traceparent_a_new_trace_starts(
    traced: tuple[GatewayServer, InMemorySpanExporter], fake: FakeUpstream
) -> None:
    server, exporter = traced
    marker = uuid.uuid4().hex
    ask(sdk(server, traceparent="00-zzzz-not-a-traceparent"), marker)
    spans = wait_for(lambda: exporter.get_finished_spans())
    [request] = [s for s in spans if s.kind is SpanKind.SERVER]
    assert request.parent is None
    assert f"{request.context.trace_id:032x}" != PARENT_TRACE
    assert all(
        parse_traceparent(v) is not None and parse_traceparent(v)[0] == request.context.trace_id  # type: ignore[index]
        for v in upstream_traceparents(fake, marker)
    )


def test_errors_are_marked_on_the_request_span(
    traced: tuple[GatewayServer, InMemorySpanExporter],
) -> None:
    server, exporter = traced
    client = OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    with pytest.raises(Exception):  # noqa: B017 - any SDK error: the upstream answered 503
        client.chat.completions.create(
            model="status-503",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-portkey-virtual-key": "fake"},
        )
    spans = wait_for(lambda: exporter.get_finished_spans())
    [request] = [s for s in spans if s.kind is SpanKind.SERVER]
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes["http.response.status_code"] == 503


def test_tracing_off_passes_the_callers_traceparent_on_untouched(
    make_gateway: Callable[[str], GatewayServer], fake: FakeUpstream
) -> None:
    server = make_gateway(gateway_yaml(fake))
    assert server.app.gateway.router.observer.tracing is None
    marker = uuid.uuid4().hex
    incoming = f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"
    ask(sdk(server, traceparent=incoming), marker)
    assert upstream_traceparents(fake, marker) == [incoming, incoming]


class _Collector(BaseHTTPRequestHandler):
    received: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            message = ExportTraceServiceRequest()
            message.ParseFromString(body)
            self.received.append(message)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """A real OTLP/HTTP receiver on loopback."""
    received: list[ExportTraceServiceRequest] = []
    handler = type("Collector", (_Collector,), {"received": received})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", received
    httpd.shutdown()


def test_spans_reach_an_otlp_collector_when_the_endpoint_is_set(
    make_gateway: Callable[[str], GatewayServer],
    fake: FakeUpstream,
    collector: tuple[str, list[ExportTraceServiceRequest]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint, received = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "portkey-under-test")
    server = make_gateway(gateway_yaml(fake))
    assert server.app.gateway.router.observer.tracing is not None
    ask(sdk(server, traceparent=f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"), uuid.uuid4().hex)

    def spans() -> list[Any]:
        return [
            (resource, span)
            for message in received
            for resource in message.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    found = wait_for(lambda: len(spans()) >= 3 and spans())
    services = {
        a.value.string_value
        for resource, _ in found
        for a in resource.resource.attributes
        if a.key == "service.name"
    }
    assert services == {"portkey-under-test"}
    assert {span.trace_id.hex() for _, span in found} == {PARENT_TRACE}
    [server_span] = [s for _, s in found if s.kind == s.SPAN_KIND_SERVER]
    attributes = {a.key: a.value for a in server_span.attributes}
    assert attributes["gen_ai.request.model"].string_value == "gpt-4o-mini"
    assert json.dumps(sorted(attributes)).count("gen_ai.usage") >= 2
