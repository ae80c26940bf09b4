"""Soak: 20,000 requests through one ManagedSession with faults interleaved.

Prints open file descriptors and RSS before and after, and errors by type.
Goal: fds back to baseline, RSS growth under 5 MB, only expected exception
types. Run from the repository root: ``python benchmarks/soak.py [N]``.

Healthy requests use the session's default timeout (a 300 s total deadline,
as most users will have it); each fault request passes a short one, so the
run stays short. Both counts are taken with the loopback server running and
every connection closed, so the server's own listener is in both.
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from requests_managed import DeadlineExceeded, ManagedSession, Timeout
from tests.server import Reply, Request, Server

FAULTS = {
    "never-answer": Reply(never_answer=True),
    "dribble": Reply(dribble=0.05),
    "reset": Reply(body=b"x" * 50_000, reset=True),
    "truncate": Reply(body=b"short", truncate=True),
    "garbage": Reply(raw=b"\x00garbage\r\n\r\n"),
    "close": Reply(close=True),
}
EXPECTED = (
    requests.ReadTimeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    DeadlineExceeded,
)


def handler(request: Request) -> Reply:
    name = request.path.strip("/")
    return FAULTS.get(name, Reply(body=b"ok" * 100))


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def main(total: int = 20_000, fault_every: int = 200) -> int:
    errors: collections.Counter[str] = collections.Counter()
    unexpected: collections.Counter[str] = collections.Counter()
    names = list(FAULTS)
    fault_timeout = Timeout(connect=1, read=0.2, total=0.4)
    # the server runs in this process: keep it from recording every request
    with Server(handler, record=False) as server:
        with ManagedSession() as session:
            for _ in range(200):  # warm up imports, caches and the pool
                session.get(server.url + "/ok")
        server.wait_for(lambda: server.open_connections() == 0, timeout=10)
        gc.collect()
        fds_before, rss_before = fds(), rss_kib()
        start = time.perf_counter()
        with ManagedSession() as session:
            for i in range(total):
                path, timeout = "/ok", None  # the session default
                if i % fault_every == fault_every - 1:
                    path = "/" + names[(i // fault_every) % len(names)]
                    timeout = fault_timeout
                try:
                    session.get(server.url + path, timeout=timeout).content  # noqa: B018
                except EXPECTED as exc:
                    errors[type(exc).__name__] += 1
                except Exception as exc:
                    unexpected[type(exc).__name__] += 1
                if i % 2000 == 0:
                    print(f"{i}/{total}", file=sys.stderr, flush=True)
            elapsed = time.perf_counter() - start
        stats = session.pool_stats().total  # after close: nothing left open
        server.wait_for(lambda: server.open_connections() == 0, timeout=10)
        gc.collect()
        fds_after, rss_after = fds(), rss_kib()
    print(f"\rrequests: {total} in {elapsed:.1f} s ({total / elapsed:.0f}/s)")
    print(f"open fds: before {fds_before}, after {fds_after}")
    print(
        f"RSS: before {rss_before / 1024:.1f} MiB, after {rss_after / 1024:.1f} MiB, "
        f"growth {(rss_after - rss_before) / 1024:.2f} MiB"
    )
    print(f"errors by type: {dict(errors)}")
    print(f"unexpected exceptions: {dict(unexpected) or 'none'}")
    closed = {reason.value: n for reason, n in stats.closed.items()}
    print(
        f"connections opened {stats.opened}, open after close {stats.open}, "
        f"closed by reason {closed}"
    )
    ok = (
        fds_after == fds_before
        and not unexpected
        and rss_after - rss_before < 5 * 1024
        and stats.open == 0
    )
    print("goal met" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
