"""Faults: every scenario ends in bounded time with the documented exception,
leaks no file descriptor, and leaves the session healthy."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from requests_managed import DeadlineExceeded, ManagedSession, Timeout

from .conftest import open_fds
from .server import Backlogged, Reply, Request, Server

TIMEOUT = Timeout(connect=0.5, read=0.5, total=1.5)
BOUND = TIMEOUT.total + 2  # seconds any scenario may take, with slack for load


def _huge_headers(request: Request) -> Reply:
    return Reply(headers=[(f"X-Pad-{i}", "v" * 1000) for i in range(1100)])


# (name, reply for the first request, exception a user catches)
SCENARIOS: list[tuple[str, Callable[[Request], Reply], type[Exception]]] = [
    ("never answers", lambda r: Reply(never_answer=True), requests.ReadTimeout),
    (
        "headers then silence",
        lambda r: Reply(dribble=60.0),
        requests.ConnectionError,
    ),
    ("body dribbled forever", lambda r: Reply(dribble=0.1), DeadlineExceeded),
    # requests reports a body cut short as ChunkedEncodingError, whatever
    # the framing; we keep its classes
    (
        "reset mid-body",
        lambda r: Reply(body=b"x" * 100_000, reset=True),
        requests.exceptions.ChunkedEncodingError,
    ),
    (
        "content-length larger than body",
        lambda r: Reply(body=b"short", truncate=True),
        requests.exceptions.ChunkedEncodingError,
    ),
    (
        "malformed status line",
        lambda r: Reply(raw=b"HTTP/1.1 abc\r\n\r\n"),
        requests.ConnectionError,
    ),
    (
        "garbage instead of HTTP",
        lambda r: Reply(raw=b"\x00\xffnot http at all\r\n\r\n"),
        requests.ConnectionError,
    ),
    (
        "broken chunked framing",
        lambda r: Reply(
            raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"
        ),
        requests.exceptions.ChunkedEncodingError,
    ),
    ("1 MiB header block", _huge_headers, requests.ConnectionError),
    (
        "redirect loop",
        lambda r: Reply(status=302, headers=[("Location", r.target)], body=b""),
        requests.TooManyRedirects,
    ),
]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [pytest.param(reply, exc, id=name) for name, reply, exc in SCENARIOS],
)
def test_fault_is_bounded_typed_and_leaves_the_session_healthy(
    server: Server, reply: Callable[[Request], Reply], expected: type[Exception]
) -> None:
    before = open_fds()
    with ManagedSession(timeout=TIMEOUT) as session:
        session.max_redirects = 5
        server.handler = reply
        start = time.monotonic()
        with pytest.raises(expected) as info:
            session.get(server.url + "/fault").content  # noqa: B018
        assert time.monotonic() - start < BOUND
        assert isinstance(info.value, requests.RequestException)
        server.handler = lambda request: Reply(body=b"healthy")
        assert session.get(server.url + "/next").text == "healthy"
        stats = session.pool_stats().for_url(server.url)
        assert stats.in_use == 0
    assert server.wait_for(lambda: server.open_connections() == 0)
    assert open_fds() == before


def test_server_closing_idle_connections_is_invisible_to_gets() -> None:
    with Server(idle_close_after=0.3) as server, ManagedSession() as session:
        for _ in range(3):
            assert session.get(server.url).ok
            assert server.wait_for(lambda: server.open_connections() == 0)
        assert server.connections_opened == 3


def test_listener_that_never_accepts_gives_connect_timeout() -> None:
    backlog = Backlogged()
    try:
        if not backlog.fill():
            pytest.skip("this kernel completes loopback connects past the backlog")
        with ManagedSession(timeout=Timeout(connect=0.5, read=5)) as session:
            start = time.monotonic()
            with pytest.raises(requests.ConnectTimeout):
                session.get(backlog.url)
            assert time.monotonic() - start < 5
            assert session.pool_stats().total.open == 0
    finally:
        backlog.close()


def test_connection_refused_is_a_connection_error() -> None:
    backlog = Backlogged()
    url = backlog.url
    backlog.close()  # nothing listens on that port any more
    with ManagedSession() as session:
        with pytest.raises(requests.ConnectionError):
            session.get(url)
        assert session.pool_stats().total.open == 0
