"""pytest plugin: run requests' own test suite with ``requests.Session`` managed.

Loaded with ``-p managed_plugin`` by ``run_requests_suite.sh``. For the whole
run it:

- calls ``requests_managed.install()`` at session start and ``uninstall()`` at
  the end, so every ``requests.Session()``, ``requests.session()`` and
  ``requests.get(...)`` in requests' tests is a ``ManagedSession`` with the
  default configuration; each test checks first that this is still so;
- deselects the tests listed in ``expected_differences.txt`` (one node id per
  line, then ``  # reason``), and in the files that ``MANAGED_DIFFERENCES``
  names (separated by ``os.pathsep``; ``run_requests_suite.sh`` adds the one
  for its combination), and fails the run if an entry has no reason, is
  listed twice or names a test that was not collected, so no list can go
  stale;
- answers every name lookup but loopback names with "unknown name"
  (``socket.gaierror``), as a machine without DNS would, and lists those
  lookups at the end; connections beyond loopback are refused by
  pytest-socket's ``--allow-hosts``. Nothing leaves the machine.

``--managed-differences=only`` runs just the listed tests instead, to see
which still differ.
"""

from __future__ import annotations

import os
import pathlib
import socket
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import offline
import pytest
import reason_lists
import requests
import requests.sessions

import requests_managed
from requests_managed._install import InstalledSession

DIFFERENCES = pathlib.Path(__file__).with_name("expected_differences.txt")


def difference_files() -> list[pathlib.Path]:
    """The expected-differences files of this run, the common one first."""
    listed = os.environ.get("MANAGED_DIFFERENCES", "")
    files = [pathlib.Path(entry) for entry in listed.split(os.pathsep) if entry]
    if not any(f.resolve() == DIFFERENCES.resolve() for f in files):
        files.insert(0, DIFFERENCES)
    return files


def read_differences(path: pathlib.Path = DIFFERENCES) -> dict[str, str]:
    """Node id -> reason, from the expected-differences file."""
    return reason_lists.read(path, _usage_error)


def _usage_error(message: str) -> NoReturn:
    raise pytest.UsageError(message)


def read_all_differences() -> dict[str, str]:
    """Node id -> reason, from every file of this run; an id in two is an error."""
    differences: dict[str, str] = {}
    for path in difference_files():
        for node_id, reason in read_differences(path).items():
            if node_id in differences:
                raise pytest.UsageError(
                    f"{path.name}: {node_id!r} is already listed in another "
                    "expected-differences file"
                )
            differences[node_id] = reason
    return differences


# (test node id, host) of every lookup answered "unknown name"
_refused: list[tuple[str, str]] = []
_current_test = ""


def _guard(lookup: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(host: object, *args: Any, **kwargs: Any) -> Any:
        if not offline.is_loopback(host):
            # What an offline resolver says (NXDOMAIN). A test that expects
            # the name to resolve fails, and belongs in the list as "needs
            # the internet"; one that expects it not to resolve (an unknown
            # domain raises ConnectionError) is tested as it is meant to be.
            _refused.append((_current_test, repr(host)))
            raise socket.gaierror(socket.EAI_NONAME, "offline run: not resolved")
        return lookup(host, *args, **kwargs)

    return guarded


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--managed-differences",
        choices=("deselect", "only"),
        default="deselect",
        help="deselect the tests in expected_differences.txt (default), "
        "or run only them",
    )


_LOOKUPS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex")
_saved_lookups: dict[str, Callable[..., Any]] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    for name in _LOOKUPS:
        _saved_lookups[name] = getattr(socket, name)
        setattr(socket, name, _guard(_saved_lookups[name]))
    # Before collection, so test modules see the managed class at import too.
    requests_managed.install()
    assert type(requests.Session()) is InstalledSession


def pytest_sessionfinish(session: pytest.Session) -> None:
    requests_managed.uninstall()
    for name, lookup in _saved_lookups.items():
        setattr(socket, name, lookup)
    _saved_lookups.clear()


# First, so that the stale-entry check sees every collected test, before
# -k / -m deselect some.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    differences = read_all_differences()
    collected = {item.nodeid for item in items}
    stale = sorted(set(differences) - collected)
    if stale:
        names = ", ".join(path.name for path in difference_files())
        raise pytest.UsageError(
            f"{names} list tests that were not collected "
            f"(renamed or removed upstream?): {', '.join(stale)}"
        )
    only = config.getoption("managed_differences") == "only"
    keep = [item for item in items if (item.nodeid in differences) == only]
    drop = [item for item in items if (item.nodeid in differences) != only]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _managed_session_installed(request: pytest.FixtureRequest) -> Iterator[None]:
    global _current_test
    _current_test = request.node.nodeid
    # Mechanical proof that the test ran against ManagedSession.
    for name in (requests.Session, requests.sessions.Session):
        made = type(name())
        assert made is InstalledSession, made
    yield


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _refused:
        terminalreporter.section("name lookups answered 'unknown' (offline run)")
        for node_id, host in _refused:
            terminalreporter.line(f"{node_id}: {host}")


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"requests {requests.__version__} with requests.Session = "
        f"ManagedSession (requests_managed {requests_managed.__version__}); "
        f"{len(read_all_differences())} expected differences "
        f"({', '.join(path.name for path in difference_files())})"
    )
