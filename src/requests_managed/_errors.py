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
from requests.exceptions import (
    Timeout as RequestsTimeout,
)
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

from ._deadline import Deadline
from ._manager import DeadlinePassed, ManagerClosed, PoolWaitTimeout
from ._stats import ConnectionInfo
from ._timeouts import Timeout
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
    "diagnose",
    "diagnose_body",
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
    the watchdog's abort) is the deadline's doing and says so. An error on a
    pooled connection then gets its facts (:func:`diagnose`).
    """
    for source, translate in SEND_ERRORS:
        if isinstance(exc, source):
            return translate(exc, deadline, request)
    if not isinstance(exc, RequestException):
        return None
    error: RequestException = exc
    if isinstance(exc, DeadlineExceeded):
        pass
    elif deadline.passed():
        error = deadline_error(deadline, request)
    else:
        marker = _inner(exc)
        for source, target in WRAPPED_ERRORS:
            if isinstance(marker, source) and not isinstance(exc, target):
                error = target(str(marker), request=request)
                break
    found = _facts_in(exc)
    if found is not None:
        facts, timeout = found
        error = diagnose(error, request, facts, timeout, deadline.total)
    return None if error is exc else error


# -- errors that diagnose themselves -------------------------------------------

#: The errors about a connection: they carry its facts.
_CONNECTION_ERRORS = (RequestsConnectionError, RequestsTimeout, ChunkedEncodingError)

#: Which timeout bounds each phase.
_PHASE_BOUNDS = {
    "connect": "connect",
    "tls": "connect",
    "write": "write",
    "read": "read",
    "body": "read",
}

_Facts = tuple[dict[str, object], Timeout | None]


def _facts_in(exc: BaseException) -> _Facts | None:
    """The facts the pool shim attached (``_rm_facts``) to ``exc`` or to an
    exception it wraps (``args``, ``reason``, the chain)."""
    seen: list[BaseException] = [exc]
    for _ in range(12):
        if not seen:
            return None
        current = seen.pop()
        facts = getattr(current, "_rm_facts", None)
        if facts is not None:
            return facts  # type: ignore[no-any-return]
        seen.extend(a for a in current.args if isinstance(a, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__):
            if isinstance(linked, BaseException):
                seen.append(linked)
    return None


def _headline(error: RequestException, info: ConnectionInfo) -> str:
    if info.stale and not info.replayed:
        return "server closed a reused connection before responding"
    if isinstance(error, DeadlineExceeded):
        return "total deadline passed"
    # the facts that follow name the phase
    if isinstance(error, RequestsTimeout):
        return "timed out"
    return "connection failed"


def diagnose(
    error: RequestException,
    request: PreparedRequest | None,
    facts: dict[str, object],
    timeout: Timeout | None,
    total: float | None,
) -> RequestException:
    """``error`` itself, its message led by what happened and the
    connection's facts, with them as ``error.connection_info``.

    The object is kept (class, ``args`` shape, ``request``, chaining):
    requests' own phrases (``Connection aborted.``, ``Read timed out.``)
    stay in the message, after the facts.
    """
    if getattr(error, "connection_info", None) is not None:
        return error
    phase = str(facts["phase"])
    if isinstance(error, DeadlineExceeded):
        bound_name: str | None = "total"
        bound = total
    else:
        bound_name = _PHASE_BOUNDS.get(phase)
        bound = (
            getattr(timeout, bound_name)
            if timeout is not None and bound_name is not None
            else None
        )
        if timeout is None:
            bound_name = None
    method = (request.method if request is not None else None) or "?"
    url = (request.url if request is not None else None) or "?"
    info = ConnectionInfo(
        method=method,
        url=url,
        bound_name=bound_name,
        bound=bound,
        **facts,  # type: ignore[arg-type]
    )
    _lead_message(error, f"{_headline(error, info)} ({info})")
    error.connection_info = info  # type: ignore[attr-defined]
    return error


def _lead_message(error: BaseException, text: str) -> None:
    """Put ``text`` in front of the message, where the message is: requests
    raises ``ConnectionError(urllib3_error)``, and code (requests' own tests
    among it) reads ``exc.args[0].args[0]``, so every ``args`` keeps its
    shape and only the first string is prefixed."""
    target = error
    for _ in range(3):
        first = target.args[0] if target.args else None
        if isinstance(first, str):
            target.args = (f"{text}: {first}", *target.args[1:])
            return
        if not isinstance(first, BaseException):
            return
        target = first


def diagnose_body(
    error: RequestException, raw: object, request: PreparedRequest | None
) -> RequestException:
    """``error`` raised reading the body of ``raw`` (a urllib3 response), with
    the connection's facts when ``raw`` came through a managed connection."""
    conn = getattr(raw, "_rm_conn", None)
    manager = getattr(conn, "_rm_manager", None)
    if manager is None or not isinstance(error, _CONNECTION_ERRORS):
        return error
    facts = manager.describe(conn._rm)  # type: ignore[union-attr]
    facts["phase"] = "body"
    deadline = getattr(raw, "_rm_deadline", None)
    total = None if deadline is None else deadline.total
    return diagnose(error, request, facts, conn._rm_timeout, total)  # type: ignore[union-attr]


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
