"""Name resolution is bounded by the connect timeout and the total deadline.

``getaddrinfo`` cannot be interrupted; the lookup runs in a worker thread and
the caller stops waiting at the bound. A stand-in resolver (a patched
``socket.getaddrinfo``, as gevent or test tools patch it) answers for names
under ``.test``; it is released when the test ends, so no worker stays busy.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from requests_managed import DeadlineExceeded, ManagedSession, Timeout, _dns

from .forking import in_child
from .server import Server

_REAL_GETADDRINFO = socket.getaddrinfo


class SlowResolver:
    """``*.test`` names resolve to 127.0.0.1 after ``delay`` s (or on release)."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.release = threading.Event()
        self.asked: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".test"):
            self.asked.append(host)
            if self.delay:
                self.release.wait(self.delay)
            return _REAL_GETADDRINFO("127.0.0.1", port, *args, **kwargs)
        return _REAL_GETADDRINFO(host, port, *args, **kwargs)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowResolver]:
    fake = SlowResolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    try:
        yield fake
    finally:
        fake.release.set()


def _url(server: Server, name: str) -> str:
    return f"http://{name}:{server.port}/"


@pytest.mark.timeout(30)
def test_slow_name_lookup_is_cut_at_the_connect_timeout(
    resolver: SlowResolver, server: Server
) -> None:
    resolver.delay = 20.0  # 40x the connect timeout
    with ManagedSession(timeout=Timeout(connect=0.5, read=5, total=60)) as session:
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ConnectTimeout, match="name lookup"):
            session.get(_url(server, "slow.test"))
        elapsed = time.monotonic() - started
    assert elapsed < 5
    assert server.connections_opened == 0


@pytest.mark.timeout(30)
def test_slow_name_lookup_is_cut_at_the_deadline(
    resolver: SlowResolver, server: Server
) -> None:
    resolver.delay = 20.0
    with ManagedSession(timeout=Timeout(connect=10, read=10, total=0.5)) as session:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            session.get(_url(server, "slow.test"))
        elapsed = time.monotonic() - started
    assert elapsed < 5


def test_a_name_resolved_through_the_worker_reaches_the_server(
    resolver: SlowResolver, server: Server
) -> None:
    with ManagedSession() as session:
        assert session.get(_url(server, "api.test")).text == "ok"
        assert session.get(_url(server, "api.test")).text == "ok"  # reused
    assert resolver.asked == ["api.test"]  # one lookup, for one connection
    assert server.requests[0].headers["host"] == f"api.test:{server.port}"


def test_localhost_from_the_hosts_file_still_resolves(server: Server) -> None:
    with ManagedSession() as session:
        assert session.get(_url(server, "localhost")).text == "ok"


def test_an_unknown_name_is_requests_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unknown(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    resolve_error = pytest.raises(requests.exceptions.ConnectionError, match="resolve")
    with ManagedSession() as session, resolve_error:
        session.get("http://nowhere.test:9/")


def test_lookups_still_run_when_many_are_stuck(
    resolver: SlowResolver, server: Server
) -> None:
    """Workers stuck on slow lookups leave the caller's bound intact; once
    released, a new lookup is answered."""
    resolver.delay = 20.0
    with ManagedSession(timeout=Timeout(connect=0.2, total=30)) as session:
        for _ in range(_dns.MAX_WORKERS + 2):
            with pytest.raises(requests.exceptions.ConnectTimeout):
                session.get(_url(server, "slow.test"))
    resolver.release.set()
    resolver.delay = 0.0
    with ManagedSession(timeout=Timeout(connect=5)) as session:
        assert session.get(_url(server, "fast.test")).text == "ok"


def test_a_forked_child_resolves_with_workers_of_its_own(
    resolver: SlowResolver, server: Server
) -> None:
    with ManagedSession() as session:
        session.get(_url(server, "api.test"))  # a worker exists in the parent

    def child() -> str:
        with ManagedSession() as fresh:
            return fresh.get(_url(server, "child.test")).text

    assert in_child(child) == "ok"
