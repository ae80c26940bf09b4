"""What leak tracking costs per streamed request, with it on and off.

Leak tracking records the caller's file and line for each ``stream=True``
request (non-streamed responses are read and released inside ``send()`` and
cannot leak). This measures ``call_site()`` alone, and streamed GETs through
one session in interleaved rounds with tracking on, with full tracebacks, and
off. Run from the repository root: ``python benchmarks/leak_tracking.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from requests_managed import ManagedSession, _leaks
from tests.server import Reply, Server

ROUNDS = 7
PER_ROUND = 500


def per_call_us(full: bool) -> float:
    number = 20_000 if not full else 2_000
    seconds = min(
        timeit.repeat(lambda: _leaks.call_site(full), number=number, repeat=5)
    )
    return seconds / number * 1e6


def round_us(session: ManagedSession, url: str) -> float:
    start = time.perf_counter()
    for _ in range(PER_ROUND):
        with session.get(url, stream=True) as response:
            response.content  # noqa: B018
    return (time.perf_counter() - start) / PER_ROUND * 1e6


def main() -> None:
    print(f"call_site(): {per_call_us(False):.2f} us per call (file and line)")
    print(f"call_site(full=True): {per_call_us(True):.2f} us per call (whole stack)")
    real_track = _leaks.track
    results: dict[str, list[float]] = {"on": [], "tracebacks": [], "off": []}
    server = Server(lambda request: Reply(body=b"ok"), record=False)
    with server, ManagedSession() as session:
        round_us(session, server.url)  # warm up
        for _ in range(ROUNDS):
            for mode in results:
                session.leak_tracebacks = mode == "tracebacks"
                _leaks.track = real_track if mode != "off" else _no_track  # type: ignore[assignment]
                try:
                    results[mode].append(round_us(session, server.url))
                finally:
                    _leaks.track = real_track
    off = statistics.median(results["off"])
    print(f"\nstreamed GET on loopback, median of {ROUNDS} rounds x {PER_ROUND}:")
    print("| leak tracking | us per request | vs off |")
    print("|---|---:|---:|")
    for mode, values in results.items():
        median = statistics.median(values)
        print(f"| {mode} | {median:.1f} | {(median - off) / off:+.1%} |")


def _no_track(raw: object, full: bool = False) -> None:
    return None


if __name__ == "__main__":
    main()
