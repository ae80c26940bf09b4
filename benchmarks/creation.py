"""Instructions per session created, counted by valgrind (see instructions.py).

    python benchmarks/creation.py [--sessions N] [--only TEXT]

Creating a session is what ``requests.get(url)`` pays on every call (it
makes a session, sends, and closes it), and what code that makes a session
per task pays per task. For each case the script runs a child process under
``valgrind --tool=callgrind`` twice, with 20 and with 20 + N iterations, and
divides the difference by N: start-up, imports and the first-use caches
cancel out. The one-shot GETs go to the benchmark server (its own process,
untraced), so each counts a connection opened and closed as well.
``PYTHONHASHSEED`` is fixed at 0 in the children, so counts repeat.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import callgrind

BASE = 20


def _managed_session(url: str) -> Callable[[], None]:
    from requests_managed import ManagedSession

    def run() -> None:
        ManagedSession().close()

    return run


def _requests_session(url: str) -> Callable[[], None]:
    import requests

    def run() -> None:
        requests.Session().close()

    return run


def _managed_get(url: str) -> Callable[[], None]:
    import requests_managed

    def run() -> None:
        requests_managed.get(url).content  # noqa: B018

    return run


def _requests_get(url: str) -> Callable[[], None]:
    import requests

    def run() -> None:
        requests.get(url).content  # noqa: B018

    return run


def _installed_get(url: str) -> Callable[[], None]:
    import requests

    import requests_managed

    requests_managed.install()

    def run() -> None:
        requests.get(url).content  # noqa: B018

    return run


CASES: dict[str, Callable[[str], Callable[[], None]]] = {
    "ManagedSession() + close()": _managed_session,
    "requests.Session() + close()": _requests_session,
    "requests_managed.get(url)": _managed_get,
    "requests.get(url)": _requests_get,
    "requests.get(url) under install()": _installed_get,
}

#: What each case is compared with.
REFERENCE = {
    "ManagedSession() + close()": "requests.Session() + close()",
    "requests_managed.get(url)": "requests.get(url)",
    "requests.get(url) under install()": "requests.get(url)",
}


def _child(case: str, count: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchserver import BenchServer

    with BenchServer() as server:
        run = CASES[case](server.url("/small"))
        for _ in range(count):
            run()


def _instructions(case: str, count: int) -> int:
    return callgrind.count(
        str(Path(__file__).resolve()), case, str(count), timeout=1800
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200, metavar="N")
    parser.add_argument("--only", default="", metavar="TEXT")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed; nothing measured", file=sys.stderr)
        return 1
    counts: dict[str, float] = {}
    for case in CASES:
        if args.only not in case:
            continue
        sys.stderr.write(f"\rcounting {case} ...".ljust(60))
        sys.stderr.flush()
        base = _instructions(case, BASE)
        more = _instructions(case, BASE + args.sessions)
        counts[case] = (more - base) / args.sessions
    sys.stderr.write("\r" + " " * 60 + "\r")
    print(f"Instructions per session (user space, {args.sessions} sessions)\n")
    print("| case | instructions | vs |")
    print("|---|---:|---:|")
    for case, count in counts.items():
        reference = REFERENCE.get(case)
        ratio = "-"
        if reference in counts:
            ratio = f"{count / counts[reference]:.2f}x {reference}"
        print(f"| {case} | {count:,.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
