"""pool_stats() snapshots, lifecycle events and DEBUG logs."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from requests_managed import (
    CloseReason,
    ConnectionEvent,
    EventKind,
    HostStats,
    ManagedSession,
    PoolLimits,
)

from .server import Reply, Server


def test_snapshot_is_immutable_and_per_host(server: Server) -> None:
    with ManagedSession() as session:
        session.get(server.url)
        stats = session.pool_stats()
        session.get(server.url)
    host = stats.for_url(server.url)
    assert host == HostStats(open=1, idle=1, opened=1, requests=1, closed={})
    assert stats.hosts[("http", "127.0.0.1", server.port)] == host
    assert stats.total.requests == 1  # taken before the second request
    with pytest.raises(TypeError):
        stats.hosts[("http", "x", 1)] = host  # type: ignore[index]
    with pytest.raises(TypeError):
        host.closed[CloseReason.ERROR] = 1  # type: ignore[index]
    assert stats.for_url("http://elsewhere.invalid/") == HostStats()


def test_counts_stay_consistent_under_threads(server: Server) -> None:
    with ManagedSession(limits=PoolLimits(max_idle_per_host=3)) as session:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: session.get(server.url), range(400)))
        stats = session.pool_stats().for_url(server.url)
    assert stats.requests == len(server.requests) == 400
    assert stats.opened == server.connections_opened
    assert stats.reuses == stats.requests - stats.opened
    assert stats.open == stats.opened - stats.closed_total == stats.idle
    assert stats.in_use == 0


def test_events_report_open_reuse_and_close_with_reason(server: Server) -> None:
    events: list[ConnectionEvent] = []
    server.handler = lambda request: Reply(close=request.index_on_connection == 2)
    with ManagedSession() as session:
        unsubscribe = session.subscribe(events.append)
        for _ in range(3):
            session.get(server.url)
        unsubscribe()
        session.get(server.url)  # not delivered any more
    kinds = [(e.kind, e.reason) for e in events]
    assert kinds == [
        (EventKind.OPENED, None),
        (EventKind.REUSED, None),
        (EventKind.CLOSED, CloseReason.SERVER_CLOSE),
        (EventKind.OPENED, None),
    ]
    assert events[0].connection_id == events[2].connection_id != events[3].connection_id
    assert (events[0].host, events[0].port) == ("127.0.0.1", server.port)


def test_a_failing_listener_never_breaks_a_request(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: ConnectionEvent) -> None:
        raise RuntimeError("listener bug")

    with ManagedSession() as session:
        session.subscribe(broken)
        assert session.get(server.url).text == "ok"
    assert "listener" in caplog.text


def test_debug_logs_name_host_connection_and_reason(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="requests_managed")
    with ManagedSession() as session:
        session.get(server.url)
    messages = [r.getMessage() for r in caplog.records if r.name == "requests_managed"]
    assert any("opened" in m and f"127.0.0.1:{server.port}" in m for m in messages)
    assert any("closed (session-closed)" in m for m in messages)
    # each names its connection by id, the same id from open to close
    found = [re.match(r"connection (\d+) to ", m) for m in messages]
    ids = {match.group(1) for match in found if match is not None}
    assert len(ids) == 1


def test_no_event_is_built_when_nobody_listens(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from requests_managed import _manager

    def no_events(*args: object) -> None:
        raise AssertionError("an event was built with nobody listening")

    monkeypatch.setattr(_manager, "ConnectionEvent", no_events)
    with ManagedSession() as session:
        server.handler = lambda request: Reply(close=request.index_on_connection == 2)
        for _ in range(3):
            assert session.get(server.url).ok  # opened, reused, closed, opened
        assert session.pool_stats().total.closed == {CloseReason.SERVER_CLOSE: 1}


def test_for_url_of_an_origin_never_used_is_zeros() -> None:
    with ManagedSession() as session:
        stats = session.pool_stats()
    assert stats.for_url("https://never-used.invalid/path?q=1") == HostStats()
    assert stats.for_url("HTTP://Never-Used.invalid:8080") == HostStats()


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "",
        "api.example.com/items",  # no scheme
        "ftp://example.invalid/",
        "http://",
        "http:///path",
        "http://example.invalid:notaport/",
        "http://example.invalid:99999/",
        "http://[::1/",
    ],
)
def test_for_url_of_a_malformed_url_raises_value_error_naming_it(url: str) -> None:
    with ManagedSession() as session:
        stats = session.pool_stats()
    with pytest.raises(ValueError, match="malformed URL") as raised:
        stats.for_url(url)
    assert repr(url) in str(raised.value)


def test_for_url_of_a_non_string_raises_type_error_naming_it() -> None:
    with ManagedSession() as session:
        stats = session.pool_stats()
    with pytest.raises(TypeError, match=r"b'http://x/'"):
        stats.for_url(b"http://x/")  # type: ignore[arg-type]
