"""A fast loopback HTTP/1.1 server for the benchmarks, run in its own process.

It must be fast enough that the client under test is the bottleneck, so it
is a bare ``asyncio.Protocol`` returning canned responses: no parsing beyond
finding the end of each request's headers, its path and, for a request other
than a GET, its ``Content-Length`` (the body is read and discarded before the
reply). Every reply has a ``Content-Length``, so every connection is kept
alive, except on ``/close``.

Paths: ``/small`` (2 bytes), ``/64k``, ``/1m``, ``/16m``; ``/close`` (2 bytes,
then ``Connection: close`` and the server closes); ``/_connections`` answers
with the number of TCP connections accepted so far on every port, TLS ones
included (its own included).

``BenchServer(ports=50)`` listens on 50 ports (``urls()``), and
``BenchServer(tls_cert=PEM)`` on one more port with TLS (``tls_url()``; the
file holds the key and the certificate chain), all in the same process.

Run as ``python benchserver.py [--ports N] [--tls PEM]``: it prints the ports
on its first line of stdout (the TLS one last) and serves until stdin is
closed, so it can never outlive the process that started it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import ssl
import subprocess
import sys
import threading
from types import TracebackType

__all__ = ["BenchServer"]

_BODIES = {
    b"/small": b"ok",
    b"/64k": b"x" * (64 * 1024),
    b"/1m": b"x" * (1024 * 1024),
    b"/16m": b"x" * (16 * 1024 * 1024),
}


def _reply(body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    return head + body


_REPLIES = {path: _reply(body) for path, body in _BODIES.items()}
_CLOSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Length: 2\r\nConnection: close\r\n\r\nok"
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class _Protocol(asyncio.Protocol):
    accepted = 0

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        # A request body still to discard, and the reply that follows it.
        self._skip = 0
        self._after_body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _Protocol.accepted += 1
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        if self._skip:
            if len(data) < self._skip:
                self._skip -= len(data)
                return
            data = data[self._skip :]
            self._skip = 0
            if not self._answer(transport, self._after_body):
                return
        buffer = self._buffer + data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head, buffer = buffer[:end], buffer[end + 4 :]
            try:
                path = head.split(b" ", 2)[1].split(b"?", 1)[0]
                length = 0 if head.startswith(b"GET ") else _content_length(head)
            except (IndexError, ValueError):
                transport.close()
                return
            if path == b"/_connections":
                reply = _reply(str(_Protocol.accepted).encode())
            else:
                reply = _REPLIES.get(path, _CLOSE if path == b"/close" else _NOT_FOUND)
            if length > len(buffer):
                self._skip, self._after_body = length - len(buffer), reply
                self._buffer = b""
                return
            buffer = buffer[length:]
            if not self._answer(transport, reply):
                return
        self._buffer = buffer

    @staticmethod
    def _answer(transport: asyncio.Transport, reply: bytes) -> bool:
        """Send ``reply``; False when it closed the connection."""
        transport.write(reply)
        if reply is _CLOSE:
            transport.close()
            return False
        return True


async def _serve(ports: int, tls_cert: str | None) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(_Protocol, "127.0.0.1", 0, backlog=512)
        for _ in range(ports)
    ]
    if tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls_cert)
        servers.append(
            await loop.create_server(
                _Protocol, "127.0.0.1", 0, backlog=512, ssl=context
            )
        )
    numbers = [str(server.sockets[0].getsockname()[1]) for server in servers]
    sys.stdout.write(" ".join(numbers) + "\n")
    sys.stdout.flush()
    # Serve until the parent closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    for server in servers:
        server.close()


class BenchServer:
    """Start the server in a child process; ``with BenchServer() as s: s.url(...)``."""

    def __init__(self, ports: int = 1, tls_cert: str | None = None) -> None:
        command = [sys.executable, os.path.abspath(__file__), "--ports", str(ports)]
        if tls_cert is not None:
            command += ["--tls", tls_cert]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        numbers = [int(n) for n in _readline_bounded(self._process, 30.0).split()]
        self.ports = numbers[:ports]
        self.port = self.ports[0]
        self.tls_port = numbers[ports] if tls_cert is not None else None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def urls(self, path: str) -> list[str]:
        """``path`` on every plain port: one origin per port."""
        return [f"http://127.0.0.1:{port}{path}" for port in self.ports]

    def tls_url(self, path: str) -> str:
        if self.tls_port is None:
            raise RuntimeError("this BenchServer was started without tls_cert")
        return f"https://127.0.0.1:{self.tls_port}{path}"

    def connections(self) -> int:
        """TCP connections accepted so far, this query's own included."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /_connections HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
                head, sep, body = data.partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    return int(body[:length])
        raise RuntimeError("benchmark server did not answer /_connections")

    def close(self) -> None:
        process = self._process
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _readline_bounded(process: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: result.append(stdout.readline()))
    reader.daemon = True
    reader.start()
    reader.join(timeout)
    if not result or not result[0].strip():
        process.kill()
        process.wait(timeout=10)
        raise RuntimeError("benchmark server did not start")
    return result[0]


if __name__ == "__main__":
    _parser = argparse.ArgumentParser()
    _parser.add_argument("--ports", type=int, default=1)
    _parser.add_argument("--tls", default=None, metavar="PEM")
    _args = _parser.parse_args()
    asyncio.run(_serve(_args.ports, _args.tls))
