"""Thin urllib3 shims: each override gathers facts and calls the manager.

urllib3 keeps one ``HTTPConnectionPool`` per origin and TLS configuration (its
pool keys carry ``verify``/``cert``: the CVE-2024-35195 fix). We keep its
pools and replace what happens at their seams with calls to the adapter's
:class:`~._manager.ConnectionManager`:

==========================  ==================================================
urllib3 seam                what the shim tells the manager
==========================  ==================================================
``_new_pool``               a pool exists: ``adopt`` (its slot)
``RecentlyUsedContainer``   a pool was evicted or cleared: ``retire``
``_get_conn``               ``checkout`` with the scope's timeout and deadline
``connect``                 ``connected``
``_make_request``           ``sending``; a reset before any response byte on a
                            reused connection is "stale"
``getresponse``             ``responded`` (``Connection: close``, Keep-Alive)
``_put_conn``               ``checkin`` with how the exchange ended
``close``                   ``discarded`` (urllib3 closed it after an error)
==========================  ==================================================

No override chooses a close reason or decides anything; each is a few lines.
Every private urllib3 name used here is pinned by ``tests/test_seams.py``.
"""

from __future__ import annotations

import contextvars
import copy
import http.client
import logging
import os
import socket
import ssl
import time
import weakref
from typing import Any

from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPConnectionPool, HTTPResponse, HTTPSConnectionPool, PoolManager
from urllib3 import connection as _urllib3_connection
from urllib3._collections import RecentlyUsedContainer
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util import SKIP_HEADER
from urllib3.util import Timeout as Urllib3Timeout
from urllib3.util.connection import allowed_gai_family
from urllib3.util.retry import Retry
from urllib3.util.wait import wait_for_read

from . import _dns, _scope
from ._deadline import Deadline
from ._errors import WriteStalled
from ._lifecycle import ConnRecord
from ._manager import ConnectionManager, DeadlinePassed, PoolSlot
from ._policy import ExchangeFacts, may_replay, replay_refusal
from ._response import ManagedHTTPResponse, StrictHTTPResponse, own_function
from ._timeouts import MIN_SOCKET_TIMEOUT, Timeout, socket_phase

__all__ = [
    "AdoptingProxies",
    "ManagedHTTPConnection",
    "ManagedHTTPConnectionPool",
    "ManagedHTTPSConnection",
    "ManagedHTTPSConnectionPool",
    "ManagedPoolManager",
    "manage_pool_manager",
    "managed_connection_class",
    "managed_pool_class",
]

logger = logging.getLogger("requests_managed")

# "The server had closed this connection before we used it": nothing of the
# response arrived. RemoteDisconnected is a ConnectionResetError; over TLS
# the same close surfaces as an EOF in violation of the protocol while writing.
_STALE_ERRORS = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


class _Attempt:
    """One ``urlopen`` call: did its reused connection turn out stale, and
    must its replay open a new connection? ``failed``: the connection an
    exchange failed on, and the request's Timeout (for the error's facts)."""

    __slots__ = ("failed", "force_new", "stale", "timeout")

    def __init__(self) -> None:
        self.stale = False
        self.force_new = False
        self.failed: Any = None
        self.timeout: Timeout | None = None


_attempt: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "requests_managed.attempt", default=None
)


class _DeadlineBoundSleeps:
    """Mixed into a copy of the request's urllib3 ``Retry``: no backoff or
    ``Retry-After`` sleep crosses the request's deadline. A sleep that would
    is cut short at the deadline, which then fails the request."""

    _rm_deadline: Deadline

    def new(self, **kw: Any) -> Any:
        # urllib3 makes a new Retry for every attempt: pass the deadline on.
        retry = super().new(**kw)  # type: ignore[misc]
        retry._rm_deadline = self._rm_deadline
        return retry

    def sleep(self, response: Any = None) -> None:
        retry: Any = self
        planned = None
        if response is not None and retry.respect_retry_after_header:
            planned = retry.get_retry_after(response)
        if planned is None:
            planned = retry.get_backoff_time()
        left = self._rm_deadline.remaining()
        if left is not None and planned >= left:
            time.sleep(left)
            raise DeadlinePassed()
        super().sleep(response)  # type: ignore[misc]


_BOUNDED: dict[type, type] = {}


def _bound_sleeps(retries: Retry, deadline: Deadline) -> Retry:
    """A copy of ``retries`` whose sleeps stop at ``deadline``."""
    cls = type(retries)
    bounded = _BOUNDED.get(cls)
    if bounded is None:
        bounded = _BOUNDED.setdefault(
            cls, type(f"DeadlineBound{cls.__name__}", (_DeadlineBoundSleeps, cls), {})
        )
    retry: Any = copy.copy(retries)
    retry.__class__ = bounded
    retry._rm_deadline = deadline
    return retry  # type: ignore[no-any-return]


_KEEP: Any = object()
#: A request body goes to the socket in pieces this large, so the write
#: timeout bounds each piece (progress), not the whole upload: CPython bounds
#: a whole sendall() by the socket's timeout.
_PIECE = 64 * 1024
# http.client's own header checks, for putheader's fast path
_CS_REQ_STARTED = http.client._CS_REQ_STARTED  # type: ignore[attr-defined]
_legal_header_name = http.client._is_legal_header_name  # type: ignore[attr-defined]
_illegal_header_value = http.client._is_illegal_header_value  # type: ignore[attr-defined]
_PLAIN_PUTHEADERS = (HTTPConnection.putheader, HTTPSConnection.putheader)
_HTTP_CLIENT_PUTHEADER = own_function(http.client.HTTPConnection.putheader, http.client)
_URLLIB3_PUTHEADER = own_function(HTTPConnection.putheader, _urllib3_connection)


def _putheaders_unpatched() -> bool:
    """Are the putheaders the fast path stands in for (urllib3's, and the
    http.client one it calls) and http.client's checks still the originals?
    (A spy in a test, an APM agent's wrapper, patch them at run time.)"""
    return (
        http.client.HTTPConnection.putheader is _HTTP_CLIENT_PUTHEADER
        and HTTPConnection.putheader is _URLLIB3_PUTHEADER
        and HTTPSConnection.putheader is _URLLIB3_PUTHEADER
        and http.client._is_legal_header_name is _legal_header_name  # type: ignore[attr-defined]
        and http.client._is_illegal_header_value is _illegal_header_value  # type: ignore[attr-defined]
    )


#: How long a request with "Expect: 100-continue" waits for the 100 (or an
#: early final response) before it sends the body anyway.
EXPECT_WAIT = 1.0


class _FinalBeforeBody(Exception):
    """The server answered before the body was sent (Expect: 100-continue)."""


def _expects_continue(headers: Any) -> bool:
    if not headers:
        return False
    for name, value in headers.items():
        if name.lower() == "expect":
            return str(value).strip().lower() == "100-continue"
    return False


class ManagedHTTPConnection(HTTPConnection):
    """A urllib3 connection that reports to its manager."""

    _rm: ConnRecord
    _rm_manager: ConnectionManager | None = None
    _rm_in_getresponse = False
    #: The socket http.client handed to a ``Connection: close`` response:
    #: the watchdog must still be able to shut it down.
    _rm_handed_sock: Any = None
    response_class = StrictHTTPResponse
    #: putheader's fast path is taken (the class's putheader is urllib3's)
    _rm_plain_headers = True
    #: ... and taken for the request being written (see request())
    _rm_fast_headers = False
    #: The write timeout of the request being sent; _KEEP: leave the socket's
    #: timeout as urllib3 set it (a connection used outside a managed scope).
    _rm_write: Any = _KEEP
    _rm_max_body: int | None = None
    #: Expect: 100-continue: the head is sent, the body waits for the 100
    _rm_expect = False
    _rm_head_sent = False
    _rm_body_skipped = False
    _rm_response: weakref.ref[HTTPResponse] | None = None
    #: The Timeout of the request being served (for the error's facts).
    _rm_timeout: Timeout | None = None

    def connect(self) -> None:
        deadline: Any = self._rm.deadline
        if deadline is not None:
            left = deadline.remaining()
            if left is not None and (self.timeout is None or self.timeout > left):
                self.timeout = left
        try:
            super().connect()
            if deadline is not None and deadline.passed():
                # The name lookup cannot be interrupted; it may have spent
                # the deadline (and the watchdog fired while no socket
                # existed to shut down): fail now that the socket exists.
                raise ConnectTimeoutError(
                    self,
                    f"the total deadline of {deadline.total!r} s passed while "
                    f"connecting to {self.host} (name lookup included)",
                )
        except ssl.SSLError:
            self._rm.phase = "tls"
            raise
        except TimeoutError as exc:
            # urllib3 raises ConnectTimeoutError for the TCP connect itself;
            # a bare socket timeout here is the TLS handshake (or a proxy
            # tunnel), which the connect phase bounds: say so, not "read".
            self._rm.phase = "tls"
            raise ConnectTimeoutError(
                self,
                f"Connection to {self.host} timed out during the TLS handshake. "
                f"(connect timeout={self.timeout})",
            ) from exc
        if self._rm_manager is not None:
            self._rm_manager.connected(self)

    def _new_conn(self) -> Any:
        # The name lookup, bounded like the connect: by the connect timeout
        # (already cut to what is left of the deadline). Then urllib3's own
        # _new_conn (socket options, source address, its errors) for each
        # address in turn, as create_connection would try them.
        host, wait = self._dns_host, self.timeout
        if (
            not isinstance(wait, (int, float))  # None, or urllib3's default
            or _dns.is_literal(host)
            or super()._new_conn.__func__ is not _URLLIB3_NEW_CONN  # type: ignore[attr-defined]
        ):
            return super()._new_conn()  # SOCKS and others resolve their own way
        started = time.monotonic()
        try:
            addresses = _dns.resolve(host, self.port, allowed_gai_family(), wait)
        except _dns.LookupTimedOut:
            raise ConnectTimeoutError(
                self,
                f"Connection to {self.host} timed out: the name lookup took more "
                f"than {wait:g} s (connect timeout={wait:g}, or what was left of "
                "the total deadline)",
            ) from None
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: Exception | None = None
        try:
            for address in addresses:
                left = wait - (time.monotonic() - started)
                if left <= 0:
                    break
                self._dns_host, self.timeout = address, max(left, MIN_SOCKET_TIMEOUT)
                try:
                    return super()._new_conn()
                except (NewConnectionError, ConnectTimeoutError) as exc:
                    error = exc
        finally:
            self._dns_host, self.timeout = host, wait
        if error is not None:
            raise error
        raise ConnectTimeoutError(
            self, f"Connection to {self.host} timed out. (connect timeout={wait:g})"
        )

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        # http.client closes the connection inside getresponse() when the
        # server announced ``Connection: close``, handing the socket to the
        # response; that close is not the end of our use of the connection.
        self._rm_in_getresponse = True
        self._rm.phase = "read"
        try:
            response: HTTPResponse = super().getresponse()
        finally:
            self._rm_in_getresponse = False
        if not isinstance(response, HTTPResponse):
            # A recorder's stand-in (vcrpy replays through an http.client
            # response of its own): pass it on as it is.
            if self._rm_manager is not None:
                self._rm_manager.responded(self, will_close=False, keep_alive=None)
            self._rm_response = weakref.ref(response)
            return response
        original = response._original_response
        if self._rm_manager is not None:
            self._rm_manager.responded(
                self,
                will_close=bool(original is not None and original.will_close),
                keep_alive=response.headers.get("keep-alive"),
            )
        if self._rm_body_skipped:
            # the request's body was never sent: the connection cannot go on
            self._rm.will_close = True
        response.__class__ = ManagedHTTPResponse
        response._rm_deadline = self._rm.deadline  # type: ignore[attr-defined]
        response._rm_limit = self._rm_max_body  # type: ignore[attr-defined]
        response._rm_conn = self  # type: ignore[attr-defined]
        self._rm_response = weakref.ref(response)
        return response

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Any = None,
        **kwargs: Any,
    ) -> None:
        # RFC 9110 section 10.1.1: with "Expect: 100-continue" the body waits
        # (bounded) for the interim 100; a final response that comes first
        # (401, 413, 417) is the answer, and the body is never sent.
        self._rm_expect = body is not None and _expects_continue(headers)
        self._rm_head_sent = self._rm_body_skipped = False
        if self.sock is not None:  # else connect() comes first
            self._rm.phase = "write"
        # putheader's fast path, decided once for the headers of this request
        # (outside request(), a putheader call is always theirs)
        self._rm_fast_headers = self._rm_plain_headers and _putheaders_unpatched()
        try:
            super().request(method, url, body=body, headers=headers, **kwargs)
        except _FinalBeforeBody:
            self._rm_body_skipped = True
        finally:
            self._rm_expect = self._rm_fast_headers = False

    def _rm_await_continue(self) -> None:
        """Before the first body byte: wait for the server's word."""
        sock = self.sock
        if sock is None:
            return
        wait = EXPECT_WAIT
        deadline: Any = self._rm.deadline
        left = None if deadline is None else deadline.remaining()
        if left is not None and left < wait:
            wait = left
        if not wait_for_read(sock, timeout=wait):
            return  # no word: send the body (a client need not wait longer)
        if isinstance(sock, ssl.SSLSocket):
            return  # no peeking through TLS; http.client skips a 100 itself
        head = sock.recv(12, socket.MSG_PEEK)
        if head and head[9:12] != b"100":
            raise _FinalBeforeBody

    def putheader(self, header: Any, *values: Any) -> None:
        # http.client's putheader, for the one case every request has many
        # of (a str name, one str value, neither urllib3's SKIP_HEADER): the
        # same checks and the same line in the buffer, without urllib3's
        # SKIP_HEADER scan and http.client's generic value loop. Anything
        # else, or a failed check, is theirs (with their errors), as is a
        # class that overrides putheader (a recorder's) and a putheader
        # patched at run time.
        if self._rm_fast_headers and len(values) == 1 and type(header) is str:
            (value,) = values
            if (
                type(value) is str
                and value != SKIP_HEADER
                and self._HTTPConnection__state == _CS_REQ_STARTED  # type: ignore[attr-defined]
            ):
                name = header.encode("ascii")
                data = value.encode("latin-1")
                if _legal_header_name(name) and not _illegal_header_value(data):
                    self._buffer.append(name + b": " + data)  # type: ignore[attr-defined]
                    return
        super().putheader(header, *values)

    def send(self, data: Any) -> None:
        if self._rm_expect:
            if self._rm_head_sent:
                self._rm_expect = False
                self._rm_await_continue()
            else:
                self._rm_head_sent = True  # the first send is the head
        write = self._rm_write
        if write is _KEEP:
            super().send(data)
            return
        if self.sock is None:
            self.connect()  # as http.client's send() would
        self._rm.phase = "write"
        self.sock.settimeout(write)
        if isinstance(data, (bytes, bytearray)) and len(data) > _PIECE:
            view = memoryview(data)
            for start in range(0, len(view), _PIECE):
                self._rm_send(view[start : start + _PIECE])
        else:
            self._rm_send(data)

    def _rm_send(self, piece: Any) -> None:
        try:
            super().send(piece)
        except TimeoutError as exc:
            raise WriteStalled(
                f"the server took no part of the request for {self._rm_write!r} s "
                f"(Timeout.write) while it was sent to {self.host}"
            ) from exc

    def close(self) -> None:
        if self._rm_in_getresponse:
            self._rm_handed_sock = self.sock
        try:
            super().close()
        finally:
            if self._rm_manager is not None and not self._rm_in_getresponse:
                self._rm_manager.discarded(self)

    @property
    def rm_socket(self) -> Any:
        """The socket that carries the exchange (for the watchdog)."""
        return self.sock if self.sock is not None else self._rm_handed_sock

    def rm_dropped(self) -> bool:
        sock = self.sock
        if sock is None:
            return True
        if not isinstance(sock, socket.socket):
            return False  # a recorder's stand-in (vcrpy): nothing to probe
        return wait_for_read(sock, timeout=0.0)

    def rm_forget(self) -> None:
        # After fork: close the child's descriptor only. detach() first, so
        # neither the socket object nor a file made from it (a response's
        # body) can reach the parent's connection again.
        sock, self.sock = self.sock, None
        if sock is not None:
            fd = sock.detach()
            if fd >= 0:
                os.close(fd)


_URLLIB3_NEW_CONN = HTTPConnection._new_conn


class ManagedHTTPSConnection(ManagedHTTPConnection, HTTPSConnection):
    """A urllib3 ``HTTPSConnection`` that reports to its manager."""


class ManagedHTTPConnectionPool(HTTPConnectionPool):
    """A urllib3 pool whose check-out and release go through the manager."""

    ConnectionCls = ManagedHTTPConnection
    #: The urllib3 pool class this one manages: its ``ConnectionCls``, read
    #: afresh for every new connection, is the class our connections extend,
    #: so a patch of it (vcrpy's, while a cassette is in use) takes effect.
    _rm_base: type[HTTPConnectionPool] = HTTPConnectionPool
    _rm_manager: ConnectionManager
    _rm_slot: PoolSlot

    def _rm_connection_class(self) -> type[ManagedHTTPConnection]:
        base = self._rm_base.ConnectionCls
        return _CONNECTIONS.get(base) or managed_connection_class(base)

    def _new_conn(self) -> Any:
        self.ConnectionCls = self._rm_connection_class()
        conn: Any = super()._new_conn()
        conn._rm_manager = self._rm_manager
        return conn

    def _get_timeout(self, timeout: Any) -> Any:
        # urllib3 clones the request's Timeout, validating its values again;
        # the clone is the same values with the timer not started.
        if type(timeout) is Urllib3Timeout:
            fresh = object.__new__(Urllib3Timeout)
            fresh.__dict__.update(timeout.__dict__)
            fresh._start_connect = None
            return fresh
        return super()._get_timeout(timeout)

    def _get_conn(self, timeout: float | None = None) -> Any:
        manager = self._rm_manager
        scope = _scope.owned_by(manager)
        attempt = _attempt.get()
        if scope is not None and timeout is None:
            timeout = scope.timeout.connect
        force_new = attempt is not None and attempt.force_new
        while True:
            conn: Any = manager.checkout(
                self._rm_slot,
                wait=timeout,
                deadline=None if scope is None else scope.deadline,
                force_new=force_new,
            )
            if type(conn) is self._rm_connection_class():
                return conn
            # Made under another connection class (before or inside a vcrpy
            # cassette): this request must not go through it.
            conn.close()
            force_new = True

    def _put_conn(self, conn: Any) -> None:
        # ``None`` means urllib3 closed the connection after an error; its
        # close() has already been reported.
        if conn is None or getattr(conn, "_rm", None) is None:
            return
        ref, conn._rm_response = conn._rm_response, None
        response = ref() if ref is not None else None
        self._rm_manager.checkin(
            conn,
            ExchangeFacts(
                will_close=conn._rm.will_close or conn.is_closed,
                complete=response is None or response.isclosed(),
            ),
        )

    def close(self) -> None:
        self._rm_manager.retire(self._rm_slot)
        super().close()

    def _make_request(
        self, conn: Any, method: str, url: str, *args: Any, **kwargs: Any
    ) -> Any:
        reused = self._rm_manager.sending(conn)
        scope = _scope.owned_by(self._rm_manager)
        timeout = None
        if scope is not None:
            left = scope.deadline.remaining()
            timeout = scope.timeout
            conn._rm_write = socket_phase(timeout.write, left)
            conn._rm_max_body = scope.max_body
        conn._rm_timeout = timeout
        try:
            return super()._make_request(conn, method, url, *args, **kwargs)
        except Exception as exc:
            attempt = _attempt.get()
            if attempt is not None:
                attempt.failed, attempt.timeout = conn, timeout
                if reused and isinstance(exc, _STALE_ERRORS):
                    attempt.stale = not self._rm_manager.deadline_passed(conn)
                    if attempt.stale:
                        self._rm_manager.stale(conn)
            raise

    def urlopen(  # type: ignore[override]
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Any = None,
        retries: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # A reused connection the server closed while it sat idle fails before
        # any response byte arrives; the policy says whether to replay it
        # once, on a new connection.
        scope = _scope.owned_by(self._rm_manager)
        if (
            scope is not None
            and scope.deadline.at is not None
            and isinstance(retries, Retry)
            and retries.total not in (0, False)  # no retry, no sleep (the default)
            and not isinstance(retries, _DeadlineBoundSleeps)
        ):
            retries = _bound_sleeps(retries, scope.deadline)
        if type(headers) is CaseInsensitiveDict and not self.proxy_headers:
            # requests' headers: urllib3 iterates them twice (names, then
            # items), which a CaseInsensitiveDict does in Python, item by
            # item; the same names and values in the same order, as a dict
            # (not with proxy headers: urllib3 adds them with update(), which
            # replaces a header of another case only in requests' dict)
            headers = dict(headers._store.values())  # type: ignore[attr-defined]
        attempt = _Attempt()
        token = _attempt.set(attempt)
        try:
            try:
                return super().urlopen(
                    method, url, body, headers, retries, *args, **kwargs
                )
            except Exception as exc:
                if not (attempt.stale and may_replay(method, body)):
                    refusal = replay_refusal(method, body) if attempt.stale else None
                    self._rm_facts(exc, attempt, replayed=False, refusal=refusal)
                    raise
            logger.debug("replaying %s %s on a new connection", method, url)
            attempt.stale, attempt.force_new, attempt.failed = False, True, None
            try:
                return super().urlopen(
                    method, url, body, headers, retries, *args, **kwargs
                )
            except Exception as exc:
                self._rm_facts(exc, attempt, replayed=True, refusal=None)
                raise
        finally:
            _attempt.reset(token)

    def _rm_facts(
        self, exc: Exception, attempt: _Attempt, replayed: bool, refusal: str | None
    ) -> None:
        # Facts only: _errors.py turns them into the message and attribute.
        conn = attempt.failed
        if conn is None or getattr(conn, "_rm", None) is None:
            return  # no connection was involved (a pool wait, the deadline)
        facts = self._rm_manager.describe(conn._rm)
        facts.update(stale=attempt.stale, replayed=replayed, not_replayed=refusal)
        exc._rm_facts = (facts, attempt.timeout)  # type: ignore[attr-defined]


class ManagedHTTPSConnectionPool(ManagedHTTPConnectionPool, HTTPSConnectionPool):
    ConnectionCls = ManagedHTTPSConnection
    _rm_base = HTTPSConnectionPool


# Managed variants of urllib3 connection and pool classes (a SOCKS pool, a
# library's own pool class, vcrpy's recording connections): made once each.
_CONNECTIONS: dict[type, type[ManagedHTTPConnection]] = {
    HTTPConnection: ManagedHTTPConnection,
    HTTPSConnection: ManagedHTTPSConnection,
}
_POOLS: dict[type, type[ManagedHTTPConnectionPool]] = {
    HTTPConnectionPool: ManagedHTTPConnectionPool,
    HTTPSConnectionPool: ManagedHTTPSConnectionPool,
}


def managed_connection_class(cls: type) -> type[ManagedHTTPConnection]:
    """``cls`` (a urllib3 connection class) reporting to its manager."""
    if issubclass(cls, ManagedHTTPConnection):
        return cls
    variant = _CONNECTIONS.get(cls)
    if variant is None:
        # putheader's fast path only over urllib3's own putheader
        plain = getattr(cls, "putheader", None) in _PLAIN_PUTHEADERS
        made = type(
            f"Managed{cls.__name__}",
            (ManagedHTTPConnection, cls),
            {"_rm_plain_headers": plain},
        )
        variant = _CONNECTIONS.setdefault(cls, made)
    return variant


def managed_pool_class(
    cls: type[HTTPConnectionPool],
) -> type[ManagedHTTPConnectionPool]:
    """``cls`` (a urllib3 pool class) checking out through the manager."""
    if issubclass(cls, ManagedHTTPConnectionPool):
        return cls
    variant = _POOLS.get(cls)
    if variant is None:
        made = type(
            f"Managed{cls.__name__}",
            (ManagedHTTPConnectionPool, cls),
            {
                "_rm_base": cls,
                "ConnectionCls": managed_connection_class(cls.ConnectionCls),
            },
        )
        variant = _POOLS.setdefault(cls, made)
    return variant


class _ManagedPools:
    """Mixed into a urllib3 ``PoolManager`` class (``ProxyManager``,
    ``SOCKSProxyManager``, a library's subclass): its new pools are adopted
    by the manager. Instances get there through :func:`manage_pool_manager`."""

    _rm_manager: ConnectionManager

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)  # type: ignore[misc]
        if isinstance(pool, ManagedHTTPConnectionPool):
            pool._rm_manager = self._rm_manager
            pool._rm_slot = self._rm_manager.adopt(
                (scheme, host.lower(), port), pool._new_conn
            )
        return pool  # type: ignore[no-any-return]


_MANAGERS: dict[type, type] = {}


def manage_pool_manager(pm: PoolManager, manager: ConnectionManager) -> bool:
    """Make ``pm`` create managed pools that report to ``manager``, in place.

    The object stays the same (the adapter that holds it, and anything else,
    keep their reference), with its settings (``connection_pool_kw``: an
    ``ssl_context``, a ``source_address``, proxy settings) as they are; its
    class becomes a managed variant of its class, its pool classes managed
    variants of theirs. Pools it had already made are closed.

    Returns False, changing nothing, when ``pm`` already reports to another
    manager (one pool manager shared by several sessions).
    """
    owner = getattr(pm, "_rm_manager", None)
    if owner is manager:
        return True
    if owner is not None:
        return False
    cls = type(pm)
    variant = _MANAGERS.get(cls)
    if variant is None:
        made = type(cls.__name__, (_ManagedPools, cls), {"__module__": cls.__module__})
        variant = _MANAGERS.setdefault(cls, made)
    old = pm.pools
    pm.__class__ = variant
    pm._rm_manager = manager  # type: ignore[attr-defined]
    # urllib3 2.x drops a pool it evicts (or clears) without closing it: the
    # manager retires it instead (idle connections close now, in-use ones on
    # release, waiters are still served).
    pm.pools = RecentlyUsedContainer(old._maxsize, dispose_func=_retire_pool)
    pm.pool_classes_by_scheme = {
        scheme: managed_pool_class(pool_cls)
        for scheme, pool_cls in pm.pool_classes_by_scheme.items()
    }
    for key in old.keys():  # noqa: SIM118 (the container refuses iteration)
        pool = old.get(key)
        if pool is not None:
            pool.close()
    return True


class ManagedPoolManager(_ManagedPools, PoolManager):
    """A ``PoolManager`` creating managed pools that share one manager."""

    def __init__(self, manager: ConnectionManager, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rm_manager = manager
        # The container PoolManager just made, still empty: given the
        # dispose_func a RecentlyUsedContainer(..., dispose_func=) would have
        # (a second container, with its own RLock, cost a tenth of a session).
        self.pools.dispose_func = _retire_pool
        self.pool_classes_by_scheme = {
            "http": ManagedHTTPConnectionPool,
            "https": ManagedHTTPSConnectionPool,
        }


class AdoptingProxies(dict[str, PoolManager]):
    """An adapter's ``proxy_manager`` mapping: each proxy manager requests
    puts in (``HTTPAdapter.proxy_manager_for``) is made managed first."""

    def __init__(self, manager: ConnectionManager) -> None:
        super().__init__()
        self.manager = manager

    def __setitem__(self, proxy: str, pm: PoolManager) -> None:
        if isinstance(pm, PoolManager):
            manage_pool_manager(pm, self.manager)
        super().__setitem__(proxy, pm)


def _retire_pool(pool: HTTPConnectionPool) -> None:
    if isinstance(pool, ManagedHTTPConnectionPool):
        pool._rm_manager.retire(pool._rm_slot)
    else:
        pool.close()
