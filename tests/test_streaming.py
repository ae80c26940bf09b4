"""The streaming fast path (``ManagedHTTPResponse.stream``) against urllib3's own.

For a plain body (no content decoder, not chunked), ``stream()`` reads each
full piece straight from ``http.client`` and hands every other outcome of a
read to urllib3's ``read()``. Each case here streams the same reply twice
over real loopback sockets, once through our ``stream()`` and once through
urllib3's (``urllib3.HTTPResponse.stream`` called on the same class, which
goes through urllib3's ``read()`` and ours around it, as before the fast
path), and compares what the caller sees: the pieces, ``tell()`` and
``length_remaining`` after each, the exception, the release of the
connection, and what the pool did with it.
"""

from __future__ import annotations

import gzip
import inspect
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import urllib3
from urllib3 import HTTPResponse

from requests_managed import (
    DeadlineExceeded,
    ManagedSession,
    ResponseTooLarge,
    Timeout,
)
from requests_managed._response import ManagedHTTPResponse

from .server import Reply, Server

TIMEOUT = Timeout(connect=2, read=2, total=10)


@dataclass
class Outcome:
    pieces: list[bytes]
    positions: list[tuple[int, int | None]]  # tell(), length_remaining
    error: tuple[type[BaseException], str] | None
    released: bool
    closed: bool
    requests_per_connection: dict[int, int]


def _ours(raw: Any, amt: Any, decode_content: bool | None) -> Iterator[bytes]:
    stream: Iterator[bytes] = raw.stream(amt, decode_content)
    return stream


def _urllib3s(raw: Any, amt: Any, decode_content: bool | None) -> Iterator[bytes]:
    stream: Iterator[bytes] = HTTPResponse.stream(raw, amt, decode_content)
    return stream


PATHS = {"ours": _ours, "urllib3": _urllib3s}
Path = Callable[[Any, Any, "bool | None"], Iterator[bytes]]


def _stream(
    reply: Reply,
    path: Path,
    amt: Any,
    decode_content: bool | None = True,
    *,
    timeout: Timeout = TIMEOUT,
    max_body_bytes: int | None = None,
    between: Callable[[Any], None] | None = None,
) -> Outcome:
    """Stream ``reply`` with ``path`` from a fresh server and session, then
    one more GET."""
    with Server(lambda r: reply if r.path == "/body" else Reply(body=b"next")) as srv:
        return _stream_from(
            srv, path, amt, decode_content, timeout, max_body_bytes, between
        )


def _stream_from(
    server: Server,
    path: Path,
    amt: Any,
    decode_content: bool | None,
    timeout: Timeout,
    max_body_bytes: int | None,
    between: Callable[[Any], None] | None,
) -> Outcome:
    pieces: list[bytes] = []
    positions: list[tuple[int, int | None]] = []
    error = None
    with ManagedSession(timeout=timeout, max_body_bytes=max_body_bytes) as session:
        with session.get(server.url + "/body", stream=True) as r:
            raw = r.raw
            assert isinstance(raw, ManagedHTTPResponse)
            try:
                for piece in path(raw, amt, decode_content):
                    pieces.append(piece)
                    positions.append((raw.tell(), raw.length_remaining))
                    if between is not None:
                        between(raw)
            except Exception as exc:
                error = (type(exc), str(exc).replace(str(server.port), "PORT"))
            released = raw._connection is None
            closed = raw.isclosed()
        assert session.get(server.url + "/next").content == b"next"
    counts = server.requests_per_connection()
    return Outcome(pieces, positions, error, released, closed, counts)


def _compare(reply: Reply, amt: Any, **kwargs: Any) -> Outcome:
    ours = _stream(reply, _ours, amt, **kwargs)
    assert ours == _stream(reply, _urllib3s, amt, **kwargs)
    return ours


SIZES = [0, 1, 4095, 4096, 4097, 3 * 4096 + 5, 200_001]


@pytest.mark.parametrize("decode_content", [True, False, None])
@pytest.mark.parametrize("amt", [7, 4096, 65536])
@pytest.mark.parametrize("size", SIZES)
def test_a_content_length_body_streams_as_urllib3_streams_it(
    size: int, amt: int, decode_content: bool | None
) -> None:
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    outcome = _compare(Reply(body=body), amt, decode_content=decode_content)
    assert b"".join(outcome.pieces) == body
    assert outcome.error is None
    assert outcome.released and outcome.closed
    # kept alive: the stream and the next GET on one connection
    assert outcome.requests_per_connection == {1: 2}


@pytest.mark.parametrize("decode_content", [True, False])
@pytest.mark.parametrize("amt", [7, 4096, 65536])
@pytest.mark.parametrize("size", [1, 4096, 100_000])
def test_a_body_cut_short_raises_as_urllib3_raises(
    size: int, amt: int, decode_content: bool
) -> None:
    # Content-Length is 100 more than what is sent before the close
    reply = Reply(body=b"x" * size, truncate=True)
    outcome = _compare(reply, amt, decode_content=decode_content)
    assert outcome.error is not None
    assert outcome.error[0] is urllib3.exceptions.ProtocolError
    assert "IncompleteRead" in outcome.error[1]
    assert len(b"".join(outcome.pieces)) <= size


@pytest.mark.parametrize("amt", [7, 65536])
def test_a_close_delimited_body_streams_as_urllib3_streams_it(amt: int) -> None:
    body = b"y" * 100_003
    raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body
    outcome = _compare(Reply(raw=raw), amt)
    assert b"".join(outcome.pieces) == body
    assert outcome.error is None


@pytest.mark.parametrize("amt", [None, 0, -1, 2**31])
def test_other_piece_sizes_are_urllib3s(amt: int | None) -> None:
    body = b"q" * 10_000
    outcome = _compare(Reply(body=body), amt)
    if amt is None or amt > 0:  # urllib3 2.2 reads nothing for amt=-1
        assert b"".join(outcome.pieces) == body


def _encoded(encoding: str, body: bytes) -> bytes:
    if encoding in ("gzip", "x-gzip"):
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "br":
        brotli = pytest.importorskip("brotli")
        return brotli.compress(body)  # type: ignore[no-any-return]
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(body)  # type: ignore[no-any-return]


@pytest.mark.parametrize("decode_content", [True, False])
@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "br", "zstd"])
def test_an_encoded_body_is_decoded_by_urllib3(
    encoding: str, decode_content: bool
) -> None:
    if encoding not in HTTPResponse.CONTENT_DECODERS:
        pytest.skip(f"urllib3 has no {encoding} decoder here")
    body = b"hello, world " * 20_000
    wire = _encoded(encoding, body)
    reply = Reply(body=wire, headers=[("Content-Encoding", encoding)])
    outcome = _compare(reply, 4096, decode_content=decode_content)
    assert b"".join(outcome.pieces) == (body if decode_content else wire)
    assert outcome.positions[-1][0] == len(wire)  # tell() counts wire bytes


def test_an_unknown_content_encoding_is_passed_through_as_urllib3_does() -> None:
    body = b"\x1f\x9d" + b"c" * 70_000  # "compress": urllib3 has no decoder
    reply = Reply(body=body, headers=[("Content-Encoding", "compress")])
    outcome = _compare(reply, 65536)
    assert b"".join(outcome.pieces) == body


@pytest.mark.parametrize("amt", [100, 65536])
def test_a_read_after_the_deadline_raises_deadline_exceeded(amt: int) -> None:
    # the whole body is sent at once; the caller pauses past the deadline
    def pause(raw: Any) -> None:
        time.sleep(1.2)

    for path in PATHS.values():
        outcome = _stream(
            Reply(body=b"d" * 300_000),
            path,
            amt,
            timeout=Timeout(connect=2, read=2, total=1),
            between=pause,
        )
        assert outcome.error is not None
        assert outcome.error[0] is DeadlineExceeded, outcome.error
        assert len(outcome.pieces) == 1


def test_the_deadline_cuts_a_slow_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
    script: list[bytes | float] = [head]
    for _ in range(40):
        script += [b"s" * 10_000, 0.1]
    for path in PATHS.values():
        started = time.monotonic()
        outcome = _stream(
            Reply(script=script),
            path,
            65536,
            timeout=Timeout(connect=2, read=2, total=1),
        )
        assert outcome.error is not None
        assert outcome.error[0] is DeadlineExceeded, outcome.error
        assert time.monotonic() - started < 5


def test_a_read_timeout_in_the_body_is_urllib3s_error() -> None:
    reply = Reply(body=b"t" * 200_000, stall_after=70_000)
    outcome = _compare(reply, 65536, timeout=Timeout(connect=2, read=0.3, total=10))
    assert outcome.error is not None
    assert outcome.error[0] is urllib3.exceptions.ReadTimeoutError
    assert len(outcome.pieces) == 1


@pytest.mark.parametrize("amt", [7, 65536])
def test_max_body_bytes_stops_at_the_same_piece(amt: int) -> None:
    outcome = _compare(Reply(body=b"m" * 300_000), amt, max_body_bytes=200_000)
    assert outcome.error is not None
    assert outcome.error[0] is ResponseTooLarge
    assert sum(map(len, outcome.pieces)) <= 200_000


def test_reads_between_pieces_are_counted_as_urllib3_counts_them() -> None:
    taken: list[bytes] = []
    body = bytes(range(256)) * 1000

    def read_some(raw: Any) -> None:
        taken.append(raw.read(10))
        taken.append(raw.read1(5))

    seen = []
    for path in PATHS.values():
        taken.clear()
        outcome = _stream(Reply(body=body), path, 4096, between=read_some)
        assert outcome.error is None
        seen.append((outcome.pieces, outcome.positions, list(taken)))
    assert seen[0] == seen[1]
    pieces, _, extra = seen[0]
    assert sum(map(len, pieces)) + sum(map(len, extra)) == len(body)


@pytest.mark.parametrize("decode_unicode", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 1000, 65536, None])
def test_iter_content_gives_requests_pieces(
    server: Server, chunk_size: int | None, decode_unicode: bool
) -> None:
    body = ("é🙂x" * 40_000).encode()
    server.handler = lambda r: Reply(
        body=body, headers=[("Content-Type", "text/plain; charset=utf-8")]
    )
    got = []
    for session in (ManagedSession(), requests.Session()):
        with session, session.get(server.url, stream=True) as r:
            got.append(list(r.iter_content(chunk_size, decode_unicode)))
    assert got[0] == got[1]


def test_a_body_cut_short_is_chunked_encoding_error_in_iter_content(
    server: Server,
) -> None:
    server.handler = lambda r: Reply(body=b"x" * 200_000, truncate=True)
    with (
        ManagedSession() as session,
        session.get(server.url, stream=True) as r,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        for _ in r.iter_content(65536):
            pass


def test_full_pieces_skip_urllib3s_read(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of the fast path: one urllib3 read per body, at its end."""
    calls: list[Any] = []
    real = HTTPResponse.read

    def counting(self: Any, *args: Any, **kwargs: Any) -> bytes:
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(HTTPResponse, "read", counting)
    server.handler = lambda r: Reply(body=b"f" * (10 * 65536 + 1))
    with ManagedSession() as session, session.get(server.url, stream=True) as r:
        assert len(list(r.iter_content(65536))) == 11
    assert len(calls) == 1


def test_the_urllib3_methods_the_fast_path_relies_on_keep_their_shape() -> None:
    """``_fp_read`` is private: fail loudly if urllib3 changes how it is called."""
    assert "self._fp_read(amt" in inspect.getsource(HTTPResponse._raw_read)
    parameters = inspect.signature(HTTPResponse._fp_read).parameters
    assert list(parameters)[:2] == ["self", "amt"]
    for name in ("_fp_bytes_read", "length_remaining", "_original_response"):
        assert name in inspect.getsource(HTTPResponse.__init__)
    assert "_decoded_buffer" in inspect.getsource(HTTPResponse.stream)
