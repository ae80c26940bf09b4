"""Nothing bypasses the management: proxies, mounted adapters, replaced pools.

Every connection a ManagedSession opens is managed: through its own adapter,
through an HTTPAdapter the user mounts (its send(), retries and TLS context
kept), and through HTTP and HTTPS (CONNECT) proxies, from HTTP_PROXY or
proxies=. What cannot be managed says so in pool_stats().unmanaged.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import trustme
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, PoolManager
from urllib3.util.retry import Retry

from requests_managed import (
    CloseReason,
    DeadlineExceeded,
    ManagedSession,
    PoolLimits,
    PoolTimeout,
    Timeout,
)

from .adapters import RecordingAdapter
from .proxy import ForwardProxy
from .server import Reply, Server

TIGHT = Timeout(connect=1, read=1, total=1)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


@pytest.fixture
def dribbling() -> Iterator[Server]:
    # a byte every 0.1 s: the read timeout never fires, only the total can
    with Server(lambda request: Reply(dribble=0.1)) as srv:
        yield srv


def _cut_by_the_deadline(session: ManagedSession, url: str, **kwargs: Any) -> float:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        session.get(url, **kwargs)
    return time.monotonic() - started


# -- proxies ---------------------------------------------------------------------


@pytest.mark.timeout(30)  # unmanaged, the dribble would run for hours
def test_proxy_from_the_environment_keeps_the_deadline_and_counts(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, dribbling: Server
) -> None:
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with ManagedSession(timeout=TIGHT) as session:
        elapsed = _cut_by_the_deadline(session, dribbling.url)
        stats = session.pool_stats()
    assert elapsed < 1 + 4  # total + a loaded machine's margin
    assert proxy.targets == [f"GET {dribbling.url}/"]
    proxied = stats.for_url(proxy.url)  # plain HTTP goes to the proxy's origin
    assert (proxied.opened, proxied.requests) == (1, 1)
    assert proxied.closed == {CloseReason.DEADLINE: 1}


def test_proxies_argument_reuses_the_proxy_connection_and_closes_with_a_reason(
    proxy: ForwardProxy, server: Server
) -> None:
    proxies = {"http": proxy.url}
    with ManagedSession(timeout=Timeout(connect=2, read=5, total=10)) as session:
        texts = [session.get(server.url, proxies=proxies).text for _ in range(3)]
        during = session.pool_stats().for_url(proxy.url)
    after = session.pool_stats().for_url(proxy.url)
    assert texts == ["ok"] * 3
    assert (during.opened, during.requests, during.reuses, during.idle) == (1, 3, 2, 1)
    assert after.closed == {CloseReason.SESSION_CLOSED: 1}
    assert proxy.connections_opened == 1


@pytest.mark.timeout(30)
def test_https_through_a_connect_tunnel_is_managed(
    monkeypatch: pytest.MonkeyPatch,
    proxy: ForwardProxy,
    ca: trustme.CA,
    ca_bundle: str,
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    with (
        Server(lambda r: Reply(body=b"secure"), ssl_context=context) as tls,
        ManagedSession(timeout=Timeout(connect=2, read=5, total=10)) as session,
    ):
        texts = [session.get(tls.url, verify=ca_bundle).text for _ in range(2)]
        stats = session.pool_stats().for_url(tls.url)
    assert texts == ["secure"] * 2
    assert proxy.targets == [f"CONNECT localhost:{tls.port}"]  # one tunnel
    assert (stats.opened, stats.requests, stats.reuses) == (1, 2, 1)


# -- adapters the user mounts ----------------------------------------------------


@pytest.mark.timeout(30)
def test_mounted_http_adapter_with_retries_keeps_the_deadline(
    dribbling: Server,
) -> None:
    with ManagedSession(timeout=TIGHT) as session:
        session.mount("http://", HTTPAdapter(max_retries=Retry(total=2)))
        elapsed = _cut_by_the_deadline(session, dribbling.url)
        stats = session.pool_stats().for_url(dribbling.url)
    assert elapsed < 1 + 4
    assert stats.closed == {CloseReason.DEADLINE: 1}
    assert not session.pool_stats().unmanaged


def test_mounted_adapter_uses_its_own_retries_and_is_counted() -> None:
    answers = iter([Reply(status=503), Reply(body=b"second time")])
    retry = Retry(total=2, status_forcelist=[503], backoff_factor=0)
    with Server(lambda request: next(answers)) as server, ManagedSession() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        response = session.get(server.url)
        stats = session.pool_stats().for_url(server.url)
    assert (response.status_code, response.text) == (200, "second time")
    assert server.requests_served == 2  # the adapter's Retry, not ours
    assert (stats.opened, stats.requests, stats.reuses) == (1, 2, 1)


def test_mounted_adapter_is_bound_by_the_session_limits(server: Server) -> None:
    """max_per_host holds for the mounted adapter's pools: a second caller
    waits for the one connection, bounded, instead of opening another."""
    server.handler = lambda request: Reply(body=b"x" * 10)
    limits = PoolLimits(max_per_host=1, wait_timeout=0.2)
    with ManagedSession(limits=limits) as session:
        session.mount("http://", HTTPAdapter(pool_maxsize=50))
        held = session.get(server.url, stream=True)  # holds the connection
        with pytest.raises(PoolTimeout):
            session.get(server.url)
        held.close()
        assert session.get(server.url).text == "x" * 10
    assert server.connections_opened == 1


class _ContextAdapter(HTTPAdapter):
    """The recipe for custom TLS: an ssl_context through init_poolmanager."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self.context
        super().init_poolmanager(*args, **kwargs)


@pytest.mark.skipif(
    not hasattr(HTTPAdapter, "build_connection_pool_key_attributes"),
    reason="requests 2.32.0-2.32.2 replace an adapter's own ssl_context with "
    "their preloaded one when verify=True (fixed in 2.32.3); plain requests "
    "fails this the same way there",
)
def test_mounted_adapter_with_its_own_ssl_context_is_managed_and_uses_it(
    ca: trustme.CA, tls_server: Server
) -> None:
    # The certifi bundle (requests' default) does not know the test CA: only
    # the adapter's own context can verify the server.
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with ManagedSession() as session:
        session.mount("https://", _ContextAdapter(context))
        texts = [session.get(tls_server.url).text for _ in range(2)]
        stats = session.pool_stats().for_url(tls_server.url)
    assert texts == ["secure"] * 2
    assert (stats.opened, stats.requests) == (1, 2)


def test_adapter_assigned_into_adapters_is_managed_at_its_first_request(
    server: Server,
) -> None:
    with ManagedSession() as session:
        session.adapters["http://"] = HTTPAdapter()  # no mount() call
        session.get(server.url)
        assert session.pool_stats().for_url(server.url).requests == 1


def test_adapter_whose_pool_manager_is_rebuilt_is_managed_again(
    server: Server,
) -> None:
    with ManagedSession() as session:
        adapter = HTTPAdapter()
        session.mount("http://", adapter)
        session.get(server.url)
        adapter.init_poolmanager(10, 10)  # a fresh, plain PoolManager
        session.get(server.url)
        stats = session.pool_stats().for_url(server.url)
    assert stats.requests == 2


def test_a_pool_manager_shared_with_another_session_is_named_not_stolen(
    server: Server,
) -> None:
    """locust's adapters share one pool manager between sessions: the first
    session manages it, the second says so instead of counting nothing."""
    shared = PoolManager()

    class Shared(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            self.poolmanager = shared

    with ManagedSession() as first, ManagedSession() as second:
        first.mount("http://", Shared())
        second.mount("http://", Shared())
        first.get(server.url)
        second.get(server.url)
        assert first.pool_stats().for_url(server.url).requests == 2
        assert "http://" in second.pool_stats().unmanaged
        assert "shares its pool manager" in second.pool_stats().unmanaged["http://"]


# -- what cannot be managed says so ----------------------------------------------


def test_an_adapter_without_urllib3_pools_is_named_in_stats_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="requests_managed")
    with ManagedSession(timeout=Timeout(connect=2, read=3)) as session:
        adapter = RecordingAdapter()
        session.mount("logged-once://", adapter)
        for _ in range(3):
            assert session.get("logged-once://thing").status_code == 204
        unmanaged = session.pool_stats().unmanaged
    assert list(unmanaged) == ["logged-once://"]
    assert (
        "RecordingAdapter is not a requests HTTPAdapter" in unmanaged["logged-once://"]
    )
    assert "session's timeout only" in unmanaged["logged-once://"]
    assert adapter.timeouts == [(2.0, 3.0)] * 3  # the timeout still applies
    lines = [r for r in caplog.records if "is not managed" in r.getMessage()]
    assert len(lines) == 1


def test_remounting_a_managed_adapter_clears_the_unmanaged_entry() -> None:
    with ManagedSession() as session:
        session.mount("mock://", RecordingAdapter())
        session.mount("mock://", HTTPAdapter())
        assert not session.pool_stats().unmanaged


def test_an_adapter_that_makes_pools_of_its_own_is_named_after_a_request(
    server: Server,
) -> None:
    """docker's unix-socket adapter makes its pools itself, not through its
    poolmanager: the session cannot manage them, and says so."""

    class OwnPools(HTTPAdapter):
        def get_connection_with_tls_context(
            self, request: Any, *args: Any, **kwargs: Any
        ) -> Any:  # type: ignore[override]
            return HTTPConnectionPool("127.0.0.1", server.port)

    with ManagedSession() as session:
        session.mount("http://", OwnPools())
        assert session.get(server.url).text == "ok"
        reason = session.pool_stats().unmanaged["http://"]
    assert "makes pools of its own (HTTPConnectionPool)" in reason


def test_thread_safe_adoption_of_a_mounted_adapter(server: Server) -> None:
    with ManagedSession() as session:
        session.adapters["http://"] = HTTPAdapter()
        failures: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(10):
                    session.get(server.url)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        assert session.pool_stats().for_url(server.url).requests == 40


def test_requests_session_with_a_plain_adapter_is_unchanged(server: Server) -> None:
    """Adoption happens only on a ManagedSession: the same adapter class on a
    plain requests.Session stays plain urllib3."""
    with requests.Session() as plain:
        adapter = HTTPAdapter()
        plain.mount("http://", adapter)
        plain.get(server.url)
        assert type(adapter.poolmanager) is PoolManager


# -- SOCKS (through PySocks) -------------------------------------------------------


@pytest.mark.timeout(30)
def test_socks5_proxy_is_managed_deadline_and_counts(dribbling: Server) -> None:
    pytest.importorskip(
        "socks", reason="PySocks is not installed (the compat extra has it)"
    )
    from .proxy import Socks5Proxy

    with Socks5Proxy() as socks, Server() as server:
        proxies = {"http": socks.url}
        with ManagedSession(timeout=TIGHT) as session:
            texts = [session.get(server.url, proxies=proxies).text for _ in range(2)]
            elapsed = _cut_by_the_deadline(session, dribbling.url, proxies=proxies)
            stats = session.pool_stats()
    assert texts == ["ok"] * 2
    assert elapsed < 1 + 4
    # pools per destination, their connections tunnelled through the proxy
    assert (stats.for_url(server.url).opened, stats.for_url(server.url).reuses) == (
        1,
        1,
    )
    assert stats.for_url(dribbling.url).closed == {CloseReason.DEADLINE: 1}
    assert len(socks.targets) == 2


def test_closing_the_session_closes_adopted_pools_as_session_closed(
    server: Server,
) -> None:
    """Whatever the mount order: requests closes longer prefixes first."""
    session = ManagedSession()
    session.mount(f"{server.url}/special/", HTTPAdapter())
    session.get(f"{server.url}/special/x")
    session.get(server.url)
    session.close()
    closed = session.pool_stats().for_url(server.url).closed
    assert closed == {CloseReason.SESSION_CLOSED: 2}
