"""Responses dropped unclosed are reported at the caller's line and closed."""

from __future__ import annotations

import gc
import inspect
import logging
import os
import re
import subprocess
import sys

import pytest

from requests_managed import CloseReason, ConnectionLeakWarning, ManagedSession

from .forking import in_child
from .server import Reply, Server


def test_dropped_stream_warns_with_callers_line_and_closes(server: Server) -> None:
    server.handler = lambda request: Reply(body=b"x" * 200_000)
    with ManagedSession() as session:
        response = session.get(server.url, stream=True)
        line = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
        with pytest.warns(ConnectionLeakWarning) as record:
            del response
            gc.collect()
        assert record[0].filename == __file__
        assert record[0].lineno == line
        assert f"{__file__}:{line}" in str(record[0].message)
        stats = session.pool_stats().total
        assert stats.open == 0
        assert stats.closed == {CloseReason.UNREAD_BODY: 1}
    assert server.wait_for(lambda: server.open_connections() == 0)


def test_consumed_or_closed_streams_do_not_warn(server: Server) -> None:
    with ManagedSession() as session:
        response = session.get(server.url, stream=True)
        assert response.content == b"ok"
        del response
        closed = session.get(server.url, stream=True)
        closed.close()
        del closed
        gc.collect()  # filterwarnings=error: any warning fails the test
        assert session.pool_stats().total.reuses == 1


def _leak(session: ManagedSession, url: str) -> int:
    """Drop a streamed response unclosed; returns the line that requested it."""
    response = session.get(url, stream=True)
    line = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
    with pytest.warns(ConnectionLeakWarning):  # the warning stays
        del response
        gc.collect()
    return line


def _leak_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "requests_managed" and "connection leak" in r.getMessage()
    ]


def test_each_leaking_line_is_logged_once_at_warning_with_the_count(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.handler = lambda request: Reply(body=b"x" * 200_000)
    caplog.set_level(logging.DEBUG, logger="requests_managed")
    lines = []
    with ManagedSession() as session:
        for _ in range(3):  # one line (that no other test uses), three leaks
            response = session.get(server.url, stream=True)
            lines.append(inspect.currentframe().f_lineno - 1)  # type: ignore[union-attr]
            with pytest.warns(ConnectionLeakWarning):  # the warning stays
                del response
                gc.collect()
        response = session.get(server.url, stream=True)  # a second leaking line
        other = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
        with pytest.warns(ConnectionLeakWarning):
            del response
            gc.collect()
    (line,) = set(lines)
    records = _leak_records(caplog)
    assert [r.levelno for r in records] == [
        logging.WARNING,
        logging.DEBUG,
        logging.DEBUG,
        logging.WARNING,
    ]
    messages = [r.getMessage() for r in records]
    assert all(f"{__file__}:{line} " in m for m in messages[:3])
    assert f"{__file__}:{other} " in messages[3]
    assert [re.search(r"(\d+) from this line", m).group(1) for m in messages] == [  # type: ignore[union-attr]
        "1",
        "2",
        "3",
        "1",
    ]
    assert "later ones from this line are logged at DEBUG" in messages[0]


def test_leak_log_shows_with_default_logging_while_the_warning_is_hidden(
    server: Server,
) -> None:
    """No -X dev, no -W: the ResourceWarning is filtered out, the log shows."""
    script = f"""
import gc, logging
from requests_managed import ManagedSession
logging.basicConfig(format="%(levelname)s %(name)s %(message)s")
with ManagedSession() as session:
    response = session.get({server.url!r}, stream=True)
    del response
    gc.collect()
"""
    server.handler = lambda request: Reply(body=b"x" * 200_000)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "", "PYTHONDEVMODE": ""},
    )
    assert "ConnectionLeakWarning" not in result.stderr  # hidden by default
    (line,) = result.stderr.splitlines()
    assert line.startswith("WARNING requests_managed connection leak:")
    assert "<string>:6 " in line and "1 from this line" in line


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
# Python 3.12+ warns about fork() in a process with threads (our server's)
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_logs_its_own_first_leak_at_warning(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.handler = lambda request: Reply(body=b"x" * 200_000)
    caplog.set_level(logging.DEBUG, logger="requests_managed")
    with ManagedSession() as session:
        _leak(session, server.url)  # the parent's first leak from that line

        def child() -> str:  # its level for the same line
            caplog.clear()
            with ManagedSession() as child_session:
                _leak(child_session, server.url)
            return ",".join(r.levelname for r in _leak_records(caplog))

        child_levels = in_child(child)
        _leak(session, server.url)
    assert child_levels == "WARNING"
    assert [r.levelno for r in _leak_records(caplog)][-1] == logging.DEBUG
