"""ManagedSession composed with the libraries people already use with requests.

Each test fails if the composition breaks: the mock libraries must intercept
(no connection reaches the loopback server that the mocked URL points at),
the cache must answer the second request itself (the server counts one), an
upload must arrive byte for byte, a subclass and an instrumentation wrapper
must leave the timeout and deadline in force.
"""

from __future__ import annotations

import contextlib
import pickle
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests
import requests_mock
import responses
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from requests.adapters import HTTPAdapter
from requests_cache import CacheMixin
from requests_toolbelt import MultipartEncoder
from requests_toolbelt.multipart.decoder import MultipartDecoder
from requests_toolbelt.sessions import BaseUrlSession

from requests_managed import (
    DeadlineExceeded,
    KeepAlivePolicy,
    ManagedSession,
    PoolLimits,
    Timeout,
)
from requests_managed._adapter import ManagedAdapter

from .adapters import RecordingAdapter  # a foreign adapter that pickles
from .server import Reply, Request, Server

# -- responses -----------------------------------------------------------------


@responses.activate
def test_responses_decorator_intercepts_managed_requests(server: Server) -> None:
    # The mocked URL is a real, listening server: a request that slipped past
    # the mock would be served (and counted) there.
    responses.add(responses.GET, f"{server.url}/items", json={"n": 1})
    with ManagedSession(timeout=Timeout(connect=2, read=7, total=60)) as session:
        assert session.get(f"{server.url}/items").json() == {"n": 1}
        # the management sits around the patched HTTPAdapter.send
        assert session.pool_stats().total.opened == 0
    assert len(responses.calls) == 1
    assert responses.calls[0].request.req_kwargs["timeout"] == (2.0, 7.0)
    assert server.connections_opened == 0


def test_responses_mock_context_intercepts_managed_requests(server: Server) -> None:
    with responses.RequestsMock() as mock, ManagedSession() as session:
        mock.add(responses.POST, f"{server.url}/items", status=201, body="made")
        mock.add(responses.GET, f"{server.url}/items/1", body="one")
        assert session.post(f"{server.url}/items", json={"a": 1}).status_code == 201
        assert session.get(f"{server.url}/items/1").text == "one"
        assert [c.request.method for c in mock.calls] == ["POST", "GET"]
        assert mock.calls[0].request.body == b'{"a": 1}'
        assert mock.calls[1].request.req_kwargs["timeout"] == (5.0, 30.0)
    # leaving the RequestsMock block asserted that every mock was used
    assert server.connections_opened == 0


def test_responses_unmatched_url_fails_instead_of_reaching_the_server(
    server: Server,
) -> None:
    with responses.RequestsMock() as mock, ManagedSession() as session:
        mock.add(responses.GET, f"{server.url}/known", body="x")
        with pytest.raises(requests.ConnectionError, match="Connection refused by"):
            session.get(f"{server.url}/unknown")
        session.get(f"{server.url}/known")
    assert server.connections_opened == 0


# -- requests-mock -------------------------------------------------------------


def test_requests_mock_mocker_intercepts_managed_requests(server: Server) -> None:
    with (
        requests_mock.Mocker() as mocker,
        ManagedSession(timeout=Timeout(connect=2, read=7, total=60)) as session,
    ):
        mocker.get(f"{server.url}/items", json={"n": 2})
        assert session.get(f"{server.url}/items").json() == {"n": 2}
        assert mocker.call_count == 1
        assert mocker.last_request.timeout == (2.0, 7.0)
    assert server.connections_opened == 0


def test_requests_mock_adapter_mounted_on_a_managed_session(server: Server) -> None:
    adapter = requests_mock.Adapter()
    adapter.register_uri("GET", f"{server.url}/mocked", text="mounted")
    with ManagedSession() as session:
        session.mount(f"{server.url}/mocked", adapter)
        assert session.get(f"{server.url}/mocked").text == "mounted"
        assert adapter.last_request is not None
        assert adapter.last_request.timeout == (5.0, 30.0)
        assert server.connections_opened == 0
        # other URLs of the same host still go through the managed adapter
        assert session.get(f"{server.url}/real").text == "ok"
        assert session.pool_stats().total.requests == 1
    assert server.connections_opened == 1
    assert [r.path for r in server.requests] == ["/real"]


# -- requests-cache ------------------------------------------------------------


class CachedSession(CacheMixin, ManagedSession):  # type: ignore[misc]
    """requests-cache's documented recipe for caching a custom session class."""


def test_requests_cache_mixin_answers_the_second_request(server: Server) -> None:
    server.handler = lambda request: Reply(body=b"fresh")
    timeout = Timeout(connect=2, read=7, total=60)
    with CachedSession(backend="memory", timeout=timeout) as session:
        assert isinstance(session, ManagedSession)
        assert session._rm_timeout == timeout  # the mixin passed it through
        first = session.get(f"{server.url}/data")
        second = session.get(f"{server.url}/data")
        assert (first.text, second.text) == ("fresh", "fresh")
        assert first.from_cache is False
        assert second.from_cache is True
        assert server.requests_served == 1
        assert session.pool_stats().total.requests == 1
        # a different URL is a miss and goes out on the same managed connection
        assert session.get(f"{server.url}/other").from_cache is False
        assert server.requests_served == 2
        assert server.connections_opened == 1


def test_requests_cache_miss_still_gets_the_managed_timeout(server: Server) -> None:
    server.handler = lambda request: Reply(never_answer=True)
    timeout = Timeout(connect=1, read=0.3, total=5)
    with CachedSession(backend="memory", timeout=timeout) as session:
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            session.get(f"{server.url}/hangs")
        assert time.monotonic() - started < 3


# -- requests-toolbelt ---------------------------------------------------------


class _CountingReads(MultipartEncoder):
    """A MultipartEncoder that records the size of each read() requests makes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return super().read(size)  # type: ignore[no-any-return]


def _fields() -> dict[str, Any]:
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    return {
        "name": "report",
        "file": ("report.bin", payload, "application/octet-stream"),
    }


def test_toolbelt_multipart_encoder_streams_to_the_server(server: Server) -> None:
    boundary = "rm-test-boundary-7f3a"
    encoder = _CountingReads(fields=_fields(), boundary=boundary)
    expected = MultipartEncoder(fields=_fields(), boundary=boundary).to_string()
    with ManagedSession() as session:
        response = session.post(
            f"{server.url}/upload",
            data=encoder,
            headers={"Content-Type": encoder.content_type},
        )
    assert response.ok
    (received,) = server.requests
    assert received.headers["content-length"] == str(len(expected))
    assert received.headers["content-type"] == encoder.content_type
    assert received.body == expected
    # streamed: read in blocks, never as one string
    assert len(encoder.reads) > 1 and all(n > 0 for n in encoder.reads)
    parts = MultipartDecoder(received.body, received.headers["content-type"]).parts
    assert [p.content for p in parts] == [b"report", bytes(range(256)) * 4096]
    disposition = parts[1].headers[b"Content-Disposition"]
    assert b'filename="report.bin"' in disposition


class BaseUrlManagedSession(ManagedSession, BaseUrlSession):
    """toolbelt's BaseUrlSession mixed in after ManagedSession, so that the
    session's keyword arguments reach ManagedSession.__init__."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url


def test_toolbelt_base_url_session_mixes_in(server: Server) -> None:
    server.handler = lambda request: Reply(never_answer=request.path == "/api/hang")
    timeout = Timeout(connect=1, read=0.3, total=5)
    with BaseUrlManagedSession(f"{server.url}/api/", timeout=timeout) as session:
        assert session.get("items", params={"page": 2}).ok
        assert session.pool_stats().total.requests == 1
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            session.get("hang")
        assert time.monotonic() - started < 3
    assert [r.target for r in server.requests] == ["/api/items?page=2", "/api/hang"]


# -- subclassing request() like requests-oauthlib's OAuth2Session ---------------


class TokenSession(ManagedSession):
    """Shaped like ``requests_oauthlib.OAuth2Session``: a token, a request()
    override with extra keyword arguments that adds the header and calls super.
    """

    def __init__(self, token: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = dict(token)  # the attribute name OAuth2Session uses
        self.auth = None  # OAuth2Session also sets auth in __init__

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        withhold_token: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(headers or {})
        if not withhold_token:
            headers["Authorization"] = f"Bearer {self.token['access_token']}"
        return super().request(method, url, data=data, headers=headers, **kwargs)


def test_request_override_adds_the_token_and_keeps_management(
    server: Server,
) -> None:
    with TokenSession({"access_token": "t0k"}) as session:
        assert session.get(server.url, params={"q": 1}).ok
        assert session.post(server.url, data=b"x", withhold_token=True).ok
        assert session.pool_stats().total.requests == 2
        assert session.pool_stats().total.reuses == 1
    first, second = server.requests
    assert first.headers["authorization"] == "Bearer t0k"
    assert first.target == "/?q=1"
    assert "authorization" not in second.headers
    assert server.connections_opened == 1


def test_request_override_still_gets_the_default_timeout(server: Server) -> None:
    server.handler = lambda request: Reply(never_answer=True)
    timeout = Timeout(connect=1, read=0.3, total=5)
    with TokenSession({"access_token": "t"}, timeout=timeout) as session:
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            session.get(server.url)  # no timeout= anywhere
        assert time.monotonic() - started < 3
    assert server.requests[0].headers["authorization"] == "Bearer t"


def test_request_override_still_gets_the_deadline(server: Server) -> None:
    server.handler = lambda request: Reply(dribble=0.05)
    timeout = Timeout(connect=1, read=1, total=0.5)
    with TokenSession({"access_token": "t"}, timeout=timeout) as session:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            session.get(server.url).content  # noqa: B018
        assert time.monotonic() - started < 3


# -- pickling ------------------------------------------------------------------


def test_pickle_round_trip_keeps_configuration_adapters_and_cookies(
    server: Server,
) -> None:
    timeout = Timeout(connect=2, read=3, total=4)
    limits = PoolLimits(max_idle_per_host=3, max_per_host=4)
    policy = KeepAlivePolicy(idle_timeout=7, max_requests=9)
    with ManagedSession(timeout=timeout, limits=limits, policy=policy) as session:
        session.headers["X-Token"] = "abc"
        session.params = {"v": "2"}
        session.cookies.set("sid", "s3cr3t", domain="127.0.0.1", path="/")
        session.mount("mock://", RecordingAdapter())
        session.get(server.url)
        data = pickle.dumps(session)
    clone = pickle.loads(data)
    with clone:
        assert isinstance(clone, ManagedSession)
        assert "open" in repr(clone)
        assert (clone._rm_timeout, clone._rm_limits, clone._rm_policy) == (
            timeout,
            limits,
            policy,
        )
        # a fresh managed adapter for http/https, the foreign ones kept
        managed = clone.get_adapter(server.url)
        assert isinstance(managed, ManagedAdapter)
        assert managed is not session.get_adapter(server.url)
        assert clone.get_adapter("https://x.test/") is managed
        assert managed._rm_limits == limits and managed._rm_policy == policy
        foreign = clone.get_adapter("mock://x")
        assert isinstance(foreign, RecordingAdapter)
        # it works, sends the headers, params and cookies, and is managed
        assert clone.get(server.url + "/again").text == "ok"
        again = server.requests[-1]
        assert again.target == "/again?v=2"
        assert again.headers["x-token"] == "abc"
        assert again.headers["cookie"] == "sid=s3cr3t"
        assert clone.pool_stats().total.requests == 1
        clone.get("mock://x")
        assert foreign.timeouts[-1] == (2.0, 3.0)
    with pytest.raises(requests.RequestException, match="closed"):
        clone.get(server.url)


def test_pickle_keeps_an_adapter_mounted_for_a_longer_prefix() -> None:
    with ManagedSession() as session:
        session.mount("http://other.test/", HTTPAdapter(pool_maxsize=3))
        data = pickle.dumps(session)
    clone = pickle.loads(data)
    with clone:
        assert type(clone.get_adapter("http://other.test/a")) is HTTPAdapter
        assert isinstance(clone.get_adapter("http://x.test/"), ManagedAdapter)


def test_unpickled_session_applies_its_deadline(server: Server) -> None:
    with ManagedSession(timeout=Timeout(connect=1, read=1, total=0.5)) as session:
        clone = pickle.loads(pickle.dumps(session))
    server.handler = lambda request: Reply(dribble=0.05)
    with clone, pytest.raises(DeadlineExceeded):
        clone.get(server.url).content  # noqa: B018


# -- OpenTelemetry -------------------------------------------------------------


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
