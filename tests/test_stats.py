"""pool_stats() snapshots, lifecycle events and DEBUG logs."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import pytest

from requests_managed import (
    CloseReason,
    ConnectionEvent,
    EventKind,
    HostStats,
    ManagedSession,
    PoolLimits,
    PoolStats,
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


def test_to_dict_is_json_ready_with_reasons_as_strings(server: Server) -> None:
    server.handler = lambda request: Reply(close=True)
    with ManagedSession() as session:
        session.get(server.url)
        session.get(server.url)
        stats = session.pool_stats()
    data = json.loads(json.dumps(stats.to_dict()))
    host = data["hosts"][f"http://127.0.0.1:{server.port}"]
    assert host == {
        "open": 0,
        "idle": 0,
        "in_use": 0,
        "opened": 2,
        "requests": 2,
        "reuses": 0,
        "waits": 0,
        "pool_timeouts": 0,
        "closed": {"server-close": 2},
        "learned_idle_timeout": None,
    }
    assert data["total"] == host
    assert data["unmanaged"] == {}
    assert stats.for_url(server.url).to_dict() == host


def test_to_dict_names_an_ipv6_origin_in_brackets() -> None:
    stats = PoolStats(
        hosts=MappingProxyType({("http", "::1", 8080): HostStats(requests=1)}),
        total=HostStats(requests=1),
    )
    assert list(stats.to_dict()["hosts"]) == ["http://[::1]:8080"]


def test_reprs_are_short_and_name_reasons_by_their_strings() -> None:
    host = HostStats(
        open=2,
        idle=1,
        in_use=1,
        opened=3,
        requests=10,
        reuses=7,
        closed=MappingProxyType({CloseReason.SERVER_CLOSE: 1}),
        learned_idle_timeout=2.0,
    )
    assert repr(host) == (
        "<HostStats open=2 (idle=1, in_use=1) | opened=3 requests=10 reuses=7 "
        "| closed: server-close=1 | learned idle timeout 2 s>"
    )
    stats = PoolStats(hosts=MappingProxyType({("http", "a", 80): host}), total=host)
    assert repr(stats) == (
        "<PoolStats 1 host | open=2 (idle=1, in_use=1) | requests=10 reuses=7 closed=1>"
    )
    assert "waits=4 pool_timeouts=1" in repr(HostStats(waits=4, pool_timeouts=1))
    unmanaged = dataclasses.replace(
        stats, unmanaged=MappingProxyType({"mock://": "builds no urllib3 pools"})
    )
    assert repr(unmanaged).endswith("closed=1 | unmanaged: mock://>")
    assert unmanaged.to_dict()["unmanaged"] == {"mock://": "builds no urllib3 pools"}


def test_events_carry_the_connection_age_and_the_time_a_request_waited(
    server: Server,
) -> None:
    events: list[ConnectionEvent] = []
    limits = PoolLimits(max_per_host=1, wait_timeout=30)
    with ManagedSession(limits=limits) as session:
        session.subscribe(events.append)
        done: list[int] = []
        with session.get(server.url, stream=True):
            waiter = threading.Thread(
                target=lambda: done.append(session.get(server.url).status_code)
            )
            waiter.start()
            assert server.wait_for(
                lambda: session.pool_stats().for_url(server.url).waits == 1
            )
        waiter.join(timeout=30)
        assert done == [200]
    (waited,) = [e for e in events if e.kind is EventKind.WAITED]
    assert waited.waited is not None and waited.waited > 0
    opened = next(e for e in events if e.kind is EventKind.OPENED)
    assert waited.connection_id == opened.connection_id  # granted that one
    (closed,) = [e for e in events if e.kind is EventKind.CLOSED]
    assert closed.reason is CloseReason.SESSION_CLOSED
    assert closed.age > 0 and closed.waited is None
