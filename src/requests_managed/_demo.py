"""``requests-managed demo``: the naive way and the managed way, side by side."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from ._session import ManagedSession

__all__ = ["run_demo"]


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.connections = 0

    def process_request(self, request: object, client_address: object) -> None:
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b'{"status": "ok"}'

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without TCP_NODELAY, Nagle
        # plus the client's delayed ACK adds ~40 ms to every reused request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def loopback_server() -> Iterator[_CountingServer]:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 that counts connections."""
    server = _CountingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _measure(
    server: _CountingServer, requests_count: int, fetch: Callable[[], None]
) -> tuple[int, float]:
    before = server.connections
    start = time.perf_counter()
    for _ in range(requests_count):
        fetch()
    return server.connections - before, time.perf_counter() - start


def run_demo(requests_count: int = 200, print_: Callable[[str], None] = print) -> int:
    """Run the comparison and print the table; returns an exit code."""
    with loopback_server() as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/items"
        print_(f"Loopback server at {url}; {requests_count} GET requests each way.\n")

        def naive() -> None:
            requests.get(url).raise_for_status()  # no timeout: could hang forever

        naive_conns, naive_time = _measure(server, requests_count, naive)
        with ManagedSession() as session:

            def managed() -> None:
                session.get(url).raise_for_status()

            managed_conns, managed_time = _measure(server, requests_count, managed)
            timeout = session._rm_timeout
        rows = [
            ("", "requests.get (naive)", "ManagedSession"),
            ("requests", str(requests_count), str(requests_count)),
            ("TCP connections opened", str(naive_conns), str(managed_conns)),
            (
                "connection reuse",
                f"{_reuse(requests_count, naive_conns):.0%}",
                f"{_reuse(requests_count, managed_conns):.0%}",
            ),
            ("elapsed", f"{naive_time:.2f} s", f"{managed_time:.2f} s"),
            ("timeout on every request", "no (waits forever)", f"yes: {timeout!r}"),
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for n, row in enumerate(rows):
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            print_("  ".join(cells).rstrip())
            if n == 0:
                print_("  ".join("-" * w for w in widths))
    return 0


def _reuse(requests_count: int, connections: int) -> float:
    return (requests_count - connections) / requests_count if requests_count else 0.0
