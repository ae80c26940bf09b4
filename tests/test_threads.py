"""One session shared by many threads: no crossed responses, counts add up."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from requests_managed import CloseReason, ManagedSession, PoolLimits

from .server import Reply, Request, Server

THREADS = 32
PER_THREAD = 200
MAX_PER_HOST = 16


def echo(request: Request) -> Reply:
    return Reply(body=request.target.encode())


def test_32_threads_never_receive_each_others_responses(server: Server) -> None:
    server.handler = echo
    peak = 0
    lock = threading.Lock()
    # max_idle_per_host == max_per_host: no connection is closed while the
    # threads run, so the server's count of open connections is exact (a
    # client-side close would reach the server a moment later) and every
    # connection ever opened must fit within the limit.
    limits = PoolLimits(max_per_host=MAX_PER_HOST, max_idle_per_host=MAX_PER_HOST)

    with ManagedSession(limits=limits) as session:

        def worker(t: int) -> list[str]:
            nonlocal peak
            wrong: list[str] = []
            for i in range(PER_THREAD):
                target = f"/t{t}/r{i}"
                text = session.get(server.url + target).text
                if text != target:
                    wrong.append(f"{target} got {text}")
                open_now = server.open_connections()
                with lock:
                    peak = max(peak, open_now)
            return wrong

        with ThreadPoolExecutor(THREADS) as pool:
            mismatches = [
                m for wrong in pool.map(worker, range(THREADS)) for m in wrong
            ]
        stats = session.pool_stats().for_url(server.url)
    after = session.pool_stats().for_url(server.url)

    assert mismatches == []
    # the server saw every request exactly once
    seen = Counter(r.target for r in server.requests)
    assert len(seen) == THREADS * PER_THREAD and set(seen.values()) == {1}
    # stats add up, and agree with the server
    assert stats.requests == len(server.requests) == THREADS * PER_THREAD
    assert stats.opened == server.connections_opened
    assert stats.reuses == stats.requests - stats.opened
    assert stats.in_use == 0 and stats.open == stats.idle == stats.opened
    assert stats.closed == {}
    # the socket count never exceeded the limit
    assert 1 <= stats.opened <= MAX_PER_HOST
    assert peak <= MAX_PER_HOST
    assert after.open == 0
    assert after.closed == {CloseReason.SESSION_CLOSED: stats.opened}
