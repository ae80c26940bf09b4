"""requests_managed.otel: connection metrics read with the SDK's in-memory reader.

Every count is checked against what the loopback server saw.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from requests_managed import CloseReason, ManagedSession, PoolLimits

from .compat import require
from .server import Reply, Server

_sdk = require("opentelemetry.sdk.metrics", "opentelemetry-sdk")
MeterProvider = _sdk.MeterProvider
InMemoryMetricReader = require(
    "opentelemetry.sdk.metrics.export", "opentelemetry-sdk"
).InMemoryMetricReader
otel = require("requests_managed.otel", "opentelemetry-api")

OPEN = "http.client.open_connections"
DURATION = "http.client.connection.duration"
QUEUE = "http.client.request.time_in_queue"


@pytest.fixture
def reader() -> Iterator[Any]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    reader.rm_provider = provider
    yield reader
    provider.shutdown()


def points(reader: Any, name: str) -> list[Any]:
    """The data points of metric ``name`` in one collection."""
    data = reader.get_metrics_data()
    found = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


def open_by_state(reader: Any, port: int) -> dict[str, int]:
    return {
        p.attributes["http.connection.state"]: p.value
        for p in points(reader, OPEN)
        if p.attributes["server.port"] == port
    }


def test_open_connections_by_state_match_the_servers(
    server: Server, reader: Any
) -> None:
    with ManagedSession() as session:
        stop = otel.instrument(session, meter_provider=reader.rm_provider)
        with session.get(server.url, stream=True):  # held: active
            assert session.get(server.url).ok  # a second one, then idle
            assert server.wait_for(lambda: server.open_connections() == 2)
            assert open_by_state(reader, server.port) == {"active": 1, "idle": 1}
        assert open_by_state(reader, server.port) == {"active": 0, "idle": 2}
        point = points(reader, OPEN)[0]
        assert point.attributes["server.address"] == "127.0.0.1"
        assert point.attributes["url.scheme"] == "http"
        stop()
    assert server.wait_for(lambda: server.open_connections() == 0)


def test_connection_duration_is_recorded_at_each_close_with_its_reason(
    server: Server, reader: Any
) -> None:
    server.handler = lambda request: Reply(close=True)
    with ManagedSession() as session:
        otel.instrument(session, meter_provider=reader.rm_provider)
        for _ in range(3):
            assert session.get(server.url).ok
        server.handler = lambda request: Reply()
        assert session.get(server.url).ok
    assert server.wait_for(lambda: server.connections_closed == 4)
    by_reason = {
        p.attributes["requests_managed.close_reason"]: p
        for p in points(reader, DURATION)
    }
    assert {r: p.count for r, p in by_reason.items()} == {
        CloseReason.SERVER_CLOSE.value: 3,
        CloseReason.SESSION_CLOSED.value: 1,
    }
    assert sum(p.count for p in by_reason.values()) == server.connections_opened
    assert all(p.min >= 0 for p in by_reason.values())
    assert by_reason["server-close"].attributes["server.port"] == server.port


def test_time_in_queue_is_recorded_for_a_request_that_waited_at_a_limit(
    server: Server, reader: Any
) -> None:
    limits = PoolLimits(max_per_host=1, wait_timeout=30)
    with ManagedSession(limits=limits) as session:
        otel.instrument(session, meter_provider=reader.rm_provider)
        assert session.get(server.url).ok  # one request that did not wait
        results: list[int] = []
        with session.get(server.url, stream=True):
            waiter = threading.Thread(
                target=lambda: results.append(session.get(server.url).status_code)
            )
            waiter.start()
            assert server.wait_for(
                lambda: session.pool_stats().for_url(server.url).waits == 1
            )
        waiter.join(timeout=30)
        assert results == [200]
    (point,) = points(reader, QUEUE)
    assert point.count == 1 and point.sum > 0
    assert point.attributes == {
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "url.scheme": "http",
    }
    assert server.connections_opened == 1


def test_instrumenting_every_session_covers_sessions_created_later(
    server: Server, reader: Any
) -> None:
    stop = otel.instrument(meter_provider=reader.rm_provider)
    try:
        with ManagedSession() as session:
            # a second call for the same provider adds nothing (no double count)
            otel.instrument(session, meter_provider=reader.rm_provider)()
            assert session.get(server.url).ok
    finally:
        stop()
    (point,) = points(reader, DURATION)
    assert point.count == 1
    with ManagedSession() as session:  # after stop(): not exported
        assert session.get(server.url).ok
    (point,) = points(reader, DURATION)
    assert point.count == 1


def test_stopping_one_session_ends_its_export(server: Server, reader: Any) -> None:
    with ManagedSession() as session:
        stop = otel.instrument(session, meter_provider=reader.rm_provider)
        stop()
        stop()  # twice is harmless
        assert session.get(server.url).ok
    assert points(reader, DURATION) == []
    assert points(reader, OPEN) == []


def test_instrument_refuses_what_is_not_a_managed_session() -> None:
    import requests

    with (
        requests.Session() as plain,
        pytest.raises(TypeError, match=r"takes a ManagedSession or None.*Session"),
    ):
        otel.instrument(plain)  # type: ignore[arg-type]


def test_importing_the_package_never_imports_opentelemetry() -> None:
    code = (
        "import sys, requests_managed\n"
        "with requests_managed.ManagedSession() as s: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_metrics_compose_with_the_requests_instrumentation_spans(
    server: Server, reader: Any
) -> None:
    instrumentation = require(
        "opentelemetry.instrumentation.requests",
        "opentelemetry-instrumentation-requests",
    )
    trace_sdk = require("opentelemetry.sdk.trace", "opentelemetry-sdk")
    export = require("opentelemetry.sdk.trace.export", "opentelemetry-sdk")
    memory = require(
        "opentelemetry.sdk.trace.export.in_memory_span_exporter", "opentelemetry-sdk"
    )
    spans = memory.InMemorySpanExporter()
    tracer_provider = trace_sdk.TracerProvider()
    tracer_provider.add_span_processor(export.SimpleSpanProcessor(spans))
    instrumentor = instrumentation.RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        server.handler = lambda request: Reply(close=True)
        with ManagedSession() as session:
            stop = otel.instrument(session, meter_provider=reader.rm_provider)
            assert session.get(server.url).ok
            assert session.get(server.url).ok
            stop()
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
    assert len(spans.get_finished_spans()) == 2  # one span per request
    (point,) = points(reader, DURATION)  # one duration per connection
    assert point.count == server.connections_opened == 2
