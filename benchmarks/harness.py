"""The benchmark harness: ``ManagedSession`` against requests, urllib3 and httpx.

Used by ``benchmarks/run.py`` (the full run) and by ``requests-managed
bench`` run from a checkout (a short one). It is not part of the wheel:
import it with ``benchmarks/`` on ``sys.path`` (scripts there have it). A
fast server runs in a separate process (``benchserver.py`` beside this
file), so the client is the bottleneck. Every client does the same work in
interleaved rounds in one run, and each round's numbers are divided by
``requests.Session``'s from the same round: absolute times on a shared
machine are noise, ratios taken side by side much less so. The median over
rounds is reported.

CPU time is this process's (``time.process_time``), which the server's
process does not touch; it is the steadier measure on a busy machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import requests
import urllib3
from benchserver import BenchServer

from requests_managed import ManagedSession

__all__ = ["Result", "Scenario", "format_table", "run"]

Get = Callable[[str], bytes]


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    requests: int
    threads: int = 1
    extra_env: int = 0


SEQUENTIAL = Scenario("small GETs, sequential", "/small", 2000)
EXTRA_ENV = Scenario("small GETs, 200 extra env vars", "/small", 1000, extra_env=200)
SCENARIOS = (
    SEQUENTIAL,
    Scenario("small GETs, 2 threads", "/small", 2000, threads=2),
    Scenario("small GETs, 8 threads", "/small", 2000, threads=8),
    Scenario("small GETs, 32 threads", "/small", 2000, threads=32),
    Scenario("64 KiB bodies", "/64k", 600),
    Scenario("1 MiB bodies", "/1m", 100),
    EXTRA_ENV,
)


@dataclasses.dataclass
class Result:
    scenario: str
    client: str
    rps: list[float] = dataclasses.field(default_factory=list)
    cpu_us: list[float] = dataclasses.field(default_factory=list)
    connections: list[int] = dataclasses.field(default_factory=list)
    discarded: int = 0
    ratios: list[float] = dataclasses.field(default_factory=list)
    cpu_ratios: list[float] = dataclasses.field(default_factory=list)


# -- the clients -------------------------------------------------------------


@contextlib.contextmanager
def _managed() -> Iterator[Get]:
    with ManagedSession() as session:
        yield lambda url: session.get(url).content


@contextlib.contextmanager
def _requests() -> Iterator[Get]:
    with requests.Session() as session:
        # The timeout every careful requests user passes anyway.
        yield lambda url: session.get(url, timeout=(5, 30)).content


@contextlib.contextmanager
def _urllib3() -> Iterator[Get]:
    manager = urllib3.PoolManager(maxsize=10, timeout=urllib3.Timeout(5, 30))
    try:
        yield lambda url: manager.request("GET", url).data
    finally:
        manager.clear()


@contextlib.contextmanager
def _httpx() -> Iterator[Get]:
    import httpx

    with httpx.Client(timeout=httpx.Timeout(30, connect=5)) as client:
        yield lambda url: client.get(url).content


def clients() -> dict[str, Callable[[], contextlib.AbstractContextManager[Get]]]:
    """The clients to compare; httpx only when it is installed."""
    found: dict[str, Callable[[], contextlib.AbstractContextManager[Get]]] = {
        "ManagedSession": _managed,
        "requests.Session": _requests,
        "urllib3.PoolManager": _urllib3,
    }
    try:
        import httpx  # noqa: F401
    except ImportError:
        pass
    else:
        found["httpx.Client"] = _httpx
    return found


# -- measuring -----------------------------------------------------------------


class _DiscardCounter(logging.Handler):
    """Counts urllib3's "Connection pool is full, discarding connection"."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "discarding connection" in record.getMessage():
            self.count += 1


@contextlib.contextmanager
def _extra_environment(count: int) -> Iterator[None]:
    names = [f"RM_BENCH_EXTRA_{i}" for i in range(count)]
    for name in names:
        os.environ[name] = "x" * 40
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)


def _work(get: Get, url: str, count: int, threads: int) -> None:
    if threads == 1:
        for _ in range(count):
            get(url)
        return
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        start.wait(timeout=60)
        try:
            for _ in range(n):
                get(url)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    share, rest = divmod(count, threads)
    workers = [
        threading.Thread(target=worker, args=(share + (i < rest),))
        for i in range(threads)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=600)
    if errors:
        raise errors[0]


def _measure(
    server: BenchServer,
    make: Callable[[], contextlib.AbstractContextManager[Get]],
    scenario: Scenario,
    count: int,
) -> tuple[float, float, int]:
    url = server.url(scenario.path)
    before = server.connections()
    with _extra_environment(scenario.extra_env), make() as get:
        for _ in range(min(20, count)):  # warm up: connect, fill caches
            get(url)
        wall, cpu = time.perf_counter(), time.process_time()
        _work(get, url, count, scenario.threads)
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
    # The query that read ``before`` is one of the connections counted after.
    return count / wall, cpu / count * 1e6, server.connections() - before - 1


def run(
    rounds: int = 5,
    scale: float = 1.0,
    scenarios: tuple[Scenario, ...] = SCENARIOS,
    progress: TextIO | None = sys.stderr,
) -> list[Result]:
    """Run every scenario for every client, ``rounds`` times, interleaved."""
    makers = clients()
    results = {
        (s.name, name): Result(s.name, name) for s in scenarios for name in makers
    }
    discards = _DiscardCounter()
    urllib3_log = logging.getLogger("urllib3.connectionpool")
    urllib3_log.addHandler(discards)
    steps, step = rounds * len(scenarios) * len(makers), 0
    try:
        with BenchServer() as server:
            for round_ in range(rounds):
                for scenario in scenarios:
                    count = max(10, int(scenario.requests * scale))
                    names = list(makers)
                    # Rotate the order each round so no client always goes first.
                    shift = round_ % len(names)
                    names = names[shift:] + names[:shift]
                    measured: dict[str, tuple[float, float, int]] = {}
                    for name in names:
                        step += 1
                        if progress is not None:
                            _progress(
                                progress,
                                f"[{step}/{steps}] round {round_ + 1}/{rounds}: "
                                f"{scenario.name}, {name}",
                            )
                        discards.count = 0
                        measured[name] = _measure(server, makers[name], scenario, count)
                        results[scenario.name, name].discarded += discards.count
                    base_rps, base_cpu, _ = measured["requests.Session"]
                    for name, (rps, cpu, conns) in measured.items():
                        result = results[scenario.name, name]
                        result.rps.append(rps)
                        result.cpu_us.append(cpu)
                        result.connections.append(conns)
                        result.ratios.append(rps / base_rps)
                        result.cpu_ratios.append(base_cpu / cpu)
    finally:
        urllib3_log.removeHandler(discards)
        if progress is not None and progress.isatty():
            progress.write("\r" + " " * 78 + "\r")
            progress.flush()
    return list(results.values())


def _progress(stream: TextIO, text: str) -> None:
    # One line rewritten in place on a terminal; a line per step otherwise.
    stream.write(f"\r{text.ljust(78)}" if stream.isatty() else f"{text}\n")
    stream.flush()


def format_table(results: list[Result]) -> str:
    """The results as a markdown table (medians over rounds)."""
    lines = [
        "| scenario | client | req/s | CPU µs/req | TCP connections "
        "| discarded | req/s vs requests | CPU vs requests |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.client} | {statistics.median(r.rps):,.0f} "
            f"| {statistics.median(r.cpu_us):,.0f} | {max(r.connections)} "
            f"| {r.discarded} | {statistics.median(r.ratios):.2f}x "
            f"| {statistics.median(r.cpu_ratios):.2f}x |"
        )
    env = _env_cost(results)
    if env is not None:
        lines.append("")
        lines.append(
            "ManagedSession CPU per small GET with 200 extra environment "
            f"variables vs none: {env:+.1f} %"
        )
    return "\n".join(lines)


def _env_cost(results: list[Result]) -> float | None:
    by_key: dict[tuple[str, str], Any] = {(r.scenario, r.client): r for r in results}
    plain = by_key.get((SEQUENTIAL.name, "ManagedSession"))
    env = by_key.get((EXTRA_ENV.name, "ManagedSession"))
    if plain is None or env is None:
        return None
    return float(
        (statistics.median(env.cpu_us) / statistics.median(plain.cpu_us) - 1) * 100
    )
