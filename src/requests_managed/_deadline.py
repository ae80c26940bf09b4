"""Enforcing the total deadline: one watchdog thread for every request.

Per-read socket timeouts cannot bound a whole exchange: a server that sends a
byte just before each read timeout resets it forever. So each request carries
a :class:`Deadline`, and the connection serving it is *armed* with the
watchdog. When the deadline passes while the connection is still armed, the
watchdog shuts the socket down (``shutdown(SHUT_RDWR)`` on the file
descriptor), which wakes any blocked ``recv``/``send`` at once; the reader
then sees the ``Deadline`` expired and raises ``DeadlineExceeded``, and the
pool closes the connection instead of reusing it.

One daemon thread serves the whole process, started on first use and again in
a forked child (threads do not survive ``fork``). Arming and disarming are a
heap push and a flag under one lock.

A disarmed entry stays in the heap until it reaches the top (its deadline,
300 s by default), so disarming drops the entry's connection at once, and the
heap is compacted whenever more than half of it is disarmed: a busy session
would otherwise keep one entry, and through it a connection and its pool
manager, alive for every request of the last ``total`` seconds.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from typing import Protocol

__all__ = ["Deadline", "arm", "disarm"]

# Compact the heap once more than this many (and more than half of its)
# entries are disarmed; amortised O(1) per disarm.
_COMPACT_AFTER = 64


class Deadline:
    """The wall-clock bound of one request, from ``send()`` until its body is done.

    ``at`` is a ``time.monotonic()`` reading, or ``None`` for no total bound.
    """

    __slots__ = ("__weakref__", "at", "expired", "total")

    def __init__(self, total: float | None, now: float | None = None) -> None:
        self.total = total
        start = time.monotonic() if now is None else now
        self.at = None if total is None else start + total
        self.expired = False

    def remaining(self) -> float | None:
        """Seconds left (never below a tiny positive floor), or ``None``."""
        if self.at is None:
            return None
        return max(self.at - time.monotonic(), 0.001)

    def passed(self) -> bool:
        """True once the deadline has been reached (or the watchdog fired)."""
        if self.expired:
            return True
        if self.at is not None and time.monotonic() >= self.at:
            self.expired = True
        return self.expired

    def __repr__(self) -> str:
        state = "expired" if self.expired else f"remaining={self.remaining()!r}"
        return f"<Deadline total={self.total!r} {state}>"


class _Socketed(Protocol):
    """A connection whose socket the watchdog can shut down."""

    sock: socket.socket | None


class _Arming:
    __slots__ = ("active", "conn", "deadline")

    def __init__(self, deadline: Deadline, conn: _Socketed) -> None:
        self.deadline = deadline
        self.conn: _Socketed | None = conn  # None once disarmed
        self.active = True


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Arming]] = []
        self._seq = itertools.count()
        self._pid = -1
        self._disarmed = 0  # disarmed entries still in the heap

    def arm(self, deadline: Deadline, conn: _Socketed) -> _Arming | None:
        at = deadline.at
        if at is None:
            return None
        entry = _Arming(deadline, conn)
        with self._cond:
            # -1 until started, and again in a forked child (the at-fork hook
            # resets it): no getpid() system call per request.
            if self._pid == -1:
                self._start()
            heapq.heappush(self._heap, (at, next(self._seq), entry))
            if self._heap[0][2] is entry:
                self._cond.notify()
        return entry

    def disarm(self, entry: _Arming) -> None:
        # Under the lock, so the watchdog never shuts down a socket that has
        # already been handed back to the pool for another request.
        with self._cond:
            if not entry.active:
                return
            entry.active = False
            entry.conn = None
            self._disarmed += 1
            if self._disarmed > _COMPACT_AFTER and 2 * self._disarmed > len(self._heap):
                self._compact()

    def _compact(self) -> None:
        # Called with the lock held. The earliest entry may change, but the
        # watchdog re-reads the top of the heap whenever it wakes.
        self._heap = [item for item in self._heap if item[2].active]
        heapq.heapify(self._heap)
        self._disarmed = 0

    def _start(self) -> None:
        # Called with the lock held, in a new process or the first time.
        self._pid = os.getpid()
        self._compact()
        thread = threading.Thread(
            target=self._run, name="requests-managed-deadline", daemon=True
        )
        thread.start()

    def _run(self) -> None:
        pid = os.getpid()
        with self._cond:
            while self._pid == pid:
                while self._heap and not self._heap[0][2].active:
                    heapq.heappop(self._heap)
                    self._disarmed -= 1
                if not self._heap:
                    self._cond.wait()
                    continue
                at, _, entry = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                entry.active = False
                entry.deadline.expired = True
                conn, entry.conn = entry.conn, None
                if conn is not None:
                    _abort(getattr(conn, "rm_socket", conn.sock))

    def after_fork_in_child(self) -> None:
        # The lock may have been held by a thread that does not exist here.
        # The heap is the parent's: its sockets are the parent's connections,
        # which the child must never shut down.
        self._cond = threading.Condition(threading.Lock())
        for _, _, entry in self._heap:
            entry.active = False
            entry.conn = None
        self._heap = []
        self._disarmed = 0
        self._pid = -1


def _abort(sock: socket.socket | None) -> None:
    """Wake every thread blocked on ``sock`` without closing its descriptor.

    ``socket.socket.shutdown`` is called on the plain socket even for an
    ``SSLSocket``: its own ``shutdown`` also drops the TLS object, which a
    reader in another thread may be using at that moment.
    """
    if sock is None or not isinstance(sock, socket.socket):
        return
    # OSError: already closed or never connected, so nothing is blocked on it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()
arm = _WATCHDOG.arm
disarm = _WATCHDOG.disarm
os.register_at_fork(after_in_child=_WATCHDOG.after_fork_in_child)
