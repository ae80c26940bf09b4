"""Adaptive keep-alive: the idle timeout a server does not announce, learned.

Scaled from the issue's acceptance run (a 2 s server and pauses of
1.9-2.5 s): the servers here close idle connections after 0.4 s and the
pauses spread over 0.38-0.5 s. ``benchmarks/idle_learning.py`` is the
full-size run.
"""

from __future__ import annotations

import random
import time

import requests

from requests_managed import (
    CloseReason,
    ConnectionEvent,
    EventKind,
    KeepAlivePolicy,
    ManagedSession,
)

from .server import Server

IDLE = 0.4  # the server's unannounced idle timeout


def pauses(n: int, seed: int = 14) -> list[float]:
    """``n`` pauses spread evenly over 0.38-0.5 s, in a shuffled order."""
    spread = [0.38 + 0.12 * i / (n - 1) for i in range(n)]
    random.Random(seed).shuffle(spread)
    return spread


def post_after(
    session: ManagedSession, server: Server, waits: list[float]
) -> list[bool]:
    """One POST, then one after each pause; whether each failed."""
    failed = []
    for i, pause in enumerate([0.0, *waits]):
        time.sleep(pause)  # the pause under test, not a synchronisation
        try:
            ok = session.post(server.url + "/items", data=f"item-{i}".encode()).ok
        except requests.ConnectionError:
            ok = False
        failed.append(not ok)
    return failed


def test_posts_after_pauses_near_an_unannounced_close_stop_failing_once_learned() -> (
    None
):
    # The server notices its idle limit only when the next request arrives
    # and cuts it off: every POST sent past the limit on a reused connection
    # fails, deterministically, until the timeout is learned.
    waits = pauses(20)
    with Server(idle_close_after=IDLE, idle_close_race=True) as server:
        with ManagedSession() as session:
            failed = post_after(session, server, waits)
            stats = session.pool_stats().for_url(server.url)
        learned = stats.learned_idle_timeout
        assert learned is not None
        # every failure was a request the server cut, and taught the pool
        assert sum(failed) == server.requests_cut
        # two closes are needed; none fails after the estimate exists
        first_ok_run = failed.index(True, failed.index(True) + 1) + 1
        assert not any(failed[first_ok_run:])
        assert stats.closed.get(CloseReason.LEARNED_IDLE_TIMEOUT, 0) > 0
        # no POST reached the server twice
        bodies = server.bodies_received("/items")
        assert len(bodies) == len(set(bodies))


def test_without_learning_posts_after_an_unannounced_idle_close_fail() -> None:
    waits = [p for p in pauses(20) if p >= IDLE][:8]
    policy = KeepAlivePolicy(learn_idle_timeout=False)
    with Server(idle_close_after=IDLE, idle_close_race=True) as server:
        with ManagedSession(policy=policy) as session:
            failed = post_after(session, server, waits)
            stats = session.pool_stats().for_url(server.url)
        assert stats.learned_idle_timeout is None
        # every reuse past the limit fails; the POST after it opens anew
        assert sum(failed) == server.requests_cut == len(waits) // 2
        assert CloseReason.LEARNED_IDLE_TIMEOUT not in stats.closed


def test_idle_closes_seen_at_checkout_teach_the_timeout_and_emit_an_event() -> None:
    events: list[ConnectionEvent] = []
    with Server(idle_close_after=IDLE) as server, ManagedSession() as session:
        session.subscribe(events.append)
        for _ in range(3):
            assert session.get(server.url).ok
            # wait until the server has closed it, so check-out sees it
            assert server.wait_for(lambda: server.open_connections() == 0)
        stats = session.pool_stats().for_url(server.url)
        assert stats.closed == {CloseReason.SERVER_CLOSE: 2}
        learned = [e for e in events if e.kind is EventKind.IDLE_TIMEOUT_LEARNED]
        assert len(learned) == 1
        assert learned[0].learned_idle_timeout == stats.learned_idle_timeout
        assert stats.learned_idle_timeout is not None
        # at least the server's limit less the reply's own trip (ms)
        assert stats.learned_idle_timeout > IDLE / 2
        # from now on an idle connection is retired before the server's close
        failed = post_after(session, server, pauses(8))
        assert not any(failed)
        stats = session.pool_stats().for_url(server.url)
        assert stats.closed.get(CloseReason.LEARNED_IDLE_TIMEOUT, 0) > 0
        assert stats.closed.get(CloseReason.SERVER_CLOSE, 0) == 2


def test_back_to_back_requests_keep_reusing_after_learning() -> None:
    with Server(idle_close_after=IDLE, idle_close_race=True) as server:
        with ManagedSession() as session:
            post_after(session, server, [IDLE + 0.05] * 4)
            before = session.pool_stats().for_url(server.url)
            assert before.learned_idle_timeout is not None
            for _ in range(5):
                assert session.get(server.url).ok
            after = session.pool_stats().for_url(server.url)
        assert after.reuses - before.reuses >= 4
        assert after.opened - before.opened <= 1


def test_learned_timeout_is_per_host() -> None:
    with (
        Server(idle_close_after=IDLE) as closing,
        Server() as patient,
        ManagedSession() as session,
    ):
        for _ in range(3):
            assert session.get(closing.url).ok
            assert session.get(patient.url).ok
            assert closing.wait_for(lambda: closing.open_connections() == 0)
        stats = session.pool_stats()
        assert stats.for_url(closing.url).learned_idle_timeout is not None
        assert stats.for_url(patient.url).learned_idle_timeout is None
        assert stats.total.learned_idle_timeout is None
