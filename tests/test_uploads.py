"""Uploads: the write phase bounds a stalled upload, not a slow healthy one.

Before: urllib3 left the connect timeout on the socket while the body was
sent, and CPython bounds a whole ``sendall`` by it, so a healthy upload
longer than the connect timeout failed with ``ConnectionError('timed out')``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from requests_managed import ManagedSession, Timeout, WriteTimeout

from .server import Reply, Server

BODY = b"u" * (32 << 20)  # 32 MiB: far more than the loopback socket buffers
BOUND = 10.0


class _RawServer:
    """One listener; ``serve(conn)`` runs per accepted connection."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.serve = serve
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for conn in self.conns:
            conn.close()
        self.listener.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], _RawServer]]:
    servers: list[_RawServer] = []

    def start(serve: Callable[[socket.socket], None]) -> _RawServer:
        servers.append(_RawServer(serve))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _read_head(conn: socket.socket) -> tuple[bytes, int]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return rest, length


def test_a_slow_but_moving_upload_longer_than_the_connect_timeout_succeeds(
    raw_server: Callable[[Callable[[socket.socket], None]], _RawServer],
) -> None:
    def slow_reader(conn: socket.socket) -> None:
        conn.settimeout(10)
        rest, length = _read_head(conn)
        got, paced = len(rest), 0
        while got < length:  # a pause after every MiB: about 2 s in all
            chunk = conn.recv(min(65536, length - got))
            if not chunk:
                return
            got += len(chunk)
            if got - paced >= 1 << 20:
                paced = got
                time.sleep(0.06)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = raw_server(slow_reader)
    timeout = Timeout(connect=0.5, read=5, write=2, total=30)
    with ManagedSession(timeout=timeout) as session:
        started = time.monotonic()
        assert session.put(server.url, data=BODY).text == "ok"
        assert time.monotonic() - started > 0.5  # longer than the connect timeout


def test_a_stalled_upload_raises_write_timeout(
    raw_server: Callable[[Callable[[socket.socket], None]], _RawServer],
) -> None:
    def never_reads(conn: socket.socket) -> None:
        threading.Event().wait(30)

    server = raw_server(never_reads)
    timeout = Timeout(connect=1, read=5, write=0.5, total=30)
    with ManagedSession(timeout=timeout) as session:
        started = time.monotonic()
        with pytest.raises(WriteTimeout, match=r"Timeout\.write") as caught:
            session.put(server.url, data=BODY)
        assert time.monotonic() - started < BOUND
        assert isinstance(caught.value, requests.ConnectionError)
        assert isinstance(caught.value, requests.Timeout)


def test_write_defaults_to_the_read_timeout() -> None:
    assert Timeout(read=7).write == 7
    assert Timeout(read=7, write=2).write == 2
    assert repr(Timeout(read=7, write=2)) == (
        "Timeout(connect=5.0, read=7.0, write=2.0, total=300.0)"
    )
    assert Timeout.coerce(Timeout(read=9), Timeout(write=1)).write == 9
    assert Timeout.coerce(Timeout(connect=2), Timeout(write=1)).write == 1


def test_expect_100_continue_sends_the_body_after_the_interim_100(
    server: Server,
) -> None:
    server.handler = lambda r: Reply(body=str(len(r.body)).encode())
    with ManagedSession() as session:
        r = session.put(
            server.url, data=b"b" * 100_000, headers={"Expect": "100-continue"}
        )
        assert (r.status_code, r.text) == (200, "100000")
        assert session.get(server.url).ok  # the connection goes on
        assert server.connections_opened == 1


def test_expect_100_continue_returns_an_early_final_response_without_the_body(
    raw_server: Callable[[Callable[[socket.socket], None]], _RawServer],
) -> None:
    # Before: the header was sent and ignored; the body was pushed at a
    # server that had already refused it, and its 413 was lost.
    received: list[int] = []

    def refuse(conn: socket.socket) -> None:
        conn.settimeout(10)
        rest, _ = _read_head(conn)
        conn.sendall(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n"
            b"Connection: close\r\n\r\ntoo much"
        )
        got = len(rest)
        conn.settimeout(0.5)
        try:
            while chunk := conn.recv(65536):
                got += len(chunk)
        except OSError:
            pass
        received.append(got)

    server = raw_server(refuse)
    with ManagedSession(timeout=Timeout(connect=1, read=5, total=20)) as session:
        r = session.put(server.url, data=BODY, headers={"Expect": "100-continue"})
        assert (r.status_code, r.text) == (413, "too much")
    for _ in range(100):  # the server thread's count, bounded wait
        if received:
            break
        threading.Event().wait(0.05)
    assert received and received[0] < len(BODY) // 10  # the body was not sent
