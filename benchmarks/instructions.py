"""Instructions per request, counted by valgrind: a measure that noise cannot move.

    python benchmarks/instructions.py [--requests N]

Wall-clock and CPU times on a shared machine move by 10 % from one run to
the next. ``valgrind --tool=callgrind`` counts the instructions a process
executes in user space instead, which is the same from run to run for the
same code and inputs, whatever else the machine is doing. It does not count
the kernel's side of system calls, which is the same for every client here
(one send and one receive per request), so CPU-time ratios come out smaller
than instruction ratios.

For each client, the script runs a child process under callgrind twice, with
100 and with 100 + N small GETs against the benchmark server (which runs
untraced, in its own process), and divides the difference by N. Start-up and
imports cancel out. Needs valgrind (Debian: ``apt install valgrind``); each
client takes about a minute.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

BASE = 100


def _child(client: str, count: int) -> None:
    from benchserver import BenchServer
    from harness import clients

    with BenchServer() as server, clients()[client]() as get:
        url = server.url("/small")
        for _ in range(count):
            get(url)


def _instructions(client: str, count: int) -> int:
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            client,
            str(count),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{result.stderr}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, metavar="N")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed; nothing measured", file=sys.stderr)
        return 1
    from harness import clients

    per_request: dict[str, float] = {}
    for client in clients():
        sys.stderr.write(f"\rcounting {client} ...".ljust(60))
        sys.stderr.flush()
        base = _instructions(client, BASE)
        more = _instructions(client, BASE + args.requests)
        per_request[client] = (more - base) / args.requests
    sys.stderr.write("\r" + " " * 60 + "\r")
    reference = per_request["requests.Session"]
    print(f"Instructions per small GET (user space, {args.requests} requests)\n")
    print("| client | instructions/request | vs requests.Session |")
    print("|---|---:|---:|")
    for client, count in per_request.items():
        print(f"| {client} | {count:,.0f} | {reference / count:.2f}x fewer |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
