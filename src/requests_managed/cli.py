"""The ``requests-managed`` command (also ``python -m requests_managed``)."""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
from collections.abc import Sequence
from typing import NoReturn

import requests

from ._cli_get import add_parser as add_get_parser
from ._cli_get import run_get

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="requests-managed",
        description="A connection-managed drop-in for requests.Session.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    demo = commands.add_parser(
        "demo",
        help="compare naive requests.get with a ManagedSession on loopback",
        description="Start a loopback server and run the same GET requests the "
        "naive way (requests.get, no timeout) and with one ManagedSession; "
        "print connections opened, reuse, time and timeouts.",
    )
    demo.add_argument(
        "-n",
        "--requests",
        type=int,
        default=200,
        metavar="N",
        help="requests each way (default: 200)",
    )
    get = add_get_parser(commands)  # the rest of `get` is in _cli_get.py
    get.add_argument(
        "--stats", action="store_true", help="print connection facts after the body"
    )
    bench = commands.add_parser(
        "bench",
        help="a short benchmark against requests, urllib3 and httpx on loopback",
        description="Run a short version of benchmarks/run.py: a fast loopback "
        "server in a separate process, the same GETs through ManagedSession, "
        "requests.Session, urllib3.PoolManager and httpx.Client (when "
        "installed) in interleaved rounds; print a markdown table of medians "
        "and ratios to requests.Session.",
    )
    bench.add_argument(
        "--rounds", type=int, default=2, metavar="N", help="rounds (default: 2)"
    )
    bench.add_argument(
        "--scale",
        type=float,
        default=0.2,
        metavar="X",
        help="fraction of the full run's request counts (default: 0.2)",
    )
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def _benchmarks_dir() -> pathlib.Path | None:
    """The ``benchmarks/`` folder of the source checkout around the working
    directory (the harness is not in the wheel)."""
    here = pathlib.Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / "benchmarks"
        if (candidate / "harness.py").is_file() and (candidate / "run.py").is_file():
            return candidate
    return None


def _bench(rounds: int, scale: float) -> int:
    folder = _benchmarks_dir()
    if folder is None:
        print(
            "requests-managed: bench runs the benchmark harness of a source "
            "checkout, which is not installed with the package. Clone the "
            "repository, `pip install -e '.[bench]'`, and run "
            "`requests-managed bench` (or `python benchmarks/run.py`) inside it.",
            file=sys.stderr,
        )
        return 1
    sys.path.insert(0, str(folder))
    harness = importlib.import_module("harness")
    results = harness.run(rounds=rounds, scale=scale, progress=sys.stderr)
    print(harness.format_table(results))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from ._demo import run_demo

            if args.requests < 1:
                parser.error(f"--requests must be at least 1, got {args.requests}")
            return run_demo(args.requests)
        if args.command == "get":
            return run_get(args)
        if args.command == "bench":
            if args.rounds < 1:
                parser.error(f"--rounds must be at least 1, got {args.rounds}")
            if not 0 < args.scale <= 10:
                parser.error(f"--scale must be in (0, 10], got {args.scale}")
            return _bench(args.rounds, args.scale)
    except (requests.RequestException, ValueError) as exc:
        print(f"requests-managed: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("requests-managed: interrupted", file=sys.stderr)
        return 130
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
