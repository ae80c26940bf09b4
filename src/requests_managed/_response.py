"""The response classes: urllib3's (the raw body) and requests' (``ManagedResponse``).

:class:`ManagedHTTPResponse` is urllib3's ``HTTPResponse`` with three duties:

* a read that fails after the request's deadline passed raises
  ``DeadlineExceeded`` (the watchdog's abort is never taken for the end of
  the body);
* ``close()`` before the end of the body drains what is *readable* within a
  small budget (:data:`DRAIN_SECONDS`, and the policy's ``drain_limit``
  bytes) so the connection can be kept, and otherwise closes it; it never
  waits for a silent server, and never touches the network from the garbage
  collector;
* the leak tracker's record of where a streamed response was requested.

:class:`ManagedResponse` is requests' ``Response`` with a one-call
``content``.
"""

from __future__ import annotations

import contextlib
import time
from http.client import HTTPException
from typing import TYPE_CHECKING, Any

from requests import Response
from urllib3 import HTTPResponse
from urllib3.exceptions import ProtocolError, ReadTimeoutError, SSLError

from ._errors import URLLIB3_BODY_ERRORS, body_deadline_error, translate_body
from ._leaks import CallSite, report
from ._policy import ExchangeFacts

if TYPE_CHECKING:
    from ._deadline import Deadline

__all__ = ["DRAIN_SECONDS", "ManagedHTTPResponse", "ManagedResponse"]

#: The longest ``close()`` spends reading the rest of a body to keep its
#: connection: what is already buffered or arrives at once is drained, a
#: server that pauses costs the connection instead of the caller's time.
DRAIN_SECONDS = 0.02

_READ_ERRORS = (ProtocolError, ReadTimeoutError, SSLError, OSError)
_DRAIN_ERRORS = (HTTPException, OSError, ValueError)


class ManagedHTTPResponse(HTTPResponse):
    """urllib3's response, with deadline errors and a bounded drain on ``close()``.

    urllib3 builds its ``HTTPResponse`` by name, so the connection shim
    switches the class of each response in place; this class adds no state
    beyond the class-level defaults below.
    """

    _rm_deadline: Deadline | None = None
    _rm_where: CallSite | None = None
    _rm_finalizing = False

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

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        try:
            return super().read(*args, **kwargs)
        except _READ_ERRORS as exc:
            self._rm_translate(exc)
            raise

    def read_chunked(self, *args: Any, **kwargs: Any) -> Any:
        try:
            yield from super().read_chunked(*args, **kwargs)
        except _READ_ERRORS as exc:
            self._rm_translate(exc)
            raise

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
                data = raw.read(decode_content=True)
            except URLLIB3_BODY_ERRORS as exc:
                raise translate_body(exc)  # noqa: B904 (as requests chains it)
            self._content = data or b""
            self._content_consumed = True
            return self._content
        content: bytes = Response.content.fget(self)  # type: ignore[attr-defined]
        return content
