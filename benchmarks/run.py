"""Throughput of ManagedSession against requests.Session, urllib3 and httpx.

    python benchmarks/run.py [--rounds N] [--scale X]

Starts a fast loopback server in a separate process, runs every scenario for
every client in interleaved rounds, and prints a markdown table of medians:
requests per second, CPU microseconds per request, the TCP connections the
server saw, urllib3 "pool is full" discards, and the ratio to
requests.Session measured in the same rounds. Needs `pip install -e
'.[bench]'` for httpx (it is skipped when missing).
"""

from __future__ import annotations

import argparse
import platform
import sys

import requests
import urllib3
from harness import SCENARIOS, format_table, run

from requests_managed import __version__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="default: 5")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply request counts (1.0)"
    )
    parser.add_argument(
        "--only", default="", help="run only scenarios whose name contains this"
    )
    args = parser.parse_args()
    scenarios = tuple(s for s in SCENARIOS if args.only in s.name)
    if not scenarios:
        parser.error(f"no scenario matches {args.only!r}")
    results = run(rounds=args.rounds, scale=args.scale, scenarios=scenarios)
    try:
        import httpx

        httpx_version = httpx.__version__
    except ImportError:
        httpx_version = "not installed"
    print(
        f"requests-managed {__version__}, requests {requests.__version__}, "
        f"urllib3 {urllib3.__version__}, httpx {httpx_version}, "
        f"Python {platform.python_version()}, {args.rounds} rounds\n"
    )
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
