"""``ConnectionManager``: every connection of one adapter, under one lock.

The manager owns, for the pools of one adapter:

* one :class:`~._lifecycle.ConnRecord` per connection, moved only by
  :meth:`ConnectionManager._apply` (the one mutator: it applies a transition
  of the :mod:`._lifecycle` table and keeps the counters, the idle stacks and
  the limits in step with it);
* the idle connections of every pool (a LIFO stack per :class:`PoolSlot`);
* the limits: ``max_per_host``/``max_total`` make callers wait (bounded)
  instead of opening more; ``max_idle_per_host`` closes the oldest idle
  connection on release, counted as ``pool-overflow``;
* the callers waiting at a limit. Waiting is *assign-and-signal*, as in
  httpcore's pool: whenever something is freed, :meth:`_assign` walks the
  queue in arrival order and grants the freed connection, or the room to open
  one, to a specific waiter, removes it from the queue and only then wakes
  it. A waiter never competes for what it was woken for, a newcomer never
  overtakes a waiter (every waiter that could be served already was), and
  two releases wake two waiters. Every wait is exception-safe: a
  ``BaseException`` (Ctrl-C, a signal handler, a gevent timeout) removes the
  waiter and hands back whatever it had been granted, then propagates.

Decisions come from the pure :mod:`._policy`; the close reason for events the
policy does not see (errors, fork, eviction, session close) is chosen here, in
:meth:`_retirement` and :meth:`_reason_for_discard`. Sockets are closed, and
listeners called, outside the lock.

The manager imports nothing of urllib3: connections and pools are reached
through the small :class:`PooledConnection` protocol and :class:`PoolSlot`,
so limits, fairness and interruption are tested with fake connections
(``tests/test_manager.py``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from . import _deadline
from ._deadline import Deadline
from ._lifecycle import IN_USE_STATES, ConnEvent, ConnRecord, ConnState, advance
from ._limits import PoolLimits
from ._policy import (
    CloseReason,
    ConnectionFacts,
    ExchangeFacts,
    IdleLearning,
    KeepAlivePolicy,
    decide_checkout,
    decide_release,
    observe_idle_close,
    observe_idle_reuse,
    parse_keep_alive,
    should_drain,
)
from ._stats import (
    ConnectionEvent,
    ConnectionListener,
    Counters,
    EventKind,
    HostKey,
    PoolStats,
    summarize,
)

__all__ = [
    "CheckoutError",
    "ConnectionManager",
    "DeadlinePassed",
    "ManagerClosed",
    "PoolSlot",
    "PoolWaitTimeout",
    "PooledConnection",
]

logger = logging.getLogger("requests_managed")

_connection_ids = itertools.count(1)
_NEW, _ACTIVE, _IDLE, _CLOSED = (
    ConnState.NEW,
    ConnState.ACTIVE,
    ConnState.IDLE,
    ConnState.CLOSED,
)


#: Which counter a state is counted in: NEW and ACTIVE are "in use".
#: ``(old state, new state) -> (change of counters.idle, of counters.in_use)``
_MOVES = {
    (old, new): (
        (new is _IDLE) - (old is _IDLE),
        (new in IN_USE_STATES) - (old in IN_USE_STATES),
    )
    for old in ConnState
    for new in ConnState
}


class CheckoutError(Exception):
    """No connection was checked out; nothing was sent (the adapter translates)."""


class PoolWaitTimeout(CheckoutError):
    """No connection became free in time (becomes ``PoolTimeout``)."""


class DeadlinePassed(CheckoutError):
    """The request's deadline passed before a connection was checked out."""


class ManagerClosed(CheckoutError):
    """The session was closed (becomes ``SessionClosed``)."""

    def __init__(self, waited: bool) -> None:
        super().__init__("closed while waiting" if waited else "closed")
        self.waited = waited


class PooledConnection(Protocol):
    """What the manager needs of a connection (a urllib3 shim, or a fake)."""

    _rm: ConnRecord

    def close(self) -> None:
        """Close the socket (and report it through ``discarded``)."""

    def rm_dropped(self) -> bool:
        """True if the idle connection cannot be used: no socket, or readable
        (the server closed it, or sent bytes nobody asked for)."""

    def rm_forget(self) -> None:
        """Close this process's descriptor only (after ``fork``)."""


class PoolSlot:
    """The manager's side of one urllib3 pool: its key, idle stack and opener."""

    __slots__ = (
        "__weakref__",
        "counters",
        "idle",
        "key",
        "new_conn",
        "open",
        "retired",
    )

    def __init__(self, key: HostKey, new_conn: Callable[[], PooledConnection]) -> None:
        self.key = key
        self.new_conn = new_conn
        self.idle: collections.deque[PooledConnection] = collections.deque()
        self.open = 0  # records of this slot not yet closed
        #: Why every connection of this pool closes on release (eviction or
        #: session close); ``None`` while the pool is in service.
        self.retired: CloseReason | None = None
        #: The host's counters (shared by its pools), set by ``adopt``: one
        #: attribute read instead of a tuple hash on every request.
        self.counters: Counters


class _Waiter:
    """A caller waiting at a limit; woken by its own condition (same lock)."""

    __slots__ = ("closed", "cond", "force_new", "grant", "slot")

    def __init__(self, slot: PoolSlot, force_new: bool, lock: threading.Lock) -> None:
        self.slot = slot
        self.force_new = force_new
        self.cond = threading.Condition(lock)
        #: An idle connection (now ACTIVE), or the room to open one (a NEW record).
        self.grant: PooledConnection | ConnRecord | None = None
        self.closed = False  # the session closed while it waited


_Grant = PooledConnection | ConnRecord


class ConnectionManager:
    """Every connection of one adapter: limits, policy, counters, events."""

    def __init__(
        self,
        limits: PoolLimits,
        policy: KeepAlivePolicy,
        *,
        default_wait: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.policy = policy
        #: How long to wait at a limit when neither ``PoolLimits.wait_timeout``
        #: nor the request's connect timeout says (the adapter's default).
        self.default_wait = default_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._counters: dict[HostKey, Counters] = {}
        self._slots: set[PoolSlot] = set()
        self._active: set[PooledConnection] = set()
        self._open_total = 0
        self._closed = False
        self._generation = 0
        self.listeners: tuple[ConnectionListener, ...] = ()
        _managers.add(self)
        for hook in _creation_hooks:
            hook(self)

    def __repr__(self) -> str:
        with self._lock:
            idle = sum(c.idle for c in self._counters.values())
            in_use = sum(c.in_use for c in self._counters.values())
            waiting = len(self._waiters)
        state = "closed" if self._closed else "open"
        return (
            f"<ConnectionManager {state} [Requests: {waiting} waiting | "
            f"Connections: {in_use} in use, {idle} idle]>"
        )

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def open_connections(self) -> int:
        """Connections open now, idle or in use (a connect under way counts)."""
        return self._open_total

    # -- the one mutator -----------------------------------------------------

    def _apply(
        self,
        rec: ConnRecord,
        event: ConnEvent,
        conn: PooledConnection | None = None,
        reason: CloseReason | None = None,
    ) -> None:
        """Apply one transition; keep counters, stacks and limits in step.

        Called with the lock held. ``conn`` is needed for transitions into or
        out of ``IDLE`` and out of ``ACTIVE``; ``reason`` for ``CLOSE``.
        """
        old = advance(rec, event)
        new = rec.state
        slot: PoolSlot = rec.pool  # type: ignore[assignment]
        counters = slot.counters
        current = rec.generation == self._generation
        if old is _IDLE:
            idle = slot.idle
            if idle and idle[-1] is conn:
                idle.pop()
            else:
                with contextlib.suppress(ValueError):
                    idle.remove(conn)  # type: ignore[arg-type]
        elif old is _ACTIVE and conn is not None:
            self._active.discard(conn)
        if new is _IDLE:
            slot.idle.append(conn)  # type: ignore[arg-type]
        elif new is _ACTIVE and conn is not None:
            self._active.add(conn)
        if current:
            idle_delta, in_use_delta = _MOVES[old, new]
            if idle_delta:
                counters.idle += idle_delta
            if in_use_delta:
                counters.in_use += in_use_delta
                if counters.in_use > counters.peak_in_use:
                    counters.peak_in_use = counters.in_use
        if event is ConnEvent.CONNECT:
            rec.connected = True
            counters.opened += 1
        elif new is _CLOSED:
            rec.close_reason = reason = reason or CloseReason.ERROR
            if rec.connected:
                counters.closed[reason] = counters.closed.get(reason, 0) + 1
            if current:
                self._open_total -= 1
            slot.open -= 1
            if slot.retired is not None and slot.open == 0:
                self._slots.discard(slot)

    def _admit(self, slot: PoolSlot) -> ConnRecord:
        """Grant room for a new connection: a NEW record, counted in use."""
        rec = ConnRecord(
            next(_connection_ids), slot.key, slot, self._generation, self._clock()
        )
        counters = self._counters[slot.key]
        counters.in_use += 1
        if counters.in_use > counters.peak_in_use:
            counters.peak_in_use = counters.in_use
        self._open_total += 1
        slot.open += 1
        return rec

    # -- wiring ----------------------------------------------------------------

    def adopt(self, key: HostKey, new_conn: Callable[[], PooledConnection]) -> PoolSlot:
        """Register a pool for ``key``; returns its slot."""
        slot = PoolSlot(key, new_conn)
        with self._lock:
            if self._closed:
                slot.retired = CloseReason.SESSION_CLOSED
            self._slots.add(slot)
            slot.counters = self._counters.setdefault(key, Counters())
        return slot

    def retire(self, slot: PoolSlot) -> None:
        """The pool left service (urllib3 evicted it, or the adapter cleared
        its pools): idle connections close now, in-use ones on release, and
        callers waiting on it are still served."""
        to_close: list[PooledConnection] = []
        with self._lock:
            if slot.retired is None:
                slot.retired = (
                    CloseReason.SESSION_CLOSED
                    if self._closed
                    else CloseReason.POOL_EVICTED
                )
                for conn in list(slot.idle):
                    self._apply(conn._rm, ConnEvent.CLOSE, conn, slot.retired)
                    to_close.append(conn)
                if slot.open == 0:
                    self._slots.discard(slot)
                self._assign(to_close)
        self._close_all(to_close)

    # -- check-out -------------------------------------------------------------

    def checkout(
        self,
        slot: PoolSlot,
        *,
        wait: float | None = None,
        deadline: Deadline | None = None,
        force_new: bool = False,
    ) -> PooledConnection:
        """A connection for one request on ``slot``'s pool, armed with ``deadline``.

        ``wait``: how long to wait at a limit (``PoolLimits.wait_timeout``
        wins; ``None`` falls back to ``default_wait``); never past the
        deadline. ``force_new``: open a new connection even if one is idle
        (the replay after a stale connection).

        Raises:
            PoolWaitTimeout: nothing became free in time.
            DeadlinePassed: the deadline passed first.
            ManagerClosed: the session is closed, or closed while waiting.
        """
        limit = self.limits.wait_timeout
        if limit is not None:
            wait = limit
        elif wait is None:
            wait = self.default_wait
        give_up = None if wait is None else self._clock() + wait
        if deadline is not None and deadline.at is not None:
            give_up = deadline.at if give_up is None else min(give_up, deadline.at)
        front = False
        while True:
            grant = self._acquire(slot, force_new, give_up, wait, deadline, front)
            rec = grant if isinstance(grant, ConnRecord) else grant._rm
            if rec.waited is not None:
                self._emit(EventKind.WAITED, rec)
            if isinstance(grant, ConnRecord):
                return self._open(slot, grant, deadline)
            conn = grant
            now = self._clock()
            reason = self._unusable(conn, now)
            if reason is None:
                rec.idle_before = now - rec.last_used
                self._arm(rec, conn, deadline)
                return conn
            # Expired or dropped while idle: close it and go round again,
            # ahead of callers who arrived later.
            to_close = [conn]
            learned = False
            with self._lock:
                self._apply(rec, ConnEvent.CLOSE, conn, reason)
                if reason is CloseReason.SERVER_CLOSE:
                    # the server closed it unannounced: evidence of its timeout
                    learned = self._learn(rec, observe_idle_close, now - rec.last_used)
            self._close_all(to_close)
            if learned:
                self._emit(EventKind.IDLE_TIMEOUT_LEARNED, rec)
            front = True

    def _acquire(
        self,
        slot: PoolSlot,
        force_new: bool,
        give_up: float | None,
        wait: float | None,
        deadline: Deadline | None,
        front: bool,
    ) -> _Grant:
        to_close: list[PooledConnection] = []
        try:
            with self._lock:
                if self._closed:
                    raise ManagerClosed(waited=False)
                if deadline is not None and deadline.passed():
                    raise DeadlinePassed()
                # Every waiter that could be served has been (see _assign),
                # so serving a newcomer directly never overtakes one.
                grant = self._serve(slot, force_new, to_close)
                if grant is None:
                    grant = self._wait(
                        slot, force_new, give_up, wait, deadline, front, to_close
                    )
                if deadline is not None and deadline.passed():
                    self._give_back(grant, to_close)
                    raise DeadlinePassed()
                return grant
        finally:
            self._close_all(to_close)

    def _wait(
        self,
        slot: PoolSlot,
        force_new: bool,
        give_up: float | None,
        wait: float | None,
        deadline: Deadline | None,
        front: bool,
        to_close: list[PooledConnection],
    ) -> _Grant:
        """Queue and wait to be granted something (lock held)."""
        waiter = _Waiter(slot, force_new, self._lock)
        if front:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        counters = self._counters[slot.key]
        counters.waits += 1
        queued = self._clock()
        try:
            while waiter.grant is None and not waiter.closed:
                left = None if give_up is None else give_up - self._clock()
                if left is not None and left <= 0:
                    break
                waiter.cond.wait(left)
        except BaseException:
            self._abandon(waiter, to_close)
            raise
        grant = waiter.grant
        if grant is not None:
            rec = grant if isinstance(grant, ConnRecord) else grant._rm
            rec.waited = self._clock() - queued
            return grant
        self._abandon(waiter, to_close)
        if waiter.closed:
            raise ManagerClosed(waited=True)
        if deadline is not None and deadline.passed():
            raise DeadlinePassed()
        counters.pool_timeouts += 1
        scheme, host, port = slot.key
        raise PoolWaitTimeout(
            f"no connection to {scheme}://{host}:{port} became free within "
            f"{wait!r} s (limits: {self.limits!r})"
        )

    def _abandon(self, waiter: _Waiter, to_close: list[PooledConnection]) -> None:
        """Take a waiter out; hand back what it was granted (lock held)."""
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        grant, waiter.grant = waiter.grant, None
        if grant is not None:
            self._give_back(grant, to_close)

    def _give_back(self, grant: _Grant, to_close: list[PooledConnection]) -> None:
        """Return an unused grant: an idle connection to its stack, room to the
        limits; then serve whoever can use it (lock held)."""
        if isinstance(grant, ConnRecord):
            self._apply(grant, ConnEvent.CLOSE, None, CloseReason.ERROR)
        else:
            self._apply(grant._rm, ConnEvent.CHECKIN, grant)
        self._assign(to_close)

    def _serve(
        self, slot: PoolSlot, force_new: bool, to_close: list[PooledConnection]
    ) -> _Grant | None:
        """Grant an idle connection of ``slot``, or room to open one (lock held).

        At a limit, room may be made by closing an idle connection that holds
        it: the oldest idle one of the same host (another TLS configuration,
        or this pool's own when a new connection is required) or, at
        ``max_total``, of any host.
        """
        if not force_new and slot.idle:
            conn = slot.idle[-1]  # LIFO: the most recently used
            self._apply(conn._rm, ConnEvent.CHECKOUT, conn)
            conn._rm.waited = None
            return conn
        key = slot.key
        limits = self.limits
        host_full = (
            limits.max_per_host is not None
            and self._host_open(key) >= limits.max_per_host
        )
        total_full = (
            limits.max_total is not None and self._open_total >= limits.max_total
        )
        if host_full or total_full:
            victim = self._victim(key if host_full else None)
            if victim is None:
                return None
            self._apply(victim._rm, ConnEvent.CLOSE, victim, CloseReason.POOL_OVERFLOW)
            to_close.append(victim)
        return self._admit(slot)

    def _victim(self, key: HostKey | None) -> PooledConnection | None:
        """The oldest idle connection (of ``key``, if given) (lock held)."""
        best: PooledConnection | None = None
        for slot in self._slots:
            if slot.idle and (key is None or slot.key == key):
                conn = slot.idle[0]
                if best is None or conn._rm.last_used < best._rm.last_used:
                    best = conn
        return best

    def _host_open(self, key: HostKey) -> int:
        counters = self._counters[key]
        return counters.idle + counters.in_use

    def _assign(self, to_close: list[PooledConnection]) -> None:
        """Grant what is free to waiters, in arrival order (lock held)."""
        if not self._waiters:
            return
        for waiter in list(self._waiters):
            grant = self._serve(waiter.slot, waiter.force_new, to_close)
            if grant is not None:
                self._waiters.remove(waiter)
                waiter.grant = grant
                waiter.cond.notify()

    def _unusable(self, conn: PooledConnection, now: float) -> CloseReason | None:
        """Why an idle connection just taken must not be used (outside the lock)."""
        rec = conn._rm
        # An immutable value, replaced under the lock: reading it is safe.
        learned = rec.pool.counters.learning.estimate  # type: ignore[attr-defined]
        decision = decide_checkout(self.policy, _facts(rec, learned), now)
        if not decision.keep:
            return decision.reason
        if conn.rm_dropped():
            return CloseReason.SERVER_CLOSE
        return None

    def _open(
        self, slot: PoolSlot, rec: ConnRecord, deadline: Deadline | None
    ) -> PooledConnection:
        """Build the connection for a NEW record (outside the lock)."""
        try:
            conn = slot.new_conn()
        except BaseException:
            to_close: list[PooledConnection] = []
            with self._lock:
                self._apply(rec, ConnEvent.CLOSE, None, CloseReason.ERROR)
                self._assign(to_close)
            self._close_all(to_close)
            raise
        conn._rm = rec
        with self._lock:
            self._active.add(conn)
        self._arm(rec, conn, deadline)
        return conn

    @staticmethod
    def _arm(
        rec: ConnRecord, conn: PooledConnection, deadline: Deadline | None
    ) -> None:
        rec.deadline = deadline
        if deadline is not None and deadline.at is not None:
            rec.arming = _deadline.arm(deadline, conn)  # type: ignore[arg-type]

    @staticmethod
    def _disarm(rec: ConnRecord) -> bool:
        """Disarm the watchdog; True if the request's deadline has passed."""
        arming = rec.arming
        if arming is not None:
            rec.arming = None
            _deadline.disarm(arming)  # type: ignore[arg-type]
        deadline: Deadline | None = rec.deadline  # type: ignore[assignment]
        rec.deadline = None
        return deadline is not None and deadline.passed()

    # -- facts from the exchange (the connection's owner thread) ---------------

    def connected(self, conn: PooledConnection) -> None:
        """The socket connected: ``NEW -> ACTIVE``."""
        rec = conn._rm
        with self._lock:
            if rec.state is not _NEW:
                return
            rec.created = rec.last_used = self._clock()
            self._apply(rec, ConnEvent.CONNECT, conn)
        self._emit(EventKind.OPENED, rec)

    def sending(self, conn: PooledConnection) -> bool:
        """A request is being sent on ``conn``; True if the connection is reused."""
        rec = conn._rm
        reused = rec.requests > 0
        rec.requests += 1
        rec.will_close = False
        with self._lock:
            counters: Counters = rec.pool.counters  # type: ignore[attr-defined]
            counters.requests += 1
            if reused:
                counters.reuses += 1
        if reused:
            self._emit(EventKind.REUSED, rec)
        return reused

    def responded(
        self, conn: PooledConnection, will_close: bool, keep_alive: str | None
    ) -> None:
        """The response head arrived: what it says about the connection."""
        rec = conn._rm
        rec.will_close = will_close
        if keep_alive is not None:
            timeout, maximum = parse_keep_alive(keep_alive)
            if timeout is not None:
                rec.announced_idle_timeout = timeout
            if maximum is not None:
                rec.announced_max = maximum
                rec.requests_at_announcement = rec.requests

    def unfinished(self, conn: PooledConnection, exchange: ExchangeFacts) -> int | None:
        """A response is closed before its end: how much to drain, or None.

        Records the reason it closes with if the drain does not finish.
        """
        rec = conn._rm
        decision = decide_release(self.policy, _facts(rec), exchange, self._clock())
        rec.pending_reason = decision.reason
        if should_drain(self.policy, exchange):
            return self.policy.drain_limit
        return None

    def deadline_passed(self, conn: PooledConnection) -> bool:
        deadline: Deadline | None = conn._rm.deadline  # type: ignore[assignment]
        return deadline is not None and deadline.passed()

    # -- release -----------------------------------------------------------------

    def checkin(self, conn: PooledConnection, exchange: ExchangeFacts) -> None:
        """An exchange ended with ``conn`` still open: keep it, or close it."""
        rec = conn._rm
        if rec.state is not _ACTIVE:
            if rec.state is _NEW:  # never connected: nothing to keep
                self.discarded(conn)
            return
        if self._disarm(rec) and not exchange.deadline:
            exchange = dataclasses.replace(exchange, deadline=True)
        now = self._clock()
        decision = decide_release(self.policy, _facts(rec), exchange, now)
        to_close: list[PooledConnection] = []
        learned = False
        with self._lock:
            if rec.state is not _ACTIVE:
                return
            rec.last_used = now
            if (
                rec.idle_before is not None and rec.pool.counters.learning.closes  # type: ignore[attr-defined]
            ):
                # answered after idle_before seconds: the server keeps that long
                learned = self._learn(rec, observe_idle_reuse, rec.idle_before)
            reason = decision.reason if not decision.keep else self._retirement(rec)
            if reason is None:
                self._apply(rec, ConnEvent.CHECKIN, conn)
                self._assign(to_close)
                self._trim(rec.key, to_close)
            else:
                self._apply(rec, ConnEvent.CLOSE, conn, reason)
                to_close.append(conn)
                self._assign(to_close)
        self._close_all(to_close)
        if learned:
            self._emit(EventKind.IDLE_TIMEOUT_LEARNED, rec)

    def discarded(self, conn: PooledConnection) -> None:
        """``conn`` was closed by someone else (urllib3 after an error, a
        response being closed, the leak tracker): record it."""
        rec = conn._rm
        if rec.state is _CLOSED:
            return
        passed = self._disarm(rec)
        to_close: list[PooledConnection] = []
        with self._lock:
            if rec.state is _CLOSED:
                return
            reason = self._reason_for_discard(rec, passed)
            self._apply(rec, ConnEvent.CLOSE, conn, reason)
            self._assign(to_close)
        self._close_all(to_close)
        self._emit(EventKind.CLOSED, rec)

    def _retirement(self, rec: ConnRecord) -> CloseReason | None:
        """Why a connection the policy would keep must close anyway (lock held)."""
        if self._closed:
            return CloseReason.SESSION_CLOSED
        if rec.generation != self._generation:
            return CloseReason.FORK
        slot: PoolSlot = rec.pool  # type: ignore[assignment]
        return slot.retired

    @staticmethod
    def _reason_for_discard(rec: ConnRecord, deadline_passed: bool) -> CloseReason:
        """The reason for a close nobody decided on: an error, the deadline, or
        what the response recorded when it was closed unfinished."""
        if deadline_passed:
            return CloseReason.DEADLINE
        return rec.pending_reason or CloseReason.ERROR

    def _learn(
        self,
        rec: ConnRecord,
        observe: Callable[[IdleLearning, float], IdleLearning],
        idle: float | None,
    ) -> bool:
        """Feed one observation to the host's learning (lock held); True if
        the estimate changed."""
        if idle is None or not self.policy.learn_idle_timeout:
            return False
        counters = self._counters[rec.key]
        old = counters.learning
        new = observe(old, idle)
        if new is old:
            return False
        counters.learning = new
        if new.estimate == old.estimate:
            return False
        scheme, host, port = rec.key
        logger.debug(
            "learned idle timeout of %s://%s:%d: %s (closes seen at idle %s s)",
            scheme,
            host,
            port,
            "forgotten" if new.estimate is None else f"{new.estimate:.3f} s",
            ", ".join(f"{t:.3f}" for t in new.closes),
        )
        return True

    def describe(self, rec: ConnRecord) -> dict[str, object]:
        """The connection's facts for an error message (``ConnectionInfo``
        fields), read now; no lock (plain values, for a message only)."""
        reused = rec.idle_before is not None
        return {
            "reused": reused,
            "age": self._clock() - rec.created if rec.connected else None,
            "idle": rec.idle_before,
            "requests_served": max(rec.requests - 1, 0),
            "announced_idle_timeout": rec.announced_idle_timeout,
            "announced_max": rec.announced_max,
            "learned_idle_timeout": (
                rec.pool.counters.learning.estimate  # type: ignore[attr-defined]
                if self.policy.learn_idle_timeout
                else None
            ),
            "phase": rec.phase,
        }

    def stale(self, conn: PooledConnection) -> None:
        """A reused connection failed before any response byte: the server
        had closed it while idle (evidence of its idle timeout)."""
        rec = conn._rm
        with self._lock:
            learned = self._learn(rec, observe_idle_close, rec.idle_before)
        if learned:
            self._emit(EventKind.IDLE_TIMEOUT_LEARNED, rec)

    def _trim(self, key: HostKey, to_close: list[PooledConnection]) -> None:
        """Beyond what ``PoolLimits`` keeps idle, close the oldest (lock held)."""
        counters = self._counters[key]
        keep = self.limits._idle_kept(counters.peak_in_use)
        while counters.idle > keep:
            victim = self._victim(key)
            if victim is None:  # pragma: no cover (idle > 0 means one exists)
                return
            self._apply(victim._rm, ConnEvent.CLOSE, victim, CloseReason.POOL_OVERFLOW)
            to_close.append(victim)

    # -- closing -----------------------------------------------------------------

    def close(self) -> None:
        """Close every idle connection now and every in-use one on release;
        callers waiting get ``ManagerClosed``."""
        to_close: list[PooledConnection] = []
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for slot in list(self._slots):
                slot.retired = CloseReason.SESSION_CLOSED
                for conn in list(slot.idle):
                    self._apply(conn._rm, ConnEvent.CLOSE, conn, slot.retired)
                    to_close.append(conn)
                if slot.open == 0:
                    self._slots.discard(slot)
            for waiter in self._waiters:
                waiter.closed = True
                waiter.cond.notify()
            self._waiters.clear()
        self._close_all(to_close)

    def _close_all(self, conns: list[PooledConnection]) -> None:
        """Close sockets the manager already moved to ``CLOSED`` (no lock)."""
        for conn in conns:
            rec = conn._rm
            self._disarm(rec)
            try:
                conn.close()
            except Exception:  # a socket error on close changes nothing
                logger.debug("closing connection %d failed", rec.id, exc_info=True)
            self._emit(EventKind.CLOSED, rec)

    def after_fork_in_child(self) -> None:
        """Forget every inherited connection, idle or in use; the parent keeps
        using them. Only the child's descriptor is closed: no ``shutdown()``,
        no TLS close_notify."""
        # The lock may have been held by a thread that does not exist here,
        # and so may every waiter.
        self._lock = threading.Lock()
        self._waiters = collections.deque()
        inherited = [c for s in self._slots for c in s.idle]
        inherited.extend(self._active)
        for conn in inherited:
            rec = conn._rm
            rec.arming = rec.deadline = None  # the watchdog's heap is gone too
            if rec.state is not _CLOSED:
                self._apply(rec, ConnEvent.CLOSE, conn, CloseReason.FORK)
            with contextlib.suppress(OSError):
                conn.rm_forget()
        # Rooms granted to threads that do not exist here are disowned.
        self._generation += 1
        for counters in self._counters.values():
            counters.in_use = counters.idle = 0
        self._open_total = 0
        self._active = set()

    # -- observing -----------------------------------------------------------------

    def stats(self) -> PoolStats:
        with self._lock:
            return summarize(self._counters)

    def subscribe(self, listener: ConnectionListener) -> Callable[[], None]:
        with self._lock:
            self.listeners = (*self.listeners, listener)

        def unsubscribe() -> None:
            self.unsubscribe(listener)

        return unsubscribe

    def unsubscribe(self, listener: ConnectionListener) -> None:
        with self._lock:
            self.listeners = tuple(x for x in self.listeners if x is not listener)

    def _emit(self, kind: EventKind, rec: ConnRecord) -> None:
        listeners = self.listeners
        debug = logger.isEnabledFor(logging.DEBUG)
        if not listeners and not debug:
            return
        if kind is EventKind.CLOSED and not rec.connected:
            return
        reason = rec.close_reason if kind is EventKind.CLOSED else None
        scheme, host, port = rec.key
        learned = waited = None
        if kind is EventKind.IDLE_TIMEOUT_LEARNED:
            learned = self._counters[rec.key].learning.estimate
        elif kind is EventKind.WAITED:
            waited = rec.waited
        age = self._clock() - rec.created if rec.connected else 0.0
        if debug:
            logger.debug(
                "connection %d to %s://%s:%d %s%s (%d requests served)",
                rec.id,
                scheme,
                host,
                port,
                kind.value,
                f" ({reason.value})" if reason is not None else "",
                rec.requests,
            )
        if not listeners:
            return
        event = ConnectionEvent(
            kind, scheme, host, port, rec.id, rec.requests, reason, learned, age, waited
        )
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("connection listener %r failed", listener)


def _facts(rec: ConnRecord, learned: float | None = None) -> ConnectionFacts:
    return ConnectionFacts(
        learned_idle_timeout=learned,
        created=rec.created,
        last_used=rec.last_used,
        requests=rec.requests,
        server_idle_timeout=rec.announced_idle_timeout,
        server_max_requests=rec.announced_max,
        requests_at_announcement=rec.requests_at_announcement,
    )


_managers: weakref.WeakSet[ConnectionManager] = weakref.WeakSet()

#: Called with every new manager: ``requests_managed.otel.instrument()`` for
#: all sessions sets one, and what it returns removes it (the only writers).
_creation_hooks: tuple[Callable[[ConnectionManager], None], ...] = ()


def live_managers() -> list[ConnectionManager]:
    """Every manager of this process that is still referenced."""
    return list(_managers)


def _after_fork_in_child() -> None:
    for manager in list(_managers):
        manager.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
