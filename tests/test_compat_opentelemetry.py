"""ManagedSession under OpenTelemetry's requests instrumentation.

The instrumentation wraps ``requests.Session.send``; a managed request gets
its span, its propagated context, and still its timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from requests_managed import ManagedSession, Timeout

from .compat import require
from .server import Reply, Request, Server

RequestsInstrumentor = require(
    "opentelemetry.instrumentation.requests", "opentelemetry-instrumentation-requests"
).RequestsInstrumentor
_trace = require("opentelemetry.sdk.trace", "opentelemetry-sdk")
ReadableSpan, TracerProvider = _trace.ReadableSpan, _trace.TracerProvider
SimpleSpanProcessor = require(
    "opentelemetry.sdk.trace.export", "opentelemetry-sdk"
).SimpleSpanProcessor
InMemorySpanExporter = require(
    "opentelemetry.sdk.trace.export.in_memory_span_exporter", "opentelemetry-sdk"
).InMemorySpanExporter


@contextlib.contextmanager
def _instrumented() -> Iterator[InMemorySpanExporter]:
    """requests instrumented, spans kept in memory; uninstrumented on exit."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with _instrumented() as exporter:
        yield exporter


def _attribute(span: ReadableSpan, *names: str) -> Any:
    """The first attribute present of ``names`` (old and new HTTP conventions)."""
    attributes = span.attributes or {}
    for name in names:
        if name in attributes:
            return attributes[name]
    raise AssertionError(f"none of {names} in {dict(attributes)}")


def test_opentelemetry_records_a_span_for_a_managed_request(
    server: Server, spans: InMemorySpanExporter
) -> None:
    def handler(request: Request) -> Reply:
        return Reply(status=404 if request.path == "/missing" else 200)

    server.handler = handler
    with ManagedSession() as session:
        assert session.post(f"{server.url}/items", data=b"x").status_code == 200
        assert session.get(f"{server.url}/missing").status_code == 404
        assert session.pool_stats().total.reuses == 1
    post, get = spans.get_finished_spans()
    assert _attribute(post, "http.request.method", "http.method") == "POST"
    assert _attribute(post, "http.response.status_code", "http.status_code") == 200
    assert _attribute(get, "http.request.method", "http.method") == "GET"
    assert _attribute(get, "http.response.status_code", "http.status_code") == 404
    assert _attribute(get, "url.full", "http.url") == f"{server.url}/missing"
    # the span's context was propagated in the request that reached the server
    trace_id = f"{post.get_span_context().trace_id:032x}"
    assert trace_id in server.requests[0].headers["traceparent"]


def test_opentelemetry_keeps_the_timeout_and_records_the_error(
    server: Server, spans: InMemorySpanExporter
) -> None:
    server.handler = lambda request: Reply(never_answer=True)
    with (
        ManagedSession(timeout=Timeout(connect=1, read=0.3, total=5)) as session,
        pytest.raises(requests.ReadTimeout),
    ):
        session.get(server.url)
    (span,) = spans.get_finished_spans()
    assert not span.status.is_ok
    assert _attribute(span, "http.request.method", "http.method") == "GET"


def test_opentelemetry_uninstrument_stops_recording(server: Server) -> None:
    with _instrumented() as exporter, ManagedSession() as session:
        session.get(server.url)
    with ManagedSession() as session:
        session.get(server.url)
    assert len(exporter.get_finished_spans()) == 1
    assert "traceparent" in server.requests[0].headers
    assert "traceparent" not in server.requests[1].headers
