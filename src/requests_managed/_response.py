"""The response classes: urllib3's (the raw body) and requests' (``ManagedResponse``).

:class:`ManagedHTTPResponse` is urllib3's ``HTTPResponse`` with these duties:

* a read that fails after the request's deadline passed raises
  ``DeadlineExceeded`` (the watchdog's abort is never taken for the end of
  the body);
* ``close()`` before the end of the body drains what is *readable* within a
  small budget (:data:`DRAIN_SECONDS`, and the policy's ``drain_limit``
  bytes) so the connection can be kept, and otherwise closes it; it never
  waits for a silent server, and never touches the network from the garbage
  collector;
* the leak tracker's record of where a streamed response was requested;
* ``stream()`` reads a plain body's full pieces straight from
  ``http.client`` and leaves every other outcome of a read to urllib3.

:class:`ManagedResponse` is requests' ``Response`` with a one-call
``content``.
"""

from __future__ import annotations

import contextlib
import email.parser
import http.client
import re
import time
from collections.abc import Callable, Generator, Iterator
from http.client import HTTPException
from types import FunctionType
from typing import TYPE_CHECKING, Any

from requests import Response
from requests.exceptions import ChunkedEncodingError
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import Timeout as RequestsTimeout
from urllib3 import HTTPResponse
from urllib3.exceptions import ProtocolError, ReadTimeoutError, SSLError

from ._errors import (
    URLLIB3_BODY_ERRORS,
    IncompleteHead,
    body_deadline_error,
    body_read_timeout,
    diagnose_body,
    translate_body,
)
from ._leaks import CallSite, report
from ._policy import ExchangeFacts
from .exceptions import DeadlineExceeded, ResponseTooLarge

if TYPE_CHECKING:
    from ._deadline import Deadline

__all__ = [
    "DRAIN_SECONDS",
    "ManagedHTTPResponse",
    "ManagedResponse",
    "StrictHTTPResponse",
]

#: The longest ``close()`` spends reading the rest of a body to keep its
#: connection: what is already buffered or arrives at once is drained, a
#: server that pauses costs the connection instead of the caller's time.
DRAIN_SECONDS = 0.02

_READ_ERRORS = (ProtocolError, ReadTimeoutError, SSLError, OSError)
#: The piece size of reads the library makes on the caller's behalf (a
#: limited whole-body read, the chunked fast path): bounded memory per read.
_PIECE = 65536

# What http.client's own chunked reader raises for an absurd chunk-size line
# (7fffffffffffffff, a TiB, a negative size): none is a requests exception.
_CHUNK_SIZE_ERRORS = (OverflowError, MemoryError, ValueError)


# The head of a response, parsed here when every header line is plain: a
# token, a colon and printable ASCII (what servers send). Any other head
# (folded lines, bytes past ASCII, a line without a colon...) goes to
# http.client's own parser, the email package, which costs about a seventh
# of a small keep-alive GET; the result is the same ``HTTPMessage``
# (``tests/test_hotpath.py`` compares the two over generated heads).
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PLAIN_HEAD = re.compile(rf"(?:{_TOKEN}:[\t\x20-\x7e]*\r?\n)*\r?\n")
_FIELD = re.compile(rf"({_TOKEN}):[\t ]*([\t\x20-\x7e]*)\r?\n")
_MAXLINE = http.client._MAXLINE  # type: ignore[attr-defined]
_MAXHEADERS = http.client._MAXHEADERS  # type: ignore[attr-defined]
_HTTP_CLIENT: Any = http.client


def own_function(function: Any, module: Any) -> Any:
    """``function`` if it is the one defined in ``module``; otherwise
    something no function is, so that a shortcut comparing with it never
    applies (a spy, an agent's wrapper or a mock in place when this library
    is first imported is not taken for the original)."""
    if type(function) is FunctionType and function.__globals__ is vars(module):
        return function
    return object()


# what begin() stands in for
_PARSE_HEADERS = own_function(_HTTP_CLIENT.parse_headers, http.client)
_READ_HEADERS = (
    own_function(_HTTP_CLIENT._read_headers, http.client)
    if hasattr(_HTTP_CLIENT, "_read_headers")
    else None
)
_BEGIN = own_function(_HTTP_CLIENT.HTTPResponse.begin, http.client)
_CHECK_CLOSE = own_function(_HTTP_CLIENT.HTTPResponse._check_close, http.client)


def _http_client_unpatched() -> bool:
    """Are ``http.client``'s head limits and head-reading functions still
    the ones :func:`read_head` and ``begin()`` mirror? (``http.client.
    _MAXHEADERS = 1000`` is the usual answer to "got more than 100
    headers".)"""
    hc = _HTTP_CLIENT
    return (
        hc._MAXLINE == _MAXLINE
        and hc._MAXHEADERS == _MAXHEADERS
        and hc.parse_headers is _PARSE_HEADERS
        and getattr(hc, "_read_headers", None) is _READ_HEADERS
        and hc.HTTPResponse.begin is _BEGIN
        and hc.HTTPResponse._check_close is _CHECK_CLOSE
    )


def read_head(fp: Any) -> list[bytes]:
    """The header lines up to the blank line, with ``http.client``'s limits;
    a head cut short by the end of the stream raises :class:`IncompleteHead`
    (``http.client`` reads the end of the stream as the end of the headers;
    httpx raises ``RemoteProtocolError``)."""
    lines: list[bytes] = []
    readline = fp.readline
    while True:
        line: bytes = readline(_MAXLINE + 1)
        if len(line) > _MAXLINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAXHEADERS:
            raise HTTPException(f"got more than {_MAXHEADERS} headers")
        if len(line) < 3:  # the blank line, or the end of the stream
            if line == b"\r\n" or line == b"\n":
                return lines
            if not line:
                break
    raise IncompleteHead(
        "the response's header block was incomplete: the "
        "connection closed before the blank line that ends it"
    )


def parse_head(lines: list[bytes]) -> http.client.HTTPMessage:
    """``http.client.parse_headers`` on lines already read."""
    return _parse_head(lines)[0]


def _parse_head(
    lines: list[bytes],
) -> tuple[http.client.HTTPMessage, Callable[[str], str | None]]:
    """The message, and a ``get`` for lower-case names that answers as
    ``message.get`` does (the first value of the name)."""
    text = b"".join(lines).decode("iso-8859-1")
    if _PLAIN_HEAD.fullmatch(text) is not None:
        fields: list[tuple[str, str]] = _FIELD.findall(text)
        first = {name.lower(): value for name, value in reversed(fields)}
        content_type = first.get("content-type", "").lower()
        # (a multipart or message/* type makes the email package look for a
        # body in the head, and record defects: its parser decides those)
        if "multipart" not in content_type and "message" not in content_type:
            message = http.client.HTTPMessage()
            # the list of (name, value) the email parser fills, in order
            message._headers = fields  # type: ignore[attr-defined]
            message.set_payload("")
            return message, first.get
    parser = email.parser.Parser(_class=http.client.HTTPMessage)
    parsed: http.client.HTTPMessage = parser.parsestr(text)
    return parsed, parsed.get


class StrictHTTPResponse(http.client.HTTPResponse):
    """``http.client``'s response, strict about the head it accepts.

    * A header block cut short by the connection closing (no blank line) is
      an error, not a complete response with no body: ``http.client`` reads
      the end of the stream as the end of the headers (httpx raises
      ``RemoteProtocolError``).
    * Interim responses (1xx other than ``101 Switching Protocols``, e.g.
      ``103 Early Hints``) are skipped, their status and headers kept in
      ``interim``, and the final response is returned; ``http.client`` skips
      only ``100 Continue`` and returns a 103 as if it were the answer.

    ``begin()`` is ``http.client``'s, step for step, with the head read by
    :func:`read_head` and parsed by :func:`parse_head`; with
    ``debuglevel`` set it is ``http.client``'s own, which prints what it
    reads, and so it is when ``http.client``'s limits or head-reading
    functions were changed at run time.
    """

    interim: list[tuple[int, http.client.HTTPMessage]]

    def begin(self) -> None:
        if self.headers is not None:  # already begun (http.client's rule)
            return
        self.interim = []
        if self.debuglevel > 0 or not _http_client_unpatched():
            self._rm_begin_verbose()
            return
        fp = self.fp
        while True:
            version, status, reason = self._read_status()
            if status == http.client.CONTINUE:
                read_head(fp)
                continue
            if version in ("HTTP/1.0", "HTTP/0.9"):
                self.version = 10
            elif version.startswith("HTTP/1."):
                self.version = 11
            else:
                raise http.client.UnknownProtocol(version)
            headers, get = _parse_head(read_head(fp))
            if status >= 200 or status == http.client.SWITCHING_PROTOCOLS:
                break
            self.interim.append((status, headers))
        self.code = self.status = status
        self.reason = reason.strip()
        self.headers = self.msg = headers
        transfer_encoding = get("transfer-encoding")
        self.chunked = bool(
            transfer_encoding and transfer_encoding.lower() == "chunked"
        )
        if self.chunked:
            self.chunk_left = None
        # http.client's _check_close, reading the same headers
        connection = get("connection")
        if self.version == 11:
            self.will_close = bool(connection and "close" in connection.lower())
        else:
            proxy_connection = get("proxy-connection")
            self.will_close = not (
                get("keep-alive")
                or (connection and "keep-alive" in connection.lower())
                or (proxy_connection and "keep-alive" in proxy_connection.lower())
            )
        self.length = None
        length = get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:  # nonsensical, ignored (http.client's rule)
                    self.length = None
        if (
            status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
            or 100 <= status < 200
            or self._method == "HEAD"
        ):
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True

    def _rm_begin_verbose(self) -> None:
        this: Any = self  # its file is swapped for a reader that watches it
        real = this.fp
        reader = _HeadReader(real)
        this.fp = reader
        try:
            while True:
                http.client.HTTPResponse.begin(this)
                if reader.last not in (b"\r\n", b"\n"):
                    raise IncompleteHead(
                        "the response's header block was incomplete: the "
                        "connection closed before the blank line that ends it"
                    )
                status = self.status
                if status >= 200 or status == http.client.SWITCHING_PROTOCOLS:
                    return
                self.interim.append((status, this.headers))
                this.headers = this.msg = None
        finally:
            if this.fp is reader:
                this.fp = real


class _HeadReader:
    """Stands in for a response's file while ``http.client`` reads its head,
    to see how the header block ended: with its blank line, or with the end
    of the stream."""

    __slots__ = ("fp", "last")

    def __init__(self, fp: Any) -> None:
        self.fp = fp
        self.last = b"\r\n"

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.fp.readline(limit)
        self.last = line
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fp, name)


_DRAIN_ERRORS = (HTTPException, OSError, ValueError)

#: urllib3 reads larger pieces in its own way under pyOpenSSL (a C int).
_C_INT_MAX = 2**31 - 1


class ManagedHTTPResponse(HTTPResponse):
    """urllib3's response, with deadline errors and a bounded drain on ``close()``.

    urllib3 builds its ``HTTPResponse`` by name, so the connection shim
    switches the class of each response in place; this class adds no state
    beyond the class-level defaults below.
    """

    _rm_deadline: Deadline | None = None
    _rm_where: CallSite | None = None
    _rm_finalizing = False
    _rm_limit: int | None = None  # max_body_bytes
    _rm_seen = 0  # decoded body bytes handed out so far
    # the outcome of a read of the http.client response already made, for
    # urllib3's next _fp_read() to return (see stream())
    _rm_got: bytes | BaseException | None = None

    def _rm_count(self, data: bytes) -> None:
        limit = self._rm_limit
        if limit is None or not data:
            return
        self._rm_seen += len(data)
        if self._rm_seen > limit:
            self.close()
            raise ResponseTooLarge(
                f"the response body{self._rm_origin()} passed max_body_bytes="
                f"{limit!r} (decoded bytes); raise the limit, or stream the body"
            )

    def _rm_translate(self, exc: Exception) -> None:
        deadline = self._rm_deadline
        if deadline is not None and deadline.passed():
            raise body_deadline_error(deadline.total, self._rm_origin()) from exc

    def _rm_origin(self) -> str:
        # urllib3 records the request target relative to its pool.
        pool, target = self._pool, self.url
        if pool is None or not target:
            return ""
        host = f"[{pool.host}]" if ":" in pool.host else pool.host
        return f" from {pool.scheme}://{host}:{pool.port}{target}"

    def _rm_aborted(self) -> None:
        """The watchdog shut the socket down: whatever the read returned (the
        end of a close-delimited body, of the trailers) is not the end."""
        deadline = self._rm_deadline
        if deadline is not None and deadline.expired:
            raise body_deadline_error(deadline.total, self._rm_origin())

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        amt = args[0] if args else kwargs.pop("amt", None)
        rest = args[1:]
        if self._rm_limit is not None and amt is None:
            # the whole body, with a limit: in bounded pieces, so a
            # compressed bomb never expands in memory past the limit
            pieces: list[bytes] = []
            while True:
                piece = self.read(_PIECE, *rest, **kwargs)
                if not piece:
                    return b"".join(pieces)
                pieces.append(piece)
        try:
            data = super().read(amt, *rest, **kwargs)
        except _READ_ERRORS as exc:
            self._rm_translate(exc)
            raise
        except _CHUNK_SIZE_ERRORS as exc:
            raise ProtocolError(
                f"invalid chunk size in the body: {exc!r}", exc
            ) from exc
        self._rm_aborted()
        self._rm_count(data)
        return data

    def stream(
        self, amt: int | None = _PIECE, decode_content: bool | None = None
    ) -> Generator[bytes, None, None]:
        """urllib3's ``stream()``, with a plain body read straight from ``http.client``.

        For a body that urllib3 hands through unchanged (no content decoder,
        not chunked, nothing buffered), urllib3 spends more per piece than
        ``http.client``'s own read: ``read()``, ``_raw_read()``, its error
        context manager, ``_fp_read()`` and a queue buffer. Here each full
        piece of ``amt`` bytes comes from ``http.client``'s ``read(amt)``,
        with urllib3's bookkeeping (``tell()``, ``length_remaining``, the
        release of the connection at the end of the body) and ours (the
        deadline, ``max_body_bytes``). Anything else a read can return (a
        short piece: the end of the body or a body cut short; an exception)
        is handed to urllib3's own ``read()`` as the outcome of its first
        read of the file (:meth:`_fp_read`), so the end of the body, length
        enforcement and every error are urllib3's, byte for byte
        (``tests/test_streaming.py`` compares the two paths).
        """
        fp: Any = self._fp
        self._init_decoder()
        if (
            type(amt) is not int
            or not 0 < amt <= _C_INT_MAX
            or self.chunked
            or self._decoder is not None
            or self._has_decoded_content
            or not isinstance(fp, http.client.HTTPResponse)
            or fp is not self._original_response
            or fp.chunked
            or fp.closed
            or len(self._decoded_buffer)
        ):
            yield from super().stream(amt, decode_content)
            return
        limit = self._rm_limit
        while fp.fp is not None:
            try:
                data: bytes = fp.read(amt)
            except BaseException as exc:
                self._rm_read_through(amt, decode_content, exc)
                raise  # not reached: urllib3 raises the read's exception
            if len(data) != amt:
                # the end of the body, or a body cut short: urllib3 decides
                data = self._rm_read_through(amt, decode_content, data)
                if data:
                    yield data
                break
            # urllib3's _raw_read() and read(), in their order
            if fp.fp is None:  # http.client read the body to its end
                self.release_conn()
            self._fp_bytes_read += amt
            if self.length_remaining is not None:
                self.length_remaining -= amt
            self._uncached_read_occurred = True
            deadline = self._rm_deadline
            if deadline is not None and deadline.expired:
                raise body_deadline_error(deadline.total, self._rm_origin())
            if limit is not None:
                self._rm_count(data)
            yield data
        # whatever is left (normally nothing): urllib3's loop
        yield from super().stream(amt, decode_content)

    def _rm_read_through(
        self, amt: int, decode_content: bool | None, got: bytes | BaseException
    ) -> bytes:
        """:meth:`read` (urllib3's, with ours around it), its first read of the
        file being the one already made, whose outcome is ``got``."""
        self._rm_got = got
        try:
            data = self.read(amt, decode_content)
        finally:
            unread, self._rm_got = self._rm_got, None
        if unread is not None:  # urllib3 did not read the file: never lose it
            raise RuntimeError("a streamed read was not handed to urllib3")
        return data

    def _fp_read(self, *args: Any, **kwargs: Any) -> bytes:
        # urllib3's one read of the file, in _raw_read() (private: pinned by
        # tests/test_seams.py and tests/test_streaming.py)
        got = self._rm_got
        if got is None:
            data: bytes = super()._fp_read(*args, **kwargs)
            return data
        self._rm_got = None
        if isinstance(got, BaseException):
            raise got
        return got

    def read_chunked(self, *args: Any, **kwargs: Any) -> Any:
        try:
            for chunk in super().read_chunked(*args, **kwargs):
                self._rm_aborted()
                self._rm_count(chunk)
                yield chunk
        except _READ_ERRORS as exc:
            self._rm_translate(exc)
            raise
        self._rm_aborted()

    def _update_chunk_length(self) -> None:
        # urllib3 parses the size with int(line, 16), which takes "-5".
        super()._update_chunk_length()
        left = self.chunk_left
        if left is not None and left < 0:
            self.close()
            raise ProtocolError(f"invalid chunk size in the body: {left!r}")

    def release_conn(self) -> None:
        self._rm_where = None
        super().release_conn()

    def __del__(self) -> None:
        # io.IOBase's finalizer calls close(): no drain from here, and a
        # response still holding its connection was dropped unclosed.
        self._rm_finalizing = True
        where, self._rm_where = self._rm_where, None
        conn = self._connection
        if where is not None and conn is not None:
            self._rm_finish(conn)
            report(conn, where)
        super().__del__()

    def close(self) -> None:
        self._rm_where = None
        conn = self._connection
        if conn is not None and not self.isclosed():
            self._rm_finish(conn)
        super().close()

    def _rm_finish(self, conn: Any) -> None:
        """The body is unfinished: keep the connection if the rest is readable
        now and small, else leave it to close with the policy's reason."""
        manager = getattr(conn, "_rm_manager", None)
        if manager is None or getattr(conn, "_rm", None) is None:
            return
        remaining = self.length_remaining
        exchange = ExchangeFacts(
            will_close=conn._rm.will_close,
            complete=False,
            unread=remaining,
            framed=remaining is not None or self.chunked,
            deadline=manager.deadline_passed(conn),
        )
        limit = manager.unfinished(conn, exchange)
        if limit is None or self._rm_finalizing:
            return
        if self._rm_drain(conn, limit):
            # urllib3 hands it back only when it sees the end itself.
            self.release_conn()

    def _rm_drain(self, conn: Any, limit: int) -> bool:
        """Read up to ``limit`` bytes of what arrives within ``DRAIN_SECONDS``;
        True if the body's end was reached."""
        fp, sock = self._fp, conn.sock
        if fp is None or sock is None:
            return False
        until = time.monotonic() + DRAIN_SECONDS
        budget = limit + 1  # reading past the limit proves the body is larger
        previous = sock.gettimeout()
        try:
            while budget > 0:
                left = until - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                data = fp.read1(min(budget, 65536))
                if not data:
                    break
                budget -= len(data)
        except _DRAIN_ERRORS:
            return False
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(previous)
        if budget <= 0:
            return False
        # http.client's read1() does not close a Content-Length body that
        # it has read to its end (CPython gh-113199); the socket stays open.
        if not fp.isclosed() and getattr(fp, "length", None) == 0:
            fp.close()
        return bool(fp.isclosed())


class ManagedResponse(Response):
    """A ``requests.Response`` whose ``content`` reads the body in one call.

    ``Response.content`` joins ``iter_content(10 * 1024)``: for a 1 MiB body,
    about a hundred reads through urllib3's buffering. When the raw response
    is urllib3's and the body has no ``Content-Encoding``, one
    ``raw.read()`` gives the same bytes, with the same exceptions
    (``ChunkedEncodingError``, ``ConnectionError``, ...), and releases the
    connection the same way. Otherwise requests' own code runs.
    """

    __slots__ = ()
    _content_consumed: bool

    @property
    def content(self) -> bytes:
        raw = self.raw
        state: Any = self._content  # False until read; bytes or None after
        if (
            state is False
            and not self._content_consumed
            and self.status_code != 0
            and isinstance(raw, HTTPResponse)
            and "content-encoding" not in raw.headers
        ):
            try:
                if raw.chunked:
                    # urllib3's chunk parser, in bounded reads: http.client's
                    # would allocate whatever a chunk-size line claims
                    data = b"".join(raw.read_chunked(_PIECE, decode_content=True))
                else:
                    data = raw.read(decode_content=True)
                    if raw.enforce_content_length and raw.length_remaining:
                        # as urllib3's streaming reads do (requests' path)
                        short = http.client.IncompleteRead(data, raw.length_remaining)
                        raise ProtocolError(f"Connection broken: {short!r}", short)
            except URLLIB3_BODY_ERRORS as exc:
                # implicitly chained, as requests chains it
                raise diagnose_body(translate_body(exc), raw, self.request)  # noqa: B904
            except DeadlineExceeded as exc:
                better = diagnose_body(exc, raw, self.request)
                if better is exc:
                    raise
                raise better from exc
            self._content = data or b""
            self._content_consumed = True
            return self._content
        content: bytes = Response.content.fget(self)  # type: ignore[attr-defined]
        return content

    def iter_content(
        self, chunk_size: int | None = 1, decode_unicode: bool = False
    ) -> Iterator[Any]:
        """``Response.iter_content``; a read timeout in the body is a
        ``BodyReadTimeout`` (a ``ConnectionError`` and a ``ReadTimeout``)."""
        try:
            yield from super().iter_content(chunk_size, decode_unicode)
        except (RequestsConnectionError, RequestsTimeout, ChunkedEncodingError) as exc:
            better = diagnose_body(
                body_read_timeout(exc) or exc,  # type: ignore[arg-type]
                self.raw,
                self.request,
            )
            if better is exc:
                raise
            raise better from exc
