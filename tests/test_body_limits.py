"""max_body_bytes: decoded bytes, while streaming and in .content."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest
import requests

from requests_managed import CloseReason, ManagedSession, ResponseTooLarge

from .server import Reply, Server

LIMIT = 100_000


def test_a_body_past_the_session_limit_raises_response_too_large(
    server: Server,
) -> None:
    server.handler = lambda r: Reply(body=b"x" * (LIMIT + 1))
    with ManagedSession(max_body_bytes=LIMIT) as session:
        with pytest.raises(ResponseTooLarge, match="max_body_bytes=100000"):
            session.get(server.url)
        server.handler = lambda r: Reply(body=b"x" * LIMIT)
        assert len(session.get(server.url).content) == LIMIT  # at the limit: fine
        server.handler = lambda r: Reply(body=b"x" * (20 * LIMIT))
        with pytest.raises(ResponseTooLarge):
            session.get(server.url)
        # the rest of a large body is not read: its connection is closed
        closed = session.pool_stats().total.closed
        assert closed == {CloseReason.UNREAD_BODY: 1}


@pytest.mark.parametrize("chunked", [False, True])
def test_a_request_limit_applies_while_streaming(server: Server, chunked: bool) -> None:
    server.handler = lambda r: Reply(body=b"x" * (4 * LIMIT), chunked=chunked)
    with ManagedSession() as session:
        with (
            pytest.raises(ResponseTooLarge),
            session.get(server.url, stream=True, max_body_bytes=LIMIT) as r,
        ):
            for _ in r.iter_content(8192):
                pass
        # the next request has no limit: the session default (None) applies
        assert len(session.get(server.url).content) == 4 * LIMIT


def test_a_gzip_bomb_stops_at_the_limit_without_filling_memory(
    server: Server,
) -> None:
    # 256 MiB of zeros compress to about 250 KiB; .content without a limit
    # would hold all of it decoded.
    bomb = gzip.compress(b"\0" * (256 << 20), compresslevel=9)
    server.handler = lambda r: Reply(body=bomb, headers=[("Content-Encoding", "gzip")])
    with ManagedSession(max_body_bytes=1 << 20) as session:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLarge):
                session.get(server.url).content  # noqa: B018
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 64 << 20  # far below the 256 MiB it expands to


def test_max_body_bytes_must_be_an_int() -> None:
    with pytest.raises(TypeError, match="max_body_bytes"):
        ManagedSession(max_body_bytes="1MB")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_body_bytes"):
        ManagedSession(max_body_bytes=-1)
    with ManagedSession() as session, pytest.raises(TypeError, match="max_body_bytes"):
        session.get("http://127.0.0.1:9/", max_body_bytes=1.5)  # type: ignore[call-arg]


def test_response_too_large_is_a_request_exception() -> None:
    assert issubclass(ResponseTooLarge, requests.RequestException)
