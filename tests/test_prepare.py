"""Each hot-path shortcut gives what requests' own code gives, or steps aside.

The reference is always a plain ``requests.Session`` configured the same
way, asked the same question in the same environment.
"""

from __future__ import annotations

import gzip
import http.cookiejar
import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3.filepost
from requests.auth import HTTPDigestAuth

from requests_managed import ManagedSession
from requests_managed._prepare import merge_setting
from requests_managed._response import ManagedResponse

from .conftest import ENV_VARS
from .server import Reply, Server

URL = "http://127.0.0.1:9/items"


@pytest.fixture(autouse=True)
def _fixed_multipart_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart bodies differ only by their random boundary; fix it."""
    monkeypatch.setattr(urllib3.filepost, "choose_boundary", lambda: "b" * 32)


def _prepared_fields(p: requests.PreparedRequest) -> dict[str, Any]:
    cookies = p._cookies  # type: ignore[attr-defined]
    return {
        "method": p.method,
        "url": p.url,
        "headers": list(p.headers.items()),
        "body": p.body,
        "hooks": {k: list(v) for k, v in p.hooks.items()},
        "cookies": sorted((c.name, c.value, c.domain) for c in cookies),
        "cookies_type": type(cookies),
        "body_position": getattr(p, "_body_position", None),
    }


def _session_none(s: requests.Session) -> None:
    pass


def _session_headers(s: requests.Session) -> None:
    s.headers["X-Session"] = "1"
    s.headers["Accept-Encoding"] = None  # type: ignore[assignment]  # "remove"


def _session_everything(s: requests.Session) -> None:
    s.headers.update({"X-Session": "yes", "User-Agent": "app/1"})
    s.params = {"api": "v2"}
    s.cookies.set("sid", "abc", domain="127.0.0.1", path="/")
    s.auth = ("session-user", "pw")
    s.hooks["response"].append(_hook)


def _hook(response: requests.Response, **kwargs: Any) -> None:
    pass


SESSIONS = {
    "plain": _session_none,
    "session headers, one removed": _session_headers,
    "session params, cookies, auth, hooks": _session_everything,
}

REQUESTS: dict[str, dict[str, Any]] = {
    "bare GET": {"method": "GET", "url": URL},
    "lowercase method": {"method": "get", "url": URL},
    "params dict": {"method": "GET", "url": URL, "params": {"q": "a b", "n": [1, 2]}},
    "params list": {"method": "GET", "url": URL + "?x=1", "params": [("y", "2")]},
    "params str": {"method": "GET", "url": URL, "params": "raw=1&b"},
    "param set to None": {"method": "GET", "url": URL, "params": {"api": None}},
    "userinfo in URL": {"method": "GET", "url": "http://u:p@127.0.0.1:9/"},
    "@ in the path only": {"method": "GET", "url": "http://127.0.0.1:9/a@b"},
    "auth tuple": {"method": "GET", "url": URL, "auth": ("me", "secret")},
    "auth object": {"method": "GET", "url": URL, "auth": HTTPDigestAuth("me", "x")},
    "request headers": {"method": "GET", "url": URL, "headers": {"X-Req": "1"}},
    "header removed per request": {
        "method": "GET",
        "url": URL,
        "headers": {"User-Agent": None},
    },
    "bytes header value": {"method": "GET", "url": URL, "headers": {"X-B": b"v"}},
    "request cookies": {"method": "GET", "url": URL, "cookies": {"c": "1"}},
    "form body": {"method": "POST", "url": URL, "data": {"a": "1", "b": ["2", "3"]}},
    "json body": {"method": "POST", "url": URL, "json": {"k": [1, 2]}},
    "bytes body": {"method": "PUT", "url": URL, "data": b"\x00\x01"},
    "files": {"method": "POST", "url": URL, "files": {"f": ("a.txt", b"hello")}},
    "request hooks": {"method": "GET", "url": URL, "hooks": {"response": [_hook]}},
    "IDNA host": {"method": "GET", "url": "http://bücher.example/"},
    "path dot segments and spaces": {"method": "GET", "url": URL + "/../a b?c=d e"},
    "fragment": {"method": "GET", "url": URL + "#frag"},
    "non-HTTP scheme": {"method": "GET", "url": "mailto:someone@example.invalid"},
    "default port, upper-case host": {"method": "GET", "url": "HTTP://LOCALHOST:80/x"},
}


@pytest.mark.parametrize("configure", SESSIONS.values(), ids=SESSIONS.keys())
@pytest.mark.parametrize("kwargs", REQUESTS.values(), ids=REQUESTS.keys())
def test_prepare_request_gives_what_requests_gives(
    configure: Callable[[requests.Session], None], kwargs: dict[str, Any]
) -> None:
    plain, managed = requests.Session(), ManagedSession()
    configure(plain)
    configure(managed)
    with managed:
        expected = _prepared_fields(plain.prepare_request(requests.Request(**kwargs)))
        # Twice: the second time the caches answer.
        for _ in range(2):
            got = managed.prepare_request(requests.Request(**kwargs))
            assert _prepared_fields(got) == expected


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("example.invalid/no-scheme", requests.exceptions.MissingSchema),
        ("http://", requests.exceptions.InvalidURL),
        ("http://*.example/", requests.exceptions.InvalidURL),
    ],
)
def test_bad_urls_raise_what_requests_raises_every_time(
    url: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as reference:
        requests.Session().prepare_request(requests.Request("GET", url))
    with ManagedSession() as managed:
        for _ in range(2):  # nothing cached by the first failure
            with pytest.raises(error) as got:
                managed.prepare_request(requests.Request("GET", url))
            assert str(got.value) == str(reference.value)


def test_changes_to_session_headers_apply_to_the_next_request() -> None:
    with ManagedSession() as managed:
        first = managed.prepare_request(requests.Request("GET", URL))
        managed.headers["X-Later"] = "1"
        second = managed.prepare_request(requests.Request("GET", URL))
        del managed.headers["User-Agent"]
        third = managed.prepare_request(requests.Request("GET", URL))
    assert "X-Later" not in first.headers
    assert second.headers["X-Later"] == "1"
    assert "User-Agent" not in third.headers
    # Each prepared request owns its headers.
    first.headers["X-Mine"] = "1"
    assert "X-Mine" not in second.headers


def test_invalid_session_header_is_still_rejected() -> None:
    with ManagedSession() as managed:
        managed.prepare_request(requests.Request("GET", URL))
        managed.headers["X-Bad"] = "a\nb"
        with pytest.raises(requests.exceptions.InvalidHeader):
            managed.prepare_request(requests.Request("GET", URL))


def test_netrc_credentials_are_used_as_requests_uses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    request = requests.Request("GET", URL)
    expected = requests.Session().prepare_request(request).headers["Authorization"]
    with ManagedSession() as managed:
        assert managed.prepare_request(request).headers["Authorization"] == expected
        managed.trust_env = False
        assert "Authorization" not in managed.prepare_request(request).headers


# -- merge_environment_settings ---------------------------------------------------


ENVIRONMENTS: dict[str, dict[str, str]] = {
    "nothing": {},
    "proxies": {"HTTP_PROXY": "http://proxy:3128", "HTTPS_PROXY": "http://p2:1"},
    "proxies, host bypassed": {
        "HTTP_PROXY": "http://proxy:3128",
        "NO_PROXY": "127.0.0.1",
    },
    "proxies, other host bypassed": {
        "http_proxy": "http://proxy:3128",
        "no_proxy": "example.invalid",
    },
    "no_proxy with port": {"HTTP_PROXY": "http://p:1", "NO_PROXY": "127.0.0.1:9"},
    "all_proxy": {"ALL_PROXY": "socks5://p:1080"},
    "CA bundle": {"REQUESTS_CA_BUNDLE": "/etc/ssl/a.pem"},
    "curl CA bundle": {"CURL_CA_BUNDLE": "/etc/ssl/b.pem"},
    "both CA bundles": {"REQUESTS_CA_BUNDLE": "/a.pem", "CURL_CA_BUNDLE": "/b.pem"},
    "empty CA bundle": {"REQUESTS_CA_BUNDLE": ""},
}

ARGUMENTS: dict[str, dict[str, Any]] = {
    "defaults": {"proxies": {}, "stream": None, "verify": None, "cert": None},
    "verify False": {"proxies": {}, "stream": True, "verify": False, "cert": None},
    "verify path": {"proxies": {}, "stream": None, "verify": "/c.pem", "cert": "c"},
    "proxies None": {"proxies": None, "stream": None, "verify": True, "cert": None},
    "per-request proxy": {
        "proxies": {"http": "http://mine:8080"},
        "stream": False,
        "verify": None,
        "cert": ("c", "k"),
    },
    "per-request no_proxy": {
        "proxies": {"no_proxy": "127.0.0.1"},
        "stream": None,
        "verify": None,
        "cert": None,
    },
}


def _session_proxies_and_verify(s: requests.Session) -> None:
    s.proxies.update({"http": "http://session:1", "https": None})  # type: ignore[dict-item]
    s.verify = "/session.pem"


SESSION_SETTINGS: dict[str, Callable[[requests.Session], None]] = {
    "defaults": _session_none,
    "session proxies and verify": _session_proxies_and_verify,
    "trust_env False": lambda s: setattr(s, "trust_env", False),
}


def _set_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _copy(arguments: dict[str, Any]) -> dict[str, Any]:
    copied = dict(arguments)
    if isinstance(copied["proxies"], dict):
        copied["proxies"] = dict(copied["proxies"])
    return copied


@pytest.mark.parametrize("env", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
@pytest.mark.parametrize("arguments", ARGUMENTS.values(), ids=ARGUMENTS.keys())
@pytest.mark.parametrize(
    "configure", SESSION_SETTINGS.values(), ids=SESSION_SETTINGS.keys()
)
def test_merge_environment_settings_gives_what_requests_gives(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    arguments: dict[str, Any],
    configure: Callable[[requests.Session], None],
) -> None:
    _set_environment(monkeypatch, env)
    plain, managed = requests.Session(), ManagedSession()
    configure(plain)
    configure(managed)
    with managed:
        expected_args = _copy(arguments)
        try:
            expected = plain.merge_environment_settings(URL, **expected_args)
        except AttributeError:
            if arguments.get("proxies") is not None:
                raise
            # requests < 2.34 raises ('NoneType' object has no attribute
            # 'setdefault') for proxies=None with a proxy in the environment
            pytest.skip(
                "requests < 2.34 itself raises AttributeError for proxies=None "
                "with a proxy in the environment: nothing to compare with"
            )
        for _ in range(2):  # the second time from the cache
            got_args = _copy(arguments)
            got = managed.merge_environment_settings(URL, **got_args)
            assert got == expected
            assert type(got["proxies"]) is type(expected["proxies"])
            # requests fills the caller's proxies dict in place; so do we.
            assert got_args == expected_args


def test_environment_changes_apply_after_refresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _set_environment(monkeypatch, {})
    arguments = {"proxies": {}, "stream": None, "verify": None, "cert": None}
    with ManagedSession() as managed:
        before = managed.merge_environment_settings(URL, **_copy(arguments))
        monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/new.pem")
        # Resolved once per origin: unchanged until refreshed...
        assert managed.merge_environment_settings(URL, **_copy(arguments)) == before
        managed.refresh_environment()
        after = managed.merge_environment_settings(URL, **_copy(arguments))
        expected = requests.Session().merge_environment_settings(
            URL, **_copy(arguments)
        )
    assert after == expected
    assert after["proxies"] == {"http": "http://proxy:3128"}
    assert after["verify"] == "/new.pem"


def test_trust_env_false_takes_effect_without_refresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _set_environment(monkeypatch, {"HTTP_PROXY": "http://proxy:3128"})
    arguments = {"proxies": {}, "stream": None, "verify": None, "cert": None}
    with ManagedSession() as managed:
        assert managed.merge_environment_settings(URL, **_copy(arguments))["proxies"]
        managed.trust_env = False
        merged = managed.merge_environment_settings(URL, **_copy(arguments))
    assert merged["proxies"] == {}


@pytest.mark.parametrize(
    ("request_setting", "session_setting"),
    [
        (None, None),
        ({"a": 1}, None),
        (None, {"a": 1}),
        ({"a": 1, "b": None}, {"b": 2, "c": 3}),
        ({}, {"c": None}),
        ([("a", 1)], {"b": 2}),
        (True, False),
        ("/path.pem", True),
    ],
)
def test_merge_setting_matches_requests(
    request_setting: Any, session_setting: Any
) -> None:
    expected = requests.sessions.merge_setting(request_setting, session_setting)
    got = merge_setting(request_setting, session_setting)
    assert got == expected
    assert type(got) is type(expected)


# -- end to end: the proxy really chosen ------------------------------------------


def test_environment_proxy_is_used_and_no_proxy_bypasses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Server() as proxy, Server() as origin:
        _set_environment(monkeypatch, {"HTTP_PROXY": proxy.url})
        with ManagedSession() as managed:
            target = "http://origin.invalid/via-proxy"
            assert managed.get(target).status_code == 200
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            managed.refresh_environment()
            assert managed.get(origin.url + "/direct").status_code == 200
        # The proxy got the absolute-form target; the origin, the direct one.
        assert [r.target for r in proxy.requests] == [target]
        assert [r.target for r in origin.requests] == ["/direct"]


def test_per_request_proxies_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    with Server() as proxy:
        _set_environment(monkeypatch, {})
        with ManagedSession() as managed:
            target = "http://origin.invalid/p"
            response = managed.get(target, proxies={"http": proxy.url})
        assert response.status_code == 200
        assert [r.target for r in proxy.requests] == [target]


# -- bodies -------------------------------------------------------------------------


BODY = bytes(range(256)) * 400  # 100 KiB

REPLIES: dict[str, Reply] = {
    "content-length": Reply(body=BODY),
    "chunked": Reply(body=BODY, chunked=True),
    "empty": Reply(body=b""),
    "204": Reply(status=204, body=b""),
    "gzip": Reply(body=gzip.compress(BODY), headers=[("Content-Encoding", "gzip")]),
    "deflate": Reply(
        body=zlib.compress(BODY), headers=[("Content-Encoding", "deflate")]
    ),
    "HTTP/1.0 read to close": Reply(
        body=BODY, http10=True, headers=[("Content-Length", "")]
    ),
}


@pytest.mark.parametrize("reply", REPLIES.values(), ids=REPLIES.keys())
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_non_streamed_bodies_are_the_same_bytes(reply: Reply, method: str) -> None:
    with Server(lambda r: reply) as server:
        expected = requests.Session().request(method, server.url, timeout=10)
        with ManagedSession() as managed:
            got = managed.request(method, server.url)
        assert isinstance(got, ManagedResponse)
        assert got.content == expected.content
        assert got.text == expected.text
        assert got.status_code == expected.status_code
        assert got.headers == expected.headers


def test_streamed_bodies_are_read_as_requests_reads_them() -> None:
    with (
        Server(lambda r: Reply(body=BODY, chunked=True)) as server,
        ManagedSession() as managed,
    ):
        with managed.get(server.url, stream=True) as response:
            chunks = list(response.iter_content(1000))
        assert b"".join(chunks) == BODY
        assert max(len(c) for c in chunks) <= 1000
        with managed.get(server.url, stream=True) as response:
            assert response.content == BODY
            # Consumed: iterating again replays the content, as in requests.
            assert b"".join(response.iter_content(4096)) == BODY


def test_content_twice_and_json_work() -> None:
    payload = json.dumps({"a": [1, 2, 3]}).encode()
    with Server(lambda r: Reply(body=payload)) as server, ManagedSession() as managed:
        response = managed.get(server.url)
        assert response.content is response.content
        assert response.json() == {"a": [1, 2, 3]}


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            Reply(body=b"x" * 5000, truncate=True),
            requests.exceptions.ChunkedEncodingError,
        ),
        (
            Reply(raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            requests.exceptions.ChunkedEncodingError,
        ),
        (
            Reply(body=b"not gzip", headers=[("Content-Encoding", "gzip")]),
            requests.exceptions.ContentDecodingError,
        ),
    ],
    ids=["truncated", "broken chunked", "bad gzip"],
)
def test_body_errors_are_the_exceptions_requests_raises(
    reply: Reply, error: type[Exception]
) -> None:
    with Server(lambda r: reply) as server:
        with pytest.raises(error):
            requests.Session().get(server.url, timeout=10)
        with ManagedSession() as managed, pytest.raises(error):
            managed.get(server.url)


def test_a_file_like_raw_uses_requests_own_reading() -> None:
    response = ManagedResponse()
    response.status_code = 200
    response.raw = _FileLike(b"abc" * 10000)
    assert response.content == b"abc" * 10000


class _FileLike:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, n: int = -1) -> bytes:
        chunk, self._data = self._data[:n], self._data[n:]
        return chunk


# -- adapter shortcuts ---------------------------------------------------------------


def test_pool_lookup_is_per_origin_and_tls_settings(ca_bundle: str) -> None:
    with ManagedSession() as managed:
        adapter = managed.get_adapter("https://localhost/")
        prepared = managed.prepare_request(
            requests.Request("GET", "https://localhost:1/a")
        )
        other = managed.prepare_request(
            requests.Request("GET", "https://localhost:2/a")
        )
        verified = adapter.get_connection_with_tls_context(prepared, True)
        assert adapter.get_connection_with_tls_context(prepared, True) is verified
        assert adapter.get_connection_with_tls_context(other, True) is not verified
        unverified = adapter.get_connection_with_tls_context(prepared, False)
        bundle = adapter.get_connection_with_tls_context(prepared, ca_bundle)
        assert len({id(verified), id(unverified), id(bundle)}) == 3
        assert unverified.cert_reqs == "CERT_NONE"  # type: ignore[attr-defined]
        assert verified.cert_reqs == "CERT_REQUIRED"  # type: ignore[attr-defined]


def test_a_pool_the_pool_manager_drops_is_closed_and_not_handed_out(
    server: Server,
) -> None:
    # urllib3 2.x's PoolManager drops pools (LRU eviction, clear()) without
    # closing them; ours closes them, so their idle sockets do not linger,
    # and the remembered pool is not used again.
    with ManagedSession() as managed:
        assert managed.get(server.url).status_code == 200
        adapter = managed.get_adapter(server.url)
        prepared = managed.prepare_request(requests.Request("GET", server.url))
        pool = adapter.get_connection_with_tls_context(prepared, True)
        adapter.poolmanager.clear()
        assert server.wait_for(lambda: server.open_connections() == 0)
        assert adapter.get_connection_with_tls_context(prepared, True) is not pool
        assert managed.get(server.url).status_code == 200
        stats = managed.pool_stats().total
    assert (stats.requests, stats.opened) == (2, 2)
    assert server.connections_opened == 2


def test_a_closed_session_forgets_its_pools(server: Server) -> None:
    managed = ManagedSession()
    managed.get(server.url)
    adapter = managed.get_adapter(server.url)
    assert adapter._rm_pools  # type: ignore[attr-defined]
    managed.close()
    assert not adapter._rm_pools  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    [
        "http://h/",
        "http://h",
        "http://h/a/b?c=d&e",
        "http://h//double/slash",
        "http://u:p@h/x#frag",
    ],
)
@pytest.mark.parametrize("proxies", [{}, {"http": "http://proxy:1"}])
def test_request_url_matches_requests(url: str, proxies: dict[str, str]) -> None:
    prepared = requests.Request("GET", url).prepare()
    expected = requests.adapters.HTTPAdapter().request_url(prepared, proxies)
    with ManagedSession() as managed:
        assert managed.get_adapter(url).request_url(prepared, proxies) == expected


def test_cookie_jar_types_are_kept() -> None:
    jar = http.cookiejar.CookieJar()
    plain = requests.Session().prepare_request(
        requests.Request("GET", URL, cookies=jar)
    )
    with ManagedSession() as managed:
        got = managed.prepare_request(requests.Request("GET", URL, cookies=jar))
    assert type(got._cookies) is type(plain._cookies)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")],
        [("Content-Type", "text/html; charset=latin-1")],
        [("X-Dup", "1"), ("x-dup", "2"), ("X-Other", "a, b"), ("X-DUP", "3")],
    ],
    ids=["no cookies", "two cookies", "charset", "repeated names"],
)
def test_built_responses_match_requests(headers: list[tuple[str, str]]) -> None:
    reply = Reply(body=b"hi", headers=headers)
    with Server(lambda r: reply) as server:
        plain = requests.Session()
        expected = plain.get(server.url + "/x?y=1", timeout=10)
        with ManagedSession() as managed:
            got = managed.get(server.url + "/x?y=1")
            session_cookies = managed.cookies.get_dict()
    assert type(got) is ManagedResponse
    for name in ("status_code", "reason", "url", "encoding", "content"):
        assert getattr(got, name) == getattr(expected, name), name
    assert list(got.headers.items()) == list(expected.headers.items())
    assert list(got.headers.lower_items()) == list(expected.headers.lower_items())
    assert got.cookies.get_dict() == expected.cookies.get_dict()
    assert session_cookies == plain.cookies.get_dict()
    assert got.request.url == expected.request.url
    assert got.connection is managed.get_adapter(server.url)


def test_bytes_urls_are_prepared_as_requests_prepares_them() -> None:
    request = requests.Request("GET", b"http://127.0.0.1:9/bytes")
    expected = requests.Session().prepare_request(request)
    with ManagedSession() as managed:
        got = managed.prepare_request(request)
    assert _prepared_fields(got) == _prepared_fields(expected)


def test_patching_requests_sessions_helpers_applies_as_with_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tests in the wild patch requests.sessions.get_netrc_auth (requests' own
    # suite does); the cache must call the patched function.
    monkeypatch.setattr(
        requests.sessions, "get_netrc_auth", lambda url, *a: ("patched", "pw")
    )
    monkeypatch.setattr(
        requests.sessions,
        "get_environ_proxies",
        lambda url, no_proxy=None: {"http": "http://patched:1"},
    )
    with ManagedSession() as managed:
        prepared = managed.prepare_request(requests.Request("GET", URL))
        settings = managed.merge_environment_settings(URL, {}, None, None, None)
    expected = requests.Session().prepare_request(requests.Request("GET", URL))
    assert prepared.headers["Authorization"] == expected.headers["Authorization"]
    assert settings["proxies"] == {"http": "http://patched:1"}


# -- send(prepared): the proxies Session.send resolves --------------------------


SESSION_PROXIES: dict[str, dict[str, Any]] = {
    "none": {},
    "session proxy": {"http": "http://session:1"},
    "session no_proxy": {"no_proxy": "127.0.0.1"},
}


@pytest.mark.parametrize("env", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
@pytest.mark.parametrize(
    "session_proxies", SESSION_PROXIES.values(), ids=SESSION_PROXIES.keys()
)
@pytest.mark.parametrize("trust_env", [True, False], ids=["trust_env", "no env"])
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/a", "https://example.invalid/b", "HTTP://h:1/"]
)
def test_send_resolves_the_proxies_requests_would(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    session_proxies: dict[str, Any],
    trust_env: bool,
    url: str,
) -> None:
    """ManagedSession.send(prepared) without proxies= resolves them from the
    per-origin cache, to exactly what requests.Session.send would."""
    from requests.utils import resolve_proxies

    from requests_managed import _prepare

    _set_environment(monkeypatch, env)
    with ManagedSession() as managed:
        managed.proxies = dict(session_proxies)
        managed.trust_env = trust_env
        prepared = requests.Request("GET", url).prepare()
        expected = resolve_proxies(prepared, dict(session_proxies), trust_env)
        got = _prepare.resolve_proxies(managed, managed._rm_env, prepared)
        assert got == expected
        assert managed.proxies == session_proxies  # not changed in place


def test_send_prepared_goes_through_the_environment_proxy(
    monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    from .proxy import ForwardProxy

    with ForwardProxy() as proxy, ManagedSession() as session:
        monkeypatch.delenv("NO_PROXY")
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        session.refresh_environment()
        prepared = session.prepare_request(requests.Request("GET", server.url))
        assert session.send(prepared).text == "ok"
        assert proxy.targets == [f"GET {server.url}/"]
        session.trust_env = False  # honoured at once
        assert session.send(prepared).text == "ok"
        assert len(proxy.targets) == 1
