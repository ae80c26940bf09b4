"""install(), uninstall(), installed(): requests.Session managed for third parties."""

from __future__ import annotations

import abc
import pickle
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import requests.sessions

import requests_managed
from requests_managed import (
    Installation,
    InvalidTimeout,
    KeepAlivePolicy,
    ManagedSession,
    PoolLimits,
    Timeout,
    install,
    installed,
    uninstall,
)
from requests_managed._adapter import ManagedAdapter
from requests_managed._install import InstalledSession

from .server import Reply, Server

ORIGINAL = requests.Session
SHORT = Timeout(connect=1, read=0.5)


def patched() -> bool:
    return requests_managed._install.is_installed()


def assert_original() -> None:
    assert requests.Session is ORIGINAL
    assert requests.sessions.Session is ORIGINAL
    assert not patched()
    with requests.Session() as session:
        assert type(session) is ORIGINAL


def assert_installed() -> None:
    # the names stay requests' own class; the class itself makes managed sessions
    assert requests.Session is ORIGINAL
    assert requests.sessions.Session is ORIGINAL
    assert patched()


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    """Every test starts and ends with plain requests, even when it fails."""
    assert_original()
    try:
        yield
    finally:
        uninstall()
        assert_original()


@pytest.fixture
def silent() -> Iterator[Server]:
    with Server(lambda request: Reply(never_answer=True)) as srv:
        yield srv


def third_party_fetch(url: str) -> str:
    """Library code written against plain requests: no timeout anywhere."""
    return requests.get(url).text


# -- the acceptance ------------------------------------------------------------


@pytest.mark.timeout(15)  # a regression would wait forever: fail fast instead
def test_installed_requests_get_without_timeout_times_out(silent: Server) -> None:
    install(timeout=SHORT)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        third_party_fetch(silent.url)
    assert time.monotonic() - started < 10
    uninstall()
    assert_original()


def test_original_class_is_back_and_plain_after_uninstall(server: Server) -> None:
    install()
    uninstall()
    with requests.Session() as session:
        assert type(session) is ORIGINAL
        assert not isinstance(session, ManagedSession)
        assert session.get(server.url).text == "ok"


# -- every entry point of requests ---------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: requests.Session(),
        lambda: requests.session(),
        lambda: requests.sessions.Session(),
        lambda: requests.sessions.session(),
    ],
    ids=[
        "requests.Session",
        "requests.session",
        "requests.sessions.Session",
        "requests.sessions.session",
    ],
)
def test_sessions_made_while_installed_are_managed(
    make: Callable[[], requests.Session], server: Server
) -> None:
    with installed(timeout=Timeout(connect=2, read=3, total=4)), make() as session:
        assert isinstance(session, ManagedSession)
        assert type(session) is InstalledSession
        assert session._rm_timeout == Timeout(connect=2, read=3, total=4)
        response = session.get(server.url)
        assert isinstance(response.connection, ManagedAdapter)
    assert_original()


HELPERS: list[tuple[str, Callable[..., requests.Response]]] = [
    ("GET", requests.get),
    ("POST", requests.post),
    ("PUT", requests.put),
    ("PATCH", requests.patch),
    ("DELETE", requests.delete),
    ("HEAD", requests.head),
    ("OPTIONS", requests.options),
    ("PURGE", lambda url: requests.request("PURGE", url)),
]


@pytest.mark.parametrize(("method", "helper"), HELPERS, ids=[m for m, _ in HELPERS])
def test_requests_helpers_use_a_managed_session_and_close_it(
    method: str, helper: Callable[..., requests.Response], server: Server
) -> None:
    with installed(timeout=SHORT):
        response = helper(server.url)
    assert response.status_code == 200
    assert isinstance(response.connection, ManagedAdapter)
    assert server.requests[-1].method == method
    # requests.api closed its session: the connection does not stay open
    assert server.wait_for(lambda: server.connections_closed == 1)


@pytest.mark.timeout(15)
@pytest.mark.parametrize(("method", "helper"), HELPERS, ids=[m for m, _ in HELPERS])
def test_requests_helpers_time_out_while_installed(
    method: str, helper: Callable[..., requests.Response], silent: Server
) -> None:
    with installed(timeout=SHORT), pytest.raises(requests.exceptions.Timeout):
        helper(silent.url)


def test_installed_configuration_reaches_the_session() -> None:
    limits = PoolLimits(max_idle_per_host=1, max_per_host=2)
    policy = KeepAlivePolicy(idle_timeout=7, max_requests=3)
    config = installed(timeout=(2, 3), limits=limits, policy=policy)
    with config, requests.Session() as session:
        assert session._rm_timeout == Timeout(connect=2, read=3)
        assert session._rm_limits == limits
        assert session._rm_policy == policy


@pytest.mark.timeout(15)
def test_explicit_request_timeout_still_wins(silent: Server) -> None:
    with installed(timeout=Timeout(connect=5, read=30)):
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(silent.url, timeout=(1, 0.3))
        assert time.monotonic() - started < 10


# -- streaming: requests.api closes the session before the body is read --------


def test_stream_body_survives_requests_api_closing_the_session() -> None:
    body = b"x" * 1_000_000
    with Server(lambda request: Reply(body=body)) as srv, installed(timeout=SHORT):
        response = requests.get(srv.url, stream=True)
        try:
            # the session is closed by now, but this connection is in use
            assert srv.open_connections() == 1
            received = b"".join(response.iter_content(65536))
        finally:
            response.close()
        assert received == body
        # released to a closed session: closed, not pooled
        assert srv.wait_for(lambda: srv.open_connections() == 0)


def test_stream_closed_early_closes_its_connection() -> None:
    body = b"x" * 1_000_000
    with Server(lambda request: Reply(body=body)) as srv, installed(timeout=SHORT):
        with requests.get(srv.url, stream=True) as response:
            assert response.raw.read(1000) == b"x" * 1000
            assert srv.open_connections() == 1
        assert srv.wait_for(lambda: srv.open_connections() == 0)


# -- idempotent, reversible, layered ---------------------------------------------


def test_install_twice_then_one_uninstall_restores() -> None:
    install(timeout=SHORT)
    install(timeout=SHORT)
    assert_installed()
    uninstall()
    assert_original()


def test_uninstall_without_install_is_a_no_op() -> None:
    uninstall()
    uninstall()
    assert_original()


def test_second_install_replaces_the_configuration_until_undone() -> None:
    first = install(timeout=1)
    second = install(timeout=2)
    with requests.Session() as session:
        assert session._rm_timeout == Timeout(connect=2, read=2)
    second.undo()
    assert_installed()
    with requests.Session() as session:
        assert session._rm_timeout == Timeout(connect=1, read=1)
    first.undo()
    assert_original()


def test_sessions_keep_the_configuration_they_were_made_with() -> None:
    install(timeout=1)
    with requests.Session() as session:
        install(timeout=2)
        assert session._rm_timeout == Timeout(connect=1, read=1)


def test_undo_out_of_order_keeps_the_remaining_installation() -> None:
    first = install(timeout=1)
    second = install(timeout=2)
    first.undo()
    assert_installed()
    with requests.Session() as session:
        assert session._rm_timeout == Timeout(connect=2, read=2)
    second.undo()
    assert_original()


def test_undo_is_idempotent_and_harmless_after_uninstall() -> None:
    installation = install()
    installation.undo()
    installation.undo()
    assert_original()
    other = install()
    installation.undo()  # an old handle does not withdraw a newer install
    assert_installed()
    uninstall()
    other.undo()
    assert_original()


def test_installation_repr_says_whether_it_is_active() -> None:
    installation = install(timeout=3)
    assert repr(installation).startswith("<Installation active timeout=Timeout(")
    installation.undo()
    assert repr(installation).startswith("<Installation undone")


def test_installed_restores_on_exception() -> None:
    with pytest.raises(RuntimeError, match="boom"), installed(timeout=SHORT):
        assert_installed()
        raise RuntimeError("boom")
    assert_original()


def test_installed_inside_install_keeps_the_outer_one() -> None:
    install(timeout=1)
    with installed(timeout=2), requests.Session() as session:
        assert session._rm_timeout == Timeout(connect=2, read=2)
    assert_installed()
    with requests.Session() as session:
        assert session._rm_timeout == Timeout(connect=1, read=1)


def test_after_uninstall_sessions_and_subclasses_take_their_arguments() -> None:
    """CPython cannot give a class its inherited __new__ back once one was
    set; ours stays, inert, so subclasses' __init__ arguments still work."""
    install()
    uninstall()
    with ManagedSession(timeout=3) as managed:
        assert managed._rm_timeout == Timeout(connect=3, read=3)
    with DefinedBeforeInstall(token="x") as plain:
        assert type(plain) is DefinedBeforeInstall
        assert plain.headers["Authorization"] == "Bearer x"


def test_a_class_kept_past_uninstall_makes_default_sessions() -> None:
    with installed(timeout=1):
        kept = type(requests.Session())
    assert kept is InstalledSession
    with kept() as session:
        assert isinstance(session, ManagedSession)
        assert session._rm_timeout == Timeout()
    with requests.Session() as plain:  # the name makes plain sessions again
        assert not isinstance(plain, ManagedSession)


# -- the documented limits and isinstance ---------------------------------------


def test_a_class_imported_before_install_is_managed_too() -> None:
    from requests import Session  # what third-party modules do at import

    with installed(), Session() as session:
        assert isinstance(session, ManagedSession)


class DefinedBeforeInstall(requests.Session):
    """A library's subclass, defined at import time (before any install())."""

    def __init__(self, token: str = "t") -> None:
        super().__init__()
        self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Any:  # type: ignore[override]
        self.headers["X-Seen"] = "yes"
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


def test_a_subclass_defined_before_install_is_managed_and_keeps_its_methods(
    server: Server,
) -> None:
    with installed(timeout=Timeout(connect=2, read=3)):
        session = DefinedBeforeInstall("abc")
    with session:
        assert isinstance(session, DefinedBeforeInstall)
        assert isinstance(session, ManagedSession)
        assert type(session).__qualname__ == "DefinedBeforeInstall"
        assert session._rm_timeout == Timeout(connect=2, read=3)
        response = session.get(server.url)
        assert isinstance(response.connection, ManagedAdapter)
        assert session.headers["X-Seen"] == "yes"
        assert server.requests[-1].headers["authorization"] == "Bearer abc"
        assert session.pool_stats().total.requests == 1
    with DefinedBeforeInstall() as after:
        assert type(after) is DefinedBeforeInstall  # plain again after uninstall


def test_isinstance_is_true_for_every_session_while_installed() -> None:
    plain, managed = ORIGINAL(), ManagedSession()
    with plain, managed, installed(), requests.Session() as patched:
        for session in (plain, managed, patched):
            assert isinstance(session, requests.Session)
            assert isinstance(session, requests.sessions.Session)
        assert issubclass(ManagedSession, requests.Session)
        assert issubclass(ORIGINAL, requests.Session)
        assert isinstance(patched, ORIGINAL)
        assert isinstance(patched, ManagedSession)
        assert type(patched) is not ORIGINAL
        assert not isinstance(object(), requests.Session)


def test_a_subclass_defined_while_installed_is_managed_and_checks_normally() -> None:
    with installed(timeout=2):

        class ThirdPartySession(requests.Session):
            def __init__(self) -> None:
                super().__init__()
                self.headers["X-Library"] = "yes"

        class WithABC(requests.Session, abc.ABC):
            pass

        with ThirdPartySession() as session, WithABC() as other, ORIGINAL() as plain:
            assert isinstance(session, ManagedSession)
            assert session._rm_timeout == Timeout(connect=2, read=2)
            assert session.headers["X-Library"] == "yes"
            assert isinstance(other, ManagedSession)
            assert not isinstance(plain, ThirdPartySession)
            assert not issubclass(ORIGINAL, ThirdPartySession)


def test_installed_session_pickles() -> None:
    with installed(timeout=(2, 3)), requests.Session() as session:
        copy = pickle.loads(pickle.dumps(session))
        with copy:
            assert type(copy) is InstalledSession
            assert copy._rm_timeout == Timeout(connect=2, read=3)


# -- bad arguments: ManagedSession's own errors, nothing changed -----------------


BAD = [
    {"timeout": -1},
    {"timeout": (1, 2, 3)},
    {"timeout": "10"},
    {"timeout": True},
    {"timeout": float("nan")},
    {"limits": {"max_idle_per_host": 1}},
    {"policy": 30},
]


def _error_of(call: Callable[[], object]) -> BaseException:
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    return info.value


@pytest.mark.parametrize("kwargs", BAD, ids=repr)
def test_bad_arguments_raise_what_managed_session_raises(
    kwargs: dict[str, object],
) -> None:
    expected = _error_of(lambda: ManagedSession(**kwargs))  # type: ignore[arg-type]
    for call in (
        lambda: install(**kwargs),  # type: ignore[arg-type]
        lambda: installed(**kwargs).__enter__(),  # type: ignore[arg-type]
    ):
        error = _error_of(call)
        assert type(error) is type(expected)
        assert str(error) == str(expected)
        assert_original()


def test_bad_install_leaves_an_existing_installation_alone() -> None:
    install(timeout=1)
    with pytest.raises(InvalidTimeout):
        install(timeout=0)
    assert_installed()
    with requests.Session() as session:
        assert session._rm_timeout == Timeout(connect=1, read=1)


# -- threads -------------------------------------------------------------------


def test_concurrent_installed_blocks_each_see_an_installation() -> None:
    threads, rounds = 8, 200
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(rounds):
                with installed(timeout=SHORT):
                    # other threads leave their blocks meanwhile; ours holds
                    assert patched()
                    with requests.Session() as session:
                        assert isinstance(session, ManagedSession)
        except BaseException as exc:
            failures.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in pool)
    assert failures == []
    assert_original()
    assert requests_managed._install._stack == []


def test_concurrent_install_and_uninstall_leave_a_consistent_state() -> None:
    threads, rounds = 8, 300
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(rounds):
                step = (seed + i) % 3
                if step == 0:
                    install(timeout=seed + 1)
                elif step == 1:
                    install(timeout=SHORT).undo()
                else:
                    uninstall()
                # whatever happened, the names are requests' own class
                assert requests.sessions.Session is requests.Session is ORIGINAL
        except BaseException as exc:
            failures.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in pool)
    assert failures == []
    state = requests_managed._install
    with state._lock:
        assert patched() == bool(state._stack)
        assert (state._active is not None) == patched()
    uninstall()
    assert_original()


def test_requests_in_threads_while_another_thread_uninstalls(server: Server) -> None:
    """Sessions that exist keep working when the patch is withdrawn under them."""
    started = threading.Event()
    failures: list[BaseException] = []
    install(timeout=SHORT)

    def fetch() -> None:
        try:
            with requests.Session() as session:
                started.set()
                for _ in range(20):
                    assert session.get(server.url).text == "ok"
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=fetch)
    thread.start()
    assert started.wait(timeout=10)
    uninstall()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert failures == []
    assert server.requests_served == 20


def test_unclosed_session_warning_names_the_third_party_line(server: Server) -> None:
    """The finalizer's warning points at the caller's line, not at our subclass."""
    with installed(timeout=SHORT):
        session = requests.Session()
    line = sys._getframe().f_lineno - 1
    session.get(server.url)  # an idle socket left open: that is a leak
    with pytest.warns(ResourceWarning, match=rf"test_install\.py:{line}\b"):
        session._rm_finalizer()
    session.close()


def test_installed_yields_its_installation_and_passes_retries() -> None:
    with installed(retries=2) as installation:
        assert isinstance(installation, Installation)
        session = requests.Session()
        try:
            assert isinstance(session, ManagedSession)
            assert session._rm_retries == 2
        finally:
            session.close()
    assert requests.Session is ORIGINAL


@pytest.mark.parametrize("retries", ["3", -1, True])
def test_bad_retries_are_rejected_before_anything_changes(retries: object) -> None:
    with pytest.raises(TypeError, match="retries must be"):
        install(retries=retries)  # type: ignore[arg-type]
    assert requests.Session is ORIGINAL


# -- patching requests.Session covers every session -----------------------------


def test_mock_patch_of_requests_session_send_covers_every_session(
    server: Server,
) -> None:
    """mock.patch("requests.Session.send") under install() reaches an explicit
    ManagedSession, a session made before install(), a subclass defined before
    it and a session install() made; none of them reaches the server."""
    from unittest import mock

    before = requests.Session()
    with installed(timeout=SHORT):
        sessions = {
            "explicit ManagedSession": ManagedSession(),
            "made before install()": before,
            "subclass defined before": DefinedBeforeInstall(),
            "made by install()": requests.Session(),
        }
        canned = requests.Response()
        canned.status_code = 299
        with mock.patch("requests.Session.send", return_value=canned) as send:
            for name, session in sessions.items():
                assert session.get(server.url).status_code == 299, name
        assert send.call_count == len(sessions)
    for session in sessions.values():
        session.close()
    assert server.requests_served == 0


# -- include= / exclude=: by the package that makes the session -----------------


def _fake_package(name: str) -> types.ModuleType:
    """A module named ``name`` with library code written against requests."""
    module = types.ModuleType(name)
    source = (
        "import requests\n"
        "def make():\n"
        "    return requests.Session()\n"
        "def fetch(url):\n"
        "    return requests.get(url)\n"
        "class LibSession(requests.Session):\n"
        "    pass\n"
    )
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def _managed(response: requests.Response) -> bool:
    return isinstance(response.connection, ManagedAdapter)


def test_exclude_keeps_one_package_plain_and_manages_the_rest(server: Server) -> None:
    lib = _fake_package("waitlib.client")
    other = _fake_package("otherlib")
    with installed(timeout=SHORT, exclude=["waitlib"]):
        with lib.make() as session:
            assert not isinstance(session, ManagedSession)
        with lib.LibSession() as session:
            assert type(session) is lib.LibSession
        assert not _managed(lib.fetch(server.url))
        with other.make() as session, requests.Session() as ours:
            assert isinstance(session, ManagedSession)
            assert isinstance(ours, ManagedSession)  # this test module's
        assert _managed(other.fetch(server.url))


def test_a_subclass_belongs_to_the_package_that_defines_it(server: Server) -> None:
    """docker's APIClient is docker's wherever it is constructed."""
    lib = _fake_package("waitlib")
    with installed(exclude=["waitlib"]), lib.LibSession() as session:
        assert not isinstance(session, ManagedSession)  # made here, still waitlib's


def test_include_manages_only_the_named_packages(server: Server) -> None:
    lib = _fake_package("chosen.sub")
    other = _fake_package("otherlib")
    with installed(timeout=SHORT, include=["chosen"]):
        with lib.make() as session, lib.LibSession() as subclassed:
            assert isinstance(session, ManagedSession)
            assert isinstance(subclassed, ManagedSession)
        assert _managed(lib.fetch(server.url))
        with other.make() as session, requests.Session() as ours:
            assert not isinstance(session, ManagedSession)
            assert not isinstance(ours, ManagedSession)


def test_exclude_wins_over_include_and_names_match_whole_parts() -> None:
    with installed(include=["pkg"], exclude=["pkg.waits"]):
        with _fake_package("pkg.waits.x").make() as waits:
            assert not isinstance(waits, ManagedSession)
        with _fake_package("pkg.fast").make() as fast:
            assert isinstance(fast, ManagedSession)
        with _fake_package("pkgextra").make() as extra:  # not a part of "pkg"
            assert not isinstance(extra, ManagedSession)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"exclude": "docker"}, TypeError, r"write exclude=\['docker'\]"),
        ({"include": 3}, TypeError, "include must be a list of package names"),
        ({"exclude": [b"docker"]}, TypeError, "got b'docker'"),
        ({"exclude": ["docker "]}, ValueError, "got 'docker '"),
        ({"include": [""]}, ValueError, "importable module names"),
        ({"exclude": ["a..b"]}, ValueError, "got 'a..b'"),
    ],
)
def test_bad_include_or_exclude_is_refused_before_anything_changes(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        install(**kwargs)  # type: ignore[arg-type]
    assert_original()
