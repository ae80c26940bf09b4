"""pytest plugin: run a library's test suite (responses, vcrpy) plain or managed.

Loaded with ``-p library_plugin`` by ``run_library_suites.sh``, in both runs of
each library, so the two differ only in ``install()``. Environment:

``LIBRARY_MODE``
    ``plain``: nothing of requests_managed is active (the baseline).
    ``installed``: ``requests_managed.install()`` is called at session start,
    before collection, and ``uninstall()`` at the end, so every
    ``requests.Session()`` / ``requests.get(...)`` in the library and its
    tests makes a ``ManagedSession``; each test checks first that this is
    still so.
``LIBRARY_OUTCOMES``
    a file to write ``{node id: [outcome, message]}`` to at the end (JSON);
    ``compare_library_outcomes.py`` compares the two runs. Outcomes:
    passed, failed, error (setup or teardown failed), skipped, xfailed, xpassed.
``LIBRARY_DESELECT``
    optional: a list of tests to deselect in both runs (one node id per line,
    then ``  # reason``, as in ``expected_differences.txt``); an entry without
    a reason, listed twice, or naming a test that was not collected fails
    the run, so the list cannot go stale.

In both runs every name lookup but loopback names is answered "unknown name"
(``socket.gaierror``), as on a machine without DNS, and each lookup is listed
at the end with the test that made it; pytest-socket's ``--allow-hosts``
refuses connections beyond loopback. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import offline
import pytest
import reason_lists
import requests
import requests.sessions

MODE = os.environ.get("LIBRARY_MODE", "")
if MODE not in ("plain", "installed"):
    raise RuntimeError(f"LIBRARY_MODE must be 'plain' or 'installed', got {MODE!r}")


def read_list(path: pathlib.Path) -> dict[str, str]:
    """Node id -> reason, from a list in expected_differences.txt's format."""
    return reason_lists.read(path, _usage_error)


def _usage_error(message: str) -> NoReturn:
    raise pytest.UsageError(message)


_LOOKUPS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex")
_saved_lookups: dict[str, Callable[..., Any]] = {}
_refused: list[tuple[str, str]] = []  # (test node id, host)
_current_test = ""
# node id -> [outcome, message]
_outcomes: dict[str, list[str]] = {}


def _guard(lookup: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(host: object, *args: Any, **kwargs: Any) -> Any:
        if not offline.is_loopback(host):
            _refused.append((_current_test, repr(host)))
            raise socket.gaierror(socket.EAI_NONAME, "offline run: not resolved")
        return lookup(host, *args, **kwargs)

    return guarded


def pytest_sessionstart(session: pytest.Session) -> None:
    for name in _LOOKUPS:
        _saved_lookups[name] = getattr(socket, name)
        setattr(socket, name, _guard(_saved_lookups[name]))
    if MODE == "installed":
        import requests_managed

        # Before collection, so test modules see managed sessions at import too.
        requests_managed.install()
        _assert_managed()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if MODE == "installed":
        import requests_managed

        requests_managed.uninstall()
    else:
        # The baseline must be plain requests: nothing may have imported us.
        # (Not an assert in a hook: recorded, and the comparison fails on it.)
        if "requests_managed" in sys.modules:
            _outcomes["<plain run imported requests_managed>"] = ["error", ""]
    for name, lookup in _saved_lookups.items():
        setattr(socket, name, lookup)
    _saved_lookups.clear()
    target = os.environ.get("LIBRARY_OUTCOMES")
    if target:
        pathlib.Path(target).write_text(
            json.dumps(_outcomes, indent=0, sort_keys=True), encoding="utf-8"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    listed = os.environ.get("LIBRARY_DESELECT")
    if not listed:
        return
    path = pathlib.Path(listed)
    deselect = read_list(path)
    collected = {item.nodeid for item in items}
    stale = sorted(set(deselect) - collected)
    if stale:
        raise pytest.UsageError(
            f"{path.name} lists tests that were not collected "
            f"(renamed or removed upstream?): {', '.join(stale)}"
        )
    drop = [item for item in items if item.nodeid in deselect]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if item.nodeid not in deselect]


def _message(report: Any) -> str:
    """One line saying why: the crash message, or the skip reason."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        text = str(crash.message)
    elif isinstance(longrepr, tuple):  # a skip: (file, line, reason)
        text = str(longrepr[2])
    else:
        text = str(longrepr or "")
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[0] if crash is not None else lines[-1])[:300] if lines else ""


def pytest_collectreport(report: pytest.CollectReport) -> None:
    node = report.nodeid or "<collection>"
    if report.failed:
        _outcomes[node] = ["error", "collection: " + _message(report)]
    elif report.skipped:  # a whole module skipped (importorskip)
        _outcomes[node] = ["skipped", "collection: " + _message(report)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    node = report.nodeid
    previous = _outcomes.get(node)
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
    elif report.when == "call":
        outcome = "passed"
    else:
        return  # a passing setup or teardown adds nothing
    if previous is not None and previous[0] in ("failed", "error"):
        return  # keep the first failure (a teardown error after a failed call)
    _outcomes[node] = [outcome, "" if outcome == "passed" else _message(report)]


@pytest.fixture(autouse=True)
def _library_mode(request: pytest.FixtureRequest) -> Iterator[None]:
    global _current_test
    _current_test = request.node.nodeid
    if MODE == "installed":
        _assert_managed()
    yield


def _assert_managed() -> None:
    """Mechanical proof that what requests makes now is a ManagedSession.

    Checked on the sessions made, not on the names: depending on the
    version, install() rebinds ``requests.Session`` or patches requests'
    own class so that it makes managed sessions.
    """
    from requests_managed import ManagedSession

    for make in (requests.Session, requests.sessions.Session, requests.session):
        session = make()
        try:
            assert isinstance(session, ManagedSession), (make, type(session))
        finally:
            session.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _refused:
        terminalreporter.section("name lookups answered 'unknown' (offline run)")
        for node_id, host in _refused:
            terminalreporter.line(f"{node_id}: {host}")


def pytest_report_header(config: pytest.Config) -> str:
    if MODE == "installed":
        import requests_managed

        return (
            f"requests {requests.__version__}: INSTALLED, requests.Session = "
            f"ManagedSession (requests_managed {requests_managed.__version__})"
        )
    return f"requests {requests.__version__}: PLAIN, requests.Session unchanged"
