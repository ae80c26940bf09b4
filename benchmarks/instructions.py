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
client takes about a minute. ``--only TEXT`` counts only the clients whose
name contains it.

Two more ManagedSession rows price the learned keep-alive
(``KeepAlivePolicy.learn_idle_timeout``): with learning off, and with a
learned idle timeout already in force for the host (60 s, so every request
still reuses, and every check-out and release consults it).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

BASE = 100


@contextlib.contextmanager
def _managed_learning_off() -> Any:
    from requests_managed import KeepAlivePolicy, ManagedSession

    policy = KeepAlivePolicy(learn_idle_timeout=False)
    with ManagedSession(policy=policy) as session:
        yield lambda url: session.get(url).content


@contextlib.contextmanager
def _managed_learned() -> Any:
    from urllib3.util import parse_url

    from requests_managed import ManagedSession
    from requests_managed._policy import IdleLearning

    with ManagedSession() as session:

        def get(url: str) -> bytes:
            if not get.seeded:  # type: ignore[attr-defined]
                content = session.get(url).content
                # benchmark only: plant a learned 60 s idle timeout (private)
                parsed = parse_url(url)
                key = ("http", parsed.host, parsed.port)
                manager: Any = session._rm_adapter._rm_manager
                counters = manager._counters[key]
                counters.learning = IdleLearning((60.0, 60.5), 60.5)
                get.seeded = True  # type: ignore[attr-defined]
                return content
            return session.get(url).content

        get.seeded = False  # type: ignore[attr-defined]
        yield get


@contextlib.contextmanager
def _managed_send_prepared() -> Any:
    import requests

    from requests_managed import ManagedSession

    with ManagedSession() as session:
        prepared: dict[str, Any] = {}

        def get(url: str) -> bytes:
            if url not in prepared:
                prepared[url] = session.prepare_request(requests.Request("GET", url))
            return session.send(prepared[url]).content  # type: ignore[no-any-return]

        yield get


@contextlib.contextmanager
def _requests_send_prepared() -> Any:
    import requests

    with requests.Session() as session:
        prepared: dict[str, Any] = {}

        def get(url: str) -> bytes:
            if url not in prepared:
                prepared[url] = session.prepare_request(requests.Request("GET", url))
            return session.send(prepared[url], timeout=(5, 30)).content  # type: ignore[no-any-return]

        yield get


def _clients() -> dict[str, Any]:
    from harness import clients

    found: dict[str, Any] = dict(clients())
    found["ManagedSession.send(prepared)"] = _managed_send_prepared
    found["requests.Session.send(prepared)"] = _requests_send_prepared
    found["ManagedSession, learning off"] = _managed_learning_off
    found["ManagedSession, timeout learned"] = _managed_learned
    return found


def _child(client: str, count: int) -> None:
    from benchserver import BenchServer

    with BenchServer() as server, _clients()[client]() as get:
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
    parser.add_argument("--only", default="", metavar="TEXT")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed; nothing measured", file=sys.stderr)
        return 1
    per_request: dict[str, float] = {}
    for client in _clients():
        if args.only not in client:
            continue
        sys.stderr.write(f"\rcounting {client} ...".ljust(60))
        sys.stderr.flush()
        base = _instructions(client, BASE)
        more = _instructions(client, BASE + args.requests)
        per_request[client] = (more - base) / args.requests
    sys.stderr.write("\r" + " " * 60 + "\r")
    reference = per_request.get("requests.Session")
    print(f"Instructions per small GET (user space, {args.requests} requests)\n")
    print("| client | instructions/request | vs requests.Session |")
    print("|---|---:|---:|")
    for client, count in per_request.items():
        ratio = "-" if reference is None else f"{reference / count:.2f}x fewer"
        print(f"| {client} | {count:,.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
