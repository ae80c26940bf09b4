"""One session shared by many threads: no crossed responses, counts add up."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from requests_managed import ManagedSession, PoolLimits

from .server import Reply, Request, Server

THREADS = 32
PER_THREAD = 200


def echo(request: Request) -> Reply:
    return Reply(body=request.target.encode())


def test_32_threads_never_receive_each_others_responses(server: Server) -> None:
    server.handler = echo
    peak = 0
    lock = threading.Lock()
    limits = PoolLimits(max_per_host=16)

    with ManagedSession(limits=limits) as session:

        def worker(t: int) -> int:
            nonlocal peak
            mismatches = 0
            for i in range(PER_THREAD):
                target = f"/t{t}/r{i}"
                if session.get(server.url + target).text != target:
                    mismatches += 1
                if i % 50 == 0:
                    with lock:
                        peak = max(peak, server.open_connections())
            return mismatches

        with ThreadPoolExecutor(THREADS) as pool:
            mismatches = sum(pool.map(worker, range(THREADS)))
        stats = session.pool_stats().for_url(server.url)

    assert mismatches == 0
    assert stats.requests == len(server.requests) == THREADS * PER_THREAD
    assert stats.opened == server.connections_opened <= limits.max_per_host
    assert peak <= limits.max_per_host
    assert stats.reuses == stats.requests - stats.opened
