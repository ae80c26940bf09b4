"""ManagedSession subclassed and pickled the way code in the wild does it.

A ``request()`` override shaped like requests-oauthlib's ``OAuth2Session``
must keep the default timeout and the deadline; a pickled session must come
back configured and managed. The compositions with other libraries are in
``test_compat_*.py`` (they need the ``compat`` extra).
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Mapping
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from requests_managed import (
    DeadlineExceeded,
    KeepAlivePolicy,
    ManagedSession,
    PoolLimits,
    Timeout,
)
from requests_managed._adapter import ManagedAdapter

from .adapters import RecordingAdapter  # a foreign adapter that pickles
from .server import Reply, Server

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
