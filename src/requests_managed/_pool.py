"""Managed urllib3 pools: record facts, ask the policy, act, count.

urllib3 keeps one ``HTTPConnectionPool`` per origin and TLS configuration, each
with its own queue. We keep urllib3's pools (and so its pool keys, which carry
``verify``/``cert``: the CVE-2024-35195 fix) but replace what happens at their
two seams, ``_get_conn`` (check-out) and ``_put_conn`` (release), with one
:class:`ConnectionManager` per session. It owns, under one lock:

* the idle connections of every pool (a LIFO stack per pool, newest on top);
* per-host counters (:class:`~._stats.Counters`), updated on each transition,
  never recomputed by scanning;
* the limits: ``max_per_host``/``max_total`` make callers wait (bounded)
  instead of opening more; ``max_idle_per_host`` closes the excess on
  release, counted as ``pool-overflow``.
* the callers waiting at a limit, first come first served (as Go's
  ``http.Transport`` queues them): a released connection is handed straight
  to the first caller waiting for its pool, and a newcomer never overtakes a
  waiting caller. Without that, the thread that just released a connection
  takes it back on its next request before a woken waiter runs, and a waiter
  can starve until ``PoolTimeout`` while connections are freed every
  millisecond.

Decisions are made under the lock; sockets are closed and listeners called
outside it. A connection's states are ``IN_USE -> IDLE -> IN_USE ... ->
CLOSED``; the only place a close is counted is :meth:`ManagedHTTPConnection.close`,
whoever calls it (us, urllib3 after an error, or a response being closed).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from http.client import HTTPException
from typing import TYPE_CHECKING, Any, cast

from urllib3 import HTTPConnectionPool, HTTPResponse, HTTPSConnectionPool, PoolManager
from urllib3._collections import RecentlyUsedContainer
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ClosedPoolError,
    EmptyPoolError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.wait import wait_for_read

from . import _deadline
from ._leaks import CallSite, report
from ._limits import PoolLimits
from ._policy import (
    CloseReason,
    ConnectionFacts,
    ExchangeFacts,
    KeepAlivePolicy,
    decide_checkout,
    decide_release,
    parse_keep_alive,
    should_drain,
)
from ._stats import ConnectionEvent, Counters, EventKind, HostKey, PoolStats, summarize
from .exceptions import DeadlineExceeded

if TYPE_CHECKING:
    from ._deadline import Deadline, _Arming
    from ._stats import ConnectionListener
    from ._timeouts import Timeout

logger = logging.getLogger("requests_managed")

_IN_USE, _IDLE, _CLOSED = 1, 2, 3
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# Errors meaning "the server had closed this connection before we used it":
# nothing of the response arrived (RemoteDisconnected is a ConnectionResetError).
_STALE_ERRORS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_connection_ids = itertools.count(1)


class _RequestContext(threading.local):
    """What the session hands down to the pool for the request in flight.

    requests' ``HTTPAdapter.send`` has no way to pass extra arguments to
    ``urlopen``, and a request runs on one thread from ``send()`` until its
    headers arrive, so the session sets these for the duration of ``send()``.
    """

    deadline: Deadline | None = None
    timeout: Timeout | None = None
    stale: bool = False
    force_new: bool = False


context = _RequestContext()


class PoolWaitTimeout(EmptyPoolError):
    """Internal: no connection became free in time (becomes ``PoolTimeout``)."""


class DeadlinePassed(EmptyPoolError):
    """Internal: the deadline passed before a connection was checked out."""


class ManagedHTTPConnection(HTTPConnection):
    """Facts about one connection, and the one place its close is counted."""

    _rm_manager: ConnectionManager | None = None
    _rm_key: HostKey = ("", "", 0)
    _rm_state = _IN_USE
    _rm_connected = False
    _rm_requests = 0
    _rm_created = 0.0
    _rm_last_used = 0.0
    _rm_server_idle: float | None = None
    _rm_server_max: int | None = None
    _rm_will_close = False
    _rm_in_getresponse = False
    _rm_close_reason: CloseReason | None = None
    _rm_deadline: Deadline | None = None
    _rm_arming: _Arming | None = None
    _rm_response: weakref.ref[HTTPResponse] | None = None
    _rm_pool: weakref.ref[ManagedHTTPConnectionPool] | None = None
    _rm_generation = 0
    _rm_id = 0

    def connect(self) -> None:
        deadline = self._rm_deadline
        if deadline is not None:
            left = deadline.remaining()
            if left is not None and (self.timeout is None or self.timeout > left):
                self.timeout = left
        super().connect()
        manager = self._rm_manager
        if manager is not None and not self._rm_connected:
            self._rm_connected = True
            now = time.monotonic()
            self._rm_created = self._rm_last_used = now
            manager.opened(self)

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]
        # http.client closes the connection inside getresponse() when the
        # server announced ``Connection: close``, handing the socket to the
        # response; that close is not the end of our use of the connection.
        self._rm_in_getresponse = True
        try:
            response: HTTPResponse = super().getresponse()
        finally:
            self._rm_in_getresponse = False
        original = response._original_response
        self._rm_will_close = bool(original is not None and original.will_close)
        keep_alive = response.headers.get("keep-alive")
        if keep_alive is not None:
            self._rm_server_idle, self._rm_server_max = parse_keep_alive(keep_alive)
        # urllib3 builds its HTTPResponse class by name; ours adds no state
        # beyond these attributes, so switching the class in place is safe.
        response.__class__ = ManagedHTTPResponse
        response._rm_deadline = self._rm_deadline  # type: ignore[attr-defined]
        response._rm_policy = (  # type: ignore[attr-defined]
            self._rm_manager.policy if self._rm_manager is not None else None
        )
        self._rm_response = weakref.ref(response)
        return response

    def close(self) -> None:
        if self._rm_in_getresponse:
            super().close()
            return
        reason = self._rm_close_reason
        if reason is None:
            deadline = self._rm_deadline
            expired = deadline is not None and deadline.passed()
            reason = CloseReason.DEADLINE if expired else CloseReason.ERROR
        try:
            super().close()
        finally:
            manager = self._rm_manager
            if manager is not None and self._rm_state != _CLOSED:
                manager.closed(self, reason)

    def _rm_facts(self) -> ConnectionFacts:
        return ConnectionFacts(
            created=self._rm_created,
            last_used=self._rm_last_used,
            requests=self._rm_requests,
            server_idle_timeout=self._rm_server_idle,
            server_max_requests=self._rm_server_max,
        )


class ManagedHTTPSConnection(ManagedHTTPConnection, HTTPSConnection):
    """A urllib3 ``HTTPSConnection`` that reports to its ``ConnectionManager``."""


class ManagedHTTPResponse(HTTPResponse):
    """urllib3's response with deadline errors and drain-or-close on ``close()``."""

    _rm_deadline: Deadline | None
    _rm_policy: KeepAlivePolicy | None

    def _rm_translate(self, exc: Exception) -> None:
        deadline = self._rm_deadline
        if deadline is not None and deadline.passed():
            raise DeadlineExceeded(
                f"total deadline of {deadline.total!r} s passed while reading "
                f"the response body{self._rm_origin()}"
            ) from exc

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
        except (ProtocolError, ReadTimeoutError, SSLError, OSError) as exc:
            self._rm_translate(exc)
            raise

    def read_chunked(self, *args: Any, **kwargs: Any) -> Any:
        try:
            yield from super().read_chunked(*args, **kwargs)
        except (ProtocolError, ReadTimeoutError, SSLError, OSError) as exc:
            self._rm_translate(exc)
            raise

    _rm_where: CallSite | None = None

    def release_conn(self) -> None:
        self._rm_where = None
        super().release_conn()

    def __del__(self) -> None:
        # io.IOBase's finalizer calls close(); a response still holding its
        # connection at this point was dropped without being closed.
        where = self._rm_where
        if where is not None and self._connection is not None:
            self._rm_where = None
            report(self._connection, where)
        super().__del__()

    def close(self) -> None:
        self._rm_where = None
        conn = self._connection
        if isinstance(conn, ManagedHTTPConnection) and not self.isclosed():
            self._rm_drain_or_mark(conn)
        super().close()

    def _rm_drain_or_mark(self, conn: ManagedHTTPConnection) -> None:
        """Read a small rest of the body so the connection survives, else mark it.

        After a complete drain urllib3 has already released the connection
        (``self._connection`` is None); otherwise ``super().close()`` closes
        it with the reason set here.
        """
        policy = self._rm_policy
        remaining = self.length_remaining
        exchange = ExchangeFacts(
            will_close=conn._rm_will_close,
            complete=False,
            unread=remaining,
            framed=remaining is not None or self.chunked,
            deadline=self._rm_deadline is not None and self._rm_deadline.passed(),
        )
        if policy is not None and should_drain(policy, exchange):
            budget = policy.drain_limit + 1
            try:
                while budget > 0 and self._connection is not None:
                    data = self._raw_read(min(budget, 65536))
                    if not data:
                        break
                    budget -= len(data)
            except (HTTPException, OSError, ProtocolError, ReadTimeoutError, SSLError):
                conn._rm_close_reason = CloseReason.ERROR
                return
            if self._connection is None or self.isclosed():
                return
        conn._rm_close_reason = (
            CloseReason.DEADLINE if exchange.deadline else CloseReason.UNREAD_BODY
        )


class ManagedHTTPConnectionPool(HTTPConnectionPool):
    """An urllib3 pool whose check-out and release go through the manager."""

    ConnectionCls = ManagedHTTPConnection
    _rm_manager: ConnectionManager
    _rm_key: HostKey
    _rm_idle: collections.deque[ManagedHTTPConnection]
    _rm_closed = False

    def _get_conn(self, timeout: float | None = None) -> Any:
        return self._rm_manager.checkout(self, timeout)

    def _put_conn(self, conn: Any) -> None:
        # ``None`` means urllib3 closed the connection after an error; its
        # close() has already been counted.
        if conn is not None:
            self._rm_manager.checkin(conn)

    def close(self) -> None:
        self._rm_manager.close_pool(self)
        super().close()

    def _make_request(
        self, conn: Any, method: str, url: str, *args: Any, **kwargs: Any
    ) -> Any:
        reused = conn._rm_requests > 0
        self._rm_manager.sending(conn, reused)
        try:
            return super()._make_request(conn, method, url, *args, **kwargs)
        except _STALE_ERRORS:
            deadline = conn._rm_deadline
            if reused and not (deadline is not None and deadline.passed()):
                context.stale = True
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
        # any response byte arrives; replay once on a fresh connection when
        # the method is idempotent and the body can be sent again.
        context.stale = False
        try:
            return super().urlopen(method, url, body, headers, retries, *args, **kwargs)
        except Exception:
            if not context.stale:
                raise
            context.stale = False
            if method.upper() not in _IDEMPOTENT or not (
                body is None or isinstance(body, (bytes, str))
            ):
                raise
            logger.debug("retrying %s %s on a fresh connection", method, url)
            context.force_new = True
            try:
                return super().urlopen(
                    method, url, body, headers, retries, *args, **kwargs
                )
            finally:
                context.force_new = False


class ManagedHTTPSConnectionPool(ManagedHTTPConnectionPool, HTTPSConnectionPool):
    ConnectionCls = ManagedHTTPSConnection


class ManagedPoolManager(PoolManager):
    """A ``PoolManager`` creating managed pools that share one manager."""

    def __init__(self, manager: ConnectionManager, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rm_manager = manager
        # urllib3 2.x drops a pool it evicts (or clears) without closing it,
        # and the pool's idle sockets would stay open until it is collected.
        # Closing a managed pool is safe for responses still being read: it
        # closes the idle connections now and each in-use one on release.
        self.pools = RecentlyUsedContainer(
            self.pools._maxsize, dispose_func=_close_pool
        )
        self.pool_classes_by_scheme = {
            "http": ManagedHTTPConnectionPool,
            "https": ManagedHTTPSConnectionPool,
        }

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        if isinstance(pool, ManagedHTTPConnectionPool):
            self._rm_manager.adopt(pool, (scheme, host.lower(), port))
        return pool


def _close_pool(pool: HTTPConnectionPool) -> None:
    pool.close()


_managers: weakref.WeakSet[ConnectionManager] = weakref.WeakSet()


class _Waiter:
    """A caller waiting at a limit; woken by its own condition (same lock)."""

    __slots__ = ("cond", "conn", "key", "pool")

    def __init__(self, pool: ManagedHTTPConnectionPool, lock: threading.Lock) -> None:
        self.pool = pool
        self.key = pool._rm_key
        self.cond = threading.Condition(lock)
        # a connection handed over on release (already counted as in use)
        self.conn: ManagedHTTPConnection | None = None


class ConnectionManager:
    """Every connection of one session: limits, policy, counters, events."""

    def __init__(self, limits: PoolLimits, policy: KeepAlivePolicy) -> None:
        self.limits = limits
        self.policy = policy
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._counters: dict[HostKey, Counters] = {}
        self._pools: weakref.WeakSet[ManagedHTTPConnectionPool] = weakref.WeakSet()
        self._open_total = 0
        self._closed = False
        self._generation = 0
        self.listeners: tuple[ConnectionListener, ...] = ()
        _managers.add(self)

    def __repr__(self) -> str:
        with self._cond:
            idle = sum(c.idle for c in self._counters.values())
            in_use = sum(c.in_use for c in self._counters.values())
        state = "closed" if self._closed else "open"
        return (
            f"<ConnectionManager {state} [Connections: {in_use} in use, {idle} idle]>"
        )

    # -- wiring ------------------------------------------------------------

    def adopt(self, pool: ManagedHTTPConnectionPool, key: HostKey) -> None:
        pool._rm_manager = self
        pool._rm_key = key
        pool._rm_idle = collections.deque()
        with self._cond:
            self._pools.add(pool)
            if key not in self._counters:
                self._counters[key] = Counters()

    # -- check-out -----------------------------------------------------------

    def checkout(self, pool: ManagedHTTPConnectionPool, wait: float | None) -> Any:
        deadline = context.deadline
        limits = self.limits
        if wait is None:
            wait = limits.wait_timeout
        if wait is None and context.timeout is not None:
            wait = context.timeout.connect
        if deadline is not None:
            left = deadline.remaining()
            if left is not None and (wait is None or left < wait):
                wait = left
        key = pool._rm_key
        counters = self._counters[key]
        give_up = None if wait is None else time.monotonic() + wait
        waiter: _Waiter | None = None
        while True:
            evicted: ManagedHTTPConnection | None = None
            conn: ManagedHTTPConnection | None = None
            handed = opening = False
            with self._cond:
                if waiter is not None and waiter.conn is not None:
                    conn, waiter = waiter.conn, None  # handed over on release
                    handed = True
                elif deadline is not None and deadline.passed():
                    self._leave(waiter)
                    raise DeadlinePassed(pool, "deadline passed")
                elif self._closed or pool._rm_closed:
                    self._leave(waiter)
                    raise ClosedPoolError(pool, "Pool is closed.")
                else:
                    # A newcomer queues behind callers already waiting for the
                    # same connections; a waiter takes whatever it finds.
                    waiters = self._waiters if waiter is None else None
                    if (
                        pool._rm_idle
                        and not context.force_new
                        and not (waiters and self._waiting_for(pool, waiters))
                    ):
                        conn = pool._rm_idle.pop()
                        conn._rm_state = _IN_USE
                        counters.idle -= 1
                        counters.in_use += 1
                    elif not (waiters and self._waiting_for_key(key, waiters)):
                        if self._may_open(key, counters):
                            counters.in_use += 1
                            self._open_total += 1
                            opening = True
                        else:
                            evicted = self._evict_idle(key, counters)
                    if conn is not None or evicted is not None or opening:
                        self._leave(waiter)
                        waiter = None
                    else:
                        if waiter is None:
                            waiter = _Waiter(pool, self._lock)
                            self._waiters.append(waiter)
                            counters.waits += 1
                        left = None if give_up is None else give_up - time.monotonic()
                        if left is not None and left <= 0:
                            self._leave(waiter)
                            counters.pool_timeouts += 1
                            raise PoolWaitTimeout(
                                pool,
                                f"no connection to {key[1]}:{key[2]} became free "
                                f"within {wait!r} s (limits: {self.limits!r})",
                            )
                        waiter.cond.wait(left)
                        continue
            if opening:
                return self._new(pool, key, deadline)
            if evicted is not None:
                evicted.close()
                continue
            if conn is None:  # unreachable: every branch above set one
                continue
            if handed and deadline is not None and deadline.passed():
                self.checkin(conn)  # out of time while waiting: pass it on
                raise DeadlinePassed(pool, "deadline passed")
            # Decisions that need a clock reading or a syscall happen outside
            # the lock; an expired connection is closed and we go round again.
            decision = decide_checkout(self.policy, conn._rm_facts(), time.monotonic())
            if not decision.keep:
                conn._rm_close_reason = decision.reason
                conn.close()
                continue
            if conn.sock is None or wait_for_read(conn.sock, timeout=0.0):
                # Readable while idle: the server closed it (or sent garbage).
                conn._rm_close_reason = CloseReason.SERVER_CLOSE
                conn.close()
                continue
            self._arm(conn, deadline)
            return conn

    # -- waiting (all called under the lock) -----------------------------------

    def _waiting_for(
        self, pool: ManagedHTTPConnectionPool, waiters: collections.deque[_Waiter]
    ) -> bool:
        """Is a caller already waiting for a connection of ``pool``?"""
        return any(w.pool is pool for w in waiters)

    def _waiting_for_key(
        self, key: HostKey, waiters: collections.deque[_Waiter]
    ) -> bool:
        """Is a caller already waiting for room to open a connection to ``key``?

        With ``max_total`` every waiter wants the same room.
        """
        if self.limits.max_total is not None:
            return bool(waiters)
        return any(w.key == key for w in waiters)

    def _leave(self, waiter: _Waiter | None) -> None:
        if waiter is not None:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _wake(self, key: HostKey) -> None:
        """Room was freed for ``key`` (a close), or an idle connection appeared:
        wake the first waiter for ``key`` and the first waiter of all (who may
        evict an idle connection or, at ``max_total``, use the room)."""
        waiters = self._waiters
        if not waiters:
            return
        waiters[0].cond.notify()
        for w in waiters:
            if w.key == key:
                w.cond.notify()
                return

    def _hand_over(self, conn: ManagedHTTPConnection, pool: Any) -> bool:
        """Give a released connection to the first caller waiting for its pool."""
        for w in self._waiters:
            if w.pool is pool:
                self._waiters.remove(w)
                w.conn = conn
                w.cond.notify()
                return True
        return False

    def _may_open(self, key: HostKey, counters: Counters) -> bool:
        limits = self.limits
        if limits.max_total is not None and self._open_total >= limits.max_total:
            return False
        if limits.max_per_host is None:
            return True
        return self._host_open(key) < limits.max_per_host

    def _host_open(self, key: HostKey) -> int:
        counters = self._counters[key]
        return counters.idle + counters.in_use

    def _evict_idle(
        self, key: HostKey, counters: Counters
    ) -> ManagedHTTPConnection | None:
        """At a limit, free room by closing the oldest idle connection that
        holds it: another TLS configuration of the same host, or (at
        ``max_total``) any other host. Called under the lock."""
        limits = self.limits
        host_full = (
            limits.max_per_host is not None
            and self._host_open(key) >= limits.max_per_host
        )
        for pool in self._pools:
            if not pool._rm_idle or (host_full and pool._rm_key != key):
                continue
            conn = pool._rm_idle.popleft()
            conn._rm_state = _IN_USE
            owner = self._counters[pool._rm_key]
            owner.idle -= 1
            owner.in_use += 1
            conn._rm_close_reason = CloseReason.POOL_OVERFLOW
            return conn
        return None

    def _new(
        self, pool: ManagedHTTPConnectionPool, key: HostKey, deadline: Deadline | None
    ) -> ManagedHTTPConnection:
        try:
            conn = cast(ManagedHTTPConnection, pool._new_conn())
        except BaseException:
            self._release_slot(key)
            raise
        conn._rm_manager = self
        conn._rm_key = key
        conn._rm_pool = weakref.ref(pool)
        conn._rm_generation = self._generation
        conn._rm_id = next(_connection_ids)
        self._arm(conn, deadline)
        return conn

    def _release_slot(self, key: HostKey) -> None:
        with self._cond:
            self._counters[key].in_use -= 1
            self._open_total -= 1
            self._wake(key)

    @staticmethod
    def _arm(conn: ManagedHTTPConnection, deadline: Deadline | None) -> None:
        conn._rm_deadline = deadline
        if deadline is not None and deadline.at is not None:
            conn._rm_arming = _deadline.arm(deadline, conn)

    # -- use -----------------------------------------------------------------

    def opened(self, conn: ManagedHTTPConnection) -> None:
        with self._cond:
            self._counters[conn._rm_key].opened += 1
        self._emit(EventKind.OPENED, conn, None)

    def sending(self, conn: ManagedHTTPConnection, reused: bool) -> None:
        conn._rm_requests += 1
        conn._rm_will_close = False
        with self._cond:
            counters = self._counters[conn._rm_key]
            counters.requests += 1
            if reused:
                counters.reuses += 1
        if reused:
            self._emit(EventKind.REUSED, conn, None)

    # -- release -------------------------------------------------------------

    def checkin(self, conn: ManagedHTTPConnection) -> None:
        if conn._rm_state != _IN_USE:
            return
        arming = conn._rm_arming
        if arming is not None:
            _deadline.disarm(arming)
            conn._rm_arming = None
        deadline = conn._rm_deadline
        conn._rm_deadline = None
        now = time.monotonic()
        conn._rm_last_used = now
        ref = conn._rm_response
        response = ref() if ref is not None else None
        conn._rm_response = None
        exchange = ExchangeFacts(
            will_close=conn._rm_will_close or conn.is_closed,
            complete=response is None or response.isclosed(),
            deadline=deadline is not None and deadline.passed(),
        )
        decision = decide_release(self.policy, conn._rm_facts(), exchange, now)
        reason = decision.reason
        if decision.keep:
            key = conn._rm_key
            with self._cond:
                pool_closed = self._closed or conn._rm_generation != self._generation
                counters = self._counters[key]
                if pool_closed:
                    reason = CloseReason.SESSION_CLOSED
                else:
                    pool = conn._rm_pool() if conn._rm_pool is not None else None
                    if pool is None or pool._rm_closed:
                        reason = CloseReason.SESSION_CLOSED
                    elif self._waiters and self._hand_over(conn, pool):
                        return  # still in use, now by the waiter
                    elif counters.idle >= self.limits.max_idle_per_host:
                        reason = CloseReason.POOL_OVERFLOW
                    else:
                        pool._rm_idle.append(conn)
                        conn._rm_state = _IDLE
                        counters.in_use -= 1
                        counters.idle += 1
                        self._wake(key)
                        return
        conn._rm_close_reason = reason
        conn.close()

    def closed(self, conn: ManagedHTTPConnection, reason: CloseReason) -> None:
        """Count a close (called from the connection's ``close()``)."""
        arming = conn._rm_arming
        if arming is not None:
            _deadline.disarm(arming)
            conn._rm_arming = None
        with self._cond:
            state = conn._rm_state
            if state == _CLOSED:
                return
            conn._rm_state = _CLOSED
            counters = self._counters[conn._rm_key]
            if conn._rm_generation == self._generation:
                if state == _IN_USE:
                    counters.in_use -= 1
                else:
                    counters.idle -= 1
                self._open_total -= 1
            if conn._rm_connected:
                counters.closed[reason] = counters.closed.get(reason, 0) + 1
            self._wake(conn._rm_key)
        if conn._rm_connected:
            self._emit(EventKind.CLOSED, conn, reason)

    # -- closing ---------------------------------------------------------------

    def close_pool(self, pool: ManagedHTTPConnectionPool) -> None:
        """Close a pool's idle connections; in-use ones close on release."""
        with self._cond:
            pool._rm_closed = True
            idle = self._take_idle(pool)
            for waiter in self._waiters:
                if waiter.pool is pool:
                    waiter.cond.notify()  # it raises ClosedPoolError
        for conn in idle:
            conn._rm_close_reason = conn._rm_close_reason or CloseReason.SESSION_CLOSED
            conn.close()

    def close(self) -> None:
        """Close every idle connection now and every in-use one on release."""
        with self._cond:
            self._closed = True
            idle = [
                conn for pool in list(self._pools) for conn in self._take_idle(pool)
            ]
            for waiter in self._waiters:
                waiter.cond.notify()
        for conn in idle:
            conn._rm_close_reason = CloseReason.SESSION_CLOSED
            conn.close()

    def _take_idle(
        self, pool: ManagedHTTPConnectionPool
    ) -> list[ManagedHTTPConnection]:
        idle = list(getattr(pool, "_rm_idle", ()))
        if idle:
            pool._rm_idle.clear()
            counters = self._counters[pool._rm_key]
            for conn in idle:
                conn._rm_state = _IN_USE
                counters.idle -= 1
                counters.in_use += 1
        return idle

    def after_fork_in_child(self) -> None:
        """Forget every inherited connection; the parent keeps using them.

        Closing a socket object in the child closes only the child's file
        descriptor: no ``shutdown()``, no TLS close_notify, so the parent's
        connection is untouched. Connections in use by threads that do not
        exist here are never released; the new generation disowns them.
        """
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = collections.deque()  # their threads do not exist here
        self._generation += 1
        idle = [conn for pool in list(self._pools) for conn in self._take_idle(pool)]
        for counters in self._counters.values():
            counters.in_use = 0
            counters.idle = 0
        self._open_total = 0
        for conn in idle:
            conn._rm_close_reason = CloseReason.FORK
            conn.close()

    # -- observing ---------------------------------------------------------------

    def stats(self) -> PoolStats:
        with self._cond:
            return summarize(self._counters)

    def subscribe(self, listener: ConnectionListener) -> Callable[[], None]:
        with self._cond:
            self.listeners = (*self.listeners, listener)

        def unsubscribe() -> None:
            with self._cond:
                self.listeners = tuple(x for x in self.listeners if x is not listener)

        return unsubscribe

    def _emit(
        self, kind: EventKind, conn: ManagedHTTPConnection, reason: CloseReason | None
    ) -> None:
        listeners = self.listeners
        debug = logger.isEnabledFor(logging.DEBUG)
        if not listeners and not debug:
            return
        scheme, host, port = conn._rm_key
        if debug:
            logger.debug(
                "connection %d to %s://%s:%d %s%s (%d requests served)",
                conn._rm_id,
                scheme,
                host,
                port,
                kind.value,
                f" ({reason.value})" if reason is not None else "",
                conn._rm_requests,
            )
        if not listeners:
            return
        event = ConnectionEvent(
            kind, scheme, host, port, conn._rm_id, conn._rm_requests, reason
        )
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("connection listener %r failed", listener)


def _after_fork_in_child() -> None:
    for manager in list(_managers):
        manager.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
