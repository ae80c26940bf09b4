"""Where connection state changes hands: waits, scopes, eviction, release, fork.

Each test pins a defect of the first pool design (issue "One owner for the
connection lifecycle") through the public API, against real sockets.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import trustme

from requests_managed import (
    CloseReason,
    ConnectionLeakWarning,
    KeepAlivePolicy,
    ManagedSession,
    PoolLimits,
    Timeout,
)
from requests_managed._adapter import ManagedAdapter

from .forking import in_child
from .server import Reply, Request, Server

pytestmark = pytest.mark.filterwarnings(
    # Python 3.12+ warns about fork() in a process with threads (our server's)
    "ignore:.*fork.*:DeprecationWarning"
)

#: A bound far above what a correct run takes, far below the failure it
#: catches (waiting out a 30 s read timeout or a 10 s pool wait).
BOUND = 3.0


@pytest.fixture
def slow_server() -> Iterator[Server]:
    """``/slow`` answers after 10 s; everything else at once."""

    def handler(request: Request) -> Reply:
        if request.path == "/slow":
            return Reply(delay=10, body=b"late")
        return Reply(body=b"ok")

    with Server(handler) as server:
        yield server


# -- 1. an exception during a pool wait ----------------------------------------------


def test_interrupted_pool_wait_leaves_no_ghost_that_takes_the_next_connection(
    server: Server,
) -> None:
    previous = signal.getsignal(signal.SIGALRM)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    limits = PoolLimits(max_per_host=1, wait_timeout=10)
    try:
        with ManagedSession(limits=limits) as session:
            held = session.get(server.url, stream=True)
            signal.signal(signal.SIGALRM, interrupt)
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            with pytest.raises(KeyboardInterrupt):
                session.get(server.url)  # waits at max_per_host=1
            held.close()
            stats = session.pool_stats().for_url(server.url)
            assert (stats.in_use, stats.idle) == (0, 1)
            started = time.monotonic()
            assert session.get(server.url).text == "ok"  # not a 10 s PoolTimeout
            assert time.monotonic() - started < BOUND
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- 2. nested requests get their own timeout -----------------------------------------


def test_request_of_another_session_inside_a_hook_keeps_its_own_timeout(
    slow_server: Server,
) -> None:
    outer = ManagedSession(timeout=Timeout(connect=5, read=20, total=30))
    inner = ManagedSession()

    def hook(response: requests.Response, **kwargs: object) -> None:
        inner.get(slow_server.url + "/slow", timeout=0.5)

    with outer, inner:
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            outer.get(slow_server.url, hooks={"response": hook})
        assert time.monotonic() - started < BOUND


def test_managed_adapter_on_a_plain_session_inside_a_managed_hook_has_its_own_deadline(
    server: Server,
) -> None:
    # The outer request's 1 s total must not cut the inner request short:
    # before, the adapter found the outer deadline and armed its connection
    # with it, so the inner request died at 1 s of the outer clock.
    server.handler = lambda request: Reply(
        delay=1.5 if request.path == "/pause" else 0, body=b"inner"
    )
    plain = requests.Session()
    plain.mount("http://", ManagedAdapter())
    inner: list[str] = []

    def hook(response: requests.Response, **kwargs: object) -> None:
        inner.append(plain.get(server.url + "/pause", timeout=5).text)

    with (
        ManagedSession(timeout=Timeout(total=1)) as outer,
        plain,
        contextlib.suppress(requests.RequestException),
        outer.get(server.url, stream=True, hooks={"response": hook}),
    ):
        pass
    assert inner == ["inner"]


def test_same_session_request_from_a_hook_gets_its_own_deadline(
    slow_server: Server,
) -> None:
    with ManagedSession(timeout=Timeout(read=20, total=30)) as session:

        def hook(response: requests.Response, **kwargs: object) -> None:
            if response.request.url.endswith("/first"):  # type: ignore[union-attr]
                session.get(slow_server.url + "/slow", timeout=0.5)

        with pytest.raises(requests.ReadTimeout):
            session.get(slow_server.url + "/first", hooks={"response": hook})
        assert session.get(slow_server.url).text == "ok"


# -- 3. pool eviction ----------------------------------------------------------------


def test_evicted_pool_serves_its_waiter_and_counts_pool_evicted(
    server: Server,
) -> None:
    # urllib3 keeps 100 pools; requests with 100 other TLS settings (verify
    # paths) to a second origin push the first pool out while a caller waits
    # on it. Before: that caller got "ConnectionError: Pool is closed" on an
    # open session, and the evicted connections were counted session-closed.
    limits = PoolLimits(max_per_host=1, wait_timeout=20)
    with Server() as other, ManagedSession(limits=limits) as session:
        held = session.get(server.url, stream=True)
        answers: list[object] = []

        def wait() -> None:
            try:
                answers.append(session.get(server.url).text)
            except Exception as exc:
                answers.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        deadline = time.monotonic() + 10
        while session.pool_stats().for_url(server.url).waits < 1:
            assert time.monotonic() < deadline, "the waiter never queued"
            time.sleep(0.005)
        for i in range(101):
            assert session.get(other.url, verify=f"no-such-ca-{i}.pem").ok
        held.close()
        waiter.join(20)
        assert answers == ["ok"]
        stats = session.pool_stats()
        assert stats.for_url(server.url).closed == {CloseReason.POOL_EVICTED: 2}
        assert CloseReason.SESSION_CLOSED not in stats.total.closed
        assert session.get(server.url).text == "ok"


# -- 4. Response.close() never waits for a silent server -------------------------------


def test_closing_a_stream_whose_server_went_silent_returns_at_once(
    server: Server,
) -> None:
    # Content-Length 100, 10 bytes sent, then silence. Before: close() read
    # for the whole read timeout (30 s here; for ever with read=None).
    server.handler = lambda request: Reply(body=b"x" * 100, stall_after=10)
    with ManagedSession(timeout=Timeout(read=30, total=60)) as session:
        with session.get(server.url, stream=True) as r:
            assert r.raw.read(5) == b"xxxxx"
            started = time.monotonic()
        assert time.monotonic() - started < BOUND
        stats = session.pool_stats().for_url(server.url)
        assert stats.closed == {CloseReason.UNREAD_BODY: 1}


def test_a_collected_stream_is_closed_without_network_reads(server: Server) -> None:
    server.handler = lambda request: Reply(body=b"x" * 100, stall_after=10)
    with ManagedSession(timeout=Timeout(read=30, total=60)) as session:
        r = session.get(server.url, stream=True)
        started = time.monotonic()
        with pytest.warns(ConnectionLeakWarning):
            del r
            gc.collect()
        assert time.monotonic() - started < BOUND
        assert session.pool_stats().total.closed == {CloseReason.UNREAD_BODY: 1}


def test_closing_a_stream_drains_a_small_rest_that_is_already_there(
    server: Server,
) -> None:
    server.handler = lambda request: Reply(body=b"x" * 20_000)
    with ManagedSession() as session:
        with session.get(server.url, stream=True) as r:
            assert len(r.raw.read(10)) == 10
        assert session.get(server.url).ok
        stats = session.pool_stats().for_url(server.url)
        assert (stats.opened, stats.reuses, stats.closed) == (1, 1, {})


# -- 7. fork -----------------------------------------------------------------------


def test_a_stream_held_across_fork_never_reads_the_parents_socket_in_the_child(
    server: Server,
) -> None:
    server.handler = lambda request: Reply(body=b"p" * 300_000)
    with ManagedSession() as session:
        r = session.get(server.url, stream=True)
        first = r.raw.read(1000)

        def child() -> str:
            try:
                r.raw.read(200_000)  # far past what is buffered
                outcome = "read the parent's socket"
            except Exception as exc:
                outcome = type(exc).__name__
            r.close()
            counted = session.pool_stats().total.closed == {CloseReason.FORK: 1}
            return f"{outcome}|{counted}"

        child_said = in_child(child)
        outcome, counted = child_said.split("|")
        assert outcome != "read the parent's socket" and counted == "True"
        # the parent's stream is intact: every byte arrives, in order
        assert first + r.raw.read() == b"p" * 300_000
        r.close()
        assert session.get(server.url).ok


# -- 8. a stale reused TLS connection --------------------------------------------------


def test_stale_reused_tls_connection_is_replayed_for_put(
    ca: trustme.CA, ca_bundle: str
) -> None:
    # The server cuts the second request on each connection off while its
    # body is still being written: over TLS the client sees SSLEOFError
    # ("EOF occurred in violation of protocol"), which plain requests raises
    # as SSLError every time. Nothing of a response arrived: replay the PUT.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    body = b"y" * (8 << 20)
    with (
        Server(ssl_context=context, cut_after_head=2) as server,
        ManagedSession() as session,
    ):
        assert session.put(server.url, data=b"x", verify=ca_bundle).ok
        assert session.put(server.url, data=body, verify=ca_bundle).ok
        assert server.bodies_received("/")[-1] == body
        stats = session.pool_stats().for_url(server.url)
        assert stats.opened == 2


# -- 9. the margin scales with the server's announced timeout ------------------------


def test_connection_idle_shorter_than_the_scaled_margin_is_reused() -> None:
    # Keep-Alive: timeout=2 (Apache's common setting): retired after 1.6 s of
    # idle time, not 1.0 s, so a 1.2 s pause still reuses the connection.
    reply = Reply(headers=[("Keep-Alive", "timeout=2, max=100")])
    with Server(lambda r: reply) as server, ManagedSession() as session:
        assert session.get(server.url).ok
        time.sleep(1.2)
        assert session.get(server.url).ok
        assert server.connections_opened == 1
        assert session.pool_stats().for_url(server.url).reuses == 1


# -- 10. smaller ones ------------------------------------------------------------------


def test_session_closed_on_a_newcomer_does_not_claim_it_waited(server: Server) -> None:
    session = ManagedSession()
    adapter = session.get_adapter(server.url)
    session.get(server.url)
    adapter.close()
    with pytest.raises(requests.RequestException, match="closed") as caught:
        adapter.send(requests.Request("GET", server.url).prepare())
    assert "waited" not in str(caught.value)
    session.close()


def test_policy_with_zero_margin_still_uses_the_announced_timeout() -> None:
    policy = KeepAlivePolicy(keep_alive_margin=0)
    reply = Reply(headers=[("Keep-Alive", "timeout=30")])
    with Server(lambda r: reply) as server, ManagedSession(policy=policy) as session:
        for _ in range(3):
            assert session.get(server.url).ok
        assert server.connections_opened == 1
