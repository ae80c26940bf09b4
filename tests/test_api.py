"""Module-level get/post/...: requests' helpers, with a one-shot ManagedSession."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator

import pytest
import requests

import requests_managed
from requests_managed import InvalidTimeout, ManagedSession, Timeout
from requests_managed._adapter import ManagedAdapter

from .conftest import open_fds
from .server import Reply, Request, Server

NAMES = ["get", "post", "put", "patch", "delete", "head", "options"]


def echo(request: Request) -> Reply:
    if request.path == "/redirect":
        return Reply(status=302, headers=[("Location", "/")], body=b"")
    info = {
        "method": request.method,
        "target": request.target,
        "body": request.body.decode(),
        "type": request.headers.get("content-type"),
    }
    return Reply(body=json.dumps(info).encode())


@pytest.fixture
def echo_server() -> Iterator[Server]:
    with Server(echo) as srv:
        yield srv


def closed_all(server: Server) -> bool:
    return server.wait_for(
        lambda: server.connections_opened > 0 and server.open_connections() == 0
    )


@pytest.mark.parametrize("name", NAMES)
def test_helper_sends_its_method_and_closes_the_connection(
    name: str, echo_server: Server
) -> None:
    helper: Callable[..., requests.Response] = getattr(requests_managed, name)
    response = helper(echo_server.url)
    assert response.status_code == 200
    assert isinstance(response.connection, ManagedAdapter)
    assert echo_server.requests[-1].method == name.upper()
    assert closed_all(echo_server)


def test_request_takes_any_method(echo_server: Server) -> None:
    response = requests_managed.request("PURGE", echo_server.url + "/x")
    assert response.json()["method"] == "PURGE"
    assert closed_all(echo_server)


def test_arguments_reach_the_server_as_with_requests(echo_server: Server) -> None:
    url = echo_server.url
    got = requests_managed.get(url, {"q": "1"}).json()
    assert got["target"] == "/?q=1"
    got = requests_managed.post(url, {"a": "b"}).json()
    assert (got["body"], got["type"]) == ("a=b", "application/x-www-form-urlencoded")
    got = requests_managed.post(url, json={"k": [1]}).json()
    assert (json.loads(got["body"]), got["type"]) == ({"k": [1]}, "application/json")
    assert requests_managed.put(url, b"raw").json()["body"] == "raw"
    assert requests_managed.patch(url, "text").json()["body"] == "text"
    got = requests_managed.delete(url, params={"id": "7"}).json()
    assert got["target"] == "/?id=7"


def test_head_does_not_follow_redirects_by_default_get_does(
    echo_server: Server,
) -> None:
    url = echo_server.url + "/redirect"
    assert requests_managed.head(url).status_code == 302
    assert requests_managed.head(url, allow_redirects=True).status_code == 200
    assert requests_managed.get(url).status_code == 200
    assert requests.head(url).status_code == 302  # the behaviour we mirror


def test_each_call_opens_and_closes_its_own_connection(echo_server: Server) -> None:
    before = open_fds()
    for _ in range(20):
        assert requests_managed.get(echo_server.url).status_code == 200
    assert echo_server.wait_for(lambda: echo_server.open_connections() == 0)
    assert echo_server.connections_opened == 20
    assert echo_server.requests_per_connection() == {n: 1 for n in range(1, 21)}
    assert open_fds() <= before


def test_stream_keeps_its_connection_until_closed() -> None:
    body = b"x" * 1_000_000
    with Server(lambda request: Reply(body=body)) as srv:
        with requests_managed.get(srv.url, stream=True) as response:
            assert srv.open_connections() == 1
            assert response.raw.read(1000) == body[:1000]
        assert closed_all(srv)


def test_stream_read_to_the_end_closes_its_connection_without_close() -> None:
    body = b"y" * 200_000
    with Server(lambda request: Reply(body=body)) as srv:
        response = requests_managed.get(srv.url, stream=True)
        assert b"".join(response.iter_content(65536)) == body
        # released to a session that is already closed: closed, not pooled
        assert closed_all(srv)
        response.close()


def test_default_timeout_applies_and_a_timeout_object_is_accepted() -> None:
    with (
        Server(lambda request: Reply(never_answer=True)) as srv,
        pytest.raises(requests.exceptions.ReadTimeout),
    ):
        requests_managed.get(srv.url, timeout=Timeout(connect=1, read=0.3))
    with (
        Server(lambda request: Reply(never_answer=True)) as srv,
        pytest.raises(requests.exceptions.ReadTimeout),
    ):
        requests_managed.post(srv.url, b"data", timeout=(1, 0.3))


@pytest.mark.parametrize(
    "timeout", [-1, 0, (1, 2, 3), "10", True, float("inf")], ids=repr
)
def test_bad_timeout_raises_what_managed_session_raises(
    timeout: object, server: Server
) -> None:
    with ManagedSession() as session, pytest.raises(InvalidTimeout) as expected:
        session.get(server.url, timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(InvalidTimeout) as got:
        requests_managed.get(server.url, timeout=timeout)  # type: ignore[arg-type]
    assert str(got.value) == str(expected.value)
    assert server.connections_opened == 0


def test_unknown_keyword_fails_like_requests(server: Server) -> None:
    with pytest.raises(TypeError) as expected:
        requests.get(server.url, colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError) as got:
        requests_managed.get(server.url, colour="red")  # type: ignore[call-arg]
    assert "colour" in str(got.value)
    assert "colour" in str(expected.value)


def test_connection_errors_are_requests_own() -> None:
    with Server(listen=False) as srv, pytest.raises(requests.ConnectionError):
        requests_managed.get(srv.url, timeout=2)


@pytest.mark.parametrize("name", [*NAMES, "request"])
def test_positional_parameters_match_requests(name: str) -> None:
    ours = inspect.signature(getattr(requests_managed, name)).parameters
    theirs = inspect.signature(getattr(requests, name)).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]


def test_helpers_work_while_installed(server: Server) -> None:
    with requests_managed.installed(timeout=2):
        assert requests_managed.get(server.url).text == "ok"
    assert closed_all(server)
