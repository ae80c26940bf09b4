"""Connection errors that diagnose themselves: ``exc.connection_info`` and a
message that says what happened, on real loopback failures."""

from __future__ import annotations

import pickle
import time

import pytest
import requests

from requests_managed import (
    ConnectionInfo,
    DeadlineExceeded,
    ManagedSession,
    PoolLimits,
    PoolTimeout,
    Timeout,
)

from .server import Reply, Request, Server


def _stale_post(server: Server, session: ManagedSession) -> requests.ConnectionError:
    assert session.post(server.url + "/items", data=b"first").ok
    time.sleep(0.3)  # past the server's idle limit: the pause under test
    with pytest.raises(requests.ConnectionError) as info:
        session.post(server.url + "/items", data=b"second")
    return info.value


def test_a_stale_post_says_the_server_closed_a_reused_connection_and_no_replay() -> (
    None
):
    with (
        Server(idle_close_after=0.2, idle_close_race=True) as server,
        ManagedSession() as session,
    ):
        error = _stale_post(server, session)
    assert type(error) is requests.ConnectionError  # requests' own class
    message = str(error)
    assert (
        "server closed a reused connection before responding "
        f"(POST {server.url}/items; reused connection, age "
    ) in message
    # the args keep requests' shape: ConnectionError(ProtocolError(...))
    assert error.args[0].args[0].endswith("): Connection aborted.")
    assert "1 request served" in message
    assert "not replayed: POST is not idempotent" in message
    assert "Connection aborted." in message  # requests' phrase, kept
    info = error.connection_info  # type: ignore[attr-defined]
    assert isinstance(info, ConnectionInfo)
    assert (info.method, info.url) == ("POST", f"{server.url}/items")
    assert info.reused and info.stale and not info.replayed
    assert info.requests_served == 1
    assert info.idle is not None and info.age is not None and info.age >= info.idle
    assert info.phase == "read"
    assert (info.bound_name, info.bound) == ("read", 30.0)
    assert info.not_replayed == "POST is not idempotent"
    assert server.bodies_received("/items") == [b"first"]


def test_the_message_names_what_the_server_announced() -> None:
    reply = Reply(headers=[("Keep-Alive", "timeout=5, max=99")])
    with (
        Server(lambda r: reply, idle_close_after=0.2, idle_close_race=True) as server,
        ManagedSession() as session,
    ):
        error = _stale_post(server, session)
    assert "server announced Keep-Alive: timeout=5, max=99" in str(error)
    info = error.connection_info  # type: ignore[attr-defined]
    assert (info.announced_idle_timeout, info.announced_max) == (5.0, 99)


def test_a_read_timeout_on_a_reused_connection_carries_its_facts(
    server: Server,
) -> None:
    server.handler = lambda r: Reply(never_answer=r.path == "/slow")
    with ManagedSession(timeout=Timeout(connect=5, read=0.3, total=30)) as session:
        assert session.get(server.url).ok
        with pytest.raises(requests.ReadTimeout) as caught:
            session.get(server.url + "/slow")
    error = caught.value
    assert type(error) is requests.ReadTimeout
    assert str(error).startswith(f"timed out (GET {server.url}/slow; reused connection")
    assert "failed while waiting for the response (read timeout 0.3 s)" in str(error)
    assert "Read timed out." in str(error)
    assert "Read timed out" in error.args[0].args[0]  # as requests' tests read it
    info = error.connection_info  # type: ignore[attr-defined]
    assert info.reused and not info.stale
    assert info.requests_served == 1
    assert (info.phase, info.bound_name, info.bound) == ("read", "read", 0.3)
    assert info.not_replayed is None


@pytest.mark.parametrize("stream", [False, True])
def test_a_deadline_during_the_body_carries_its_facts(
    server: Server, stream: bool
) -> None:
    server.handler = lambda r: Reply(dribble=0.05)
    timeout = Timeout(connect=5, read=5, total=0.5)
    with (
        ManagedSession(timeout=timeout) as session,
        pytest.raises(DeadlineExceeded) as caught,
        session.get(server.url + "/body", stream=stream) as response,
    ):
        for _ in response.iter_content(64):
            pass
    error = caught.value
    assert str(error).startswith(f"total deadline passed (GET {server.url}/body; ")
    assert "failed while reading the response body (total deadline 0.5 s)" in str(error)
    info = error.connection_info  # type: ignore[attr-defined]
    assert not info.reused and info.age is not None
    assert (info.phase, info.bound_name, info.bound) == ("body", "total", 0.5)


def _cut_until_a_third_connection(request: Request) -> Reply:
    # the second request on the first connection, and the first on the
    # second (the replay), are cut off unanswered
    if (request.connection_id, request.index_on_connection) in ((1, 2), (2, 1)):
        return Reply(raw=b"")
    return Reply()


def test_a_replay_that_fails_too_says_it_was_replayed(server: Server) -> None:
    server.handler = _cut_until_a_third_connection
    with ManagedSession() as session:
        assert session.get(server.url).ok
        with pytest.raises(requests.ConnectionError) as caught:
            session.get(server.url + "/again")
    info = caught.value.connection_info  # type: ignore[attr-defined]
    assert info.replayed and not info.reused  # the facts of the new connection
    assert "replayed once on a new connection, which failed too" in str(caught.value)
    assert server.connections_opened == 2


def test_a_refused_connect_says_it_never_connected() -> None:
    with (
        Server(listen=False) as closed,
        ManagedSession() as session,
        pytest.raises(requests.ConnectionError) as caught,
    ):
        session.get(closed.url + "/x")
    info = caught.value.connection_info  # type: ignore[attr-defined]
    assert not info.reused and info.age is None and info.idle is None
    assert (info.phase, info.bound_name, info.bound) == ("connect", "connect", 5.0)
    assert "new connection, never connected; failed while connecting" in str(
        caught.value
    )


def test_a_request_that_got_no_connection_has_no_connection_info(
    server: Server,
) -> None:
    limits = PoolLimits(max_per_host=1, wait_timeout=0.05)
    with (
        ManagedSession(limits=limits) as session,
        session.get(server.url, stream=True),
        pytest.raises(PoolTimeout) as caught,
    ):
        session.get(server.url)
    assert getattr(caught.value, "connection_info", None) is None


def test_a_diagnosed_error_survives_pickle() -> None:
    with (
        Server(idle_close_after=0.2, idle_close_race=True) as server,
        ManagedSession() as session,
    ):
        error = _stale_post(server, session)
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error) and str(clone) == str(error)
    assert clone.connection_info == error.connection_info  # type: ignore[attr-defined]


def test_connection_info_reads_as_one_sentence() -> None:
    info = ConnectionInfo(
        method="POST",
        url="http://api/items",
        reused=True,
        age=12.4,
        idle=2.01,
        requests_served=37,
        learned_idle_timeout=2.0,
        phase="read",
        bound_name="read",
        bound=30.0,
        stale=True,
        not_replayed="POST is not idempotent",
    )
    assert str(info) == (
        "POST http://api/items; reused connection, age 12.4 s, idle 2.01 s, "
        "37 requests served; server idle timeout learned \u2248 2 s; failed while "
        "waiting for the response (read timeout 30 s); not replayed: POST is "
        "not idempotent"
    )
