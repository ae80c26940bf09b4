"""Shortcuts on the hot path give what the code they shortcut gives (issue 13).

* ``StrictHTTPResponse.begin()`` parses a plain head itself instead of
  through the email package; everything it sets must be what
  ``http.client`` sets, for any head: generated heads with folded lines,
  bytes past ASCII, stray carriage returns, lines without a colon,
  duplicate and framing headers.
* ``ManagedHTTPConnection.putheader`` writes a plain header itself: the same
  bytes, and the same errors, as ``http.client`` and urllib3.
* The pool's ``_get_timeout`` copies a ``Timeout`` instead of validating it
  again: the same object ``Timeout.clone()`` gives.
"""

from __future__ import annotations

import http.client
import io
import pickle
import socket
import threading
import tracemalloc
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.connection import HTTPConnection
from urllib3.util import SKIP_HEADER, Timeout

from requests_managed import CloseReason, ManagedSession
from requests_managed._errors import IncompleteHead
from requests_managed._lifecycle import ConnEvent, ConnState
from requests_managed._response import StrictHTTPResponse, parse_head
from requests_managed._urllib3 import (
    ManagedHTTPConnection,
    ManagedHTTPConnectionPool,
    managed_connection_class,
)

from .server import Reply, Server


class _Sock:
    def __init__(self, data: bytes) -> None:
        self.file = io.BytesIO(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self.file


def _outcome(cls: type[http.client.HTTPResponse], data: bytes, method: str) -> Any:
    sock = _Sock(data)
    response = cls(sock, method=method)  # type: ignore[arg-type]
    try:
        response.begin()
    except Exception as exc:  # the exception is the outcome
        return ("raised", type(exc), str(exc))
    message = response.msg
    return (
        response.status,
        response.reason,
        response.version,
        message.items(),
        [message.get(name) for name in _FRAMING],
        _payload(message.get_payload()),
        [type(d) for d in message.defects],
        message.get_unixfrom(),
        type(message),
        response.chunked,
        response.chunk_left if response.chunked else None,
        response.length,
        response.will_close,
        sock.file.read(),  # what is left for the body
    )


def _payload(payload: Any) -> Any:
    if isinstance(payload, list):  # message/* parts: compare what they hold
        return [part.items() for part in payload]
    return payload


_FRAMING = ("transfer-encoding", "content-length", "connection", "keep-alive")

_NAMES = st.sampled_from(
    [
        "Content-Length",
        "content-length",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Set-Cookie",
        "X-A",
        "From",
        "Content-Type",
        "",
        "Bad Name",
        "Caf\xe9",
    ]
)
_VALUES = st.sampled_from(
    [
        "5",
        "0",
        "-3",
        "abc",
        "chunked",
        "gzip, chunked",
        "close",
        "keep-alive",
        "Keep-Alive",
        "timeout=5, max=100",
        "text/html; charset=utf-8",
        "  padded  ",
        "\tтab",
        "",
        "a\rb",
        "caf\xe9",
        "x\x0cy",
        "x\x85y",
        "multipart/mixed; boundary=zz",
        "message/rfc822",
    ]
)
_LINE_END = st.sampled_from(["\r\n", "\n"])


@st.composite
def _heads(draw: st.DrawFn) -> bytes:
    status = draw(
        st.sampled_from(
            [
                "HTTP/1.1 200 OK",
                "HTTP/1.0 200 OK",
                "HTTP/1.1 204 No Content",
                "HTTP/1.1 304 Not Modified",
                "HTTP/1.1 103 Early Hints",
                "HTTP/1.1 404",
                "HTTP/2 200 OK",
                "ICY 200 OK",
            ]
        )
    )
    lines = [status + draw(_LINE_END)]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(" folded continuation" + draw(_LINE_END))
        elif kind == 1:
            lines.append("no colon here" + draw(_LINE_END))
        else:
            name, value = draw(_NAMES), draw(_VALUES)
            lines.append(f"{name}:{draw(st.sampled_from(['', ' ', '  ']))}{value}")
            lines[-1] += draw(_LINE_END)
    lines.append(draw(_LINE_END))
    if status.startswith("HTTP/1.1 103"):
        lines.append("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    lines.append("ok")
    return (
        "".join(lines)
        .encode("utf-8", "surrogateescape")
        .replace("\xe9".encode(), b"\xe9")
    )


class _Plain(http.client.HTTPResponse):
    """``http.client``'s parse, with this library's 1xx rule on top."""

    def begin(self) -> None:
        while True:
            super().begin()
            if self.status >= 200 or self.status == 101:
                return
            self.headers = self.msg = None  # type: ignore[assignment]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=_heads(), method=st.sampled_from(["GET", "HEAD"]))
def test_begin_sets_what_http_client_sets_for_any_head(
    head: bytes, method: str
) -> None:
    ours = _outcome(StrictHTTPResponse, head, method)
    assert ours == _outcome(_Plain, head, method)


@pytest.mark.parametrize(
    "head",
    [
        b"A: b\r\nC:  d \r\n\r\n",
        b"\r\n",
        b"X-A:\r\n\r\n",
        b"X-A: 1\r\nx-a: 2\r\n\n",
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
    ],
)
def test_plain_heads_parse_to_the_email_packages_message(head: bytes) -> None:
    ours = parse_head(head.splitlines(keepends=True))
    theirs = http.client.parse_headers(io.BytesIO(head))
    assert ours.items() == theirs.items()
    assert vars(ours) == vars(theirs)


def test_a_head_cut_off_by_the_end_of_the_stream_is_an_error() -> None:
    response = StrictHTTPResponse(_Sock(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"))  # type: ignore[arg-type]
    with pytest.raises(IncompleteHead):
        response.begin()


def test_with_debuglevel_set_http_clients_own_begin_prints_the_head(
    capsys: pytest.CaptureFixture[str],
) -> None:
    head = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n"
    )
    response = StrictHTTPResponse(_Sock(head), debuglevel=1)  # type: ignore[arg-type]
    response.begin()
    assert (response.status, response.msg["X-A"]) == (200, "1")
    assert [status for status, _ in response.interim] == [103]
    assert "header: X-A: 1" in capsys.readouterr().out
    cut = StrictHTTPResponse(_Sock(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n"), debuglevel=1)  # type: ignore[arg-type]
    with pytest.raises(IncompleteHead):
        cut.begin()


_HEADER_CASES = [
    ("Accept", "*/*"),
    ("User-Agent", "python-requests/2.32"),
    ("X-Latin", "caf\xe9"),
    ("X-Empty", ""),
    ("X-Tab", "a\tb"),
    ("X-Int", 5),
    ("X-Bytes", b"raw"),
    (b"X-Bytes-Name", "v"),
    ("X-Bad-Value", "a\r\nInjected: 1"),
    ("X-Trailing-Newline", "a\n"),
    ("Bad Name", "v"),
    ("", "v"),
    ("Caf\xe9", "v"),
    ("X-Wide", "\u20ac"),
    ("Accept-Encoding", SKIP_HEADER),
    ("X-Skip", SKIP_HEADER),
]


def _put(cls: type[HTTPConnection], header: Any, *values: Any) -> Any:
    conn = cls("127.0.0.1", 9)
    conn.putrequest("GET", "/", skip_host=True, skip_accept_encoding=True)
    conn._buffer.clear()  # type: ignore[attr-defined]
    if isinstance(conn, ManagedHTTPConnection):
        conn._rm_fast_headers = True  # as request() sets it for its headers
    try:
        conn.putheader(header, *values)
    except Exception as exc:  # the exception is the outcome
        return ("raised", type(exc), str(exc))
    return list(conn._buffer)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("header", "value"), _HEADER_CASES)
def test_putheader_writes_what_urllib3_writes(header: Any, value: Any) -> None:
    ours = _put(ManagedHTTPConnection, header, value)
    assert ours == _put(HTTPConnection, header, value)


def test_putheader_with_several_values_or_out_of_turn_is_urllib3s() -> None:
    assert _put(ManagedHTTPConnection, "X-A", "1", "2") == _put(
        HTTPConnection, "X-A", "1", "2"
    )
    idle = ManagedHTTPConnection("127.0.0.1", 9)
    with pytest.raises(http.client.CannotSendHeader):
        idle.putheader("X-A", "1")


def test_a_class_with_its_own_putheader_keeps_it() -> None:
    class Recording(HTTPConnection):
        seen: list[Any]

        def putheader(self, header: Any, *values: Any) -> None:
            self.seen = [*getattr(self, "seen", []), (header, values)]
            super().putheader(header, *values)

    variant: Any = managed_connection_class(Recording)
    conn = variant("127.0.0.1", 9)
    conn.putrequest("GET", "/", skip_host=True, skip_accept_encoding=True)
    conn.putheader("X-A", "1")
    assert conn.seen == [("X-A", ("1",))]
    assert managed_connection_class(HTTPConnection)._rm_plain_headers


@pytest.mark.parametrize(
    "target",
    [http.client.HTTPConnection, HTTPConnection],
    ids=["http.client", "urllib3"],
)
def test_a_putheader_patched_at_run_time_sees_every_header(
    monkeypatch: pytest.MonkeyPatch, target: type
) -> None:
    # what a spy in a test, or an APM agent's wrapper, does once the classes
    # exist: every header still goes through it, as with requests.Session
    original = target.putheader
    seen: list[list[Any]] = []

    def spy(self: Any, header: Any, *values: Any) -> None:
        seen[-1].append((header, values))
        original(self, header, *values)

    monkeypatch.setattr(target, "putheader", spy)
    with Server() as server:
        for session in (requests.Session(), ManagedSession()):
            seen.append([])
            with session:
                session.get(server.url + "/p", headers={"X-A": "1"}, timeout=10)
    expected, got = seen
    assert ("X-A", ("1",)) in expected
    assert got == expected


@pytest.mark.parametrize(
    "timeout",
    [
        Timeout(connect=5, read=30),
        Timeout(connect=0.5, read=None, total=3),
        Timeout(total=7),
        Timeout(),
    ],
)
def test_the_pools_timeout_copy_is_a_clone(timeout: Timeout) -> None:
    pool = ManagedHTTPConnectionPool("127.0.0.1", 9)
    timeout.start_connect()
    copied = pool._get_timeout(timeout)
    cloned = timeout.clone()
    assert type(copied) is Timeout
    assert copied is not timeout
    assert vars(copied) == vars(cloned)
    copied.start_connect()  # its own timer, not started yet


# -- Session.send: requests' steps, with the adapter already found -------------


def _site(request: Any) -> Reply:
    path = request.path
    if path == "/redirect":
        return Reply(
            status=302,
            body=b"",
            headers=[("Location", "/landing"), ("Set-Cookie", "hop=1; Path=/")],
        )
    if path == "/cookie":
        return Reply(headers=[("Set-Cookie", "kept=yes; Path=/")])
    return Reply(body=b"landed")


def _both(call: Any) -> tuple[Any, Any]:
    """``call(session)`` with requests.Session and ManagedSession."""
    plain = requests.Session()
    try:
        expected = call(plain)
    finally:
        plain.close()
    with ManagedSession() as managed:
        return expected, call(managed)


def test_send_follows_redirects_and_keeps_their_cookies_as_requests_does() -> None:
    with Server(_site) as server:

        def call(session: requests.Session) -> Any:
            r = session.get(server.url + "/redirect", timeout=10)
            return (
                r.status_code,
                r.url,
                r.content,
                [(h.status_code, h.url) for h in r.history],
                session.cookies.get_dict(),
                type(r.elapsed),
            )

        expected, got = _both(call)
    assert got == expected


def test_send_without_redirects_sets_next_as_requests_does() -> None:
    with Server(_site) as server:

        def call(session: requests.Session) -> Any:
            r = session.get(server.url + "/redirect", allow_redirects=False, timeout=10)
            return r.status_code, r.next.url if r.next else None, r.history

        expected, got = _both(call)
    assert got == expected
    assert got[1] is not None and got[1].endswith("/landing")


def test_send_runs_response_hooks_and_a_subclass_resolve_redirects() -> None:
    seen: list[str] = []

    class Redirecting(ManagedSession):
        def resolve_redirects(self, resp: Any, req: Any, **kwargs: Any) -> Any:
            seen.append("resolve_redirects")
            return super().resolve_redirects(resp, req, **kwargs)

    with Server(_site) as server, Redirecting() as session:
        r = session.get(
            server.url + "/plain",
            hooks={"response": lambda r, **kw: seen.append(f"hook {r.status_code}")},
        )
    assert r.content == b"landed"
    assert seen == ["hook 200", "resolve_redirects"]


def test_send_extracts_cookies_through_a_patched_helper_or_a_jar_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # nothing is set, but the patched function and the jar's own method are
    # asked all the same, as requests asks them
    calls: list[str] = []
    original = requests.sessions.extract_cookies_to_jar

    def patched(jar: Any, request: Any, response: Any) -> None:
        calls.append("patched helper")
        original(jar, request, response)

    class Jar(requests.cookies.RequestsCookieJar):
        def extract_cookies(self, response: Any, request: Any) -> None:
            calls.append("jar")
            super().extract_cookies(response, request)

    with Server(_site) as server, ManagedSession() as session:
        session.cookies = Jar()
        session.get(server.url + "/plain")
        assert calls == ["jar"]
        monkeypatch.setattr(requests.sessions, "extract_cookies_to_jar", patched)
        session.get(server.url + "/cookie")
    assert calls == ["jar", "patched helper", "jar"]
    assert session.cookies.get_dict() == {"kept": "yes"}


# -- the request on the wire ------------------------------------------------------


class _Capture:
    """A loopback server that records the bytes of ``count`` requests, one
    connection each."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for _ in range(self.count):
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                data = b""
                while True:
                    head, sep, rest = data.partition(b"\r\n\r\n")
                    if sep:
                        length = 0
                        chunked = False
                        for line in head.split(b"\r\n")[1:]:
                            name, _, value = line.partition(b":")
                            if name.lower() == b"content-length":
                                length = int(value)
                            chunked |= name.lower() == b"transfer-encoding"
                        if chunked and rest.endswith(b"0\r\n\r\n"):
                            break
                        if not chunked and len(rest) >= length:
                            break
                    piece = conn.recv(65536)
                    if not piece:
                        break
                    data += piece
                self.received.append(data)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"headers": {"X-Mixed-Case": "v", "accept": "text/plain", "X-Empty": ""}},
        {"headers": {"User-Agent": None, "X-A": "1"}},
        {"headers": {"Host": "example.test", "Accept-Encoding": "identity"}},
        {"data": b"x" * 1000, "headers": {"Content-Type": "application/x-test"}},
        {"json": {"a": 1}},
        {"data": iter([b"a", b"b"])},
        {"params": {"q": "1"}, "cookies": {"c": "d"}},
    ],
    ids=[
        "plain",
        "headers",
        "removed",
        "host",
        "bytes body",
        "json",
        "chunked",
        "query",
    ],
)
def test_the_request_bytes_are_what_requests_sends(options: dict[str, Any]) -> None:
    capture = _Capture(2)
    try:
        for session in (requests.Session(), ManagedSession()):
            with session:
                session.headers["X-Session"] = "s"
                opts = dict(options)
                if "data" in opts and not isinstance(opts["data"], bytes):
                    opts["data"] = iter([b"a", b"b"])
                session.post(capture.url + "/p", timeout=10, **opts)
    finally:
        capture.close()
    expected, got = capture.received
    assert got == expected


def test_proxy_headers_replace_a_header_of_another_case_as_requests_does() -> None:
    # A pool to an HTTP proxy adds its proxy headers (the credentials of the
    # proxy URL) to requests' CaseInsensitiveDict: "proxy-authorization" is
    # replaced, not sent twice.
    capture = _Capture(2)
    proxy = capture.url.replace("http://", "http://user:pw@")
    try:
        for session in (requests.Session(), ManagedSession()):
            with session:
                session.trust_env = False
                session.get(
                    "http://origin.test/p",
                    headers={"proxy-authorization": "Bearer mine", "x-a": "1"},
                    proxies={"http": proxy},
                    timeout=10,
                )
    finally:
        capture.close()
    expected, got = capture.received
    assert expected.lower().count(b"proxy-authorization:") == 1
    assert got == expected


def test_built_responses_have_every_attribute_response_sets_each_their_own() -> None:
    with Server(_site) as server:
        expected = requests.get(server.url + "/plain", timeout=10)
        with ManagedSession() as session:
            first = session.get(server.url + "/plain")
            second = session.get(server.url + "/plain")
    assert vars(first).keys() == vars(expected).keys()
    for name in ("_next", "encoding", "reason", "_content_consumed", "status_code"):
        assert getattr(first, name) == getattr(expected, name), name
    assert type(first.elapsed) is type(expected.elapsed)
    assert first.history is not second.history
    assert first.cookies is not second.cookies
    assert type(first.cookies) is type(expected.cookies)


class _Sink:
    """A loopback server that reads requests into one reused buffer (it
    allocates next to nothing, so tracemalloc sees the client alone) and
    answers each with an empty 204."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.body_bytes: list[int] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        buffer = bytearray(1 << 16)
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(10)
            for _ in range(2):  # two requests on one connection
                got = conn.recv_into(buffer)
                head_end = bytes(buffer[:got]).index(b"\r\n\r\n") + 4
                head = bytes(buffer[:head_end]).lower()
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                seen = got - head_end
                while seen < length:
                    seen += conn.recv_into(buffer)
                self.body_bytes.append(seen)
                conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


def test_a_1_mib_post_body_is_never_copied() -> None:
    # tracemalloc sees every Python allocation: a copy of the body (a join of
    # head and body, a slice, bytes(view)) would show as a 1 MiB peak
    body = b"x" * (1 << 20)
    sink = _Sink()
    try:
        with ManagedSession() as session:
            session.post(sink.url + "/warm", data=b"w")
            tracemalloc.start()
            try:
                response = session.post(sink.url + "/upload", data=body)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        sink.close()
    assert response.status_code == 204
    assert sink.body_bytes == [1, len(body)]
    assert peak < len(body) // 4


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 99 + b"\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 100 + b"\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 65536 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 65520 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: 1\r\na\n\r\n",
    ],
    ids=["99 headers", "100 headers", "101 headers", "too long", "long", "short"],
)
def test_the_limits_on_a_head_are_http_clients(head: bytes) -> None:
    assert _outcome(StrictHTTPResponse, head, "GET") == _outcome(_Plain, head, "GET")


def test_lifecycle_enums_hash_by_identity_and_still_key_dicts() -> None:
    # their hash runs on every check-out and release: object's, in C
    for enum_class in (ConnState, ConnEvent, CloseReason):
        for member in enum_class:
            assert hash(member) == object.__hash__(member)
            assert enum_class(member.value) is member
    counts = pickle.loads(pickle.dumps({CloseReason.FORK: 1, CloseReason.ERROR: 2}))
    assert counts[CloseReason.FORK] == 1 and counts[CloseReason.ERROR] == 2


def _big_head(request: Any) -> Reply:
    if request.path == "/long":
        return Reply(body=b"long", headers=[("X-Long", "a" * 70000)])
    return Reply(body=b"many", headers=[(f"X-H{i}", "v") for i in range(150)])


def _head_outcome(session: requests.Session, url: str) -> Any:
    with session:
        try:
            response = session.get(url, timeout=10)
        except requests.RequestException as exc:
            return type(exc)
        return response.status_code, response.content, len(response.headers)


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/many", "_MAXHEADERS", 1000),
        ("/long", "_MAXLINE", 100_000),
        ("/many", "_MAXHEADERS", 10),
    ],
    ids=["more headers", "longer lines", "fewer headers"],
)
def test_http_clients_head_limits_changed_at_run_time_are_honoured(
    monkeypatch: pytest.MonkeyPatch, path: str, name: str, value: int
) -> None:
    # http.client._MAXHEADERS = 1000 is the usual answer to "got more than
    # 100 headers": a ManagedSession reads the head as requests does then
    monkeypatch.setattr(http.client, name, value)
    with Server(_big_head) as server:
        expected = _head_outcome(requests.Session(), server.url + path)
        assert _head_outcome(ManagedSession(), server.url + path) == expected


def test_a_patched_parse_headers_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    original = http.client.parse_headers
    calls: list[int] = []

    def counting(fp: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(fp, *args, **kwargs)

    monkeypatch.setattr(http.client, "parse_headers", counting)
    with Server() as server:
        for session in (requests.Session(), ManagedSession()):
            with session:
                assert session.get(server.url + "/p", timeout=10).text == "ok"
    assert calls == [1, 1]


_SPY_FIRST = """
import http.client
import sys

import requests

original = http.client.HTTPConnection.putheader
seen = []


def spy(self, header, *values):
    seen[-1].append((header, values))
    return original(self, header, *values)


# in place before requests_managed is first imported (an agent started first)
http.client.HTTPConnection.putheader = spy
from requests_managed import ManagedSession

for session in (requests.Session(), ManagedSession()):
    seen.append([])
    with session:
        session.get(sys.argv[1], timeout=10)
print(seen[0] == seen[1], len(seen[0]), len(seen[1]))
"""


def test_a_putheader_patched_before_the_first_import_sees_every_header() -> None:
    import os
    import subprocess
    import sys

    import requests_managed

    source = os.path.dirname(os.path.dirname(requests_managed.__file__))
    path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    with Server() as server:
        result = subprocess.run(
            [sys.executable, "-c", _SPY_FIRST, server.url + "/p"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "PYTHONPATH": path},
        )
    same, expected, _ = result.stdout.split()
    assert int(expected) > 0
    assert same == "True", result.stdout


def test_send_runs_a_resolve_redirects_patched_on_the_instance() -> None:
    seen: list[int] = []
    with Server(_site) as server, ManagedSession() as session:
        original = session.resolve_redirects

        def patched(resp: Any, req: Any, **kwargs: Any) -> Any:
            seen.append(resp.status_code)
            return original(resp, req, **kwargs)

        session.resolve_redirects = patched  # type: ignore[method-assign]
        assert session.get(server.url + "/plain").content == b"landed"
    assert seen == [200]


def test_putheader_outside_a_request_is_http_clients() -> None:
    # the low-level http.client API (putrequest, putheader, endheaders) on a
    # managed connection: the fast path is decided per request(), so here
    # every header goes through urllib3's and http.client's own putheader
    calls: list[str] = []
    original = HTTPConnection.putheader

    def spy(self: Any, header: Any, *values: Any) -> None:
        calls.append(header)
        original(self, header, *values)

    conn = ManagedHTTPConnection("127.0.0.1", 9)
    conn.putrequest("GET", "/", skip_host=True, skip_accept_encoding=True)
    assert conn._rm_fast_headers is False
    conn._rm_plain_headers = True
    HTTPConnection.putheader = spy  # type: ignore[method-assign]
    try:
        conn.putheader("X-A", "1")
    finally:
        HTTPConnection.putheader = original  # type: ignore[method-assign]
    assert calls == ["X-A"]
    assert conn._buffer[-1] == b"X-A: 1"  # type: ignore[attr-defined]
