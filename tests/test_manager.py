"""The connection manager with fake connections: limits, fairness, interruption.

No sockets and no urllib3: a :class:`FakeConn` reports its close the way the
urllib3 shim does, so each test runs in microseconds (the waits are bounded
by a few seconds only so that a bug fails instead of hanging).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from requests_managed import CloseReason, KeepAlivePolicy, PoolLimits
from requests_managed._deadline import Deadline
from requests_managed._lifecycle import ConnRecord, ConnState
from requests_managed._manager import (
    ConnectionManager,
    DeadlinePassed,
    ManagerClosed,
    PoolSlot,
    PoolWaitTimeout,
)
from requests_managed._policy import ExchangeFacts

R = CloseReason
A = ("http", "a.test", 80)
B = ("http", "b.test", 80)
JOIN = 5.0  # seconds: a bound on every thread join, never reached when correct


class FakeConn:
    """Stands in for the urllib3 connection shim."""

    _rm: ConnRecord

    def __init__(self, manager: ConnectionManager) -> None:
        self.manager = manager
        self.dropped = False
        self.closed = self.forgotten = False

    def close(self) -> None:
        self.closed = True
        self.manager.discarded(self)

    def rm_dropped(self) -> bool:
        return self.dropped

    def rm_forget(self) -> None:
        self.forgotten = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    limits: PoolLimits | None = None,
    policy: KeepAlivePolicy | None = None,
    clock: Callable[[], float] | None = None,
) -> ConnectionManager:
    kwargs = {} if clock is None else {"clock": clock}
    return ConnectionManager(
        limits or PoolLimits(), policy or KeepAlivePolicy(), default_wait=5, **kwargs
    )


def slot(manager: ConnectionManager, key: tuple[str, str, int] = A) -> PoolSlot:
    return manager.adopt(key, lambda: FakeConn(manager))


def take(manager: ConnectionManager, pool: PoolSlot, **kwargs: object) -> FakeConn:
    """Check out and, if new, connect: what a request does first."""
    conn = manager.checkout(pool, **kwargs)  # type: ignore[arg-type]
    if conn._rm.state is ConnState.NEW:
        manager.connected(conn)
    manager.sending(conn)
    assert isinstance(conn, FakeConn)
    return conn


def give(manager: ConnectionManager, conn: FakeConn, **facts: bool) -> None:
    manager.checkin(conn, ExchangeFacts(**facts))


def host(manager: ConnectionManager, key: tuple[str, str, int] = A):  # type: ignore[no-untyped-def]
    return manager.stats().hosts[key]


@pytest.fixture
def alarm() -> Iterator[Callable[[float, Callable[[], None]], None]]:
    """Run ``action`` from a SIGALRM handler after ``seconds``, then raise
    KeyboardInterrupt in the main thread (as Ctrl-C would)."""
    previous = signal.getsignal(signal.SIGALRM)

    def arm(seconds: float, action: Callable[[], None] = lambda: None) -> None:
        def handler(signum: int, frame: object) -> None:
            action()
            raise KeyboardInterrupt

        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, seconds)

    yield arm
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


# -- limits at 0, 1 and 2 ---------------------------------------------------------


@pytest.mark.parametrize("limit", [0, 1, 2])
def test_max_idle_per_host_keeps_that_many_and_closes_the_oldest(limit: int) -> None:
    m = make(PoolLimits(max_idle_per_host=limit, idle_follows_peak=0))
    pool = slot(m)
    conns = [take(m, pool) for _ in range(3)]
    for conn in conns:
        give(m, conn)
    stats = host(m)
    assert (stats.idle, stats.in_use, stats.opened) == (limit, 0, 3)
    assert stats.closed == ({R.POOL_OVERFLOW: 3 - limit} if limit < 3 else {})
    # the newest stay: LIFO, and the oldest are the ones closed
    assert [c.closed for c in conns] == [True] * (3 - limit) + [False] * limit


@pytest.mark.parametrize(("follow", "kept"), [(64, 5), (3, 3), (0, 1)])
def test_idle_retention_follows_the_peak_concurrency_up_to_its_bound(
    follow: int, kept: int
) -> None:
    """Five callers at once, then all released: the five are kept (not closed
    as overflow and opened again next round), up to idle_follows_peak."""
    m = make(PoolLimits(max_idle_per_host=1, idle_follows_peak=follow))
    pool = slot(m)
    conns = [take(m, pool) for _ in range(5)]
    for conn in conns:
        give(m, conn)
    stats = host(m)
    assert (stats.idle, stats.opened) == (kept, 5)
    assert stats.closed == ({R.POOL_OVERFLOW: 5 - kept} if kept < 5 else {})
    again = [take(m, pool) for _ in range(5)]
    assert host(m).opened == 5 + (5 - kept)  # only what was closed is reopened
    for conn in again:
        give(m, conn)


def test_no_reuse_stays_no_reuse_whatever_the_concurrency() -> None:
    m = make(PoolLimits(max_idle_per_host=0))
    pool = slot(m)
    conns = [take(m, pool) for _ in range(3)]
    for conn in conns:
        give(m, conn)
    assert host(m).idle == 0


@pytest.mark.parametrize("limit", [1, 2])
def test_max_per_host_makes_the_next_caller_wait_then_time_out(limit: int) -> None:
    m = make(PoolLimits(max_per_host=limit, wait_timeout=0.05))
    pool = slot(m)
    held = [take(m, pool) for _ in range(limit)]
    with pytest.raises(PoolWaitTimeout, match=r"a\.test"):
        m.checkout(pool)
    stats = host(m)
    assert (stats.in_use, stats.waits, stats.pool_timeouts) == (limit, 1, 1)
    give(m, held[0])
    assert take(m, pool) is held[0]  # reused at once after the release


@pytest.mark.parametrize("limit", [1, 2])
def test_max_total_frees_room_by_closing_another_hosts_idle_connection(
    limit: int,
) -> None:
    m = make(PoolLimits(max_total=limit, wait_timeout=0.05))
    a, b = slot(m, A), slot(m, B)
    for conn in [take(m, a) for _ in range(limit)]:
        give(m, conn)
    conn_b = take(m, b)  # room made by closing one of a's idle connections
    assert host(m, A).closed == {R.POOL_OVERFLOW: 1}
    assert m.stats().total.open == limit
    if limit == 1:
        with pytest.raises(PoolWaitTimeout):
            m.checkout(a)
    give(m, conn_b)


def test_a_limit_of_zero_idle_still_hands_a_release_to_a_waiter() -> None:
    m = make(PoolLimits(max_idle_per_host=0, max_per_host=1))
    pool = slot(m)
    held = take(m, pool)
    got: list[FakeConn] = []
    waiter = threading.Thread(target=lambda: got.append(take(m, pool)))
    waiter.start()
    _until(lambda: host(m).waits == 1)
    give(m, held)
    waiter.join(JOIN)
    assert got == [held]  # handed over, not closed as overflow
    assert host(m).closed == {}


# -- assign-and-signal -------------------------------------------------------------


def _until(predicate: Callable[[], bool], seconds: float = JOIN) -> None:
    event = threading.Event()
    for _ in range(int(seconds / 0.001)):
        if predicate():
            return
        event.wait(0.001)
    raise AssertionError("condition not reached")


def test_two_releases_in_quick_succession_wake_two_waiters() -> None:
    # Before: both releases notified the same waiter; the second slept until
    # its wait_timeout.
    m = make(PoolLimits(max_per_host=2, wait_timeout=30))
    pool = slot(m)
    held = [take(m, pool), take(m, pool)]
    got: list[FakeConn] = []
    threads = [
        threading.Thread(target=lambda: got.append(take(m, pool))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    _until(lambda: host(m).waits == 2)
    for conn in held:
        conn.close()  # two closes back to back: each grants room to a waiter
    for t in threads:
        t.join(JOIN)
    assert not any(t.is_alive() for t in threads)
    assert len(got) == 2 and host(m).in_use == 2


def test_waiters_are_served_in_arrival_order() -> None:
    m = make(PoolLimits(max_per_host=1, wait_timeout=30))
    pool = slot(m)
    held = take(m, pool)
    order: list[int] = []

    def wait(i: int) -> None:
        conn = take(m, pool)
        order.append(i)
        give(m, conn)

    threads = []
    for i in range(3):
        t = threading.Thread(target=wait, args=(i,))
        t.start()
        threads.append(t)
        _until(lambda i=i: host(m).waits == i + 1)  # type: ignore[misc]
    give(m, held)
    for t in threads:
        t.join(JOIN)
    assert order == [0, 1, 2]


# -- interruption ---------------------------------------------------------------


def test_an_interrupted_wait_leaves_no_ghost_waiter(
    alarm: Callable[[float, Callable[[], None]], None],
) -> None:
    # Before: the ghost waiter was handed the next release, counted in use for
    # ever, and every later request to the host got PoolTimeout.
    m = make(PoolLimits(max_per_host=1, wait_timeout=10))
    pool = slot(m)
    held = take(m, pool)
    alarm(0.05, lambda: None)
    with pytest.raises(KeyboardInterrupt):
        m.checkout(pool)
    give(m, held)
    assert (host(m).in_use, host(m).idle) == (0, 1)
    assert take(m, pool, wait=0.05) is held


def test_a_wait_interrupted_after_its_grant_hands_the_grant_back(
    alarm: Callable[[float, Callable[[], None]], None],
) -> None:
    m = make(PoolLimits(max_per_host=1, wait_timeout=10))
    pool = slot(m)
    held = take(m, pool)
    # the release happens inside the signal handler, so the waiter has been
    # granted the connection when the interrupt reaches it
    alarm(0.05, lambda: give(m, held))
    with pytest.raises(KeyboardInterrupt):
        m.checkout(pool)
    assert (host(m).in_use, host(m).idle) == (0, 1)
    assert take(m, pool, wait=0.05) is held


def test_a_failure_to_open_frees_the_room() -> None:
    m = make(PoolLimits(max_per_host=1, wait_timeout=0.05))

    def broken() -> FakeConn:
        raise OSError("no route")

    bad = m.adopt(A, broken)
    with pytest.raises(OSError):
        m.checkout(bad)
    assert host(m).open == 0
    take(m, slot(m))  # the room is free again


# -- the deadline, closing, retiring -----------------------------------------------


def test_the_deadline_ends_a_wait_with_deadline_passed() -> None:
    m = make(PoolLimits(max_per_host=1, wait_timeout=10))
    pool = slot(m)
    take(m, pool)
    with pytest.raises(DeadlinePassed):
        m.checkout(pool, deadline=Deadline(0.05))
    assert host(m).pool_timeouts == 0  # not a pool timeout: the deadline's


def test_closing_fails_waiters_and_newcomers_differently() -> None:
    m = make(PoolLimits(max_per_host=1, wait_timeout=30))
    pool = slot(m)
    held = take(m, pool)
    errors: list[ManagerClosed] = []

    def wait() -> None:
        try:
            m.checkout(pool)
        except ManagerClosed as exc:
            errors.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    _until(lambda: host(m).waits == 1)
    m.close()
    t.join(JOIN)
    assert [e.waited for e in errors] == [True]
    with pytest.raises(ManagerClosed) as newcomer:
        m.checkout(pool)
    assert not newcomer.value.waited
    give(m, held)  # in use at close: closed on release
    assert host(m).closed == {R.SESSION_CLOSED: 1}


def test_retiring_a_pool_closes_idle_now_in_use_on_release_and_serves_waiters() -> None:
    m = make(PoolLimits(max_per_host=2, wait_timeout=30))
    pool = slot(m)
    idle, held, held2 = take(m, pool), take(m, pool), None
    give(m, idle)
    held2 = take(m, pool)  # the idle one again; now both are in use
    assert held2 is idle
    got: list[FakeConn] = []
    t = threading.Thread(target=lambda: got.append(take(m, pool)))
    t.start()
    _until(lambda: host(m).waits == 1)
    m.retire(pool)
    give(m, held)  # closes (pool-evicted) and its room goes to the waiter
    t.join(JOIN)
    assert len(got) == 1 and got[0] is not held
    give(m, got[0])
    give(m, held2)
    assert host(m).closed == {R.POOL_EVICTED: 3}
    assert host(m).open == 0


# -- the policy at checkout ---------------------------------------------------------


def test_an_expired_idle_connection_is_replaced_at_checkout() -> None:
    clock = Clock()
    m = make(policy=KeepAlivePolicy(idle_timeout=5), clock=clock)
    pool = slot(m)
    first = take(m, pool)
    give(m, first)
    clock.now += 5
    second = take(m, pool)
    assert second is not first and first.closed
    assert host(m).closed == {R.IDLE_EXPIRED: 1}


def test_a_dropped_idle_connection_is_closed_as_server_close() -> None:
    m = make()
    pool = slot(m)
    first = take(m, pool)
    give(m, first)
    first.dropped = True
    assert take(m, pool) is not first
    assert host(m).closed == {R.SERVER_CLOSE: 1}


def test_keep_alive_max_counts_down_from_each_announcement() -> None:
    m = make()
    pool = slot(m)
    conn = take(m, pool)
    m.responded(conn, will_close=False, keep_alive="timeout=5, max=2")
    give(m, conn)
    for left in (1, 0):  # Apache: max=2, then 1, then 0 left
        assert take(m, pool) is conn
        m.responded(conn, will_close=False, keep_alive=f"timeout=5, max={left}")
        give(m, conn)
    assert conn.closed and host(m).closed == {R.SERVER_KEEP_ALIVE_MAX: 1}


# -- fork ---------------------------------------------------------------------------


def test_after_fork_every_inherited_connection_is_forgotten_as_fork() -> None:
    m = make()
    pool = slot(m)
    idle, active = take(m, pool), take(m, pool)
    give(m, idle)
    m.after_fork_in_child()
    assert idle.forgotten and active.forgotten
    assert host(m).closed == {R.FORK: 2}
    assert (host(m).in_use, host(m).idle) == (0, 0)
    give(m, active)  # released later in the child: nothing changes
    assert host(m).closed == {R.FORK: 2}
    assert take(m, pool) not in (idle, active)


def test_repr_counts_requests_and_connections() -> None:
    m = make()
    pool = slot(m)
    give(m, take(m, pool))
    take(m, pool)
    assert repr(m) == (
        "<ConnectionManager open [Requests: 0 waiting | Connections: 1 in use, 0 idle]>"
    )
