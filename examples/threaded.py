"""Threads sharing one session: plain requests.Session against ManagedSession.

Sixteen threads fetch slow URLs (20 ms each) through one shared session, in
three rounds with a pause between them, as a worker pool serving bursts would.

- requests.Session keeps at most 10 connections per host. In every burst the
  other 6 threads open connections that urllib3 then discards, logging
  "Connection pool is full, discarding connection".
- ManagedSession() with the default limits opens the same connections, but
  closes the surplus as a counted decision (pool-overflow), without warnings.
- ManagedSession(limits=PoolLimits(max_per_host=8)) opens 8 connections for
  the whole run: threads wait for a free one instead of opening more.

Run: python examples/threaded.py
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from _server import serve

from requests_managed import ManagedSession, PoolLimits, Timeout

THREADS = 16
ROUNDS = 3
PER_ROUND = 64


class CountUrllib3Logs(logging.Handler):
    """Counts urllib3's "new connection" and "pool is full" log lines."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self.discarded = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("Starting new"):
            self.opened += 1
        elif record.msg.startswith("Connection pool is full"):
            self.discarded += 1


def run_rounds(session: requests.Session, base: str) -> int:
    """Fetch in bursts from THREADS threads; return how many answers matched."""

    def fetch(n: int) -> bool:
        path = f"/slow/{n}"
        return session.get(base + path).json()["path"] == path

    matched = 0
    with ThreadPoolExecutor(max_workers=THREADS) as executor:
        for _ in range(ROUNDS):
            matched += sum(executor.map(fetch, range(PER_ROUND)))
            time.sleep(0.1)  # the pause between bursts
    return matched


def report(session: ManagedSession, base: str, matched: int) -> None:
    stats = session.pool_stats().for_url(base)
    closed = {reason.value: n for reason, n in stats.closed.items()} or "none"
    print(
        f"  {matched}/{stats.requests} answers matched, reuse {stats.reuse_ratio:.0%}"
    )
    print(f"  connections opened {stats.opened}, idle now {stats.idle}")
    print(f"  waited for a free connection {stats.waits} times")
    print(f"  closed so far: {closed}\n")


timeout = Timeout(connect=5, read=10, total=60)
print(f"{THREADS} threads, {ROUNDS} bursts of {PER_ROUND} requests\n")

with serve() as base:
    print("requests.Session()")
    counter = CountUrllib3Logs()
    urllib3_log = logging.getLogger("urllib3.connectionpool")
    urllib3_log.addHandler(counter)
    urllib3_log.setLevel(logging.DEBUG)
    urllib3_log.propagate = False  # count the lines instead of printing them
    with requests.Session() as plain:
        matched = run_rounds(plain, base)
    urllib3_log.removeHandler(counter)
    print(f"  {matched}/{ROUNDS * PER_ROUND} answers matched")
    print(f"  connections opened {counter.opened}")
    print(f"  'Connection pool is full, discarding connection': {counter.discarded}\n")

    print("ManagedSession()")
    with ManagedSession(timeout=timeout) as session:
        report(session, base, run_rounds(session, base))

    print("ManagedSession(limits=PoolLimits(max_per_host=8))")
    with ManagedSession(timeout=timeout, limits=PoolLimits(max_per_host=8)) as session:
        report(session, base, run_rounds(session, base))
