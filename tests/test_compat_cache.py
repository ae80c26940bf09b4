"""ManagedSession with requests-cache, the recipe of docs/other-libraries.md.

A cache hit must not reach the server (it counts one request), a miss must
still get the managed timeout, with the memory, SQLite and filesystem backends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
from urllib3.util.retry import Retry

from requests_managed import KeepAlivePolicy, ManagedSession, PoolLimits, Timeout
from requests_managed._timeouts import TimeoutTypes

from .compat import require
from .server import Reply, Server

CacheMixin = require("requests_cache", "requests-cache").CacheMixin


class ManagedSessionForCache(ManagedSession):
    """The recipe in docs/other-libraries.md: our timeout as ``session_timeout=``.

    requests-cache hands the keyword arguments it does not know to its storage
    backend as well as to the session, and SQLite (behind the ``sqlite`` and
    ``filesystem`` backends) takes a ``timeout=`` of its own.
    """

    def __init__(
        self,
        *,
        session_timeout: TimeoutTypes = None,
        limits: PoolLimits | None = None,
        policy: KeepAlivePolicy | None = None,
        retries: Retry | int | None = None,
    ) -> None:
        super().__init__(
            timeout=session_timeout, limits=limits, policy=policy, retries=retries
        )


class CachedSession(CacheMixin, ManagedSessionForCache):  # type: ignore[misc]
    """requests-cache's mixin recipe, ``timeout=`` meaning ManagedSession's."""

    def __init__(self, *args: Any, timeout: TimeoutTypes = None, **kwargs: Any) -> None:
        super().__init__(*args, session_timeout=timeout, **kwargs)


BACKENDS = ["memory", "sqlite", "filesystem"]


def _cached_session(
    backend: str, tmp_path: Path, timeout: TimeoutTypes, **kwargs: Any
) -> CachedSession:
    # SQLite and the file system keep the cache under tmp_path
    return CachedSession(
        str(tmp_path / "http_cache"), backend=backend, timeout=timeout, **kwargs
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_requests_cache_mixin_answers_the_second_request(
    backend: str, server: Server, tmp_path: Path
) -> None:
    server.handler = lambda request: Reply(body=b"fresh")
    timeout = Timeout(connect=2, read=7, total=60)
    with _cached_session(backend, tmp_path, timeout, expire_after=300) as session:
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_requests_cache_miss_still_gets_the_managed_timeout(
    backend: str, server: Server, tmp_path: Path
) -> None:
    server.handler = lambda request: Reply(never_answer=True)
    timeout = Timeout(connect=1, read=0.3, total=5)
    with _cached_session(backend, tmp_path, timeout) as session:
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            session.get(f"{server.url}/hangs")
        assert time.monotonic() - started < 3


@pytest.mark.parametrize("backend", ["sqlite", "filesystem"])
def test_requests_cache_sqlite_never_receives_our_timeout(
    backend: str, server: Server, tmp_path: Path
) -> None:
    timeout = Timeout(connect=2, read=7, total=60)
    with _cached_session(backend, tmp_path, timeout) as session:
        assert session.get(server.url).text == "ok"
        # the SQLite connections of the cache (responses and redirects)
        for storage in (session.cache.responses, session.cache.redirects):
            kwargs = getattr(storage, "connection_kwargs", {})
            assert "timeout" not in kwargs
        assert session._rm_timeout == timeout
    assert any(tmp_path.iterdir())  # the cache was written under tmp_path


@pytest.mark.parametrize("backend", ["sqlite", "filesystem"])
def test_requests_cache_persists_across_sessions(
    backend: str, server: Server, tmp_path: Path
) -> None:
    server.handler = lambda request: Reply(body=b"stored")
    with _cached_session(backend, tmp_path, 10, expire_after=300) as session:
        assert session.get(f"{server.url}/kept").from_cache is False
    with _cached_session(backend, tmp_path, 10, expire_after=300) as session:
        again = session.get(f"{server.url}/kept")
        assert (again.text, again.from_cache) == ("stored", True)
        assert session.pool_stats().total.opened == 0
    assert server.requests_served == 1
