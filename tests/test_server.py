"""The test server itself, driven through raw sockets."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import trustme

from .server import Backlogged, Reply, Request, Server

BOUND = 5.0  # seconds any single wait here may take


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leftover = [t.name for t in threading.enumerate() if t not in before]
    assert leftover == []


class Client:
    """A raw socket with a buffer: send bytes, read framed responses."""

    def __init__(self, port: int, timeout: float = BOUND) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buffer += data

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._more()
        data, _, self.buffer = self.buffer.partition(marker)
        return data

    def _exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._more()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def head(self) -> tuple[str, dict[str, str]]:
        lines = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return lines[0], headers

    def response(self) -> tuple[str, dict[str, str], bytes]:
        status, headers = self.head()
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._until(b"\r\n"), 16):
                body += self._exact(size)
                assert self._exact(2) == b"\r\n"
            assert self._until(b"\r\n") == b""
        else:
            body = self._exact(int(headers.get("content-length", "0")))
        return status, headers, body

    def rest(self) -> bytes:
        """Everything until the server closes."""
        while True:
            try:
                self._more()
            except EOFError:
                data, self.buffer = self.buffer, b""
                return data


def get(target: str = "/", extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def test_keep_alive_counts_one_connection_two_requests() -> None:
    with Server() as server, Client(server.port) as client:
        for target in ("/a", "/b?x=1"):
            client.send(get(target))
            status, headers, body = client.response()
            assert (status, headers["content-length"], body) == (
                "HTTP/1.1 200 OK",
                "2",
                b"ok",
            )
        assert server.connections_opened == 1
        assert server.requests_per_connection() == {1: 2}
        assert [(r.target, r.index_on_connection) for r in server.requests] == [
            ("/a", 1),
            ("/b?x=1", 2),
        ]
        assert server.requests[1].path == "/b"
        assert server.requests[0].headers["host"] == "x"
    assert server.connections_closed == 1
    assert server.open_connections() == 0


def test_pipelined_requests_are_answered_in_order() -> None:
    def echo(request: Request) -> Reply:
        return Reply(body=request.target.encode())

    with Server(echo) as server, Client(server.port) as client:
        client.send(get("/1") + b"POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
        assert client.response()[2] == b"/1"
        assert client.response()[2] == b"/2"
        assert server.bodies_received("/2") == [b"abc"]
        assert server.requests_per_connection() == {1: 2}


def test_chunked_request_body_is_decoded() -> None:
    with Server() as server, Client(server.port) as client:
        client.send(
            b"POST /up?q=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n"
            b"6\r\n world\r\n"
            b"0\r\nX-Trailer: t\r\n\r\n"
        )
        assert client.response()[2] == b"ok"
        client.send(get("/after"))  # the framing left the connection usable
        assert client.response()[2] == b"ok"
        assert server.bodies_received("/up") == [b"hello world"]
        assert server.requests_per_connection() == {1: 2}


def test_chunked_reply_uses_16_kib_chunks() -> None:
    body = bytes(range(256)) * 160  # 40 KiB
    with (
        Server(lambda r: Reply(body=body, chunked=True)) as server,
        Client(server.port) as client,
    ):
        client.send(get())
        _, headers = client.head()
        assert headers["transfer-encoding"] == "chunked"
        assert "content-length" not in headers
        sizes = []
        while size := int(client._until(b"\r\n"), 16):
            sizes.append(size)
            client._exact(size + 2)
        assert sizes == [16384, 16384, 40960 - 32768]


def test_idle_close_after_closes_an_idle_connection() -> None:
    with Server(idle_close_after=0.2) as server, Client(server.port) as client:
        client.send(get())
        assert client.response()[2] == b"ok"
        start = time.monotonic()
        assert client.rest() == b""  # EOF, no response
        assert 0.1 < time.monotonic() - start < 2
        assert server.wait_for(lambda: server.open_connections() == 0)
        assert server.connections_closed == 1


def test_reply_close_sends_connection_close_then_closes() -> None:
    with Server(lambda r: Reply(close=True)) as server, Client(server.port) as client:
        client.send(get())
        _, headers, _ = client.response()
        assert headers["connection"] == "close"
        assert client.rest() == b""
        assert server.wait_for(lambda: server.open_connections() == 0)


def test_client_connection_close_is_honoured() -> None:
    with Server() as server, Client(server.port) as client:
        client.send(get(extra="Connection: close\r\n"))
        assert client.response()[1]["connection"] == "close"
        assert client.rest() == b""


def test_raw_bytes_are_sent_verbatim_then_closed() -> None:
    raw = b"HTTP/1.1 abc\r\n\x00\xff"
    with Server(lambda r: Reply(raw=raw)) as server, Client(server.port) as client:
        client.send(get())
        assert client.rest() == raw
        assert server.wait_for(lambda: server.open_connections() == 0)


def test_never_answer_keeps_silent_until_the_client_leaves() -> None:
    with Server(lambda r: Reply(never_answer=True)) as server:
        with Client(server.port, timeout=0.3) as client:
            client.send(get())
            with pytest.raises(TimeoutError):
                client.sock.recv(1)
            assert server.open_connections() == 1
        assert server.wait_for(lambda: server.open_connections() == 0, timeout=2)
        assert len(server.requests) == 1


def test_dribble_notices_the_client_leaving() -> None:
    with Server(lambda r: Reply(dribble=60.0)) as server:
        with Client(server.port) as client:
            client.send(get())
            _, headers = client.head()
            assert headers["content-length"] == str(10**9)
        assert server.wait_for(lambda: server.open_connections() == 0, timeout=2)


def test_dribble_sends_one_byte_at_a_time() -> None:
    with (
        Server(lambda r: Reply(dribble=0.05)) as server,
        Client(server.port) as client,
    ):
        client.send(get())
        client.head()
        client._exact(3)


def test_truncate_announces_more_than_it_sends() -> None:
    reply = Reply(body=b"short", truncate=True)
    with Server(lambda r: reply) as server, Client(server.port) as client:
        client.send(get())
        _, headers = client.head()
        assert headers["content-length"] == "105"
        assert client.rest() == b"short"


def test_reset_sends_half_the_body_then_rst() -> None:
    reply = Reply(body=b"x" * 100, reset=True)
    with Server(lambda r: reply) as server, Client(server.port) as client:
        client.send(get())
        assert server.wait_for(lambda: server.open_connections() == 0)
        with pytest.raises(ConnectionResetError):
            client.rest()


def test_http10_reply_closes_unless_keep_alive_given() -> None:
    with Server(lambda r: Reply(http10=True)) as server, Client(server.port) as client:
        client.send(get())
        status, headers, _ = client.response()
        assert status == "HTTP/1.0 200 OK"
        assert "connection" not in headers
        assert client.rest() == b""
    reply = Reply(http10=True, headers=[("Connection", "keep-alive")])
    with Server(lambda r: reply) as server, Client(server.port) as client:
        for _ in range(2):
            client.send(get())
            assert client.response()[0] == "HTTP/1.0 200 OK"
        assert server.requests_per_connection() == {1: 2}


def test_head_and_204_replies_carry_no_body() -> None:
    def handler(request: Request) -> Reply:
        return Reply(status=204) if request.path == "/empty" else Reply(body=b"abc")

    with Server(handler) as server, Client(server.port) as client:
        client.send(b"HEAD / HTTP/1.1\r\n\r\n" + get("/empty") + get("/"))
        assert client.head()[1]["content-length"] == "3"
        status, headers = client.head()
        assert status == "HTTP/1.1 204 No Content"
        assert "content-length" not in headers
        assert client.response()[2] == b"abc"


def test_bad_request_gets_400_and_close() -> None:
    with Server() as server, Client(server.port) as client:
        client.send(b"NONSENSE\r\n\r\n")
        assert client.response()[0] == "HTTP/1.1 400 Bad Request"
        assert client.rest() == b""
        assert server.requests == []


def test_handler_error_gets_500_and_is_recorded() -> None:
    def broken(request: Request) -> Reply:
        raise ValueError("boom")

    with Server(broken) as server, Client(server.port) as client:
        client.send(get())
        status, _, body = client.response()
        assert status == "HTTP/1.1 500 Internal Server Error"
        assert b"boom" in body
        assert [type(e) for e in server.handler_errors] == [ValueError]


def test_stop_interrupts_a_delay_and_is_idempotent() -> None:
    server = Server(lambda r: Reply(delay=60.0)).start()
    with Client(server.port) as client:
        client.send(get())
        assert server.wait_for(lambda: len(server.requests) == 1)
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 1
        assert client.rest() == b""
    server.stop()
    assert server.open_connections() == 0


def test_wait_for_is_bounded() -> None:
    with Server() as server:
        start = time.monotonic()
        assert not server.wait_for(lambda: False, timeout=0.2)
        assert 0.2 <= time.monotonic() - start < 1


def test_not_listening_refuses_connections() -> None:
    with Server(listen=False) as server:
        assert server.port
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=BOUND)


def test_tls_handshake_and_request() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with Server(lambda r: Reply(body=b"secure"), ssl_context=server_context) as srv:
        assert srv.url == f"https://localhost:{srv.port}"
        with Client(srv.port) as client:
            client.sock = client_context.wrap_socket(
                client.sock, server_hostname="localhost"
            )
            for _ in range(2):
                client.send(get())
                assert client.response()[2] == b"secure"
        assert srv.requests_per_connection() == {1: 2}
        # a client that does not speak TLS: opened, then closed, no request
        with Client(srv.port) as client:
            client.send(get())
            assert srv.wait_for(lambda: srv.connections_closed == 2)
        assert srv.connections_opened == 2
        assert len(srv.requests) == 2


def test_backlogged_listener_makes_connects_time_out() -> None:
    with Backlogged() as backlog:
        if not backlog.fill():
            pytest.skip(
                "loopback connects past a full accept queue complete or are refused "
                "on this machine (e.g. net.ipv4.tcp_abort_on_overflow=1)"
            )
        assert backlog.url == f"http://127.0.0.1:{backlog.port}"
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.5)
        try:
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                probe.connect(("127.0.0.1", backlog.port))
            assert time.monotonic() - start < 2
        finally:
            probe.close()


def test_the_suite_cannot_reach_beyond_loopback() -> None:
    """pytest-socket (configured in pyproject.toml) blocks any other host."""
    import pytest_socket

    with (
        pytest.warns(UserWarning, match="192.0.2.1"),  # pytest-socket warns too
        pytest.raises(pytest_socket.SocketConnectBlockedError),
    ):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1


def test_idle_close_race_cuts_the_request_that_arrives_past_the_limit() -> None:
    with (
        Server(idle_close_after=0.2, idle_close_race=True) as server,
        Client(server.port) as client,
    ):
        client.send(get())
        assert client.response()[2] == b"ok"
        time.sleep(0.3)  # past the limit; the connection is still open
        assert server.open_connections() == 1
        client.send(get("/late"))
        with pytest.raises(ConnectionResetError):  # cut off with an RST
            client.rest()
        assert server.wait_for(lambda: server.requests_cut == 1)
        assert server.requests_served == 1
