"""The per-request work of ``requests.Session``, done with less.

Each function here keeps the contract of the requests method it stands in
for (same arguments, same result) and differs only in cost. Profiling a
small GET on loopback shows where ``requests.Session`` spends time it does
not need to:

* ``merge_environment_settings`` rescans the environment: see
  :mod:`._environment`, which answers once per origin;
* ``merge_setting`` goes through ``to_key_val_list``, whose
  ``isinstance`` check against a ``runtime_checkable`` Protocol costs
  microseconds per call, several calls per request; :func:`merge_setting`
  gives the same result with plain ``Mapping`` checks;
* ``prepare_request`` stats ``~/.netrc`` every time (cached per origin) and
  builds a ``Cookie`` header through ``http.cookiejar`` even when no cookie
  exists (skipped when the merged jar is empty: the jar would add nothing);
* ``Response.content`` reads a body in 10 KiB pieces, about 100 reads per MiB;
  :class:`~._response.ManagedResponse` reads it in one call when no content
  decoding is involved.

The test suite (``tests/test_prepare.py``) checks each shortcut against
requests' own code on the cases where it applies, and that it steps aside on
the others (per-request proxies, content encodings, file-like raws).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from http import cookiejar
from typing import TYPE_CHECKING, Any

from requests import PreparedRequest, Request
from requests import cookies as _cookies
from requests import sessions as _sessions
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

from ._response import ManagedHTTPResponse, own_function

if TYPE_CHECKING:
    import requests

    from ._environment import EnvironmentCache

__all__ = [
    "PrepareCache",
    "merge_environment_settings",
    "merge_setting",
    "prepare_request",
]


#: Mappings for certain, without asking the Mapping ABC.
_MAPPINGS = frozenset({dict, OrderedDict, CaseInsensitiveDict})


def merge_setting(
    request_setting: Any, session_setting: Any, dict_class: type = OrderedDict
) -> Any:
    """``requests.sessions.merge_setting`` without ``to_key_val_list``.

    For two mappings: the session's items, then the request's, then every
    key whose value is ``None`` removed, in a new ``dict_class``. Otherwise
    the request's setting unless it is ``None``.
    """
    if session_setting is None:
        return request_setting
    if request_setting is None:
        return session_setting
    if not (
        (type(session_setting) in _MAPPINGS or isinstance(session_setting, Mapping))
        and (type(request_setting) in _MAPPINGS or isinstance(request_setting, Mapping))
    ):
        return request_setting
    merged = dict_class(session_setting.items())
    merged.update(request_setting.items())
    for key in [k for k, v in merged.items() if v is None]:
        del merged[key]
    return merged


def _without_none(headers: Any) -> bool:
    """A mapping with no value ``None`` (which would mean "remove")?"""
    if type(headers) is CaseInsensitiveDict:
        # {lowercased: (name, value)}, read without the Mapping machinery
        store: Any = headers._store  # type: ignore[attr-defined]
        return not any(pair[1] is None for pair in store.values())
    return isinstance(headers, Mapping) and None not in headers.values()


def _merged_headers(
    request_headers: Any, session_headers: Any
) -> CaseInsensitiveDict[Any] | Any:
    # The common case: no per-request headers and no session header set to
    # None (which would mean "remove"). PreparedRequest.prepare_headers
    # copies what it is given, so the session's own dict can be passed.
    if (
        not request_headers
        and isinstance(request_headers, Mapping)
        and _without_none(session_headers)
    ):
        return session_headers
    return merge_setting(request_headers, session_headers, CaseInsensitiveDict)


class PrepareCache:
    """What ``prepare_request`` can reuse from one request to the next.

    * prepared URLs: ``PreparedRequest.prepare_url`` (a full parse, IDNA
      check and requoting) depends only on the URL string when there are no
      params, and sets nothing but ``.url``;
    * the session's headers, validated: ``prepare_headers`` checks every
      header with regular expressions on every request. The validated copy
      is reused while the session's headers are the same items (compared
      each time, so changes to ``session.headers`` take effect at once).

    Both are bounded and per session; a lost race only repeats work.
    """

    __slots__ = ("_headers", "_urls")

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        # (the session's header items, the validated store), swapped as one
        # tuple so that a reader never pairs one's items with another's store.
        self._headers: tuple[tuple[Any, ...], Any] = ((), None)

    def prepare_url(self, p: PreparedRequest, url: Any, params: Any) -> None:
        if params is not None or type(url) is not str:
            p.prepare_url(url, params)
            return
        found = self._urls.get(url)
        if found is None:
            p.prepare_url(url, None)  # raises for a bad URL: nothing cached
            if len(self._urls) >= _MAX_URLS:
                self._urls = {}
            self._urls[url] = p.url  # type: ignore[assignment]
        else:
            p.url = found

    def prepare_headers(self, p: PreparedRequest, headers: Any) -> None:
        store = getattr(headers, "_store", None)
        if type(headers) is not CaseInsensitiveDict or store is None:
            p.prepare_headers(headers)
            return
        # CaseInsensitiveDict keeps {lowercased: (name, value)}; its values
        # say exactly what prepare_headers would copy.
        items = tuple(store.values())
        cached_items, cached_store = self._headers
        if cached_store is not None and items == cached_items:
            prepared: CaseInsensitiveDict[Any] = CaseInsensitiveDict()
            prepared._store = cached_store.copy()  # type: ignore[attr-defined]
            p.headers = prepared
            return
        p.prepare_headers(headers)
        self._headers = (items, p.headers._store.copy())  # type: ignore[attr-defined]


_MAX_URLS = 1024
#: What the default hooks of a session and a request merge to.
_NO_HOOKS: dict[str, list[Any]] = {"response": []}

# requests' helpers, typed (the stubs leave them untyped).
cookiejar_from_dict: Callable[[Any], RequestsCookieJar] = _cookies.cookiejar_from_dict
merge_cookies: Callable[[Any, Any], Any] = _cookies.merge_cookies
merge_hooks: Callable[[Any, Any], Any] = _sessions.merge_hooks


def prepare_request(
    session: requests.Session,
    request: Request,
    env: EnvironmentCache,
    cache: PrepareCache,
) -> PreparedRequest:
    """``requests.Session.prepare_request``, doing once what it does each time.

    The same steps in the same order as ``PreparedRequest.prepare``, with
    three steps skipped where they cannot change the result: the ``Cookie``
    header when the merged jar is empty (an empty jar adds no header), the
    auth step when there is no auth and the URL holds no ``@`` (no userinfo
    to take credentials from), and cookie merging when there are no
    cookies. URLs and validated headers come from ``cache``; netrc from
    ``env``.
    """
    url: Any = request.url
    method: Any = request.method
    request_cookies: Any = request.cookies
    session_cookies: Any = session.cookies
    if not request_cookies and not len(session_cookies):
        merged_cookies = RequestsCookieJar()
    else:
        cookies = request_cookies or {}
        if not isinstance(cookies, cookiejar.CookieJar):
            cookies = cookiejar_from_dict(cookies)
        merged_cookies = merge_cookies(
            merge_cookies(RequestsCookieJar(), session_cookies), cookies
        )
    auth = request.auth
    if session.trust_env and not auth and not session.auth:
        auth = env.netrc_auth(url)
    auth = merge_setting(auth, session.auth)
    request_params: Any = request.params
    session_params: Any = session.params
    if type(request_params) is dict and not request_params and not session_params:
        params = None  # (the default {} and an empty session's: no query)
    else:
        params = merge_setting(request_params, session_params)
        if isinstance(params, Mapping) and not params:
            params = None  # what an empty mapping encodes to: no query
    hooks = merge_hooks(request.hooks, session.hooks)

    p = PreparedRequest()
    p.prepare_method(method.upper())
    cache.prepare_url(p, url, params)
    cache.prepare_headers(p, _merged_headers(request.headers, session.headers))
    if len(merged_cookies):
        p.prepare_cookies(merged_cookies)
    else:
        p._cookies = merged_cookies  # type: ignore[attr-defined]
    p.prepare_body(request.data, request.files, request.json)
    if auth is not None or "@" in str(p.url):
        p.prepare_auth(auth, url)
    if type(hooks) is not dict or hooks != _NO_HOOKS:
        # (no hooks at all leaves the PreparedRequest's own default_hooks(),
        # which is what registering an empty list of them gives)
        p.prepare_hooks(hooks)
    return p


def merge_environment_settings(
    session: requests.Session,
    env: EnvironmentCache,
    url: str,
    proxies: dict[str, str] | None,
    stream: bool | None,
    verify: Any,
    cert: Any,
) -> dict[str, Any] | None:
    """``requests.Session.merge_environment_settings`` from the cache.

    Returns ``None`` (the caller then uses requests' own method) when the
    request names proxies of its own: their ``no_proxy`` entry changes what
    the environment contributes, so the cache does not apply.
    """
    if proxies:
        return None
    if session.trust_env:
        env_proxies = env.proxies(url)
        if env_proxies and proxies is not None:
            # requests fills the caller's dict in place (and, given None,
            # uses no environment proxy at all); so do we.
            for key, value in env_proxies.items():
                proxies.setdefault(key, value)
        if verify is True or verify is None:
            verify = env.ca_bundle() or verify
    session_proxies: Any = session.proxies
    if type(proxies) is dict and not proxies and not session_proxies:
        merged_proxies: Any = OrderedDict()  # what merging two empty ones gives
    else:
        merged_proxies = merge_setting(proxies, session_proxies)
    return {
        "proxies": merged_proxies,
        "stream": merge_setting(stream, session.stream),
        "verify": merge_setting(verify, session.verify),
        "cert": merge_setting(cert, session.cert),
    }


def resolve_proxies(
    session: _sessions.Session, env: EnvironmentCache, request: PreparedRequest
) -> dict[str, str]:
    """``requests.utils.resolve_proxies`` with the environment from the cache.

    What ``Session.send`` computes for a prepared request sent without
    ``proxies=``: the session's proxies plus the environment's proxy for the
    URL's scheme (unless ``NO_PROXY`` bypasses it). A session whose proxies
    carry a ``no_proxy`` entry, or a URL that is not text, goes to requests.
    """
    proxies: Any = session.proxies if session.proxies is not None else {}
    url = request.url
    if "no_proxy" in proxies or not isinstance(url, str):
        # looked up where Session.send finds it, at call time (patchable)
        resolve: Callable[..., dict[str, str]] = vars(_sessions)["resolve_proxies"]
        return resolve(request, session.proxies, session.trust_env)
    merged: dict[str, str] = dict(proxies)
    if session.trust_env:
        env_proxies = env.proxies(url)
        if env_proxies:
            scheme = url.partition(":")[0].lower()
            proxy = env_proxies.get(scheme, env_proxies.get("all"))
            if proxy:
                merged.setdefault(scheme, proxy)
    return merged


# -- Session.send ------------------------------------------------------------------

#: requests.sessions, read at each call (tests patch its helpers)
_helpers: Any = _sessions
# requests' own functions (a mock active when this module is first imported,
# requests-mock's patched Session.send, is not taken for requests')
_ORIGINAL_EXTRACT = own_function(_helpers.extract_cookies_to_jar, _cookies)
_ORIGINAL_RESOLVE_REDIRECTS = own_function(
    _helpers.Session.resolve_redirects, _sessions
)
#: What send() stands in for: it is used only where this is what would run.
SESSION_SEND = own_function(_helpers.Session.send, _sessions)


def _sets_no_cookie(jar: Any, raw: Any) -> bool:
    """Would ``extract_cookies_to_jar(jar, request, raw)`` surely add nothing?

    True only for a response of this library's (its ``headers`` are those of
    ``raw._original_response.msg``, which the jar reads) without a
    ``Set-Cookie`` or ``Set-Cookie2`` header, into a jar whose extraction is
    ``http.cookiejar``'s own, through requests' own function.
    """
    if (
        type(raw) is not ManagedHTTPResponse
        or _helpers.extract_cookies_to_jar is not _ORIGINAL_EXTRACT
        or type(jar).extract_cookies is not cookiejar.CookieJar.extract_cookies
        or type(jar).make_cookies is not cookiejar.CookieJar.make_cookies
    ):
        return False
    headers = raw.headers
    return "set-cookie" not in headers and "set-cookie2" not in headers


def send(
    session: requests.Session, request: PreparedRequest, adapter: Any, **kwargs: Any
) -> requests.Response:
    """``requests.Session.send``, step for step, with ``adapter`` (what
    ``session.get_adapter(request.url)`` returned) and two shortcuts:

    * no cookie extraction from a response that sets no cookie;
    * no redirect generator for a response that is not a redirect (when
      ``resolve_redirects`` is requests' own; ``get_redirect_target`` is
      asked as requests would ask it).

    The module-level helpers are looked up in ``requests.sessions`` on each
    call, so a test that patches them patches this too.
    """
    kwargs.setdefault("stream", session.stream)
    kwargs.setdefault("verify", session.verify)
    kwargs.setdefault("cert", session.cert)
    if "proxies" not in kwargs:
        kwargs["proxies"] = _helpers.resolve_proxies(
            request, session.proxies, session.trust_env
        )
    if isinstance(request, Request):
        raise ValueError("You can only send PreparedRequests.")
    allow_redirects = kwargs.pop("allow_redirects", True)
    stream = kwargs.get("stream")
    hooks = request.hooks
    start = _helpers.preferred_clock()
    r: requests.Response = adapter.send(request, **kwargs)
    r.elapsed = _helpers.timedelta(seconds=_helpers.preferred_clock() - start)
    r = _helpers.dispatch_hook("response", hooks, r, **kwargs)
    if r.history:
        for resp in r.history:
            _helpers.extract_cookies_to_jar(session.cookies, resp.request, resp.raw)
    if not _sets_no_cookie(session.cookies, r.raw):
        _helpers.extract_cookies_to_jar(session.cookies, request, r.raw)
    history: list[requests.Response] = []
    if allow_redirects and (
        # (the bound method: a patch on the instance counts too)
        getattr(session.resolve_redirects, "__func__", None)
        is not _ORIGINAL_RESOLVE_REDIRECTS
        or session.get_redirect_target(r) is not None
    ):
        history = list(session.resolve_redirects(r, request, **kwargs))
    if history:
        history.insert(0, r)
        r = history.pop()
        r.history = history
    if not allow_redirects:
        with contextlib.suppress(StopIteration):
            r._next = next(  # type: ignore[attr-defined]
                session.resolve_redirects(r, request, yield_requests=True, **kwargs)
            )
    if not stream:
        r.content  # noqa: B018 - reads the body, as requests does
    return r
