"""Faults: every scenario ends in bounded time with the documented exception,
leaks no file descriptor, and leaves the session healthy.

Each scenario is listed, with what it raises, in docs/reliability.md.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from requests_managed import CloseReason, DeadlineExceeded, ManagedSession, Timeout

from .conftest import open_fds
from .server import Backlogged, Reply, Request, Server

TIMEOUT = Timeout(connect=0.5, read=0.5, total=1.5)
# Seconds any scenario may take. The total deadline caps every scenario at
# 1.5 s; the rest is slack for a loaded machine (10x the read timeout). A
# scenario that is not bounded (a dribble of 10**9 bytes) runs far past it.
BOUND = 5.0


@pytest.fixture(autouse=True, scope="module")
def _fds_back_to_the_start_after_the_suite() -> Iterator[None]:
    gc.collect()
    before = open_fds()
    yield
    gc.collect()
    assert open_fds() == before


def _huge_headers(request: Request) -> Reply:
    # ~1.1 MB in 1100 header lines (more than http.client's 100 headers)
    return Reply(headers=[(f"X-Pad-{i}", "v" * 1000) for i in range(1100)])


def _huge_header_line(request: Request) -> Reply:
    # one 1 MiB header line (longer than http.client's 64 KiB line limit)
    return Reply(headers=[("X-Pad", "v" * (1 << 20))])


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
    ("1 MiB header line", _huge_header_line, requests.ConnectionError),
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
        if not isinstance(info.value, requests.TooManyRedirects):
            # every failure on a connection carries its facts
            facts = info.value.connection_info  # type: ignore[attr-defined]
            assert facts.url == server.url + "/fault"
            assert facts.phase in ("read", "body")
            assert str(facts) in str(info.value)
        server.handler = lambda request: Reply(body=b"healthy")
        assert session.get(server.url + "/next").text == "healthy"
        stats = session.pool_stats().for_url(server.url)
        assert stats.in_use == 0
    assert server.wait_for(lambda: server.open_connections() == 0)
    assert open_fds() == before


def _healthy_afterwards(session: ManagedSession, server: Server) -> None:
    server.handler = lambda request: Reply(body=b"healthy")
    assert session.get(server.url + "/next").text == "healthy"
    assert session.pool_stats().for_url(server.url).in_use == 0


def test_server_closing_idle_connections_is_invisible_to_gets() -> None:
    before = open_fds()
    with Server(idle_close_after=0.3) as server, ManagedSession() as session:
        for _ in range(3):
            start = time.monotonic()
            assert session.get(server.url).ok
            assert time.monotonic() - start < BOUND
            # the server closes the idle connection; wait until it has
            assert server.wait_for(lambda: server.open_connections() == 0)
        assert server.connections_opened == 3
        stats = session.pool_stats().for_url(server.url)
        # each stale connection was noticed at check-out, before sending on it
        assert stats.closed == {CloseReason.SERVER_CLOSE: 2}
        assert stats.opened == 3 and stats.requests == len(server.requests) == 3
    assert open_fds() == before


def test_listener_that_never_accepts_gives_connect_timeout(server: Server) -> None:
    before = open_fds()
    backlog = Backlogged()
    try:
        if not backlog.fill():
            pytest.skip(
                "loopback connects past a full accept queue complete or are "
                "refused on this machine (e.g. net.ipv4.tcp_abort_on_overflow=1), "
                "so no connect timeout can be provoked offline"
            )
        with ManagedSession(timeout=Timeout(connect=0.5, read=5)) as session:
            start = time.monotonic()
            with pytest.raises(requests.ConnectTimeout):
                session.get(backlog.url)
            assert time.monotonic() - start < BOUND
            assert session.pool_stats().total.open == 0
            _healthy_afterwards(session, server)
    finally:
        backlog.close()
    assert server.wait_for(lambda: server.open_connections() == 0)
    assert open_fds() == before


def test_connection_refused_is_a_connection_error(server: Server) -> None:
    before = open_fds()
    backlog = Backlogged()
    url = backlog.url
    backlog.close()  # nothing listens on that port any more
    with ManagedSession() as session:
        start = time.monotonic()
        with pytest.raises(requests.ConnectionError):
            session.get(url)
        assert time.monotonic() - start < BOUND
        assert session.pool_stats().for_url(url).open == 0
        _healthy_afterwards(session, server)
    assert server.wait_for(lambda: server.open_connections() == 0)
    assert open_fds() == before


def test_a_stalled_tls_handshake_is_a_connect_timeout(ca_bundle: str) -> None:
    # A listener that accepts TCP and never answers the TLS ClientHello.
    # Before: ReadTimeout, though the connect phase bounds the handshake.
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        with ManagedSession(timeout=Timeout(connect=0.5, read=5, total=10)) as s:
            started = time.monotonic()
            with pytest.raises(requests.ConnectTimeout, match="TLS handshake"):
                s.get(url, verify=ca_bundle)
            assert time.monotonic() - started < BOUND
    finally:
        stop.set()
        thread.join(5)
        for sock in accepted:
            sock.close()
        listener.close()


@pytest.mark.parametrize("retry_after", [None, "30"], ids=["backoff", "retry-after"])
def test_retry_sleeps_never_cross_the_deadline(
    server: Server, retry_after: str | None
) -> None:
    # Before: total=2 with backoff_factor=10 slept 20 s before the third try
    # (or 30 s for the server's Retry-After), then raised DeadlineExceeded.
    from urllib3.util.retry import Retry

    headers = [("Retry-After", retry_after)] if retry_after else []
    server.handler = lambda request: Reply(status=503, headers=headers)
    retries = Retry(total=3, backoff_factor=10, status_forcelist=[503])
    timeout = Timeout(connect=1, read=2, total=2)
    with ManagedSession(timeout=timeout, retries=retries) as session:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            session.get(server.url)
        assert time.monotonic() - started < BOUND
        assert server.requests_served <= 2
        server.handler = lambda request: Reply(body=b"ok")
        assert session.get(server.url).text == "ok"


def test_a_slow_name_lookup_that_spends_the_deadline_fails_once_connected(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lookup cannot be interrupted; before, the watchdog fired while no
    # socket existed, and the dribbled body that followed was bounded by
    # nothing (a 20 s lookup and a dribble succeeded at 45 s under total=15).
    import socket

    real = socket.getaddrinfo

    def slow_getaddrinfo(*args: object, **kwargs: object) -> object:
        threading.Event().wait(1.2)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    server.handler = lambda request: Reply(dribble=0.1)
    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    with ManagedSession(timeout=Timeout(connect=5, read=2, total=1)) as session:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            session.get(server.url.replace("127.0.0.1", "localhost"))
        assert time.monotonic() - started < BOUND
