"""Instructions per 64 KiB chunk of a streamed body, counted by valgrind.

    python benchmarks/streaming.py [--only TEXT] [--chunked] [--mib A B]

Each client streams one large body, identity-encoded and framed by
``Content-Length`` (or chunked with ``--chunked``, in 64 KiB chunks), over a
kept-alive loopback connection, in 64 KiB pieces (``iter_content(65536)``
with ``stream=True``; urllib3's ``stream(65536)``; httpx's
``iter_bytes(65536)``). The client runs under ``valgrind --tool=callgrind``
twice, with bodies of A and B MiB (default 8 and 24); the difference divided
by the difference in chunks is the cost of one chunk, start-up and the
request itself cancelling out. The server runs untraced, in its own
process.

``python benchmarks/streaming.py --time [--rounds N]`` times the same
streams instead (B MiB each, the clients taking turns in one process, medians
of N rounds) and reports each client's throughput against
``requests.Session`` (which passes ``timeout=(5, 30)``, as in
``benchmarks/run.py``) and its peak RSS growth while streaming, each in a
fresh process.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

CHUNK = 65536
_BLOCK = b"x" * (1024 * 1024)


def _serve_connection(sock: socket.socket) -> None:
    with sock:
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                data = sock.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            _, path, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            kind, mib = path.decode().strip("/").split("/")
            size = int(mib) * 1024 * 1024
            if kind == "chunked":
                sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                piece = b"%x\r\n%s\r\n" % (CHUNK, _BLOCK[:CHUNK])
                for _ in range(size // CHUNK):
                    sock.sendall(piece)
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                for _ in range(size // len(_BLOCK)):
                    sock.sendall(_BLOCK)
                sock.sendall(_BLOCK[: size % len(_BLOCK)])


def serve() -> None:
    """The server process: prints its port, serves until stdin closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)

    def accept() -> None:
        while True:
            sock, _ = listener.accept()
            threading.Thread(
                target=_serve_connection, args=(sock,), daemon=True
            ).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


def _managed() -> Callable[[str], int]:
    from requests_managed import ManagedSession

    session = ManagedSession()

    def get(url: str) -> int:
        n = 0
        with session.get(url, stream=True) as r:
            for chunk in r.iter_content(CHUNK):
                n += len(chunk)
        return n

    return get


def _requests() -> Callable[[str], int]:
    import requests

    session = requests.Session()

    def get(url: str) -> int:
        n = 0
        # as a careful user does (benchmarks/run.py's baseline)
        with session.get(url, stream=True, timeout=(5, 30)) as r:
            for chunk in r.iter_content(CHUNK):
                n += len(chunk)
        return n

    return get


def _urllib3() -> Callable[[str], int]:
    import urllib3

    pool = urllib3.PoolManager()

    def get(url: str) -> int:
        n = 0
        r = pool.request("GET", url, preload_content=False)
        for chunk in r.stream(CHUNK):
            n += len(chunk)
        r.release_conn()
        return n

    return get


def _httpx() -> Callable[[str], int]:
    import httpx

    client = httpx.Client()

    def get(url: str) -> int:
        n = 0
        with client.stream("GET", url) as r:
            for chunk in r.iter_bytes(CHUNK):
                n += len(chunk)
        return n

    return get


CLIENTS: dict[str, Callable[[], Callable[[str], int]]] = {
    "ManagedSession": _managed,
    "requests.Session": _requests,
    "urllib3.PoolManager": _urllib3,
    "httpx.Client": _httpx,
}


def client(name: str, base: str, mib: int) -> None:
    """The traced process: one small warm-up stream, then one of ``mib``."""
    get = CLIENTS[name]()
    get(f"{base}/1")
    assert get(f"{base}/{mib}") == mib * 1024 * 1024


def _count(name: str, base: str, mib: int) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--client",
            name,
            base,
            str(mib),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    match = re.search(r"Collected : (\d+)", out)
    assert match is not None, out
    return int(match.group(1))


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def timed(name: str, base: str, mib: int) -> None:
    """One fresh process: prints seconds per MiB and peak RSS growth (KiB)."""
    get = CLIENTS[name]()
    get(f"{base}/1")
    before = _rss_kib()
    start = time.perf_counter()
    get(f"{base}/{mib}")
    elapsed = time.perf_counter() - start
    print(elapsed / mib, _rss_kib() - before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="")
    parser.add_argument("--chunked", action="store_true")
    parser.add_argument("--mib", nargs=2, type=int, default=(8, 24))
    parser.add_argument("--time", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not args.time and shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        kind = "chunked" if args.chunked else "length"
        base = f"http://127.0.0.1:{port}/{kind}"
        names = [n for n in CLIENTS if args.only in n]
        print(f"{kind}-framed body, {CHUNK} byte chunks")
        if args.time:
            _time(names, base, args.mib[1], args.rounds)
            return
        small, large = args.mib
        chunks = (large - small) * 1024 * 1024 // CHUNK
        for name in names:
            cost = (_count(name, base, large) - _count(name, base, small)) / chunks
            print(f"{name:22} {cost:10,.0f} instructions/chunk")
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)


def interleaved(names: list[str], base: str, mib: int, rounds: int) -> None:
    """One process streams with every client in turn, ``rounds`` times:
    prints each client's median seconds and CPU seconds per MiB."""
    gets = {name: CLIENTS[name]() for name in names}
    for get in gets.values():
        get(f"{base}/1")
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name, get in gets.items():
            started, used = time.perf_counter(), time.process_time()
            get(f"{base}/{mib}")
            wall[name].append((time.perf_counter() - started) / mib)
            cpu[name].append((time.process_time() - used) / mib)
    for name in names:
        print(name, statistics.median(wall[name]), statistics.median(cpu[name]))


def _time(names: list[str], base: str, mib: int, rounds: int) -> None:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--interleaved",
            base,
            str(mib),
            str(rounds),
            *names,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    medians: dict[str, tuple[float, float]] = {}
    for row in out.splitlines():
        name, wall, used = row.split()
        medians[name] = (float(wall), float(used))
    rss: dict[str, int] = {}
    for name in names:  # each in a fresh process: its own peak
        fields = subprocess.run(
            [sys.executable, __file__, "--timed", name, base, str(mib)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        rss[name] = int(fields[1])
    reference = medians.get("requests.Session", (1.0, 1.0))
    for name, (seconds, cpu) in medians.items():
        print(
            f"{name:22} {seconds * 1e3:6.2f} ms/MiB {cpu * 1e3:6.2f} ms CPU/MiB"
            f"  {reference[0] / seconds:5.2f}x requests' throughput"
            f"  RSS +{rss[name]:,} KiB"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve()
    elif sys.argv[1:2] == ["--client"]:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1:2] == ["--timed"]:
        timed(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1:2] == ["--interleaved"]:
        interleaved(sys.argv[5:], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
