"""A scriptable raw-socket HTTP/1.1 server on loopback, for tests.

It frames requests by their headers and ``Content-Length`` (or chunked
encoding), never by waiting for silence; counts connections and requests per
connection; and misbehaves on cue through :class:`Reply`. One thread accepts,
one thread serves each connection; ``stop()`` closes every socket and joins
every thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_POLL = 0.05


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunked: bool = False
    delay: float = 0.0
    dribble: float | None = None
    close: bool = False
    never_answer: bool = False
    reset: bool = False
    truncate: bool = False
    raw: bytes | None = None
    http10: bool = False


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection_id: int
    index_on_connection: int

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


Handler = Callable[[Request], Reply]


class _Closed(Exception):
    """The peer went away or the server is stopping."""


class _Conn:
    def __init__(self, server: Server, sock: socket.socket, cid: int) -> None:
        self.server = server
        self.sock = sock
        self.cid = cid
        self.buffer = b""

    def _recv(self, idle_limit: float | None) -> bytes:
        idle_since = time.monotonic()
        while not self.server._stopping.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                if (
                    idle_limit is not None
                    and time.monotonic() - idle_since >= idle_limit
                ):
                    raise _Closed from None
                continue
            except (OSError, ssl.SSLError):
                raise _Closed from None
            if not data:
                raise _Closed
            return data
        raise _Closed

    def _read_until(self, marker: bytes, idle_limit: float | None, limit: int) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > limit:
                raise _Closed
            self.buffer += self._recv(idle_limit)
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self.buffer += self._recv(None)
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_request(self, index: int) -> Request:
        idle = self.server.idle_close_after if not self.buffer else None
        head = self._read_until(b"\r\n\r\n", idle, 2 * 1024 * 1024)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = ([*lines[0].split(" ", 2), "", ""])[:3]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._read_until(b"\r\n", None, 1024).split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n", None, 65536)
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        else:
            body = self._read_exact(int(headers.get("content-length", "0") or 0))
        return Request(method, target, headers, body, self.cid, index)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError):
            raise _Closed from None

    def wait(self, seconds: float) -> None:
        """Wait, but notice at once when the client goes away or we stop."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.server._stopping.is_set():
                raise _Closed
            readable, _, _ = select.select([self.sock], [], [], min(left, _POLL))
            if readable and not isinstance(self.sock, ssl.SSLSocket):
                try:
                    if not self.sock.recv(1, socket.MSG_PEEK):
                        raise _Closed
                except (TimeoutError, BlockingIOError):
                    pass
                except OSError:
                    raise _Closed from None
                self.wait_idle_bytes(min(left, _POLL))

    def wait_idle_bytes(self, seconds: float) -> None:
        # Bytes arrived while we wait (a pipelined request): sleep a slice
        # instead of spinning on a readable socket.
        self.server._stopping.wait(seconds)

    def reply(self, reply: Reply) -> bool:
        """Send ``reply``; return whether the connection stays open."""
        if reply.delay:
            self.wait(reply.delay)
        if reply.never_answer:
            while True:
                self.buffer += self._recv(None)  # until the client goes away
        if reply.raw is not None:
            self.send(reply.raw)
            return False
        version = "HTTP/1.0" if reply.http10 else "HTTP/1.1"
        lines = [f"{version} {reply.status} Reason"]
        lines += [f"{name}: {value}" for name, value in reply.headers]
        if reply.dribble is not None:
            lines.append(f"Content-Length: {10**9}")
        elif reply.chunked:
            lines.append("Transfer-Encoding: chunked")
        elif reply.truncate:
            lines.append(f"Content-Length: {len(reply.body) + 100}")
        else:
            lines.append(f"Content-Length: {len(reply.body)}")
        if reply.close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if reply.dribble is not None:
            self.send(head)
            while True:
                self.wait(reply.dribble)
                self.send(b"x")
        if reply.reset:
            self.send(head + reply.body[: len(reply.body) // 2])
            self.sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            return False
        if reply.chunked:
            body = b"".join(
                b"%x\r\n%s\r\n" % (len(piece), piece)
                for piece in (
                    reply.body[i : i + 16384] for i in range(0, len(reply.body), 16384)
                )
            )
            self.send(head + body + b"0\r\n\r\n")
        else:
            self.send(head + reply.body)
        if reply.truncate or reply.close:
            return False
        if reply.http10:
            names = {name.lower(): value.lower() for name, value in reply.headers}
            return "keep-alive" in names or names.get("connection") == "keep-alive"
        return True


class Server:
    """See the module docstring; ``handler`` may be replaced at any time."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        idle_close_after: float | None = None,
        backlog: int = 128,
        record: bool = True,
    ) -> None:
        self.handler: Handler = handler or (lambda request: Reply())
        self.ssl_context = ssl_context
        self.host = host
        self.idle_close_after = idle_close_after
        self.backlog = backlog
        self.record = record  # keep every Request (off for long soak runs)
        self.requests_served = 0
        self.port = 0
        self.connections_opened = 0
        self.connections_closed = 0
        self.requests: list[Request] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Server:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(self.backlog)
        listener.settimeout(_POLL)
        self._listener = listener
        self.port = listener.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._cond:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self.ssl_context is not None:
            return f"https://localhost:{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- observations ----------------------------------------------------------

    def requests_per_connection(self) -> dict[int, int]:
        with self._cond:
            counts: dict[int, int] = {}
            for request in self.requests:
                counts[request.connection_id] = counts.get(request.connection_id, 0) + 1
            return counts

    def bodies_received(self, path: str) -> list[bytes]:
        with self._cond:
            return [r.body for r in self.requests if r.path == path]

    def open_connections(self) -> int:
        with self._cond:
            return self.connections_opened - self.connections_closed

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait (bounded) until ``predicate()`` holds; re-checked on every change."""
        end = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
            return True

    # -- serving ---------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                self.connections_opened += 1
                cid = self.connections_opened
                self._socks.add(sock)
                self._cond.notify_all()
            thread = threading.Thread(target=self._serve, args=(sock, cid), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, cid: int) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn_sock: socket.socket = sock
        try:
            if self.ssl_context is not None:
                sock.settimeout(5)
                conn_sock = self.ssl_context.wrap_socket(sock, server_side=True)
                with self._cond:
                    self._socks.add(conn_sock)
            conn_sock.settimeout(_POLL)
            conn = _Conn(self, conn_sock, cid)
            index = 0
            while True:
                index += 1
                request = conn.read_request(index)
                with self._cond:
                    self.requests_served += 1
                    if self.record:
                        self.requests.append(request)
                    self._cond.notify_all()
                if not conn.reply(self.handler(request)):
                    break
        except (_Closed, OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn_sock.close()
            with self._cond:
                self._socks.discard(sock)
                self._socks.discard(conn_sock)
                self.connections_closed += 1
                self._cond.notify_all()


class Backlogged:
    """A listener that never accepts, with its accept queue filled.

    On Linux, once the accept queue is full the kernel drops new SYNs, so a
    further connect hangs until the client's own connect timeout.
    """

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.clients: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fill(self) -> bool:
        """Connect until a connect stalls; return whether one did."""
        for _ in range(256):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.settimeout(0.2)
            self.clients.append(client)
            try:
                client.connect(("127.0.0.1", self.port))
            except TimeoutError:
                return True
            except OSError:
                return False
        return False

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.listener.close()
