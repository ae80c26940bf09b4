"""``ManagedAdapter``: an ``HTTPAdapter`` wired to managed pools and limits."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from requests import PreparedRequest, Response
from requests import cookies as _cookies
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from requests.utils import (
    DEFAULT_CA_BUNDLE_PATH,
    extract_zipped_paths,
    get_encoding_from_headers,
)
from urllib3 import HTTPHeaderDict, PoolManager
from urllib3.connectionpool import ConnectionPool
from urllib3.util.retry import Retry

from . import _scope
from ._deadline import Deadline
from ._environment import origin_of
from ._errors import translate_send
from ._limits import PoolLimits
from ._manager import ConnectionManager
from ._policy import KeepAlivePolicy
from ._response import ManagedResponse
from ._stats import PoolStats
from ._timeouts import Timeout, socket_phase
from ._tls import TLSContexts
from ._urllib3 import (
    AdoptingProxies,
    ManagedHTTPConnectionPool,
    ManagedPoolManager,
    manage_pool_manager,
)

__all__ = ["ManagedAdapter", "adopt", "adopted_by", "own_pools"]

RetriesType = Retry | int | None

# requests' helper, typed (the stubs leave it untyped).
extract_cookies_to_jar: Callable[[Any, Any, Any], None] = (
    _cookies.extract_cookies_to_jar
)

# Retry objects are never changed (increment() returns a new one): one
# "no retries beyond the one safe replay" serves every adapter.
_NO_RETRIES = Retry(0, read=False)

# Pools remembered per (origin, verify, cert); past this many, start again.
_MAX_CACHED_POOLS = 256


def _response_defaults() -> dict[str, Any] | None:
    """The attributes ``Response()`` sets, but ``headers`` (build_response
    sets it), ``history`` and ``cookies`` (new for each response); ``None``
    if requests sets one this code does not know to be immutable."""
    defaults = vars(ManagedResponse())
    for name in ("headers", "history", "cookies"):
        defaults.pop(name, None)
    immutable = (type(None), bool, int, float, str, bytes, timedelta)
    if not all(isinstance(value, immutable) for value in defaults.values()):
        return None
    return defaults


_RESPONSE_DEFAULTS = _response_defaults()


class ManagedAdapter(HTTPAdapter):
    """The transport of a ``ManagedSession``; mounted for ``http://`` and ``https://``.

    It keeps ``HTTPAdapter``'s contract (``send`` takes the same arguments and
    returns the same ``Response``; ``responses`` and OpenTelemetry wrap it
    unchanged) and adds, around ``super().send()``: the default timeout and
    total deadline when called outside a ``ManagedSession``, and the
    translation of pool and deadline failures into requests exceptions.
    """

    __attrs__ = [  # noqa: RUF012 (requests' own name and type)
        *HTTPAdapter.__attrs__,
        "_rm_limits",
        "_rm_policy",
        "_rm_timeout",
    ]

    def __init__(
        self,
        *,
        limits: PoolLimits | None = None,
        policy: KeepAlivePolicy | None = None,
        timeout: Timeout | None = None,
        retries: RetriesType = None,
    ) -> None:
        self._rm_limits = limits if limits is not None else PoolLimits()
        self._rm_policy = policy if policy is not None else KeepAlivePolicy()
        self._rm_timeout = timeout if timeout is not None else Timeout()
        super().__init__(
            max_retries=_NO_RETRIES if retries is None else retries,
        )

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        # Keeps HTTPAdapter's contract (sets self.poolmanager from the same
        # arguments); ``maxsize``/``block`` are superseded by PoolLimits, which
        # the shared ConnectionManager enforces across all pools.
        self._rm_manager = ConnectionManager(
            self._rm_limits, self._rm_policy, default_wait=self._rm_timeout.connect
        )
        self._rm_pools: dict[Any, ManagedHTTPConnectionPool] = {}
        self._rm_tls = TLSContexts()
        # the ProxyManagers requests makes for HTTP_PROXY / proxies= are
        # managed as they are made
        self.proxy_manager = AdoptingProxies(self._rm_manager)
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = ManagedPoolManager(
            self._rm_manager,
            num_pools=max(connections, 100),
            maxsize=1,
            block=False,
            **pool_kwargs,
        )

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        manager = self._rm_manager
        scope = _scope.owned_by(manager)
        token = None
        if scope is None:
            # Called directly, or from inside a request of another session
            # (a hook, an exporter): a scope of our own, with our defaults,
            # so the adapter is never without a timeout.
            coerced = Timeout.coerce(timeout, self._rm_timeout)
            scope = _scope.RequestScope(manager, coerced, Deadline(coerced.total))
            token = _scope.enter(scope)
            timeout = (
                socket_phase(coerced.connect, None),
                socket_phase(coerced.read, None),
            )
        try:
            return super().send(
                request,
                stream=stream,
                timeout=timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
        except Exception as exc:
            error = translate_send(exc, scope.deadline, request)
            if error is None:
                raise
            raise error from exc
        finally:
            if token is not None:
                _scope.leave(token)

    def get_connection_with_tls_context(
        self,
        request: PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> ConnectionPool:
        # HTTPAdapter's contract: the pool for this origin *and* these TLS
        # settings (the pool key carries verify and cert: CVE-2024-35195).
        # Looking it up costs a URL parse, an SSL-settings dict and urllib3's
        # key normalisation per request, so remember the answer per
        # (origin, verify, cert). Proxied requests take requests' own path
        # (through proxy managers that are managed too: see AdoptingProxies).
        if proxies:
            return super().get_connection_with_tls_context(
                request, verify, proxies, cert
            )
        try:
            key = (origin_of(str(request.url)), verify, cert)
            cached = self._rm_pools.get(key)
        except TypeError:  # an unhashable cert: no caching
            return super().get_connection_with_tls_context(request, verify, None, cert)
        if cached is not None and cached._rm_slot.retired is None:
            return cached
        pool = super().get_connection_with_tls_context(request, verify, None, cert)
        if isinstance(pool, ManagedHTTPConnectionPool):
            pools = self._rm_pools
            if len(pools) >= _MAX_CACHED_POOLS:
                pools.clear()
            pools[key] = pool
        return pool

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[Any, Any]:
        # HTTPAdapter's documented way to use an SSLContext: set
        # "ssl_context" and drop the keys urllib3 would otherwise load into a
        # new context per connection. The context is keyed by exactly what
        # requests keys the pool by, so pools stay separate per TLS settings.
        host_params: Any
        pool_kwargs: Any
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if (
            host_params.get("scheme") != "https"
            or "ssl_context" in pool_kwargs
            or self.poolmanager.connection_pool_kw.get("ssl_context") is not None
        ):
            return host_params, pool_kwargs  # a context given by the user wins
        cert_reqs = pool_kwargs.get("cert_reqs", "CERT_REQUIRED")
        ca_certs = pool_kwargs.get("ca_certs")
        ca_cert_dir = pool_kwargs.get("ca_cert_dir")
        if cert_reqs != "CERT_NONE" and ca_certs is None and ca_cert_dir is None:
            ca_certs = extract_zipped_paths(DEFAULT_CA_BUNDLE_PATH)  # type: ignore[no-untyped-call]
        key = (
            cert_reqs,
            ca_certs,
            ca_cert_dir,
            pool_kwargs.get("cert_file"),
            pool_kwargs.get("key_file"),
        )
        if not all(path is None or os.path.exists(path) for path in key[1:]):
            # requests' cert_verify() reports a missing file, with its words
            return host_params, pool_kwargs
        for name in ("ca_certs", "ca_cert_dir", "cert_file", "key_file"):
            pool_kwargs.pop(name, None)
        pool_kwargs["ssl_context"] = self._rm_tls.get(key)
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # HTTPAdapter's contract (the same checks, the same errors for a
        # missing bundle or certificate); but a pool with our shared context
        # must not get CA and certificate paths back, or urllib3 would load
        # them into that context again on every connection.
        context = getattr(conn, "conn_kw", {}).get("ssl_context")
        mine = context is not None and self._rm_tls.owns(context)
        if mine and conn.__dict__.get("_rm_verified") == (verify, cert):
            # This pool passed these checks with this context (loaded from
            # those files, so it does not read them again): the files are
            # not looked up again on every request.
            return
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if mine:
            conn.ca_certs = conn.ca_cert_dir = None
            conn.cert_file = conn.key_file = None
            conn._rm_verified = (verify, cert)

    def request_url(self, request: PreparedRequest, proxies: Any) -> str:
        # HTTPAdapter's contract; without a proxy it is the request's path.
        # (Some requests releases rewrite a path starting with "//": leave
        # that to them.)
        url = request.path_url
        if proxies or url.startswith("//"):
            return super().request_url(request, proxies)
        return url

    def build_response(self, req: PreparedRequest, resp: Any) -> Response:
        # HTTPAdapter's contract, step by step, with two differences: the
        # response is a ManagedResponse (one-call body reads), and the cookie
        # jar is not consulted when the server set no cookie (it would add
        # nothing; http.cookiejar costs several microseconds to find that).
        if _RESPONSE_DEFAULTS is None:
            response = ManagedResponse()
        else:  # what Response() sets, without building what is set again below
            response = ManagedResponse.__new__(ManagedResponse)
            fresh = response.__dict__
            fresh.update(_RESPONSE_DEFAULTS)
            fresh["history"] = []
            fresh["cookies"] = RequestsCookieJar()
        response.status_code = getattr(resp, "status", None)  # type: ignore[assignment]
        headers = getattr(resp, "headers", {})
        if type(headers) is HTTPHeaderDict:
            # CaseInsensitiveDict(headers) item by item through
            # MutableMapping.update costs more than the rest of this method
            merged: Any = CaseInsensitiveDict()
            # HTTPHeaderDict keeps {lowercased: [name, value, value...]}
            container: Any = headers._container
            merged._store = {
                lower: (values[0], ", ".join(values[1:]))
                for lower, values in container.items()
            }
            response.headers = merged
        else:
            response.headers = CaseInsensitiveDict(headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        url = req.url
        response.url = url.decode("utf-8") if isinstance(url, bytes) else url  # type: ignore[assignment]
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            extract_cookies_to_jar(response.cookies, req, resp)
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        # Idempotent: the one adapter is mounted for http:// and https://, and
        # requests.Session.close() closes every mount.
        if self._rm_manager.closed:
            return
        self._rm_pools = {}
        self._rm_manager.close()
        super().close()

    def pool_stats(self) -> PoolStats:
        """A snapshot of this adapter's connections (see ``ManagedSession``)."""
        return self._rm_manager.stats()


# -- adapters the user mounts ----------------------------------------------------


def _name(adapter: object) -> str:
    cls = type(adapter)
    return f"{cls.__module__}.{cls.__qualname__}"


def adopt(adapter: BaseAdapter, manager: ConnectionManager) -> str | None:
    """Manage the connections of ``adapter`` (mounted on a session) with
    ``manager``; or say, in a sentence, why they cannot be.

    An ``HTTPAdapter`` (or subclass) keeps everything of its own: its
    ``send()``, retries, ``init_poolmanager`` settings (an ``ssl_context``, a
    source address), ``proxy_manager_for``. Its pool manager and each of its
    proxy managers become managed in place (see ``manage_pool_manager``), so
    the session's deadline, limits, policy, stats and events hold for it.
    """
    if isinstance(adapter, ManagedAdapter):
        if adapter._rm_manager is manager:
            return None
        return (
            f"a {_name(adapter)} with pools of its own: its connections are "
            "managed and counted in its own pool_stats()"
        )
    if not isinstance(adapter, HTTPAdapter):
        return (
            f"{_name(adapter)} is not a requests HTTPAdapter (it makes no urllib3 "
            "pools): requests through it get the session's timeout only"
        )
    pm = getattr(adapter, "poolmanager", None)
    if not isinstance(pm, PoolManager):
        return (
            f"the poolmanager of {_name(adapter)} is {type(pm).__name__}, not a "
            "urllib3 PoolManager: requests through it get the session's timeout only"
        )
    if not manage_pool_manager(pm, manager):
        return (
            f"{_name(adapter)} shares its pool manager with another managed "
            "session: its connections are counted in that session's pool_stats()"
        )
    proxies = adapter.proxy_manager
    if not (isinstance(proxies, AdoptingProxies) and proxies.manager is manager):
        managed = AdoptingProxies(manager)
        for proxy, proxy_pm in dict(proxies).items():
            managed[proxy] = proxy_pm
        adapter.proxy_manager = managed
    adapter._rm_manager = manager  # type: ignore[attr-defined]
    return None


def adopted_by(adapter: BaseAdapter, manager: ConnectionManager) -> bool:
    """Whether ``adapter`` is (still) managed by ``manager``: its pool manager
    may have been replaced since (``init_poolmanager`` called again)."""
    if getattr(adapter, "_rm_manager", None) is not manager:
        return False
    pm = getattr(adapter, "poolmanager", None)
    proxies = getattr(adapter, "proxy_manager", None)
    return (
        getattr(pm, "_rm_manager", None) is manager
        and type(proxies) is AdoptingProxies
        and proxies.manager is manager
    )


def own_pools(adapter: BaseAdapter, raw: Any) -> str | None:
    """After a response from an adopted adapter: why not, if its connection
    did not come from a managed pool (the adapter makes pools of its own, as
    docker's unix-socket adapter does)."""
    pool = getattr(raw, "_pool", None)
    if pool is None or isinstance(pool, ManagedHTTPConnectionPool):
        return None
    return (
        f"{_name(adapter)} makes pools of its own ({type(pool).__name__}), not "
        "through its poolmanager: requests through it get the session's "
        "timeout only"
    )
