"""A small forward proxy on loopback, for the tests: plain HTTP and CONNECT.

``ForwardProxy`` accepts client connections; for each one it reads the first
request head and

- ``CONNECT host:port``: opens a TCP connection to ``host:port``, answers
  ``200 Connection established`` and relays bytes both ways (an HTTPS tunnel);
- anything else (an absolute-form request, ``GET http://host:port/path``):
  opens a connection to that origin, forwards the head as it is and relays
  bytes both ways from then on, so later requests on the same client
  connection go to the same origin (what a keep-alive client of one origin
  does).

It forwards to loopback addresses (and ``localhost``) only, and counts client
connections and the targets it was asked for. ``stop()`` closes every socket it holds.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import threading
from types import TracebackType
from urllib.parse import urlsplit

_HEAD_LIMIT = 64 * 1024


class ForwardProxy:
    def __init__(self) -> None:
        self.port = 0
        self.connections_opened = 0
        self.targets: list[str] = []  # "CONNECT host:port" or "GET http://..."
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ForwardProxy:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop, listener)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        if self._listener is not None:
            self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections_opened += 1
            self._track(client)
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < _HEAD_LIMIT:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, _version = line.split(" ", 2)
            with self._lock:
                self.targets.append(f"{method} {target}")
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = self._open(host, int(port))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                rest = head.split(b"\r\n\r\n", 1)[1]
                if rest:
                    upstream.sendall(rest)
            else:
                parts = urlsplit(target)
                upstream = self._open(parts.hostname or "", parts.port or 80)
                upstream.sendall(head)
            self._relay(client, upstream)
        except (OSError, ValueError):
            return
        finally:
            _close(client, upstream)

    def _open(self, host: str, port: int) -> socket.socket:
        host = "127.0.0.1" if host == "localhost" else host.strip("[]")
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the test proxy forwards to loopback only, not {host}")
        upstream = socket.create_connection((host, port), timeout=10)
        self._track(upstream)
        return upstream

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        while not self._stopping.is_set():
            readable, _, _ = select.select(list(peers), [], [], 0.2)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)


class Socks5Proxy(ForwardProxy):
    """A SOCKS5 proxy (no authentication, CONNECT only) for the same tests.

    ``targets`` records ``"SOCKS host:port"`` for each tunnel asked for.
    """

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self.port}"

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(10)
            version, methods = self._exact(client, 2)
            self._exact(client, methods)
            if version != 5:
                return
            client.sendall(b"\x05\x00")  # no authentication
            _, command, _, kind = self._exact(client, 4)
            if kind == 1:  # IPv4
                host = socket.inet_ntoa(self._exact(client, 4))
            elif kind == 3:  # a name
                host = self._exact(client, self._exact(client, 1)[0]).decode()
            else:
                return
            port = int.from_bytes(self._exact(client, 2), "big")
            with self._lock:
                self.targets.append(f"SOCKS {host}:{port}")
            if command != 1:
                return
            upstream = self._open(host, port)
            client.sendall(
                b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\0\0"
            )
            self._relay(client, upstream)
        except (OSError, ValueError):
            return
        finally:
            _close(client, upstream)

    @staticmethod
    def _exact(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            piece = sock.recv(n - len(data))
            if not piece:
                raise OSError("the client went away")
            data += piece
        return data


def _close(*sockets: socket.socket | None) -> None:
    for sock in sockets:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
