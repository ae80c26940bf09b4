"""The managed adapter, and foreign adapters mounted on a ManagedSession.

Composition with mock libraries (responses, requests-mock) is in test_compat.py.
"""

from __future__ import annotations

from typing import Any

import requests

from requests_managed import ManagedSession, Timeout
from requests_managed._adapter import ManagedAdapter

from .adapters import RecordingAdapter
from .server import Server


def test_foreign_adapter_receives_the_session_default_timeout() -> None:
    adapter = RecordingAdapter()
    with ManagedSession(timeout=Timeout(connect=2, read=7, total=60)) as session:
        session.mount("mock://", adapter)
        session.get("mock://x")
        session.get("mock://x", timeout=3)
    assert adapter.timeouts == [(2.0, 7.0), (3.0, 3.0)]


def test_phases_are_capped_by_the_total() -> None:
    adapter = RecordingAdapter()
    with ManagedSession(timeout=Timeout(connect=5, read=30, total=1)) as session:
        session.mount("mock://", adapter)
        session.get("mock://x")
    connect, read = adapter.timeouts[0]
    assert 0 < connect <= 1 and 0 < read <= 1


def test_adapter_used_alone_applies_its_own_default(server: Server) -> None:
    adapter = ManagedAdapter(timeout=Timeout(connect=1, read=1, total=5))
    with requests.Session() as session:
        session.mount("http://", adapter)
        assert session.get(server.url).text == "ok"
        assert adapter.pool_stats().total.requests == 1


def test_redirects_and_cookies_behave_as_in_requests(server: Server) -> None:
    from .server import Reply

    def handler(request: Any) -> Reply:
        if request.path == "/start":
            return Reply(
                status=302,
                headers=[("Location", "/end"), ("Set-Cookie", "a=1; Path=/")],
                body=b"",
            )
        return Reply(body=request.headers.get("cookie", "").encode())

    server.handler = handler
    with ManagedSession() as session:
        response = session.get(server.url + "/start")
    assert response.text == "a=1"
    assert [r.status_code for r in response.history] == [302]
    assert server.connections_opened == 1


def test_closing_twice_closes_once() -> None:
    # One adapter serves http:// and https://; Session.close() closes both
    # mounts. Closing must act once (requests' own suite counts it).
    with ManagedSession() as session:
        adapter = session.get_adapter("http://x/")
        cleared: list[object] = []
        adapter.proxy_manager["p"] = _Clearable(cleared)  # type: ignore[index]
    assert cleared == ["cleared"]


class _Clearable:
    def __init__(self, log: list[object]) -> None:
        self._log = log

    def clear(self) -> None:
        self._log.append("cleared")
