"""Exceptions and warnings raised by requests-managed.

Every class subclasses the ``requests.exceptions`` class a user already catches,
so switching from ``requests.Session`` to ``ManagedSession`` never breaks an
``except`` clause:

    requests.exceptions.RequestException (an OSError)
    ├── SessionClosed ........ a request on a closed session; never retry on it
    ├── ResponseTooLarge ..... the body passed max_body_bytes (decoded bytes);
    │                          retrying gets the same
    ├── InvalidTimeout ....... also a ValueError; a bad ``timeout=`` value
    ├── requests.exceptions.ConnectionError
    │   └── IncompleteResponseHead  also a ChunkedEncodingError; the server
    │                          closed inside the response's header block
    └── requests.exceptions.Timeout
        ├── requests.exceptions.ReadTimeout
        │   └── BodyReadTimeout  also a requests.exceptions.ConnectionError;
        │                      the read timeout passed while reading the body
        │                      (the status and headers had arrived)
        ├── WriteTimeout ..... also a requests.exceptions.ConnectionError;
        │                      the server took no part of the request for the
        │                      write timeout (a stalled upload)
        ├── PoolTimeout ...... no connection became free within the wait bound;
        │                      safe to retry (nothing was sent)
        └── DeadlineExceeded . also a requests.exceptions.ConnectionError;
                               the total deadline passed (connecting, sending,
                               waiting or reading the body). Retry only if the
                               request is idempotent.

    ResourceWarning
    └── ConnectionLeakWarning  a response was garbage-collected unclosed

A plain connect or read timeout is still requests' own ``ConnectTimeout`` or
``ReadTimeout``: only the total deadline is new.

Every ``requests.ConnectionError``, ``requests.Timeout`` and
``ChunkedEncodingError`` raised for a request that had a pooled connection
(the classes above and requests' own) carries that connection's facts as
``exc.connection_info`` (a :class:`~requests_managed.ConnectionInfo`: new or
reused, age, idle time, requests served, what the server announced or what
was learned, the phase that failed and its bound, whether the request was
replayed), and its message starts with them; requests' phrases follow.
"""

from __future__ import annotations

from requests.exceptions import ChunkedEncodingError as _RequestsChunkedEncodingError
from requests.exceptions import ConnectionError as _RequestsConnectionError
from requests.exceptions import ReadTimeout as _RequestsReadTimeout
from requests.exceptions import RequestException
from requests.exceptions import Timeout as _RequestsTimeout

__all__ = [
    "BodyReadTimeout",
    "ConnectionLeakWarning",
    "DeadlineExceeded",
    "IncompleteResponseHead",
    "InvalidTimeout",
    "PoolTimeout",
    "ResponseTooLarge",
    "SessionClosed",
    "WriteTimeout",
]


class InvalidTimeout(RequestException, ValueError):
    """A ``timeout=`` value that is not a valid timeout.

    Raised where the value enters (``ManagedSession(timeout=...)``, a request's
    ``timeout=``, ``Timeout(...)``); the message names the value and the forms
    that are accepted. Fix the value; retrying cannot help.
    """


class SessionClosed(RequestException):
    """A request was made on a ``ManagedSession`` after ``close()``.

    Nothing was sent. Create a new session instead of retrying.
    """


class IncompleteResponseHead(_RequestsConnectionError, _RequestsChunkedEncodingError):
    """The server closed the connection inside the response's header block.

    ``http.client`` takes the end of the stream for the end of the headers,
    so requests returns such a response as complete (a 200 with no body, or,
    when the cut head announced a chunked body, a ``ChunkedEncodingError``
    on reading it). It is never a success here; it is a ``ConnectionError``,
    and a ``ChunkedEncodingError`` too, so code written for requests' case
    keeps catching it. The server may have acted on the request.
    """


class ResponseTooLarge(RequestException):
    """The response body passed ``max_body_bytes``.

    Counted in *decoded* bytes, while streaming and in ``.content``, so a
    compressed bomb (a megabyte expanding to gigabytes) stops at the limit
    instead of filling memory. The connection is closed. Retrying returns
    the same body: raise the limit or stream the body instead.
    """


class PoolTimeout(_RequestsTimeout):
    """No connection became free within the pool's wait bound.

    Raised when ``PoolLimits.max_per_host`` or ``max_total`` is reached and no
    connection was released within ``wait_timeout`` (else the connect timeout).
    Nothing was sent, so a retry is safe.
    """


class DeadlineExceeded(_RequestsConnectionError, _RequestsTimeout):
    """The request's total deadline (``Timeout.total``) passed.

    The deadline covers connecting, sending, waiting for the response and
    reading its body (for ``stream=True``, until the body is consumed or the
    response closed). The connection is closed, never reused. It is also a
    ``requests.exceptions.ConnectionError`` because requests reports a timeout
    while reading a body as one. The server may have acted on the request:
    retry only idempotent requests.
    """


class BodyReadTimeout(_RequestsConnectionError, _RequestsReadTimeout):
    """The read timeout passed while the response body was being read.

    requests reports this as a plain ``ConnectionError``, so ``except
    requests.Timeout`` misses it; it is both, as requests' own
    ``ConnectTimeout`` is both a ``ConnectionError`` and a ``Timeout``, so
    old and new ``except`` clauses work. The status and headers had
    arrived: the server acted on the request, so retry only idempotent ones.
    """


class WriteTimeout(_RequestsConnectionError, _RequestsTimeout):
    """The server took no part of the request for ``Timeout.write`` seconds.

    Raised when an upload stalls: the server stopped reading the request
    body (or headers). A slow upload that keeps moving is not one; the total
    deadline bounds it. requests reports this as a ``ConnectionError``
    ("timed out"), so this is both. Part of the request may have reached the
    server: retry only idempotent requests.
    """


class ConnectionLeakWarning(ResourceWarning):
    """A response holding a connection was garbage-collected without being closed.

    The message names the file and line of the call that made the request. The
    connection is closed, not returned to the pool. Use ``with s.get(...,
    stream=True) as r:`` or call ``r.close()``.
    """
