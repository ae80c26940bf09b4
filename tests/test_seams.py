"""Seams: every urllib3, http.client and requests name the package overrides,
calls or reads, pinned with the signature we rely on.

A change upstream fails here, with the seam's name, instead of deep inside a
request. ``docs/internals.md`` lists the seams. The last tests prove the
check itself: a seam removed or renamed (by monkeypatching) fails it.
"""

from __future__ import annotations

import http.client
import inspect
from collections.abc import Callable
from typing import Any

import pytest
import requests
import requests.adapters
import requests.cookies
import requests.sessions
import requests.structures
import urllib3
import urllib3._collections
import urllib3.connection
import urllib3.connectionpool
import urllib3.poolmanager
import urllib3.response
import urllib3.util.wait

from requests_managed import ManagedSession

# Instance attributes are checked on instances.
_MANAGER = urllib3.PoolManager()
_RESPONSE = urllib3.response.HTTPResponse(body=b"")
_CONNECTION = urllib3.connection.HTTPConnection("127.0.0.1", 9)

#: (owner, name, the leading parameters we pass or override; None: not called
#: with arguments, only read or overridden as an attribute)
SEAMS: list[tuple[Any, str, tuple[str, ...] | None]] = [
    # urllib3 pool: check-out, release, request, replay, new connections
    (urllib3.HTTPConnectionPool, "_get_conn", ("self", "timeout")),
    (urllib3.HTTPConnectionPool, "_put_conn", ("self", "conn")),
    (urllib3.HTTPConnectionPool, "_new_conn", ("self",)),
    (urllib3.HTTPConnectionPool, "_make_request", ("self", "conn", "method", "url")),
    (
        urllib3.HTTPConnectionPool,
        "urlopen",
        ("self", "method", "url", "body", "headers", "retries"),
    ),
    (urllib3.HTTPConnectionPool, "close", ("self",)),
    (urllib3.HTTPConnectionPool, "ConnectionCls", None),
    (urllib3.HTTPSConnectionPool, "_new_conn", ("self",)),
    # urllib3 pool manager: pool creation and the LRU of pools
    (
        urllib3.PoolManager,
        "_new_pool",
        ("self", "scheme", "host", "port", "request_context"),
    ),
    (_MANAGER, "pool_classes_by_scheme", None),
    (_MANAGER, "pools", None),
    (
        urllib3._collections.RecentlyUsedContainer,
        "__init__",
        ("self", "maxsize", "dispose_func"),
    ),
    (urllib3._collections.RecentlyUsedContainer, "clear", ("self",)),
    # urllib3 connection: connect, response head, close
    (urllib3.connection.HTTPConnection, "connect", ("self",)),
    (urllib3.connection.HTTPConnection, "getresponse", ("self",)),
    (urllib3.connection.HTTPConnection, "close", ("self",)),
    (urllib3.connection.HTTPConnection, "is_closed", None),
    # urllib3 response: reads, release, close
    (urllib3.response.HTTPResponse, "read", ("self", "amt", "decode_content")),
    (urllib3.response.HTTPResponse, "read_chunked", ("self", "amt", "decode_content")),
    (urllib3.response.HTTPResponse, "release_conn", ("self",)),
    (urllib3.response.HTTPResponse, "_update_chunk_length", ("self",)),
    # urllib3 response: the streaming fast path (ManagedHTTPResponse.stream)
    (urllib3.response.HTTPResponse, "stream", ("self", "amt", "decode_content")),
    (urllib3.response.HTTPResponse, "_fp_read", ("self", "amt")),
    (urllib3.response.HTTPResponse, "_init_decoder", ("self",)),
    (_RESPONSE, "_decoder", None),
    (_RESPONSE, "_has_decoded_content", None),
    (_RESPONSE, "_decoded_buffer", None),
    (_RESPONSE, "_fp_bytes_read", None),
    (http.client.HTTPResponse, "read", ("self", "amt")),
    (urllib3.connection.HTTPConnection, "response_class", None),
    (http.client.HTTPResponse, "begin", ("self",)),
    (urllib3.response.HTTPResponse, "close", ("self",)),
    (urllib3.response.HTTPResponse, "isclosed", ("self",)),
    (_RESPONSE, "length_remaining", None),
    (_RESPONSE, "chunked", None),
    (_RESPONSE, "url", None),
    (_RESPONSE, "_fp", None),
    (_RESPONSE, "_connection", None),
    (_RESPONSE, "_pool", None),
    (_RESPONSE, "_original_response", None),
    (_CONNECTION, "sock", None),
    (urllib3.util.wait, "wait_for_read", ("sock", "timeout")),
    # http.client, under urllib3: the drain reads one buffer at a time
    (http.client.HTTPResponse, "read1", ("self", "n")),
    (http.client.HTTPResponse, "isclosed", ("self",)),
    # requests: the adapter's documented hooks and the helpers we call
    (
        requests.adapters.HTTPAdapter,
        "init_poolmanager",
        ("self", "connections", "maxsize", "block"),
    ),
    (
        requests.adapters.HTTPAdapter,
        "get_connection_with_tls_context",
        ("self", "request", "verify", "proxies", "cert"),
    ),
    (requests.adapters.HTTPAdapter, "request_url", ("self", "request", "proxies")),
    (requests.adapters.HTTPAdapter, "build_response", ("self", "req", "resp")),
    (
        requests.adapters.HTTPAdapter,
        "send",
        ("self", "request", "stream", "timeout", "verify", "cert", "proxies"),
    ),
    (requests.adapters.HTTPAdapter, "__attrs__", None),
    (requests.Session, "__attrs__", None),
    (
        requests.Session,
        "merge_environment_settings",
        ("self", "url", "proxies", "stream", "verify", "cert"),
    ),
    (requests.sessions, "get_environ_proxies", ("url", "no_proxy")),
    (requests.sessions, "get_netrc_auth", ("url",)),
    (requests.sessions, "merge_hooks", ("request_hooks", "session_hooks")),
    (requests.cookies, "extract_cookies_to_jar", ("jar", "request", "response")),
    (requests.cookies, "merge_cookies", ("cookiejar", "cookies")),
    (requests.cookies, "cookiejar_from_dict", ("cookie_dict",)),
]


def _name(owner: Any) -> str:
    if hasattr(owner, "__name__"):
        return str(owner.__name__)
    return f"{type(owner).__name__}()"


def check_seam(owner: Any, name: str, params: tuple[str, ...] | None) -> None:
    """Raise ``AssertionError`` naming the seam if it is gone or changed."""
    where = f"{_name(owner)}.{name}"
    if not hasattr(owner, name):
        raise AssertionError(f"seam {where} is gone (renamed or removed upstream)")
    if params is None:
        return
    target: Callable[..., Any] = getattr(owner, name)
    try:
        found = tuple(inspect.signature(target).parameters)
    except (TypeError, ValueError):  # a C function without a signature
        return
    if found[: len(params)] != params:
        raise AssertionError(
            f"seam {where} changed: expected parameters starting {params}, "
            f"found {found}"
        )


@pytest.mark.parametrize(
    ("owner", "name", "params"),
    SEAMS,
    ids=[f"{_name(o)}.{n}" for o, n, _ in SEAMS],
)
def test_seam_exists_with_the_signature_we_rely_on(
    owner: Any, name: str, params: tuple[str, ...] | None
) -> None:
    check_seam(owner, name, params)


PRIVATE = [(o, n, p) for o, n, p in SEAMS if n.startswith("_") and n[1] != "_"]


@pytest.mark.parametrize(
    ("owner", "name", "params"),
    PRIVATE,
    ids=[f"{_name(o)}.{n}" for o, n, _ in PRIVATE],
)
def test_a_removed_private_seam_fails_the_check_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    params: tuple[str, ...] | None,
) -> None:
    if not isinstance(owner, type) and name in vars(owner):
        monkeypatch.delattr(owner, name)
    for klass in getattr(owner, "__mro__", type(owner).__mro__):
        if name in vars(klass):
            monkeypatch.delattr(klass, name)
    with pytest.raises(AssertionError, match=f"seam .*{name} is gone"):
        check_seam(owner, name, params)


def test_a_renamed_parameter_fails_the_check_naming_the_seam(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def _get_conn(self: object, wait: float | None = None) -> None: ...

    monkeypatch.setattr(urllib3.HTTPConnectionPool, "_get_conn", _get_conn)
    with pytest.raises(AssertionError, match=r"HTTPConnectionPool\._get_conn changed"):
        check_seam(urllib3.HTTPConnectionPool, "_get_conn", ("self", "timeout"))


def test_responses_are_built_by_class_name_so_the_class_swap_is_safe() -> None:
    # The connection shim switches each urllib3 response's class in place:
    # that needs HTTPResponse without __slots__ of its own.
    assert "__slots__" not in vars(urllib3.response.HTTPResponse)
    assert hasattr(urllib3.response.HTTPResponse(body=b""), "__dict__")


def test_pool_manager_keeps_its_pools_in_a_recently_used_container() -> None:
    manager = urllib3.PoolManager(num_pools=7)
    assert isinstance(manager.pools, urllib3._collections.RecentlyUsedContainer)
    assert manager.pools._maxsize == 7


def test_session_defaults_match_what_requests_session_init_sets() -> None:
    # ManagedSession sets requests.Session's state without building the two
    # HTTPAdapters requests would mount and we would replace (3x the cost).
    plain, managed = requests.Session(), ManagedSession()
    try:
        ours = {k: v for k, v in vars(managed).items() if not k.startswith("_rm")}
        assert set(ours) == set(vars(plain))
        for name, value in vars(plain).items():
            if name in ("adapters", "cookies"):
                continue
            assert ours[name] == value, name
            assert type(ours[name]) is type(value), name
        assert type(ours["cookies"]) is type(plain.cookies)
        assert not len(ours["cookies"])
        assert list(ours["adapters"]) == list(plain.adapters)
    finally:
        plain.close()
        managed.close()


def test_a_mixin_between_us_and_requests_session_still_gets_its_init() -> None:
    class Mixin(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.mixed_in = True

    class Mixed(ManagedSession, Mixin):
        pass

    with Mixed() as session:
        assert session.mixed_in  # type: ignore[attr-defined]
        assert session.get_adapter("http://x/").__class__.__name__ == "ManagedAdapter"
