"""ManagedSession: defaults, timeouts applied every way, deadline, lifecycle."""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from urllib3.util.retry import Retry

from requests_managed import (
    CloseReason,
    DeadlineExceeded,
    InvalidTimeout,
    ManagedSession,
    PoolLimits,
    SessionClosed,
    Timeout,
)

from .conftest import open_fds
from .server import Reply, Server


def test_is_a_requests_session() -> None:
    with ManagedSession() as session:
        assert isinstance(session, requests.Session)


def test_sequential_requests_share_one_connection(server: Server) -> None:
    with ManagedSession() as session:
        for _ in range(10):
            assert session.get(server.url + "/").text == "ok"
        stats = session.pool_stats().for_url(server.url)
    assert server.connections_opened == 1
    assert server.requests_per_connection() == {1: 10}
    assert (stats.opened, stats.requests, stats.reuses) == (1, 10, 9)


def test_constructor_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ManagedSession(5)  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad", [-1, 0, float("nan"), True, "10", (1, 2, 3), (1,), [1, 2]]
)
def test_invalid_session_timeout_is_rejected(bad: object) -> None:
    with pytest.raises(InvalidTimeout, match="timeout"):
        ManagedSession(timeout=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 0, float("inf"), False, "1", (1, 2, 3)])
def test_invalid_request_timeout_is_rejected_before_sending(
    server: Server, bad: object
) -> None:
    with ManagedSession() as session, pytest.raises(InvalidTimeout):
        session.get(server.url, timeout=bad)
    assert server.connections_opened == 0


def test_wrong_limit_and_policy_types_are_rejected() -> None:
    with pytest.raises(TypeError, match="limits"):
        ManagedSession(limits={"max_per_host": 3})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="policy"):
        ManagedSession(policy=30)  # type: ignore[arg-type]


def _never_answer(server: Server) -> None:
    server.handler = lambda request: Reply(never_answer=True)


def test_short_read_timeout_raises_read_timeout(server: Server) -> None:
    _never_answer(server)
    with ManagedSession(timeout=Timeout(connect=1, read=0.5)) as session:
        start = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            session.get(server.url)
        assert 0.4 < time.monotonic() - start < 5


def test_default_timeouts_are_five_thirty_and_three_hundred_seconds() -> None:
    # What every adapter receives (a real read timeout is waited out with
    # short timeouts below; waiting 30 s here would prove nothing more).
    from .adapters import RecordingAdapter

    with ManagedSession() as session:
        assert session._rm_timeout == Timeout(connect=5, read=30, total=300)
        recorder = RecordingAdapter()
        session.mount("http://recorded.test/", recorder)
        session.get("http://recorded.test/x")
        ((connect, read),) = recorder.timeouts
        assert connect == 5.0 and 29.9 < read <= 30.0


@pytest.mark.parametrize("how", ["get", "request", "send"])
def test_session_timeout_applies_whichever_way_a_request_is_made(
    server: Server, how: str
) -> None:
    _never_answer(server)
    with ManagedSession(timeout=Timeout(connect=1, read=0.3)) as session:
        start = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            if how == "get":
                session.get(server.url)
            elif how == "request":
                session.request("GET", server.url, timeout=None)
            else:
                prepared = requests.Request("GET", server.url).prepare()
                session.send(prepared)
        assert time.monotonic() - start < 5


def test_request_timeout_overrides_session_default(server: Server) -> None:
    _never_answer(server)
    with ManagedSession(timeout=30) as session:
        start = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            session.get(server.url, timeout=(1, 0.3))
        assert time.monotonic() - start < 5


def test_dribbling_server_hits_the_total_deadline(server: Server) -> None:
    server.handler = lambda request: Reply(dribble=0.2)
    total = 1.0
    with ManagedSession(timeout=Timeout(connect=1, read=1, total=total)) as session:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded) as info:
            session.get(server.url)
        elapsed = time.monotonic() - start
        assert total * 0.9 < elapsed < total + 1
        # requests' own except clauses still match
        assert isinstance(info.value, requests.exceptions.Timeout)
        assert isinstance(info.value, requests.exceptions.ConnectionError)
        stats = session.pool_stats().for_url(server.url)
        assert stats.closed == {CloseReason.DEADLINE: 1}
        assert stats.open == 0
        assert server.wait_for(lambda: server.connections_closed == 1)
        # the pool is not poisoned
        server.handler = lambda request: Reply(body=b"fine")
        assert session.get(server.url).text == "fine"


def test_streamed_body_is_bounded_by_the_deadline(server: Server) -> None:
    server.handler = lambda request: Reply(dribble=0.2)
    with ManagedSession(timeout=Timeout(connect=1, read=1, total=1.0)) as session:
        start = time.monotonic()
        with (
            pytest.raises(DeadlineExceeded, match=rf"from {server.url}/big\?x=1") as e,
            session.get(server.url + "/big?x=1", stream=True) as r,
        ):
            for _ in r.iter_content(1):
                pass
        assert time.monotonic() - start < 2.0
        assert session.pool_stats().total.closed == {CloseReason.DEADLINE: 1}
    assert "while reading the response body" in str(e.value)


def test_deadline_spans_redirects(server: Server) -> None:
    def handler(request: object) -> Reply:
        time.sleep(0.3)
        return Reply(status=302, headers=[("Location", "/again")], body=b"")

    server.handler = handler
    with ManagedSession(timeout=Timeout(connect=1, read=1, total=1.0)) as session:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            session.get(server.url)
        assert time.monotonic() - start < 2.0


def test_with_block_closes_every_socket(server: Server) -> None:
    before = open_fds()
    with ManagedSession() as session:
        for _ in range(3):
            session.get(server.url)
        assert open_fds() > before
    # the server's side closes once it sees ours close; then nothing is left
    assert server.wait_for(lambda: server.open_connections() == 0)
    assert open_fds() == before
    assert session.pool_stats().total.closed == {CloseReason.SESSION_CLOSED: 1}


def test_with_block_closes_sockets_that_live_responses_would_keep(
    server: Server,
) -> None:
    """psf/requests#6573: with plain requests, a live Response keeps its pool
    and so its socket open after the session's with-block."""
    before = open_fds()
    release = threading.Event()
    server.handler = lambda request: Reply(
        body=b"ok" if release.wait(5) else b"timed out"
    )
    with ManagedSession() as session, ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(session.get, server.url) for _ in range(4)]
        assert server.wait_for(lambda: server.requests_served == 4)
        release.set()
        responses = [f.result(10) for f in futures]  # kept alive below
        assert session.pool_stats().for_url(server.url).idle == 4
    assert [r.text for r in responses] == ["ok"] * 4
    assert server.wait_for(lambda: server.open_connections() == 0)
    assert open_fds() == before
    assert session.pool_stats().total.closed == {CloseReason.SESSION_CLOSED: 4}


def test_one_watchdog_thread_serves_every_deadline(server: Server) -> None:
    """The total deadline never starts a thread per request."""
    with ManagedSession(timeout=Timeout(connect=1, read=5, total=10)) as session:
        session.get(server.url)  # the watchdog exists from here on
        before = threading.active_count()
        for _ in range(20):
            with session.get(server.url, stream=True) as r:
                assert threading.active_count() == before
                r.content  # noqa: B018
        names = [t.name for t in threading.enumerate()]
    assert names.count("requests-managed-deadline") == 1


def test_streamed_response_context_manager_releases_on_exception(
    server: Server,
) -> None:
    with ManagedSession() as session:
        with pytest.raises(RuntimeError), session.get(server.url, stream=True) as r:
            assert session.pool_stats().total.in_use == 1
            raise RuntimeError("boom")
        assert r.raw.closed
        stats = session.pool_stats().total
        assert stats.in_use == 0
        assert stats.idle == 1  # a 2-byte body is drained, the connection kept


def test_close_is_idempotent_and_later_requests_raise(server: Server) -> None:
    session = ManagedSession()
    session.get(server.url)
    session.close()
    session.close()
    with pytest.raises(SessionClosed, match="closed"):
        session.get(server.url)
    assert isinstance(SessionClosed(), requests.RequestException)


def test_close_while_a_stream_is_read_finishes_the_body_then_closes(
    server: Server,
) -> None:
    server.handler = lambda request: Reply(body=b"x" * 100_000)
    session = ManagedSession()
    response = session.get(server.url, stream=True)
    session.close()  # what requests.get(url, stream=True) does before you read
    assert len(response.content) == 100_000
    stats = session.pool_stats().total
    assert stats.open == 0
    assert stats.closed == {CloseReason.SESSION_CLOSED: 1}


def test_unclosed_session_warns_where_it_was_created_and_closes(
    server: Server,
) -> None:
    before = open_fds()
    session = ManagedSession()
    line = _line() - 1
    session.get(server.url)
    with pytest.warns(ResourceWarning, match=rf"test_session.py:{line}") as caught:
        del session
        gc.collect()
    # Attributed to the creating line, so filters by module or line match it.
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]
    assert server.wait_for(lambda: server.open_connections() == 0)
    assert open_fds() == before


def test_unclosed_session_that_never_held_a_socket_is_silent() -> None:
    """As requests.Session is: nothing leaked, nothing to warn about (the
    issue's one-liner, with warnings as errors)."""
    code = (
        "import gc, requests_managed\n"
        "s = requests_managed.ManagedSession()\n"
        "del s\n"
        "gc.collect()\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_unclosed_session_after_all_its_sockets_closed_is_silent(
    server: Server,
) -> None:
    server.handler = lambda request: Reply(body=b"bye", close=True)
    session = ManagedSession()
    assert session.get(server.url).text == "bye"
    assert session.pool_stats().total.open == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session._rm_finalizer()


def test_unclosed_session_warning_counts_the_connections_it_held(
    server: Server,
) -> None:
    session = ManagedSession()
    session.get(server.url)
    with pytest.warns(ResourceWarning, match="still held 1 open connection;"):
        session._rm_finalizer()


@pytest.mark.parametrize("retries", ["3", -1, 2.5, True, object()])
def test_invalid_retries_are_rejected_at_construction(retries: object) -> None:
    with pytest.raises(TypeError, match="retries must be") as error:
        ManagedSession(retries=retries)  # type: ignore[arg-type]
    assert repr(retries) in str(error.value)


@pytest.mark.parametrize("retries", [None, 0, 2, Retry(1, read=False)])
def test_valid_retries_are_accepted(retries: Retry | int | None) -> None:
    with ManagedSession(retries=retries) as session:
        assert session._rm_retries is retries


def _line() -> int:
    import inspect

    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def test_pickle_round_trip_keeps_configuration(server: Server) -> None:
    with ManagedSession(timeout=Timeout(connect=2, read=3, total=4)) as session:
        session.headers["X-Token"] = "abc"
        session.get(server.url)
        clone = pickle.loads(pickle.dumps(session))
    with clone:
        assert clone._rm_timeout == Timeout(connect=2, read=3, total=4)
        assert clone.headers["X-Token"] == "abc"
        assert clone.get(server.url).text == "ok"
        assert clone.pool_stats().total.requests == 1


def test_no_warnings_in_normal_use(server: Server) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ManagedSession() as session:
            session.get(server.url)
            with session.get(server.url, stream=True) as r:
                r.content  # noqa: B018


def test_repr_names_the_class_its_state_and_timeout() -> None:
    class AppSession(ManagedSession):
        pass

    session = AppSession(timeout=Timeout(connect=1, read=2, total=3))
    assert repr(session) == (
        "<AppSession open timeout=Timeout(connect=1.0, read=2.0, total=3.0)>"
    )
    session.close()
    assert repr(session).startswith("<AppSession closed ")


def test_a_caller_waiting_at_a_limit_gets_session_closed_when_it_closes() -> None:
    release = threading.Event()
    arrived = threading.Event()

    def handler(request: Any) -> Reply:
        arrived.set()
        release.wait(10)
        return Reply(body=b"slow")

    with Server(handler) as server:
        session = ManagedSession(
            limits=PoolLimits(max_per_host=1, wait_timeout=30),
            timeout=Timeout(connect=30, read=30, total=60),
        )
        with ThreadPoolExecutor(max_workers=2) as pool:
            holder = pool.submit(session.get, server.url)
            assert arrived.wait(10)
            waiter = pool.submit(session.get, server.url)
            assert _wait_until(lambda: session.pool_stats().total.waits == 1)
            session.close()
            with pytest.raises(SessionClosed, match="nothing was sent"):
                waiter.result(timeout=10)
            release.set()
            assert holder.result(timeout=10).content == b"slow"
        assert len(server.requests) == 1


def _wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.mark.parametrize("tiny", [1e-80, 5e-324, 1e-10])
def test_a_sub_nanosecond_read_timeout_is_a_read_timeout(tiny: float) -> None:
    # Python would store it as 0 s, which makes a socket non-blocking and
    # turns the timeout into a ConnectionError (EAGAIN).
    with (
        Server(lambda r: Reply(never_answer=True)) as server,
        ManagedSession() as s,
        pytest.raises(requests.exceptions.ReadTimeout),
    ):
        s.get(server.url, timeout=(5, tiny))
