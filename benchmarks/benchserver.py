"""A fast loopback HTTP/1.1 server for the benchmarks, run in its own process.

It must be fast enough that the client under test is the bottleneck, so it
is a bare ``asyncio.Protocol`` returning canned responses: no parsing beyond
finding the end of each request's headers and its path. Requests have no
body (the benchmarks send GETs). Every reply has a ``Content-Length``, so
every connection is kept alive.

Paths: ``/small`` (2 bytes), ``/64k``, ``/1m``; ``/_connections`` answers
with the number of TCP connections accepted so far (its own included).

Run as ``python -m requests_managed._benchserver``: it prints the port on
its first line of stdout and serves until stdin is closed, so it can never
outlive the process that started it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from types import TracebackType

__all__ = ["BenchServer"]

_BODIES = {
    b"/small": b"ok",
    b"/64k": b"x" * (64 * 1024),
    b"/1m": b"x" * (1024 * 1024),
}


def _reply(body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    return head + body


_REPLIES = {path: _reply(body) for path, body in _BODIES.items()}
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class _Protocol(asyncio.Protocol):
    accepted = 0

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

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
        buffer = self._buffer + data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head, buffer = buffer[:end], buffer[end + 4 :]
            try:
                path = head.split(b" ", 2)[1].split(b"?", 1)[0]
            except IndexError:
                transport.close()
                return
            if path == b"/_connections":
                body = str(_Protocol.accepted).encode()
                transport.write(_reply(body))
            else:
                transport.write(_REPLIES.get(path, _NOT_FOUND))
        self._buffer = buffer


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    # Serve until the parent closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


class BenchServer:
    """Start the server in a child process; ``with BenchServer() as s: s.url(...)``."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = _readline_bounded(self._process, 30.0)
        self.port = int(line)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

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
    asyncio.run(_serve())
