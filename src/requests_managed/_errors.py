"""The one translation from internal and urllib3 errors to requests' own.

Two tables, applied in two places: :func:`translate_send` once in
``ManagedAdapter.send`` (and, for adapters that are not ours, once in
``ManagedSession.send``), :func:`translate_body` once on the body-read path
(``ManagedResponse.content``). httpx's ``map_httpcore_exceptions`` is the
model: a table read top to bottom, not a growing chain of ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Callable
from http.client import HTTPException

from requests import PreparedRequest
from requests.exceptions import (
    ChunkedEncodingError,
    ContentDecodingError,
    RequestException,
)
from requests.exceptions import (
    ConnectionError as RequestsConnectionError,
)
from requests.exceptions import (
    SSLError as RequestsSSLError,
)
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

from ._deadline import Deadline
from ._manager import DeadlinePassed, ManagerClosed, PoolWaitTimeout
from .exceptions import (
    BodyReadTimeout,
    DeadlineExceeded,
    IncompleteResponseHead,
    PoolTimeout,
    SessionClosed,
    WriteTimeout,
)

__all__ = [
    "BODY_ERRORS",
    "body_deadline_error",
    "deadline_error",
    "translate_body",
    "translate_send",
]


_HOW_TO_RAISE = (
    " (Timeout.total; raise it with timeout=Timeout(total=...), "
    "or total=None for no bound)"
)


def deadline_error(deadline: Deadline, request: PreparedRequest) -> DeadlineExceeded:
    """The deadline passed before the response (head) was complete."""
    return DeadlineExceeded(
        f"total deadline of {deadline.total!r} s passed before the response "
        f"to {request.method} {request.url} was complete{_HOW_TO_RAISE}",
        request=request,
    )


def body_deadline_error(total: float | None, origin: str) -> DeadlineExceeded:
    """The deadline passed while the body was being read (``origin``: " from URL")."""
    return DeadlineExceeded(
        f"total deadline of {total!r} s passed while reading the response "
        f"body{origin}{_HOW_TO_RAISE}"
    )


class IncompleteHead(HTTPException):
    """Internal: the connection ended inside the response's header block
    (raised by the strict head parser, becomes ``IncompleteResponseHead``)."""


class WriteStalled(TimeoutError):
    """Internal: one piece of the request was not taken within the write
    timeout (raised by the connection shim, becomes ``WriteTimeout``)."""


def _inner(exc: BaseException) -> BaseException | None:
    """The first internal marker (see ``WRAPPED_ERRORS``) inside the wrappers
    urllib3 and requests add (``args``, ``MaxRetryError.reason``)."""
    seen: list[BaseException] = [exc]
    for _ in range(8):
        if not seen:
            return None
        current = seen.pop()
        if isinstance(current, _MARKERS):
            return current
        seen.extend(a for a in current.args if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            seen.append(reason)
    return None


def _pool_timeout(
    exc: Exception, deadline: Deadline, request: PreparedRequest
) -> RequestException:
    return PoolTimeout(str(exc), request=request)


def _deadline_passed(
    exc: Exception, deadline: Deadline, request: PreparedRequest
) -> RequestException:
    return deadline_error(deadline, request)


def _closed(
    exc: Exception, deadline: Deadline, request: PreparedRequest
) -> RequestException:
    waited = isinstance(exc, ManagerClosed) and exc.waited
    detail = (
        "the session was closed while this request waited for a connection"
        if waited
        else "the session is closed"
    )
    return SessionClosed(f"{detail}; nothing was sent", request=request)


_Translate = Callable[[Exception, Deadline, PreparedRequest], RequestException]

#: Failures of ``send()``: the first matching row wins.
SEND_ERRORS: tuple[tuple[type[Exception], _Translate], ...] = (
    (PoolWaitTimeout, _pool_timeout),
    (DeadlinePassed, _deadline_passed),
    (ManagerClosed, _closed),
)


#: Internal markers raised deep in urllib3's call, which arrive wrapped in
#: its ProtocolError and requests' ConnectionError: the first found wins.
WRAPPED_ERRORS: tuple[tuple[type[Exception], type[RequestException]], ...] = (
    (WriteStalled, WriteTimeout),
    (IncompleteHead, IncompleteResponseHead),
)
_MARKERS = tuple(source for source, _ in WRAPPED_ERRORS)


def translate_send(
    exc: Exception, deadline: Deadline, request: PreparedRequest
) -> RequestException | None:
    """What ``send()`` raises instead of ``exc``; ``None``: raise ``exc`` itself.

    Past the deadline, any requests error (a read timeout, a reset caused by
    the watchdog's abort) is the deadline's doing and says so.
    """
    for source, translate in SEND_ERRORS:
        if isinstance(exc, source):
            return translate(exc, deadline, request)
    if not isinstance(exc, RequestException) or isinstance(exc, DeadlineExceeded):
        return None
    if deadline.passed():
        return deadline_error(deadline, request)
    marker = _inner(exc)
    for source, target in WRAPPED_ERRORS:
        if isinstance(marker, source) and not isinstance(exc, target):
            return target(str(marker), request=request)
    return None


#: ``Response.iter_content``'s translation of urllib3 body errors, as a table.
BODY_ERRORS: tuple[tuple[type[Exception], type[RequestException]], ...] = (
    (ProtocolError, ChunkedEncodingError),
    (DecodeError, ContentDecodingError),
    (ReadTimeoutError, BodyReadTimeout),
    (SSLError, RequestsSSLError),
)
URLLIB3_BODY_ERRORS = tuple(source for source, _ in BODY_ERRORS)


def body_read_timeout(exc: RequestsConnectionError) -> RequestException | None:
    """requests' ``ConnectionError`` for a read timeout in a body, as the
    ``BodyReadTimeout`` that is also a ``Timeout``; ``None`` for the rest."""
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, ReadTimeoutError) and not isinstance(exc, BodyReadTimeout):
        return BodyReadTimeout(cause, request=exc.request, response=exc.response)
    return None


def translate_body(exc: Exception) -> RequestException:
    """The requests exception for a urllib3 error raised while reading a body."""
    for source, target in BODY_ERRORS:
        if isinstance(exc, source):
            return target(exc)
    raise TypeError(f"not a urllib3 body error: {exc!r}")  # pragma: no cover
