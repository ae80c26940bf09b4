"""Responses dropped unclosed are reported at the caller's line and closed."""

from __future__ import annotations

import gc
import inspect

import pytest

from requests_managed import CloseReason, ConnectionLeakWarning, ManagedSession

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
