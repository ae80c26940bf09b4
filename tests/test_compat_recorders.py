"""ManagedSession with the libraries that sit at urllib3's level or wrap the
adapter: vcrpy (records and replays), CacheControl (a caching adapter) and
docker (a library that waits on purpose, kept plain by install(exclude=)).

Each test would fail if the management switched itself off or hid the
library: the recorded server is stopped before the replay, the cached URL
counts its requests, the slow Docker API answers after the installed read
timeout.
"""

from __future__ import annotations

import email.utils
import json
import pathlib
from collections.abc import Iterator

import pytest
import requests

from requests_managed import ManagedSession, Timeout, installed

from .compat import require
from .server import Reply, Request, Server

vcr = require("vcr", "vcrpy")
cachecontrol = require("cachecontrol", "CacheControl")
docker = require("docker", "docker")


@pytest.fixture
def cassette(tmp_path: pathlib.Path) -> str:
    return str(tmp_path / "cassette.yaml")


# -- vcrpy -----------------------------------------------------------------------


def test_vcrpy_records_and_replays_a_managed_session(cassette: str) -> None:
    with Server(lambda request: Reply(body=b"recorded body")) as server:
        url = f"{server.url}/items"
        with vcr.use_cassette(cassette) as recorded, ManagedSession() as session:
            assert session.get(url).text == "recorded body"
            assert session.pool_stats().total.requests == 1
        assert len(recorded) == 1
        assert server.requests_served == 1
    # the server is gone: only the cassette can answer now
    with vcr.use_cassette(cassette) as replayed, ManagedSession() as session:
        assert session.get(url).text == "recorded body"
    assert replayed.play_count == 1


def test_vcrpy_replays_requests_get_under_install(cassette: str) -> None:
    with Server(lambda request: Reply(body=b"from the server")) as server:
        url = f"{server.url}/x"
        with installed(), vcr.use_cassette(cassette) as recorded:
            response = requests.get(url)
            assert type(response.connection).__name__ == "ManagedAdapter"
            assert response.text == "from the server"
        assert len(recorded) == 1
    with installed(), vcr.use_cassette(cassette) as replayed:
        assert requests.get(url).text == "from the server"
    assert replayed.play_count == 1


def test_vcrpy_cassettes_are_the_same_as_plain_requests_ones(cassette: str) -> None:
    """A cassette recorded by plain requests replays in a ManagedSession."""
    with Server(lambda request: Reply(body=b"plain")) as server:
        url = f"{server.url}/p"
        with vcr.use_cassette(cassette), requests.Session() as plain:
            assert plain.get(url).text == "plain"
    with vcr.use_cassette(cassette) as replayed, ManagedSession() as session:
        assert session.get(url).text == "plain"
    assert replayed.play_count == 1


def test_vcrpy_covers_a_session_made_before_the_cassette(cassette: str) -> None:
    """The connection kept from before the cassette is not used inside it:
    the request goes through vcrpy's connection class."""
    with Server(lambda request: Reply(body=b"live")) as server, ManagedSession() as s:
        url = f"{server.url}/y"
        assert s.get(url).text == "live"  # an idle connection, made before
        with vcr.use_cassette(cassette) as recorded:
            assert s.get(url).text == "live"
        assert len(recorded) == 1
        served = server.requests_served
    with vcr.use_cassette(cassette), ManagedSession() as again:
        assert again.get(url).text == "live"
    assert served == 2


# -- CacheControl ----------------------------------------------------------------


def test_cachecontrol_serves_the_second_get_from_cache_and_counts_the_first(
    server: Server,
) -> None:
    # CacheControl needs a Date to judge freshness
    server.handler = lambda request: Reply(
        body=b"cache me",
        headers=[
            ("Cache-Control", "max-age=3600"),
            ("Date", email.utils.formatdate(usegmt=True)),
        ],
    )
    with cachecontrol.CacheControl(ManagedSession()) as session:
        first = session.get(server.url)
        second = session.get(server.url)
        stats = session.pool_stats()
    assert (first.text, second.text) == ("cache me", "cache me")
    assert getattr(second, "from_cache", False) is True
    assert server.requests_served == 1
    assert stats.for_url(server.url).requests == 1  # the adapter is managed
    assert not stats.unmanaged


# -- docker: a library that waits on purpose --------------------------------------


@pytest.fixture
def docker_api() -> Iterator[Server]:
    """A loopback stand-in for the Docker Engine API: /containers/ID/wait
    answers after 2 s (10x the installed read timeout below)."""

    def handle(request: Request) -> Reply:
        if request.path.endswith("/wait"):
            body = json.dumps({"StatusCode": 0, "Error": None}).encode()
            return Reply(
                body=body, delay=2.0, headers=[("Content-Type", "application/json")]
            )
        return Reply(status=404, body=b"{}")

    with Server(handle) as srv:
        yield srv


def test_install_exclude_keeps_dockers_wait_unbounded_and_others_managed(
    docker_api: Server,
) -> None:
    short = Timeout(connect=1, read=0.2, total=1)
    with installed(timeout=short, exclude=["docker"]):
        client = docker.APIClient(
            base_url=f"tcp://127.0.0.1:{docker_api.port}", version="1.41"
        )
        with client:
            assert not isinstance(client, ManagedSession)
            assert client.wait("abc123") == {"StatusCode": 0, "Error": None}
        # the same process, another library's session: managed, so cut short
        with requests.Session() as other:
            assert isinstance(other, ManagedSession)
            with pytest.raises(requests.exceptions.ReadTimeout):
                other.post(f"{docker_api.url}/containers/abc123/wait")


def test_without_exclude_the_installed_read_timeout_cuts_dockers_wait(
    docker_api: Server,
) -> None:
    """The reason for exclude=: docker passes timeout=None to mean 'wait'."""
    with installed(timeout=Timeout(connect=1, read=0.2, total=1)):
        client = docker.APIClient(
            base_url=f"tcp://127.0.0.1:{docker_api.port}", version="1.41"
        )
        with client, pytest.raises(requests.exceptions.ReadTimeout):
            client.wait("abc123")
