"""Creating a session: each shortcut ``ManagedSession()`` takes gives what the
long way gives (issue 13: a session per ``requests.get`` call).

* the default headers are a copy of one ``default_headers()`` result's store,
  unless the names it reads are patched;
* the two default mounts are set directly on the empty mapping, unless
  ``mount`` is overridden or patched;
* the pool manager's own ``RecentlyUsedContainer`` gets the ``dispose_func``
  instead of being replaced by a second one;
* the creating line is looked up only when the finalizer warns.
"""

from __future__ import annotations

import gc
import os
import warnings
from typing import Any

import pytest
import requests
import requests.utils
import urllib3
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3._collections import RecentlyUsedContainer

from requests_managed import CloseReason, ManagedSession, _leaks, _session
from requests_managed._manager import ConnectionManager
from requests_managed._urllib3 import (
    ManagedHTTPConnectionPool,
    ManagedPoolManager,
    _retire_pool,
)

from .server import Server

# -- the default headers ------------------------------------------------------------


def test_the_names_the_header_template_reads_are_still_there() -> None:
    # pinned as the seams in test_seams.py are: a rename upstream fails here
    assert callable(requests.utils.default_user_agent)
    assert isinstance(requests.utils.DEFAULT_ACCEPT_ENCODING, str)
    assert isinstance(CaseInsensitiveDict()._store, dict)  # type: ignore[attr-defined]


def test_default_headers_are_requests_own_in_order_case_and_type() -> None:
    plain, managed = requests.Session(), ManagedSession()
    try:
        assert type(managed.headers) is CaseInsensitiveDict
        assert list(managed.headers.items()) == list(plain.headers.items())
        assert managed.headers._store == plain.headers._store  # type: ignore[attr-defined]
        assert type(managed.headers._store) is type(plain.headers._store)  # type: ignore[attr-defined]
    finally:
        plain.close()
        managed.close()


def test_each_session_gets_headers_of_its_own() -> None:
    with ManagedSession() as first, ManagedSession() as second:
        first.headers["User-Agent"] = "mine/1"
        first.headers["X-Extra"] = "1"
        del first.headers["Accept"]
        assert second.headers == requests.utils.default_headers()
        with ManagedSession() as third:
            assert third.headers == requests.utils.default_headers()
            assert list(third.headers) == list(requests.utils.default_headers())


def test_a_patched_user_agent_or_accept_encoding_is_honoured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        requests.utils, "default_user_agent", lambda name="x": "patched/1"
    )
    with ManagedSession() as session:
        assert session.headers["User-Agent"] == "patched/1"
    monkeypatch.undo()
    monkeypatch.setattr(requests.utils, "DEFAULT_ACCEPT_ENCODING", "identity")
    with ManagedSession() as session:
        assert session.headers["Accept-Encoding"] == "identity"
        assert session.headers["User-Agent"] == requests.utils.default_user_agent()


def test_a_patched_requests_sessions_default_headers_is_honoured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the name requests.Session.__init__ calls (a test's or an app's way of
    # setting every session's headers): the headers sent are requests' own
    def mine() -> CaseInsensitiveDict[str]:
        return CaseInsensitiveDict({"User-Agent": "app/2", "X-App": "1"})

    monkeypatch.setattr(requests.sessions, "default_headers", mine)
    with Server() as server:
        for session in (requests.Session(), ManagedSession()):
            with session:
                session.get(server.url + "/h", timeout=10)
        expected, got = (request.headers for request in server.requests)
    assert expected["x-app"] == "1"
    assert got == expected


def test_the_cookie_jar_is_what_cookiejar_from_dict_gives() -> None:
    expected = requests.cookies.cookiejar_from_dict({})  # type: ignore[no-untyped-call]
    with ManagedSession() as first, ManagedSession() as second:
        assert type(first.cookies) is type(expected)
        assert first.cookies is not second.cookies
        assert first.cookies.get_policy() is not second.cookies.get_policy()
        assert list(first.cookies) == list(expected) == []


# -- the default mounts -------------------------------------------------------------


def test_default_mounts_are_what_two_mount_calls_give() -> None:
    with ManagedSession() as session:
        adapter = session._rm_adapter
        assert list(session.adapters.items()) == [
            ("https://", adapter),
            ("http://", adapter),
        ]
        assert session.pool_stats().unmanaged == {}
        # later mounts still order by prefix length, as requests' do
        session.mount("http://example.invalid/", HTTPAdapter())
        assert list(session.adapters) == [
            "http://example.invalid/",
            "https://",
            "http://",
        ]


def test_a_subclass_that_overrides_mount_sees_the_default_mounts() -> None:
    seen: list[tuple[str, type]] = []

    class Watching(ManagedSession):
        def mount(self, prefix: Any, adapter: BaseAdapter) -> None:
            seen.append((prefix, type(adapter)))
            super().mount(prefix, adapter)

    plain_seen: list[tuple[str, type]] = []

    class PlainWatching(requests.Session):
        def mount(self, prefix: Any, adapter: BaseAdapter) -> None:
            plain_seen.append((prefix, type(adapter)))
            super().mount(prefix, adapter)

    with Watching() as session, PlainWatching():
        assert [p for p, _ in seen] == [p for p, _ in plain_seen]
        assert [t.__name__ for _, t in seen] == ["ManagedAdapter"] * 2
        assert session.adapters["http://"] is session._rm_adapter


def test_a_patched_requests_mount_is_called_for_the_default_mounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    original = requests.Session.mount

    def spy(self: requests.Session, prefix: Any, adapter: BaseAdapter) -> None:
        calls.append(prefix)
        original(self, prefix, adapter)

    monkeypatch.setattr(requests.Session, "mount", spy)
    with ManagedSession() as session:
        assert calls == ["https://", "http://"]
        assert list(session.adapters) == ["https://", "http://"]


# -- the pool manager's container -------------------------------------------------


def test_the_pool_manager_keeps_urllib3s_container_with_our_dispose_func() -> None:
    manager = ConnectionManager(_session._DEFAULT_LIMITS, _session._DEFAULT_POLICY)
    pm = ManagedPoolManager(manager, num_pools=7, maxsize=1, block=False)
    assert type(pm.pools) is RecentlyUsedContainer
    assert pm.pools._maxsize == 7
    assert pm.pools.dispose_func is _retire_pool
    # the attribute urllib3 itself calls on eviction and clear()
    assert urllib3.PoolManager().pools.dispose_func is None


def test_an_evicted_pool_is_retired_by_the_manager() -> None:
    manager = ConnectionManager(_session._DEFAULT_LIMITS, _session._DEFAULT_POLICY)
    pm = ManagedPoolManager(manager, num_pools=1, maxsize=1, block=False)
    with Server() as first, Server() as second:
        assert pm.request("GET", first.url).data == b"ok"
        pool = pm.connection_from_url(first.url)
        assert isinstance(pool, ManagedHTTPConnectionPool)
        assert manager.open_connections == 1  # idle, kept
        assert pm.request("GET", second.url).data == b"ok"  # evicts the first
        assert pool._rm_slot.retired is CloseReason.POOL_EVICTED
        assert first.wait_for(lambda: first.open_connections() == 0)
        closed = manager.stats().for_url(first.url).closed
        assert closed == {CloseReason.POOL_EVICTED: 1}
    manager.close()


# -- the creating line, looked up when needed --------------------------------------


# A function that looks like ours (its file is in the package's directory),
# so both walks step over it to the frame that called it, as they step over
# ManagedSession.__init__: the same frame, at the same instruction.
_GRAB = compile(
    "def grab(*args):\n    return code_site(), call_site()\n",
    os.path.join(os.path.dirname(_leaks.__file__), "_not_a_module.py"),
    "exec",
)
_namespace: dict[str, Any] = {
    "code_site": _leaks.code_site,
    "call_site": _leaks.call_site,
}
exec(_GRAB, _namespace)
grab = _namespace["grab"]


def test_the_lazy_site_is_the_eager_one_in_a_function() -> None:
    site, eager = grab()
    assert _leaks.site_of(site) == eager
    assert eager.filename == __file__


CASES = {
    "module level, far down a long module": "\n".join(
        [*(f"x{i} = {i}" for i in range(400)), "found = grab()"]
    ),
    "a call spread over lines": "found = grab(\n    1,\n    2,\n)",
    "inside a comprehension": "found = [grab() for _ in range(1)][0]",
    "inside a lambda": "found = (lambda: grab())()",
    "inside try and with": (
        "import contextlib\n"
        "try:\n"
        "    with contextlib.nullcontext():\n"
        "        pass\n"
        "        found = grab()\n"
        "finally:\n"
        "    pass"
    ),
}


@pytest.mark.parametrize("source", CASES.values(), ids=list(CASES))
def test_the_lazy_site_names_the_line_f_lineno_names(source: str) -> None:
    namespace: dict[str, Any] = {"grab": grab}
    exec(compile(source, "user_code.py", "exec"), namespace)
    site, eager = namespace["found"]
    assert eager.filename == "user_code.py"
    assert _leaks.site_of(site) == eager


def test_the_finalizer_warns_at_the_creating_line_of_long_module_code(
    server: Server,
) -> None:
    source = "\n".join(
        [*(f"x{i} = {i}" for i in range(300)), "session = ManagedSession()"]
    )
    namespace: dict[str, Any] = {"ManagedSession": ManagedSession}
    exec(compile(source, "their_module.py", "exec"), namespace)
    session = namespace.pop("session")
    session.get(server.url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del session
        gc.collect()
    assert [(w.category, w.filename, w.lineno) for w in caught] == [
        (ResourceWarning, "their_module.py", 301)
    ]
    assert "created at their_module.py:301" in str(caught[0].message)


_PATCHED_FIRST = """
import requests
import requests.sessions
from requests.structures import CaseInsensitiveDict

# in place before requests_managed is first imported
requests.sessions.default_headers = lambda: CaseInsensitiveDict({"X-App": "1"})
from requests_managed import ManagedSession

plain, managed = requests.Session(), ManagedSession()
print(dict(plain.headers) == dict(managed.headers), dict(managed.headers))
managed.close()
"""


def test_a_default_headers_patched_before_the_first_import_is_honoured() -> None:
    import subprocess
    import sys

    import requests_managed

    source = os.path.dirname(os.path.dirname(requests_managed.__file__))
    path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", _PATCHED_FIRST],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.stdout.startswith("True"), result.stdout
