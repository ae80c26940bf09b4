"""ManagedSession under the mock libraries: responses and requests-mock.

Each test fails if a mock stops intercepting: the mocked URL is a real,
listening loopback server, which counts any connection that slips past.
"""

from __future__ import annotations

import pytest
import requests

from requests_managed import ManagedSession, Timeout

from .compat import require
from .server import Server

responses = require("responses", "responses")
requests_mock = require("requests_mock", "requests-mock")

# -- responses -----------------------------------------------------------------


@responses.activate
def test_responses_decorator_intercepts_managed_requests(server: Server) -> None:
    # The mocked URL is a real, listening server: a request that slipped past
    # the mock would be served (and counted) there.
    responses.add(responses.GET, f"{server.url}/items", json={"n": 1})
    with ManagedSession(timeout=Timeout(connect=2, read=7, total=60)) as session:
        assert session.get(f"{server.url}/items").json() == {"n": 1}
        # the management sits around the patched HTTPAdapter.send
        assert session.pool_stats().total.opened == 0
    assert len(responses.calls) == 1
    assert responses.calls[0].request.req_kwargs["timeout"] == (2.0, 7.0)
    assert server.connections_opened == 0


def test_responses_mock_context_intercepts_managed_requests(server: Server) -> None:
    with responses.RequestsMock() as mock, ManagedSession() as session:
        mock.add(responses.POST, f"{server.url}/items", status=201, body="made")
        mock.add(responses.GET, f"{server.url}/items/1", body="one")
        assert session.post(f"{server.url}/items", json={"a": 1}).status_code == 201
        assert session.get(f"{server.url}/items/1").text == "one"
        assert [c.request.method for c in mock.calls] == ["POST", "GET"]
        assert mock.calls[0].request.body == b'{"a": 1}'
        assert mock.calls[1].request.req_kwargs["timeout"] == (5.0, 30.0)
    # leaving the RequestsMock block asserted that every mock was used
    assert server.connections_opened == 0


def test_responses_unmatched_url_fails_instead_of_reaching_the_server(
    server: Server,
) -> None:
    with responses.RequestsMock() as mock, ManagedSession() as session:
        mock.add(responses.GET, f"{server.url}/known", body="x")
        with pytest.raises(requests.ConnectionError, match="Connection refused by"):
            session.get(f"{server.url}/unknown")
        session.get(f"{server.url}/known")
    assert server.connections_opened == 0


# -- requests-mock -------------------------------------------------------------


def test_requests_mock_mocker_intercepts_managed_requests(server: Server) -> None:
    with (
        requests_mock.Mocker() as mocker,
        ManagedSession(timeout=Timeout(connect=2, read=7, total=60)) as session,
    ):
        mocker.get(f"{server.url}/items", json={"n": 2})
        assert session.get(f"{server.url}/items").json() == {"n": 2}
        assert mocker.call_count == 1
        assert mocker.last_request.timeout == (2.0, 7.0)
    assert server.connections_opened == 0


def test_requests_mock_adapter_mounted_on_a_managed_session(server: Server) -> None:
    adapter = requests_mock.Adapter()
    adapter.register_uri("GET", f"{server.url}/mocked", text="mounted")
    with ManagedSession() as session:
        session.mount(f"{server.url}/mocked", adapter)
        assert session.get(f"{server.url}/mocked").text == "mounted"
        assert adapter.last_request is not None
        assert adapter.last_request.timeout == (5.0, 30.0)
        assert server.connections_opened == 0
        # other URLs of the same host still go through the managed adapter
        assert session.get(f"{server.url}/real").text == "ok"
        assert session.pool_stats().total.requests == 1
    assert server.connections_opened == 1
    assert [r.path for r in server.requests] == ["/real"]


class _DefinedBeforeInstall(requests.Session):
    """A library's subclass, defined before install()."""


def test_requests_mock_under_install_covers_every_session(server: Server) -> None:
    """requests_mock.Mocker() patches requests' Session class: while install()
    is active that covers an explicit ManagedSession, a session made before
    install(), a subclass defined before it and one install() made."""
    from requests_managed import installed, uninstall

    before = requests.Session()
    try:
        with installed(timeout=Timeout(connect=2, read=2)):
            sessions = [
                ManagedSession(),
                before,
                _DefinedBeforeInstall(),
                requests.Session(),
            ]
            assert isinstance(sessions[2], ManagedSession)
            with requests_mock.Mocker() as mocker:
                mocker.get(f"{server.url}/items", text="mocked")
                texts = [s.get(f"{server.url}/items").text for s in sessions]
                helper = requests.get(f"{server.url}/items").text
            assert texts == ["mocked"] * 4
            assert helper == "mocked"
            assert mocker.call_count == 5
    finally:
        uninstall()
        for session in [before, *locals().get("sessions", [])]:
            session.close()
    assert server.connections_opened == 0


_MOCK_FIRST = """
import sys
import requests_mock

url = sys.argv[1]
with requests_mock.Mocker() as mocker:
    mocker.get(url, text="mocked")
    # first imported while the mock patches requests.Session.send
    from requests_managed import ManagedSession

    with ManagedSession() as session:
        print(session.get(url, timeout=10).text)
"""


def test_requests_mock_active_when_the_library_is_first_imported_intercepts(
    server: Server,
) -> None:
    # a test that imports the code under test inside the mock's block: the
    # send shortcut must not take the mock's send for requests' own
    import os
    import subprocess
    import sys

    import requests_managed

    source = os.path.dirname(os.path.dirname(requests_managed.__file__))
    path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", _MOCK_FIRST, f"{server.url}/items"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.stdout.strip() == "mocked"
    assert server.connections_opened == 0
