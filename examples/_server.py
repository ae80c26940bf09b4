"""A small keep-alive HTTP/1.1 server on loopback, shared by the examples.

Routes (GET only; every reply has a Content-Length, so connections are kept):

    /items/<n>   a small JSON object
    /slow/...    the same after a 20 ms pause
    /bytes/<n>   n bytes of b"x"
    /headers     a JSON object with the request's headers
    /status/<n>  an empty reply with status n
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; HTTP/1.0 would close each time

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes; without this, Nagle's
        # algorithm delays each reply by tens of milliseconds.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts[0] == "slow":
            time.sleep(0.02)
        status = 200
        if parts[0] == "bytes" and len(parts) == 2 and parts[1].isdigit():
            body = b"x" * int(parts[1])
            content_type = "application/octet-stream"
        elif parts[0] == "headers":
            echo = {"path": self.path, "headers": dict(self.headers)}
            body = json.dumps(echo).encode()
            content_type = "application/json"
        elif parts[0] == "status" and len(parts) == 2 and parts[1].isdigit():
            status, body, content_type = int(parts[1]), b"", "text/plain"
        else:
            body = json.dumps({"path": self.path}).encode()
            content_type = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the examples' output readable


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client closing mid-body is part of the streaming example


@contextlib.contextmanager
def serve() -> Iterator[str]:
    """Run the server for the duration of the block; yield its base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
