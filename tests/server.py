"""A scriptable raw-socket HTTP/1.1 server on loopback, for tests.

:class:`Server` frames requests by their headers and ``Content-Length`` (or
chunked encoding), never by waiting for silence; it counts connections and
requests per connection, and misbehaves on cue through :class:`Reply`. One
thread accepts, one daemon thread serves each connection. Every blocking call
uses a short socket timeout and re-checks the server's stop event, so
``stop()`` closes every socket and joins every thread within a bound.

:class:`Backlogged` is a listener whose accept queue is full, for connect
timeouts.

Only the standard library is used; TLS needs a server-side
:class:`ssl.SSLContext` (for instance from ``trustme``).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import select
import socket
import ssl
import string
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType

_POLL = 0.1  # longest single blocking call, seconds
_START_TIMEOUT = 5.0
_STOP_TIMEOUT = 5.0  # for all threads together
_HANDSHAKE_TIMEOUT = 10.0
_HEAD_LIMIT = 2 * 1024 * 1024  # request line + headers, and chunked trailers
_LINE_LIMIT = 64 * 1024  # one chunk-size line
_RECV_SIZE = 64 * 1024
_SEND_CHUNK = 64 * 1024
_CHUNK = 16 * 1024  # chunk size of chunked replies
_HEXDIGITS = frozenset(string.hexdigits.encode())


@dataclass
class Reply:
    """What the server sends for one request, and how it misbehaves.

    Framing headers (``Content-Length``/``Transfer-Encoding``) given in
    ``headers`` replace the generated ones. Replies to ``HEAD`` and replies
    with status 1xx, 204 or 304 carry no body bytes.
    """

    status: int = 200
    body: bytes = b"ok"
    headers: list[tuple[str, str]] = field(default_factory=list)  # extra headers
    chunked: bool = False  # Transfer-Encoding: chunked, one chunk per 16 KiB
    delay: float = 0.0  # wait this long (stop() interrupts) before sending
    dribble: float | None = None  # Content-Length 10**9, one byte per `dribble` s
    close: bool = False  # "Connection: close", then close
    never_answer: bool = False  # send nothing until the client goes away
    reset: bool = False  # headers and half the body, then RST
    truncate: bool = False  # Content-Length len(body) + 100, body, then close
    raw: bytes | None = None  # exactly these bytes, then close
    http10: bool = False  # "HTTP/1.0" status line; close unless keep-alive given
    stall_after: int | None = None  # head and this many body bytes, then silence
    # exactly these bytes, waiting the given seconds at each float; then hold
    # the connection open (silent) until the client goes away
    script: list[bytes | float] | None = None


@dataclass(frozen=True)
class Request:
    """One request, fully received."""

    method: str
    target: str  # e.g. "/path?x=1"
    headers: dict[str, str]  # lower-cased names; repeated headers joined by ", "
    body: bytes
    connection_id: int  # 1-based, order of accept
    index_on_connection: int  # 1-based

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]


Handler = Callable[[Request], Reply]


def _default_handler(request: Request) -> Reply:
    return Reply(body=b"ok")


class _Closed(Exception):
    """The peer went away, the connection failed, or the server is stopping."""


class _IdleClose(Exception):
    """No request bytes for ``idle_close_after`` seconds."""


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Connection:
    """Serves one accepted socket; runs in its own thread."""

    def __init__(self, server: Server, sock: socket.socket, cid: int) -> None:
        self.server = server
        self.sock = sock
        self.cid = cid
        self.buffer = bytearray()
        self.last_activity = time.monotonic()
        self.replied_at = self.last_activity  # when the last reply was sent

    # -- receiving -------------------------------------------------------------

    def _recv(self, timeout: float) -> bool:
        """One recv of at most ``timeout`` seconds; return whether bytes came."""
        if self.server._stopping.is_set():
            raise _Closed
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(_RECV_SIZE)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
            return False
        except OSError:  # includes ssl.SSLError
            raise _Closed from None
        if not data:
            raise _Closed
        self.buffer += data
        self.last_activity = time.monotonic()
        return True

    def _need_more(self) -> None:
        """Wait for more request bytes; the idle limit applies."""
        idle = None if self.server.idle_close_race else self.server.idle_close_after
        while True:
            timeout = _POLL
            if idle is not None:
                left = self.last_activity + idle - time.monotonic()
                if left <= 0:
                    raise _IdleClose
                timeout = min(timeout, left)
            if self._recv(timeout):
                return

    def _read_until(self, marker: bytes, limit: int, status: int) -> bytes:
        scanned = 0
        while True:
            end = self.buffer.find(marker, max(0, scanned - len(marker) + 1))
            if end >= 0:
                data = bytes(self.buffer[:end])
                del self.buffer[: end + len(marker)]
                return data
            scanned = len(self.buffer)
            if scanned > limit:
                raise _BadRequest(status)
            self._need_more()

    def _read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._need_more()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self._read_until(b"\r\n", _LINE_LIMIT, 400)
            size_text = line.split(b";", 1)[0].strip(b" \t")
            if not size_text or not _HEXDIGITS.issuperset(size_text):
                raise _BadRequest(400)
            size = int(size_text, 16)
            if size == 0:
                break
            body += self._read_exact(size)
            if self._read_exact(2) != b"\r\n":
                raise _BadRequest(400)
        trailers = 0
        while line := self._read_until(b"\r\n", _HEAD_LIMIT, 431):
            trailers += len(line) + 2
            if trailers > _HEAD_LIMIT:
                raise _BadRequest(431)
        return bytes(body)

    def read_request(self, index: int) -> tuple[Request, bool]:
        """Read one request; return it and whether the client asked to close."""
        head = b""
        while not head:  # tolerate empty lines before a request line
            head = self._read_until(b"\r\n\r\n", _HEAD_LIMIT, 431).lstrip(b"\r\n")
        cut = index == self.server.cut_after_head
        if self.server.idle_close_race and index > 1:
            idle = time.monotonic() - self.replied_at
            if idle >= (self.server.idle_close_after or 0.0):
                cut = True
                with self.server._cond:
                    self.server.requests_cut += 1
                    self.server._changed()
        if cut:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            raise _Closed
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0] or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400)
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise _BadRequest(400)
            key, value = name.lower(), value.strip(" \t")
            headers[key] = f"{headers[key]}, {value}" if key in headers else value

        connection = _tokens(headers.get("connection", ""))
        if version == "HTTP/1.0":
            wants_close = "keep-alive" not in connection
        else:
            wants_close = "close" in connection

        chunked = False
        length = 0
        if "transfer-encoding" in headers:
            codings = [
                c.strip().lower() for c in headers["transfer-encoding"].split(",")
            ]
            if codings[-1] != "chunked":
                raise _BadRequest(400)
            chunked = True
        elif "content-length" in headers:
            values = _tokens(headers["content-length"])
            text = values.pop()
            if values or not (text.isascii() and text.isdigit()):
                raise _BadRequest(400)
            length = int(text)
        if (
            (chunked or length)
            and version != "HTTP/1.0"
            and headers.get("expect", "").lower() == "100-continue"
            and not self.buffer
        ):
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._read_chunked() if chunked else self._read_exact(length)
        request = Request(method, target, headers, body, self.cid, index)
        return request, wants_close

    def wait(self, seconds: float | None) -> None:
        """Wait ``seconds`` (``None``: forever) unless the client goes away.

        Bytes that arrive meanwhile (pipelined requests) are kept; EOF from
        the client, an error, or ``stop()`` raise :class:`_Closed`.
        """
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if self.server._stopping.is_set():
                raise _Closed
            left = _POLL if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return
            if len(self.buffer) < _HEAD_LIMIT:
                self._recv(min(left, _POLL))
            else:  # the client floods us: stop reading, just wait
                self.server._stopping.wait(min(left, _POLL))

    # -- sending ---------------------------------------------------------------

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        offset = 0
        self.sock.settimeout(_POLL)
        while offset < len(view):
            if self.server._stopping.is_set():
                raise _Closed
            try:
                # a TLS write that timed out must be retried with the same bytes
                offset += self.sock.send(view[offset : offset + _SEND_CHUNK])
            except (
                TimeoutError,
                BlockingIOError,
                ssl.SSLWantWriteError,
                ssl.SSLWantReadError,
            ):
                continue
            except OSError:
                raise _Closed from None

    def respond(self, request: Request, reply: Reply, wants_close: bool) -> str:
        """Send ``reply``; return how to go on: "keep", "close" or "reset"."""
        if reply.delay > 0:
            self.wait(reply.delay)
        if reply.never_answer:
            self.wait(None)  # returns only by raising _Closed
        if reply.raw is not None:
            self.send(reply.raw)
            return "close"
        if reply.script is not None:
            for step in reply.script:
                if isinstance(step, float):
                    self.wait(step)
                else:
                    self.send(step)
            self.wait(None)  # returns only by raising _Closed

        names = {name.lower(): value for name, value in reply.headers}
        status = reply.status
        no_body = request.method == "HEAD" or status < 200 or status in (204, 304)
        version = "HTTP/1.0" if reply.http10 else "HTTP/1.1"
        lines = [f"{version} {status} {_reason(status)}"]
        lines += [f"{name}: {value}" for name, value in reply.headers]
        if "content-length" in names or "transfer-encoding" in names:
            pass  # the caller frames the reply
        elif reply.dribble is not None:
            lines.append(f"Content-Length: {10**9}")
        elif status < 200 or status in (204, 304):
            pass
        elif reply.chunked:
            lines.append("Transfer-Encoding: chunked")
        elif reply.truncate:
            lines.append(f"Content-Length: {len(reply.body) + 100}")
        else:
            lines.append(f"Content-Length: {len(reply.body)}")
        if (reply.close or wants_close) and "connection" not in names:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        if reply.dribble is not None:
            self.send(head)
            while True:
                self.wait(reply.dribble)
                self.send(b"x")

        body = reply.body
        if no_body:
            body = b""
        elif reply.chunked:
            pieces = [body[i : i + _CHUNK] for i in range(0, len(body), _CHUNK)]
            body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
            body += b"0\r\n\r\n"
        if reply.stall_after is not None:
            self.send(head + body[: reply.stall_after])
            self.wait(None)  # returns only by raising _Closed
        if reply.reset:
            self.send(head + body[: len(body) // 2])
            return "reset"
        self.send(head + body)
        self.last_activity = time.monotonic()

        if reply.truncate or reply.close or wants_close:
            return "close"
        if reply.http10:
            keep = "keep-alive" in names or "keep-alive" in _tokens(
                names.get("connection", "")
            )
            return "keep" if keep else "close"
        return "keep"

    def error(self, status: int, detail: bytes = b"") -> None:
        body = detail or _reason(status).encode()
        head = (
            f"HTTP/1.1 {status} {_reason(status)}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self.send(head.encode("latin-1") + body)

    # -- closing ---------------------------------------------------------------

    def close(self, how: str) -> None:
        """Close gracefully ("close"), with an RST ("reset"), or plainly."""
        sock = self.sock
        with contextlib.suppress(OSError):
            if how == "reset":
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            elif how == "close":
                # FIN first; then discard whatever the client already sent, so
                # that closing does not turn into an RST that could destroy
                # the reply before the client reads it
                socket.socket.shutdown(sock, socket.SHUT_WR)
                sock.setblocking(False)
                for _ in range(64):
                    if not socket.socket.recv(sock, _RECV_SIZE):
                        break
        with contextlib.suppress(OSError):
            sock.close()


class Server:
    """A threaded HTTP/1.1 server on loopback; see the module docstring.

    ``handler`` may be replaced at any time; it runs in the connection's
    thread. ``idle_close_after``: a connection on which no request bytes
    arrive for this many seconds is closed silently (a keep-alive timeout).
    ``listen=False`` binds a port but never listens, so connects to it are
    refused while the port stays reserved. ``record=False`` keeps
    ``requests`` empty (counts still work) for long soak runs.
    ``cut_after_head=N``: the N-th request on each connection is cut off with
    an RST as soon as its head has arrived, while the client may still be
    sending its body (the server closing a keep-alive connection as a
    request arrives, made deterministic). ``idle_close_race=True`` (with
    ``idle_close_after``): the idle limit is noticed only when the next
    request arrives, counted from the last reply; past it, that request is
    cut off as by ``cut_after_head`` and counted in ``requests_cut``. This is
    the race a client loses when it sends just as the server closes an idle
    connection unannounced, made certain: the socket looks alive until then.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        idle_close_after: float | None = None,
        listen: bool = True,
        backlog: int = 128,
        record: bool = True,
        cut_after_head: int | None = None,
        idle_close_race: bool = False,
    ) -> None:
        if host == "localhost":
            host = "127.0.0.1"
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the test server binds loopback only, not {host!r}")
        self.handler: Handler = handler or _default_handler
        self.ssl_context = ssl_context
        self.host = host
        self.idle_close_after = idle_close_after
        self.listen = listen
        self.backlog = backlog
        self.record = record
        self.cut_after_head = cut_after_head
        self.idle_close_race = idle_close_race
        self.port = 0
        # counters; written under self._cond
        self.connections_opened = 0
        self.connections_closed = 0
        self.requests_served = 0
        self.requests_cut = 0  # idle_close_race: requests cut off unanswered
        self.requests: list[Request] = []
        self.handler_errors: list[Exception] = []
        self._per_connection: dict[int, int] = {}
        self._cond = threading.Condition(threading.RLock())
        self._version = 0  # bumped on every change, for wait_for()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._started = False
        self._stopped = False
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._sockets: dict[int, socket.socket] = {}

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Server:
        """Bind port 0 on ``host``, listen, and wait until accepting."""
        if self._started:
            raise RuntimeError("a Server can be started once")
        self._started = True
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, 0))
            self.port = listener.getsockname()[1]
            if self.listen:
                listener.listen(self.backlog)
                listener.settimeout(_POLL)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        if not self.listen:
            return self
        self._accept_thread = threading.Thread(
            target=self._accept_loop,
            args=(listener,),
            name=f"test-server-{self.port}-accept",
            daemon=True,
        )
        self._accept_thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            self.stop()
            raise RuntimeError("the test server did not start within 5 s")
        return self

    def stop(self) -> None:
        """Close the listener and every connection; join every thread (bounded).

        Idempotent. A thread still blocked in a handler after the bound is
        left behind (it is a daemon thread) and its socket is closed anyway.
        """
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._stopping.set()
        deadline = time.monotonic() + _STOP_TIMEOUT
        listener = self._listener
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes accept() at once
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        if listener is not None:
            listener.close()
        with self._cond:  # no connection is registered once _stopping is set
            sockets = list(self._sockets.values())
            threads = list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                # the plain socket's shutdown, also for TLS sockets: wakes the
                # blocked thread without touching its SSL object
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            leftovers = list(self._sockets.values())
            self._threads = {t for t in self._threads if t.is_alive()}
            self._changed()
        for sock in leftovers:  # only sockets of threads stuck in a handler
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, or ``https://localhost:PORT`` with TLS."""
        if self.ssl_context is not None and self.host == "127.0.0.1":
            return f"https://localhost:{self.port}"
        scheme = "http" if self.ssl_context is None else "https"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    # -- observations ----------------------------------------------------------

    def requests_per_connection(self) -> dict[int, int]:
        """Requests fully received, by connection id (connections with any)."""
        with self._cond:
            return dict(sorted(self._per_connection.items()))

    def bodies_received(self, path: str) -> list[bytes]:
        """Bodies of the recorded requests whose target path (no query) is ``path``."""
        with self._cond:
            return [r.body for r in self.requests if r.path == path]

    def open_connections(self) -> int:
        with self._cond:
            return self.connections_opened - self.connections_closed

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate()`` holds, at most ``timeout`` seconds.

        The predicate is re-checked on every counter change (and at least
        every 50 ms, for predicates about other state); it is called without
        the server's lock held. Return its last result.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                version = self._version
            if predicate():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._cond:
                if self._version == version:
                    self._cond.wait(min(left, 0.05))

    # -- serving ---------------------------------------------------------------

    def _changed(self) -> None:
        # caller holds self._cond
        self._version += 1
        self._cond.notify_all()

    def _accept_loop(self, listener: socket.socket) -> None:
        self._ready.set()
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                self._stopping.wait(_POLL)  # EMFILE and the like: retry later
                continue
            with self._cond:
                self.connections_opened += 1
                cid = self.connections_opened
                if self._stopping.is_set():
                    sock.close()
                    self.connections_closed += 1
                    self._changed()
                    return
                self._sockets[cid] = sock
                self._threads = {t for t in self._threads if t.is_alive()}
                thread = threading.Thread(
                    target=self._serve,
                    args=(sock, cid),
                    name=f"test-server-{self.port}-conn-{cid}",
                    daemon=True,
                )
                self._threads.add(thread)
                thread.start()
                self._changed()

    def _serve(self, sock: socket.socket, cid: int) -> None:
        # "keep" until a reply says otherwise; if the loop ends by exception
        # (EOF, idle limit, stop, error) the socket is closed plainly
        outcome = "keep"
        conn = _Connection(self, sock, cid)
        try:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                with self._cond:
                    conn.sock = self.ssl_context.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                    self._sockets[cid] = conn.sock
                self._handshake(conn.sock)
            conn.last_activity = time.monotonic()
            index = 0
            while outcome == "keep":
                index += 1
                outcome = self._serve_one(conn, index)
                conn.replied_at = time.monotonic()
        except (_Closed, _IdleClose, OSError):  # OSError includes ssl.SSLError
            pass
        finally:
            conn.close(outcome)
            with self._cond:
                self._sockets.pop(cid, None)
                self.connections_closed += 1
                self._changed()

    def _serve_one(self, conn: _Connection, index: int) -> str:
        """Read one request and answer it; return "keep", "close" or "reset"."""
        try:
            request, wants_close = conn.read_request(index)
        except _BadRequest as bad:
            conn.error(bad.status)
            return "close"
        with self._cond:
            self.requests_served += 1
            count = self._per_connection.get(conn.cid, 0) + 1
            self._per_connection[conn.cid] = count
            if self.record:
                self.requests.append(request)
            self._changed()
        try:
            reply = self.handler(request)
        except Exception as exc:
            with self._cond:
                self.handler_errors.append(exc)
                self._changed()
            conn.error(500, repr(exc).encode("utf-8", "replace"))
            return "close"
        return conn.respond(request, reply, wants_close)

    def _handshake(self, sock: ssl.SSLSocket) -> None:
        deadline = time.monotonic() + _HANDSHAKE_TIMEOUT
        sock.settimeout(_POLL)
        while True:
            if self._stopping.is_set() or time.monotonic() > deadline:
                raise _Closed
            try:
                sock.do_handshake()
                return
            except (TimeoutError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue


class Backlogged:
    """A listener on 127.0.0.1 with backlog 0 that never accepts.

    After :meth:`fill`, its accept queue is full. On Linux the kernel then
    drops new SYNs (unless ``net.ipv4.tcp_abort_on_overflow`` is set), so a
    further connect hangs until the client's own connect timeout: use it to
    provoke connect timeouts. :meth:`fill` returns ``False`` when it cannot
    make a connect hang on this machine; callers should skip then.
    """

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.listener.bind(("127.0.0.1", 0))
            self.listener.listen(0)
        except BaseException:
            self.listener.close()
            raise
        self.port: int = self.listener.getsockname()[1]
        self.clients: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fill(self) -> bool:
        """Connect (non-blocking) until a connect does not complete in 0.2 s.

        At most 256 attempts. Return whether a connect stalled, i.e. whether
        a subsequent connect will time out.
        """
        for _ in range(256):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.clients.append(client)
            client.setblocking(False)
            err = client.connect_ex(("127.0.0.1", self.port))
            if err == 0:
                continue
            if err not in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
                return False
            poller = select.poll()
            poller.register(client, select.POLLOUT)
            if not poller.poll(200):
                return True  # the SYN was dropped: connects now hang
            if client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                return False
        return False

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        self.listener.close()

    def __enter__(self) -> Backlogged:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
