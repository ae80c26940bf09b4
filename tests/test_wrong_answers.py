"""No wrong answer: a cut-off head, an interim response, a deadline inside the
head, the trailers or a close-delimited body, an absurd chunk size, a short
body: none comes back as a success, and every failure is a requests error.

Each server is scripted byte for byte (``Reply.raw`` / ``Reply.script``).
"""

from __future__ import annotations

import time

import pytest
import requests

from requests_managed import (
    BodyReadTimeout,
    DeadlineExceeded,
    ManagedSession,
    Timeout,
)

from .compat import require
from .server import Reply, Server

#: 1.5 s total; every case must end well within BOUND (a dribbling server
#: would otherwise go on for the whole script, 30 s and more).
TIMEOUT = Timeout(connect=1, read=2, total=1.5)
BOUND = 6.0


def _dribble(head: bytes, line: bytes, every: float = 0.25, count: int = 200) -> Reply:
    script: list[bytes | float] = [head]
    for _ in range(count):
        script += [every, line]
    return Reply(script=script)


# -- 1. a header block cut short -------------------------------------------------------


def test_a_header_block_cut_short_is_a_connection_error_not_an_empty_200(
    server: Server,
) -> None:
    server.handler = lambda r: Reply(
        raw=b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    )
    with ManagedSession(timeout=TIMEOUT) as session:
        with pytest.raises(
            requests.ConnectionError, match="header block was incomplete"
        ):
            session.get(server.url)
        server.handler = lambda r: Reply(body=b"fine")
        assert session.get(server.url).text == "fine"


# -- 2. the deadline inside the head or the trailers -----------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_the_deadline_inside_a_dribbled_head_is_deadline_exceeded(
    server: Server, stream: bool
) -> None:
    server.handler = lambda r: _dribble(b"HTTP/1.1 200 OK\r\n", b"X-Slow: 1\r\n")
    with ManagedSession(timeout=TIMEOUT) as session:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            session.get(server.url, stream=stream).close()
        assert time.monotonic() - started < BOUND


@pytest.mark.parametrize("stream", [False, True])
def test_the_deadline_inside_endless_trailers_is_deadline_exceeded(
    server: Server, stream: bool
) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
    server.handler = lambda r: _dribble(head, b"X-Trailer: 1\r\n")
    with ManagedSession(timeout=TIMEOUT) as session:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            r = session.get(server.url, stream=stream)
            with r:
                b"".join(r.iter_content(1024))
        assert time.monotonic() - started < BOUND


# -- 3. interim responses --------------------------------------------------------------


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
    ],
    ids=["103", "102", "100", "102+103"],
)
def test_interim_responses_are_skipped_and_the_final_one_returned(
    server: Server, interim: bytes
) -> None:
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    server.handler = lambda r: Reply(raw=interim + final)
    with ManagedSession(timeout=TIMEOUT) as session:
        r = session.get(server.url)
        assert (r.status_code, r.text) == (200, "hello")
        assert r.headers.get("Link") is None  # the interim headers stay there
        kept = r.raw._original_response.interim  # type: ignore[union-attr]
        assert [status for status, _ in kept] == [
            int(line.split(b" ")[1])
            for line in interim.split(b"\r\n")
            if line.startswith(b"HTTP/1.1 1") and not line.startswith(b"HTTP/1.1 100")
        ]


# -- 4. chunk sizes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [b"7fffffffffffffff", b"10000000000", b"-5"], ids=["2**63", "1TiB", "neg"]
)
@pytest.mark.parametrize("stream", [False, True])
def test_an_absurd_chunk_size_is_a_chunked_encoding_error(
    server: Server, size: bytes, stream: bool
) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server.handler = lambda r: Reply(raw=head + size + b"\r\nabc")
    with (
        ManagedSession(timeout=TIMEOUT) as session,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
        session.get(server.url, stream=stream) as r,
    ):
        b"".join(r.iter_content(1024))


# -- 5. Content-Length enforced on the fast path ---------------------------------------


def test_content_enforces_content_length_like_requests() -> None:
    # responses serves bodies from memory: the short body ends without an
    # error from the socket, so only the length check can catch it
    responses = require("responses", "responses")
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            "http://example.test/short",
            body=b"x" * 10,
            headers={"Content-Length": "50"},
            auto_calculate_content_length=False,
        )
        with (
            ManagedSession() as session,
            pytest.raises(requests.exceptions.ChunkedEncodingError),
        ):
            session.get("http://example.test/short").content  # noqa: B018


def test_a_short_body_from_a_real_server_is_a_chunked_encoding_error(
    server: Server,
) -> None:
    server.handler = lambda r: Reply(
        raw=b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n" + b"x" * 10
    )
    with (
        ManagedSession(timeout=TIMEOUT) as session,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        session.get(server.url)


# -- 6. close-delimited bodies are bounded by the deadline -----------------------------


@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\n"],
    ids=["connection-close", "http/1.0"],
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_dribbled_close_delimited_body_hits_the_deadline(
    server: Server, head: bytes, stream: bool
) -> None:
    server.handler = lambda r: _dribble(head, b"x", every=0.1, count=400)
    with ManagedSession(timeout=TIMEOUT) as session:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            r = session.get(server.url, stream=stream)
            with r:
                b"".join(r.iter_content(1024))
        assert time.monotonic() - started < BOUND


# -- a read timeout inside the body is a Timeout too ---------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_read_timeout_in_the_body_is_both_a_timeout_and_a_connection_error(
    server: Server, stream: bool
) -> None:
    # before: only requests.ConnectionError, so `except requests.Timeout`
    # missed it
    server.handler = lambda r: Reply(body=b"x" * 100, stall_after=10)
    timeout = Timeout(connect=1, read=0.3, total=10)
    with ManagedSession(timeout=timeout) as session:
        with pytest.raises(BodyReadTimeout) as caught:
            r = session.get(server.url, stream=stream)
            with r:
                b"".join(r.iter_content(1024))
        assert isinstance(caught.value, requests.ReadTimeout)
        assert isinstance(caught.value, requests.ConnectionError)
