"""What each piece of ManagedSession's bookkeeping costs per request.

    python benchmarks/overhead.py [--rounds N] [--requests N]

Measures CPU microseconds per small GET against the fast loopback server of
benchmarks/run.py, with everything on, then with one mechanism at a time
replaced by a no-op (in this process only, by patching the private function
that does the work), then with all of them off:

- timeout coercion (``Timeout.coerce`` per request),
- deadline bookkeeping (creating the ``Deadline``, arming and disarming the
  watchdog for the connection),
- stats (the per-host counters of requests and reuses, and the event check),
- leak tracking (recording the call site of a streamed response; measured on
  ``stream=True`` requests, the only ones it touches).

Rounds are interleaved (the order rotated each round) and the median is
reported, with the difference from "all on". Sequential and 8-thread work
both. On a shared machine these end-to-end differences are mostly noise
(several percent either way), because each mechanism costs far less than
that; so the script also times each mechanism's per-request work directly
(the best of several ``timeit`` repeats, which filters out interference) and
prints it as a share of a request's CPU time.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
import timeit
from collections.abc import Callable, Iterator

from benchserver import BenchServer

from requests_managed import (
    ManagedSession,
    PoolLimits,
    Timeout,
    _deadline,
    _leaks,
    _manager,
)
from requests_managed._deadline import Deadline
from requests_managed._lifecycle import ConnRecord
from requests_managed._policy import (
    ConnectionFacts,
    ExchangeFacts,
    KeepAlivePolicy,
    decide_checkout,
    decide_release,
)
from requests_managed._stats import Counters, EventKind

Patch = Callable[[], contextlib.AbstractContextManager[None]]


@contextlib.contextmanager
def _patched(target: object, name: str, value: object) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


def _no_coercion() -> contextlib.AbstractContextManager[None]:
    fixed = Timeout()
    return _patched(Timeout, "coerce", classmethod(lambda cls, value, d=None: fixed))


@contextlib.contextmanager
def _no_deadline() -> Iterator[None]:
    class _NoDeadline:
        __slots__ = ("at", "expired", "total")

        def __init__(self, total: float | None, now: float | None = None) -> None:
            self.total, self.at, self.expired = total, None, False

        def remaining(self) -> None:
            return None

        def passed(self) -> bool:
            return False

    from requests_managed import _adapter, _session

    with (
        _patched(_session, "Deadline", _NoDeadline),
        _patched(_adapter, "Deadline", _NoDeadline),
    ):
        yield


def _no_stats() -> contextlib.AbstractContextManager[None]:
    def sending(self: _manager.ConnectionManager, conn: object) -> bool:
        rec = conn._rm  # type: ignore[attr-defined]
        reused = rec.requests > 0
        rec.requests += 1
        rec.will_close = False
        if reused and self.listeners:
            self._emit(EventKind.REUSED, rec)
        return reused

    return _patched(_manager.ConnectionManager, "sending", sending)


def _no_leak_tracking() -> contextlib.AbstractContextManager[None]:
    return _patched(_leaks, "track", lambda raw, full=False: None)


@contextlib.contextmanager
def _all_off() -> Iterator[None]:
    with _no_coercion(), _no_deadline(), _no_stats(), _no_leak_tracking():
        yield


VARIANTS: dict[str, Patch] = {
    "all on": contextlib.nullcontext,
    "no timeout coercion": _no_coercion,
    "no deadline bookkeeping": _no_deadline,
    "no stats counters": _no_stats,
    "no leak tracking": _no_leak_tracking,
    "all off": _all_off,
}


def _run(url: str, count: int, threads: int, stream: bool) -> float:
    with ManagedSession() as session:
        for _ in range(20):
            session.get(url)

        def work(n: int) -> None:
            for _ in range(n):
                if stream:
                    with session.get(url, stream=True) as response:
                        response.content  # noqa: B018 (read the body)
                else:
                    session.get(url)

        cpu = time.process_time()
        if threads == 1:
            work(count)
        else:
            workers = [
                threading.Thread(target=work, args=(count // threads,))
                for _ in range(threads)
            ]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join(timeout=600)
        return (time.process_time() - cpu) / count * 1e6


class _FakeConnection:
    """Just what the bookkeeping touches."""

    sock = None
    _connection = object()

    def __init__(self) -> None:
        self._rm = ConnRecord(1, ("http", "127.0.0.1", 1), None, 0, 0.0)


def _direct_costs() -> dict[str, float]:
    """Microseconds of each mechanism's work for one request, timed alone."""
    default = Timeout()
    conn = _FakeConnection()
    manager = _manager.ConnectionManager(PoolLimits(), KeepAlivePolicy())
    manager._counters[conn._rm.key] = Counters()

    def coercion() -> None:
        Timeout.coerce(None, default)

    def deadline() -> None:
        # What one request does: create it, arm and disarm the watchdog,
        # and read the time left a few times.
        d = Deadline(300.0)
        entry = _deadline.arm(d, conn)
        d.remaining()
        d.remaining()
        d.passed()
        if entry is not None:
            _deadline.disarm(entry)

    def stats() -> None:
        manager.sending(conn)  # type: ignore[arg-type]

    def leak_tracking() -> None:
        _leaks.track(conn)

    policy = KeepAlivePolicy()

    def policy_decisions() -> None:
        # The facts gathered and the two decisions taken for each request.
        now = time.monotonic()
        facts = ConnectionFacts(created=now, last_used=now, requests=3)
        decide_checkout(policy, facts, now)
        exchange = ExchangeFacts(will_close=False, complete=True, deadline=False)
        decide_release(policy, facts, exchange, now)

    costs = {}
    for name, work in {
        "timeout coercion": coercion,
        "deadline bookkeeping": deadline,
        "stats counters": stats,
        "keep-alive policy decisions": policy_decisions,
        "leak tracking (stream=True only)": leak_tracking,
    }.items():
        number = 20_000
        best = min(timeit.repeat(work, number=number, repeat=7))
        costs[name] = best / number * 1e6
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    workloads = [
        ("sequential GETs", 1, False),
        ("8 threads", 8, False),
        ("stream=True GETs", 1, True),
    ]
    samples: dict[tuple[str, str], list[float]] = {}
    with BenchServer() as server:
        url = server.url("/small")
        for round_ in range(args.rounds):
            for workload, threads, stream in workloads:
                names = list(VARIANTS)
                shift = round_ % len(names)  # no variant always goes first
                for variant in names[shift:] + names[:shift]:
                    patch = VARIANTS[variant]
                    sys.stderr.write(
                        f"\rround {round_ + 1}/{args.rounds}: {workload}, "
                        f"{variant}".ljust(70)
                    )
                    with patch():
                        cpu = _run(url, args.requests, threads, stream)
                    samples.setdefault((workload, variant), []).append(cpu)
    sys.stderr.write("\r" + " " * 70 + "\r")
    print(f"CPU µs per request, median of {args.rounds} interleaved rounds\n")
    print("| workload | variant | CPU µs/req | vs all on |")
    print("|---|---|---:|---:|")
    for workload, _, _ in workloads:
        base = statistics.median(samples[workload, "all on"])
        for variant in VARIANTS:
            value = statistics.median(samples[workload, variant])
            delta = "" if variant == "all on" else f"{(value / base - 1) * 100:+.1f} %"
            print(f"| {workload} | {variant} | {value:.0f} | {delta} |")
    request_cpu = statistics.median(samples["sequential GETs", "all on"])
    costs = _direct_costs()
    print(
        "\nEach mechanism timed alone (best of 7 repeats), as a share of one "
        f"sequential GET's {request_cpu:.0f} µs of CPU\n"
    )
    print("| mechanism | µs per request | share |")
    print("|---|---:|---:|")
    for name, cost in costs.items():
        print(f"| {name} | {cost:.2f} | {cost / request_cpu * 100:.2f} % |")
    total = sum(costs.values())
    print(f"| all together | {total:.2f} | {total / request_cpu * 100:.2f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
