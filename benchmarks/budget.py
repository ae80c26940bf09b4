"""The instruction budget of a keep-alive GET, checked in CI.

    python benchmarks/budget.py            # check: fails past the budget
    python benchmarks/budget.py --update   # measure and commit a new figure

Counts the user-space instructions of one small keep-alive GET with
``ManagedSession``, under callgrind, as ``benchmarks/instructions.py``
does (100 and 100 + N requests in a child process, the difference over N,
``PYTHONHASHSEED=0``): the count repeats to within a fraction of a percent,
however busy the machine is. It fails when the count is more than
:data:`TOLERANCE` over the figure in ``budget.json`` beside this file.

The figure holds for the Python, requests and urllib3 it was measured with
(recorded beside it). With other versions the absolute count means little,
so the check compares ``ManagedSession`` with ``urllib3.PoolManager``
measured in the same run, against the same ratio committed with the figure.

A change that is worth its cost updates the figure deliberately
(``--update``), and says so in its commit message.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

import callgrind
import requests
import urllib3

BUDGET = Path(__file__).with_name("budget.json")
TOLERANCE = 0.05
REQUESTS = 200
BASE = 100
CLIENT = "ManagedSession"
FLOOR = "urllib3.PoolManager"


def _child(client: str, count: int) -> None:
    from benchserver import BenchServer
    from harness import clients

    with BenchServer() as server, clients()[client]() as get:
        url = server.url("/small")
        for _ in range(count):
            get(url)


def _instructions(client: str, count: int) -> int:
    return callgrind.count(
        str(Path(__file__).resolve()), client, str(count), timeout=900
    )


def _per_request(client: str) -> float:
    base = _instructions(client, BASE)
    more = _instructions(client, BASE + REQUESTS)
    return (more - base) / REQUESTS


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "requests": requests.__version__,
        "urllib3": urllib3.__version__,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="write budget.json")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is needed (Debian: apt install valgrind)", file=sys.stderr)
        return 2
    measured = _per_request(CLIENT)
    if args.update:
        floor = _per_request(FLOOR)
        figure = {
            "operation": "keep-alive GET, HTTP, small body",
            "instructions_per_request": round(measured),
            "ratio_to_urllib3": round(measured / floor, 4),
            "versions": _versions(),
        }
        BUDGET.write_text(json.dumps(figure, indent=2) + "\n", encoding="utf-8")
        print(f"budget.json: {measured:,.0f} instructions per request")
        return 0
    figure = json.loads(BUDGET.read_text(encoding="utf-8"))
    allowed = figure["instructions_per_request"] * (1 + TOLERANCE)
    print(
        f"{CLIENT}, keep-alive GET: {measured:,.0f} instructions per request "
        f"(budget {figure['instructions_per_request']:,} + {TOLERANCE:.0%})"
    )
    if figure["versions"] == _versions():
        if measured > allowed:
            over = measured / figure["instructions_per_request"] - 1
            print(
                f"over budget by {over:.1%}: make it cheaper, or update the "
                "figure deliberately (--update)",
                file=sys.stderr,
            )
            return 1
        return 0
    # Other versions: compare with urllib3 measured in this run.
    floor = _per_request(FLOOR)
    ratio = measured / floor
    print(
        f"versions {_versions()} differ from the budget's {figure['versions']}: "
        f"ratio to urllib3 {ratio:.3f} (budget {figure['ratio_to_urllib3']:.3f} "
        f"+ {TOLERANCE:.0%})"
    )
    if ratio > figure["ratio_to_urllib3"] * (1 + TOLERANCE):
        print("over budget relative to urllib3", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
