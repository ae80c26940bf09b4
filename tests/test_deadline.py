"""The deadline watchdog, with a real socket pair."""

from __future__ import annotations

import gc
import socket
import threading
import time
import weakref

from requests_managed import _deadline
from requests_managed._deadline import Deadline, arm, disarm


class _Conn:
    def __init__(self, sock: socket.socket | None) -> None:
        self.sock = sock


def test_deadline_without_total_never_passes() -> None:
    deadline = Deadline(None)
    assert deadline.remaining() is None
    assert not deadline.passed()
    assert arm(deadline, _Conn(None)) is None


def test_remaining_and_passed_follow_the_given_start() -> None:
    start = time.monotonic()
    deadline = Deadline(10.0, now=start - 11.0)
    assert deadline.passed()
    assert (
        deadline.remaining() == 0.001
    )  # never zero: a socket timeout of 0 means non-blocking
    assert "expired" in repr(deadline)


def test_watchdog_wakes_a_blocked_reader_at_the_deadline() -> None:
    a, b = socket.socketpair()
    with a, b:
        deadline = Deadline(0.3)
        arm(deadline, _Conn(a))
        start = time.monotonic()
        a.settimeout(10)
        assert a.recv(1) == b""  # shut down: EOF instead of a 10 s wait
        assert 0.2 < time.monotonic() - start < 5
        assert deadline.expired


def test_disarmed_connection_is_left_alone() -> None:
    a, b = socket.socketpair()
    with a, b:
        deadline = Deadline(0.2)
        entry = arm(deadline, _Conn(a))
        assert entry is not None
        disarm(entry)
        fired = threading.Event()
        # a later deadline on another socket proves the watchdog ran past ours
        c, d = socket.socketpair()
        with c, d:
            arm(Deadline(0.4), _Conn(c))
            c.settimeout(10)
            assert c.recv(1) == b""
            fired.set()
        b.sendall(b"x")
        a.settimeout(1)
        assert a.recv(1) == b"x"
        assert not deadline.expired


def test_disarming_drops_the_connection_at_once() -> None:
    conn = _Conn(None)
    ref = weakref.ref(conn)
    entry = arm(Deadline(300.0), conn)
    assert entry is not None
    disarm(entry)
    del conn
    gc.collect()
    # the entry may wait in the heap for 300 s; the connection must not
    assert ref() is None


def test_disarmed_entries_do_not_accumulate() -> None:
    # one request per entry, each with the default 300 s total: without
    # compaction every one would stay in the heap until its deadline
    for _ in range(10_000):
        entry = arm(Deadline(300.0), _Conn(None))
        assert entry is not None
        disarm(entry)
    assert len(_deadline._WATCHDOG._heap) <= 2 * _deadline._COMPACT_AFTER


def test_an_armed_deadline_still_fires_after_compaction() -> None:
    a, b = socket.socketpair()
    with a, b:
        deadline = Deadline(0.5)
        arm(deadline, _Conn(a))
        for _ in range(1_000):  # compactions happen around the armed entry
            entry = arm(Deadline(300.0), _Conn(None))
            assert entry is not None
            disarm(entry)
        a.settimeout(10)
        start = time.monotonic()
        assert a.recv(1) == b""
        assert time.monotonic() - start < 5
        assert deadline.expired
