"""Managed pools: limits, waiting, overflow, TLS separation, keep-alive policy."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from requests_managed import (
    CloseReason,
    KeepAlivePolicy,
    ManagedSession,
    PoolLimits,
    PoolTimeout,
)

from .server import Reply, Request, Server


def assert_stats_match_server(session: ManagedSession, server: Server) -> None:
    """pool_stats() agrees with the server's own counts (issue 3, acceptance 7)."""
    stats = session.pool_stats().for_url(server.url)
    assert stats.opened == server.connections_opened
    assert stats.requests == server.requests_served
    assert stats.reuses == stats.requests - stats.opened


def echo_slow(request: Request) -> Reply:
    time.sleep(0.1)
    return Reply(body=request.target.encode())


def _hammer(session: ManagedSession, url: str, threads: int) -> list[bool]:
    def one(i: int) -> bool:
        return session.get(f"{url}/id/{i}").text == f"/id/{i}"

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(threads * 2)))


def test_32_threads_default_limits_no_discard_warning(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.handler = echo_slow
    caplog.set_level(logging.WARNING, logger="urllib3")
    with ManagedSession() as session:
        assert all(_hammer(session, server.url, 32))
        stats = session.pool_stats().for_url(server.url)
    assert "Connection pool is full" not in caplog.text
    assert server.connections_opened <= 32
    assert stats.opened == server.connections_opened
    assert stats.requests == len(server.requests) == 64
    # idle retention follows the peak concurrency: nothing closed as surplus
    assert CloseReason.POOL_OVERFLOW not in stats.closed
    assert stats.idle == stats.opened


def test_without_following_the_peak_the_surplus_closes_and_is_counted(
    server: Server,
) -> None:
    server.handler = echo_slow
    with ManagedSession(limits=PoolLimits(idle_follows_peak=0)) as session:
        assert all(_hammer(session, server.url, 32))
        stats = session.pool_stats().for_url(server.url)
    # beyond max_idle_per_host, connections are closed after use and counted
    assert stats.closed.get(CloseReason.POOL_OVERFLOW, 0) == stats.opened - 10


def test_max_per_host_bounds_connections(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.handler = echo_slow
    caplog.set_level(logging.WARNING, logger="urllib3")
    with ManagedSession(limits=PoolLimits(max_per_host=4)) as session:
        assert all(_hammer(session, server.url, 32))
        stats = session.pool_stats().for_url(server.url)
    assert "Connection pool is full" not in caplog.text
    assert server.connections_opened <= 4
    assert stats.waits > 0 and stats.pool_timeouts == 0


def test_wait_timeout_shorter_than_handler_raises_pool_timeout(server: Server) -> None:
    release = threading.Event()

    def blocking(request: Request) -> Reply:
        release.wait(10)
        return Reply()

    server.handler = blocking
    limits = PoolLimits(max_per_host=1, wait_timeout=0.2)
    with ManagedSession(limits=limits) as session, ThreadPoolExecutor(1) as pool:
        holder = pool.submit(session.get, server.url)
        assert server.wait_for(lambda: server.connections_opened == 1)
        start = time.monotonic()
        with pytest.raises(PoolTimeout) as info:
            session.get(server.url)
        assert time.monotonic() - start < 5
        assert isinstance(info.value, requests.exceptions.Timeout)
        release.set()
        assert holder.result(10).status_code == 200
        stats = session.pool_stats().for_url(server.url)
    assert stats.pool_timeouts == 1
    assert server.connections_opened == 1


def test_32_threads_at_max_per_host_4_waiters_get_pool_timeout(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()

    def handler(request: Request) -> Reply:
        if request.path == "/hold":
            release.wait(10)
        return Reply(body=request.target.encode())

    server.handler = handler
    caplog.set_level(logging.WARNING, logger="urllib3")
    limits = PoolLimits(max_per_host=4, wait_timeout=0.2)
    with ManagedSession(limits=limits) as session, ThreadPoolExecutor(32) as pool:
        holders = [pool.submit(session.get, server.url + "/hold") for _ in range(4)]
        # all four connections are held by requests the server is answering
        assert server.wait_for(lambda: server.requests_served == 4)
        waiters = [pool.submit(session.get, server.url + "/wait") for _ in range(28)]
        errors = [w.exception(10) for w in waiters]
        release.set()
        assert [h.result(10).text for h in holders] == ["/hold"] * 4
        assert all(isinstance(e, PoolTimeout) for e in errors), errors
        stats = session.pool_stats().for_url(server.url)
        # the pool is not poisoned: the four connections serve the next ones
        assert session.get(server.url + "/after").text == "/after"
    assert "Connection pool is full" not in caplog.text
    assert server.connections_opened == 4
    assert stats.pool_timeouts == stats.waits == 28
    assert server.bodies_received("/wait") == []  # nothing was sent for them


def test_a_waiting_caller_gets_the_next_released_connection(server: Server) -> None:
    """First come, first served: the thread that releases a connection cannot
    take it back on its next request ahead of a caller already waiting."""
    server.handler = lambda request: Reply(
        delay=0.02 if request.path.startswith("/hog") else 0.0
    )
    stop = threading.Event()
    limits = PoolLimits(max_per_host=1, wait_timeout=5)
    with ManagedSession(limits=limits) as session, ThreadPoolExecutor(2) as pool:

        def hog() -> None:
            i = 0
            while not stop.is_set():
                session.get(f"{server.url}/hog/{i}")
                i += 1

        hogging = pool.submit(hog)
        try:
            assert server.wait_for(lambda: server.requests_served > 0)
            overtaken = []
            for attempt in range(5):
                waits = session.pool_stats().for_url(server.url).waits
                served_before = server.requests_served
                assert session.get(f"{server.url}/wait/{attempt}").ok
                if session.pool_stats().for_url(server.url).waits == waits:
                    continue  # the hog happened to be between requests
                targets = [r.target for r in server.requests]
                hogs = targets[served_before : targets.index(f"/wait/{attempt}")]
                overtaken.append(len(hogs))
        finally:
            stop.set()
            hogging.result(10)
    assert overtaken, "the waiter never had to wait"
    # at most the hog's request in flight when the waiter queued came first
    assert max(overtaken) <= 1
    # (one hog thread never waits, so every wait counted was the waiter's)


@pytest.mark.parametrize("max_idle", [0, 1, 2])
def test_max_idle_per_host_keeps_that_many(server: Server, max_idle: int) -> None:
    server.handler = echo_slow
    limits = PoolLimits(max_idle_per_host=max_idle, idle_follows_peak=0)
    with ManagedSession(limits=limits) as session:
        assert all(_hammer(session, server.url, 4))
        stats = session.pool_stats().for_url(server.url)
        assert stats.idle == min(max_idle, stats.opened)
        assert (
            stats.closed.get(CloseReason.POOL_OVERFLOW, 0) == stats.opened - stats.idle
        )


@pytest.mark.parametrize("limit", [1, 2])
def test_max_total_spans_hosts(limit: int) -> None:
    with Server(echo_slow) as a, Server(echo_slow) as b:
        with ManagedSession(limits=PoolLimits(max_total=limit)) as session:
            with ThreadPoolExecutor(6) as pool:
                urls = [a.url, b.url] * 6
                assert all(r.ok for r in pool.map(session.get, urls))
            stats = session.pool_stats()
        assert stats.total.open <= limit
    assert a.connections_opened + b.connections_opened >= 2


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_settings_never_share_a_pool(tls_server: Server, ca_bundle: str) -> None:
    """CVE-2024-35195: verify=False must not leak into later verified requests."""
    with ManagedSession() as session:
        assert session.get(tls_server.url, verify=False).text == "secure"
        with pytest.raises(requests.exceptions.SSLError):
            session.get(tls_server.url)  # default verification: untrusted CA
        assert session.get(tls_server.url, verify=ca_bundle).text == "secure"
        # the verify=False connection was kept, yet never lent to the others
        stats = session.pool_stats().for_url(tls_server.url)
        assert stats.idle == 2 and stats.reuses == 0


def test_tls_ca_bundle_never_shares_a_pool_with_default_verification(
    tls_server: Server, ca_bundle: str
) -> None:
    with ManagedSession() as session:
        assert session.get(tls_server.url, verify=ca_bundle).text == "secure"
        assert session.pool_stats().for_url(tls_server.url).idle == 1
        with pytest.raises(requests.exceptions.SSLError):
            session.get(tls_server.url)  # the system CAs do not trust it
        # and the trusted pool still works and is reused
        assert session.get(tls_server.url, verify=ca_bundle).text == "secure"
        assert session.pool_stats().for_url(tls_server.url).reuses == 1


# -- keep-alive policy against real servers -------------------------------------

#: Requests, each after a pause near the server's idle close: enough rounds
#: to show the race is never lost, few enough to keep the suite quick.
ROUNDS = 6


def test_idle_timeout_retires_connections_before_the_server_closes_them() -> None:
    with Server(idle_close_after=1.0) as server:
        policy = KeepAlivePolicy(idle_timeout=0.8)
        with ManagedSession(policy=policy) as session:
            for _ in range(ROUNDS):
                assert session.get(server.url).ok  # zero errors
                time.sleep(1.5)  # the pause under test, not a synchronisation
            stats = session.pool_stats().for_url(server.url)
        assert stats.closed.get(CloseReason.IDLE_EXPIRED, 0) == ROUNDS - 1
        assert stats.opened == server.connections_opened == ROUNDS
        assert stats.requests == len(server.requests) == ROUNDS
        assert set(server.requests_per_connection().values()) == {1}


def test_server_keep_alive_timeout_is_honoured() -> None:
    reply = Reply(headers=[("Keep-Alive", "timeout=2")])
    with Server(lambda r: reply, idle_close_after=2.0) as server:
        with ManagedSession() as session:
            for _ in range(ROUNDS):
                assert session.get(server.url).ok  # zero errors
                time.sleep(1.8)
            stats = session.pool_stats().for_url(server.url)
        assert stats.closed.get(CloseReason.SERVER_KEEP_ALIVE_TIMEOUT, 0) == ROUNDS - 1
        assert stats.opened == server.connections_opened == ROUNDS
        assert stats.requests == len(server.requests) == ROUNDS
        assert set(server.requests_per_connection().values()) == {1}


def apache_keep_alive(limit: int) -> Callable[[Request], Reply]:
    """Replies as Apache's ap_set_keepalive() does with MaxKeepAliveRequests
    ``limit``: ``Keep-Alive: max=`` is the requests *left* (5, 4, ... 1), and
    the request after the last one gets ``Connection: close``."""

    def handler(request: Request) -> Reply:
        left = limit - (request.index_on_connection - 1)
        if left <= 0:
            return Reply(close=True)
        return Reply(headers=[("Keep-Alive", f"timeout=5, max={left}")])

    return handler


def test_server_keep_alive_max_counts_the_requests_left() -> None:
    # Apache with MaxKeepAliveRequests 5 serves 6 requests per connection;
    # reading max= as a total closed after 3 (34 connections for 100 GETs,
    # where requests and httpx open 17).
    with Server(apache_keep_alive(5)) as server, ManagedSession() as session:
        for _ in range(100):
            assert session.get(server.url).ok
        stats = session.pool_stats().for_url(server.url)
        assert server.connections_opened == stats.opened == 17
        assert set(server.requests_per_connection().values()) <= {6, 4}
        assert stats.closed == {CloseReason.SERVER_CLOSE: 16}
        assert_stats_match_server(session, server)


def test_server_keep_alive_max_zero_left_retires_the_connection() -> None:
    reply = Reply(headers=[("Keep-Alive", "timeout=30, max=0")])
    with Server(lambda r: reply) as server, ManagedSession() as session:
        for _ in range(3):
            assert session.get(server.url).ok
        stats = session.pool_stats().for_url(server.url)
        assert stats.closed.get(CloseReason.SERVER_KEEP_ALIVE_MAX) == 3
        assert server.requests_per_connection() == {1: 1, 2: 1, 3: 1}


def test_connection_close_is_never_reused() -> None:
    with Server(lambda r: Reply(close=True)) as server, ManagedSession() as session:
        for _ in range(4):
            assert session.get(server.url).ok
        assert server.requests_per_connection() == {1: 1, 2: 1, 3: 1, 4: 1}
        stats = session.pool_stats().for_url(server.url)
        assert stats.closed.get(CloseReason.SERVER_CLOSE) == 4
        assert stats.reuses == 0
        assert_stats_match_server(session, server)


def test_http10_without_keep_alive_is_never_reused() -> None:
    with Server(lambda r: Reply(http10=True)) as server, ManagedSession() as session:
        for _ in range(3):
            assert session.get(server.url).ok
        assert server.connections_opened == 3
        assert session.pool_stats().total.closed.get(CloseReason.SERVER_CLOSE) == 3
        assert_stats_match_server(session, server)


@pytest.mark.parametrize(
    ("max_requests", "per_connection"),
    [(1, {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}), (2, {1: 2, 2: 2, 3: 1}), (3, {1: 3, 2: 2})],
)
def test_max_requests_per_connection(
    server: Server, max_requests: int, per_connection: dict[int, int]
) -> None:
    with ManagedSession(policy=KeepAlivePolicy(max_requests=max_requests)) as session:
        for _ in range(5):
            assert session.get(server.url).ok
        stats = session.pool_stats().for_url(server.url)
        assert_stats_match_server(session, server)
    assert server.requests_per_connection() == per_connection
    # every connection that reached the limit was retired for it
    full = sum(1 for n in per_connection.values() if n == max_requests)
    assert stats.closed.get(CloseReason.MAX_REQUESTS) == full


def test_max_age_retires_old_connections(server: Server) -> None:
    with ManagedSession(policy=KeepAlivePolicy(max_age=0.3)) as session:
        assert session.get(server.url).ok
        assert session.get(server.url).ok
        time.sleep(0.4)
        assert session.get(server.url).ok
        stats = session.pool_stats().for_url(server.url)
        assert_stats_match_server(session, server)
    assert server.requests_per_connection() == {1: 2, 2: 1}
    assert stats.closed.get(CloseReason.MAX_AGE) == 1


def test_stale_connection_is_replayed_for_get_but_post_is_never_sent_twice() -> None:
    with Server(idle_close_after=1.0) as server:
        policy = KeepAlivePolicy(idle_timeout=None)
        with ManagedSession(policy=policy) as session:
            for _ in range(ROUNDS):
                assert session.get(server.url + "/get").ok  # all succeed
                time.sleep(1.2)  # the pause under test, not a synchronisation
            outcomes: dict[bytes, bool] = {}
            for i in range(3):
                body = f"body-{i}".encode()
                try:
                    outcomes[body] = session.post(server.url + "/post", data=body).ok
                except requests.exceptions.ConnectionError:
                    outcomes[body] = False
                time.sleep(1.2)
            stats = session.pool_stats().for_url(server.url)
        received = server.bodies_received("/post")
        for body, ok in outcomes.items():
            # sent exactly once, or failed with ConnectionError; never twice
            assert received.count(body) == (1 if ok else received.count(body)) <= 1
        assert len(server.bodies_received("/get")) == ROUNDS
        assert stats.opened == server.connections_opened
        assert stats.requests == len(server.requests)


def _close_the_second_request_unanswered(request: Request) -> Reply:
    # The race a keep-alive client can lose: the server closes the idle
    # connection just as the next request reaches it. The server reads the
    # request (so it can count its body) and closes without a response byte.
    if request.index_on_connection == 2:
        return Reply(raw=b"")
    return Reply(body=request.target.encode())


@pytest.mark.parametrize(
    ("method", "replayed"),
    [
        ("GET", True),
        ("HEAD", True),
        ("OPTIONS", True),
        ("PUT", True),
        ("DELETE", True),
        ("POST", False),
        ("PATCH", False),
    ],
)
def test_request_on_a_reused_connection_closed_under_it(
    server: Server, method: str, replayed: bool
) -> None:
    """Idempotent methods are replayed once on a fresh connection; POST and
    PATCH never are (their bytes reached the server)."""
    server.handler = _close_the_second_request_unanswered
    with ManagedSession() as session:
        assert session.get(server.url + "/first").text == "/first"
        if replayed:
            response = session.request(method, server.url + "/second", data=b"x")
            assert response.status_code == 200
        else:
            with pytest.raises(requests.exceptions.ConnectionError):
                session.request(method, server.url + "/second", data=b"x")
        assert_stats_match_server(session, server)
        stats = session.pool_stats().for_url(server.url)
    sent = [r.connection_id for r in server.requests if r.path == "/second"]
    if replayed:
        assert server.requests_per_connection() == {1: 2, 2: 1}
        assert sent == [1, 2]  # once on the closed connection, once on a fresh one
        assert stats.closed == {CloseReason.ERROR: 1}
    else:
        assert server.requests_per_connection() == {1: 2}
        assert server.bodies_received("/second") == [b"x"]  # never twice
        assert stats.opened == 1


@pytest.mark.parametrize(
    ("size", "reused"), [(32 * 1024, True), (10 * 1024 * 1024, False)]
)
def test_closing_a_partly_read_stream_drains_small_and_closes_large(
    server: Server, size: int, reused: bool
) -> None:
    server.handler = lambda request: Reply(body=b"x" * size)
    with ManagedSession() as session:
        with session.get(server.url, stream=True) as r:
            assert len(r.raw.read(1024)) == 1024
        # closing drains a small remainder and never a large one (the
        # connection is then closed, not read)
        assert len(session.get(server.url).content) == size
        stats = session.pool_stats().for_url(server.url)
        assert_stats_match_server(session, server)
    if reused:
        assert server.requests_per_connection() == {1: 2}
        assert stats.reuses == 1
    else:
        assert server.requests_per_connection() == {1: 1, 2: 1}
        assert stats.closed == {CloseReason.UNREAD_BODY: 1}
