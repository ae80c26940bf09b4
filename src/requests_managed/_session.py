"""``ManagedSession``: a ``requests.Session`` with defaults and a lifecycle."""

from __future__ import annotations

import dataclasses
import logging
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import requests
from requests import PreparedRequest, Request, Response
from requests import utils as _utils
from requests.adapters import BaseAdapter
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.models import DEFAULT_REDIRECT_LIMIT
from requests.structures import CaseInsensitiveDict
from requests.utils import default_headers
from urllib3.util.retry import Retry

from . import _leaks, _prepare, _scope
from ._adapter import ManagedAdapter, RetriesType, adopt, adopted_by, own_pools
from ._deadline import Deadline
from ._environment import EnvironmentCache
from ._errors import translate_send
from ._limits import PoolLimits
from ._policy import KeepAlivePolicy
from ._response import own_function
from ._stats import ConnectionListener, PoolStats
from ._timeouts import Timeout, TimeoutTypes, socket_phase
from ._validate import check_count
from .exceptions import SessionClosed

if TYPE_CHECKING:
    from requests.sessions import _Settings
    from typing_extensions import Unpack

    from ._types import (
        Data,
        GetOptions,
        Params,
        PostOptions,
        PutOptions,
        RequestOptions,
    )

__all__ = ["ManagedSession"]

logger = logging.getLogger("requests_managed")

_ATTRS = ["_rm_timeout", "_rm_limits", "_rm_policy", "_rm_retries", "_rm_max_body"]


class ManagedSession(requests.Session):
    """A ``requests.Session`` that always times out, bounds its pools and closes.

    Args:
        timeout: The default for every request: a ``Timeout``, a number
            (connect and read), a ``(connect, read)`` tuple, a
            ``urllib3.Timeout``, or ``None`` for ``Timeout()`` (connect 5 s,
            read 30 s, total 300 s). A request's
            own ``timeout=`` replaces it; ``timeout=None`` on a request means
            this default.
        limits: Pool sizes and bounds (``PoolLimits()`` when omitted).
        policy: When connections are kept or closed (``KeepAlivePolicy()``).
        retries: A urllib3 ``Retry`` or an int >= 0 for the managed adapter; by
            default no retries beyond the one safe replay of an idempotent
            request whose reused connection turned out to be closed.
        max_body_bytes: The most body bytes (decoded) a response may have;
            past it, reading raises ``ResponseTooLarge``. ``None``: no limit.
            A request's ``max_body_bytes=`` replaces it for that request.

    Raises:
        InvalidTimeout: ``timeout`` is not a valid timeout.
        TypeError: ``limits``, ``policy`` or ``retries`` is of the wrong type
            (``retries``: a negative int too).

    Example:
        >>> with ManagedSession(timeout=Timeout(connect=3, read=10, total=60)) as s:
        ...     r = s.get("https://example.invalid/")  # doctest: +SKIP
    """

    __attrs__ = [*requests.Session.__attrs__, *_ATTRS]  # noqa: RUF012

    #: Record the whole stack (not just the file and line) of each streamed
    #: request, for ``ConnectionLeakWarning`` messages. Costs ~20x more.
    leak_tracebacks: bool = False

    def __init__(
        self,
        *,
        timeout: TimeoutTypes = None,
        limits: PoolLimits | None = None,
        policy: KeepAlivePolicy | None = None,
        retries: RetriesType = None,
        max_body_bytes: int | None = None,
    ) -> None:
        if _plain_session_init(self):
            _session_defaults(self)
        else:
            super().__init__()
        if limits is not None and not isinstance(limits, PoolLimits):
            raise TypeError(f"limits must be a PoolLimits or None, got {limits!r}")
        if policy is not None and not isinstance(policy, KeepAlivePolicy):
            raise TypeError(f"policy must be a KeepAlivePolicy or None, got {policy!r}")
        self._rm_timeout = Timeout.coerce(timeout)
        self._rm_limits = limits if limits is not None else _DEFAULT_LIMITS
        self._rm_policy = policy if policy is not None else _DEFAULT_POLICY
        self._rm_retries = _check_retries(retries)
        check_count("max_body_bytes", max_body_bytes, minimum=0, allow_none=True)
        self._rm_max_body = max_body_bytes
        self._rm_start(_leaks.code_site())

    def _rm_start(self, created_at: _leaks.CodeSite | None) -> None:
        """Mount the managed adapter and arm the finalizer (also after unpickling)."""
        adapter = ManagedAdapter(
            limits=self._rm_limits,
            policy=self._rm_policy,
            timeout=self._rm_timeout,
            retries=self._rm_retries,
        )
        self._rm_unmanaged: dict[str, str] = {}
        adapters = self.adapters
        if (
            not adapters
            and type(self).mount is ManagedSession.mount
            and _REQUESTS_SESSION.mount is _REQUESTS_MOUNT
        ):
            # What the two mount() calls below do to an empty mapping (the
            # state _session_defaults leaves): requests' mount() would also
            # scan the keys for shorter prefixes, and there are none.
            adapters["https://"] = adapter
            adapters["http://"] = adapter
        else:
            self.mount("https://", adapter)
            self.mount("http://", adapter)
        self._rm_adapter = adapter
        self._rm_env = EnvironmentCache()
        self._rm_prepared = _prepare.PrepareCache()
        self._rm_closed = False
        self._rm_finalizer = weakref.finalize(
            self, _close_unclosed, self.adapters, created_at
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        for attr, value in state.items():
            setattr(self, attr, value)
        adapters = self.adapters
        self._rm_start(None)
        # Keep adapters the user mounted (unpickled with the session). A copy:
        # mount() reorders self.adapters, which may be this very mapping.
        for prefix, adapter in list(adapters.items()):
            if not isinstance(adapter, ManagedAdapter):
                self.mount(prefix, adapter)

    def mount(self, prefix: str | bytes, adapter: BaseAdapter) -> None:
        """``requests.Session.mount``; the adapter's connections are managed.

        An ``HTTPAdapter`` (or subclass: ``CacheControlAdapter``, an adapter
        with its own ``Retry`` or ``ssl_context``) keeps its ``send()``,
        retries and TLS settings, and gets managed pools, proxies included:
        the session's deadline, limits, policy, stats and events hold for
        ``prefix``. An adapter that makes no urllib3 pools gets the session's
        timeout, and ``pool_stats().unmanaged`` names ``prefix`` and why.
        """
        super().mount(prefix, adapter)
        own = self.__dict__.get("_rm_adapter")
        if own is not None and adapter is not own:
            self._rm_manage(prefix, adapter)
        else:
            self.__dict__.get("_rm_unmanaged", {}).pop(prefix, None)

    def _rm_manage(self, prefix: str | bytes, adapter: BaseAdapter) -> None:
        if isinstance(prefix, bytes):
            prefix = prefix.decode("latin-1")
        reason = adopt(adapter, self._rm_adapter._rm_manager)
        self._rm_unmanaged.pop(prefix, None)
        if reason is not None:
            self._rm_unmanaged[prefix] = reason
            _log_unmanaged(prefix, reason)

    def _rm_owner(self, adapter: Any) -> Any:
        """The manager that manages ``adapter``'s connections, or the adapter."""
        own = self._rm_adapter
        if adapter is own:
            return own._rm_manager
        if adapter is None:
            return None
        if isinstance(adapter, ManagedAdapter):
            return adapter._rm_manager
        manager = own._rm_manager
        if not adopted_by(adapter, manager):
            # set by self.adapters[...] = ..., or its poolmanager replaced since
            for prefix, mounted in list(self.adapters.items()):
                if mounted is adapter:
                    self._rm_manage(prefix, adapter)
            if not adopted_by(adapter, manager):
                return adapter
        return manager

    def __repr__(self) -> str:
        state = "closed" if self._rm_closed else "open"
        return f"<{type(self).__name__} {state} timeout={self._rm_timeout!r}>"

    if TYPE_CHECKING:
        # For type checkers only (no runtime cost: requests' own methods run).
        # types-requests types ``timeout=`` as a float or a tuple; these
        # signatures add ``Timeout`` and ``urllib3.Timeout``, so that
        # ``session.get(url, timeout=Timeout(...))`` type-checks. Parameter
        # types are ours (see _types.py), hence the override ignores.
        def request(  # type: ignore[override]
            self,
            method: str | bytes,
            url: str | bytes,
            **kwargs: Unpack[RequestOptions],
        ) -> Response: ...

        def get(  # type: ignore[override]
            self,
            url: str | bytes,
            params: Params | None = None,
            **kwargs: Unpack[GetOptions],
        ) -> Response: ...

        def options(  # type: ignore[override]
            self, url: str | bytes, **kwargs: Unpack[RequestOptions]
        ) -> Response: ...

        def head(  # type: ignore[override]
            self, url: str | bytes, **kwargs: Unpack[RequestOptions]
        ) -> Response: ...

        def post(  # type: ignore[override]
            self,
            url: str | bytes,
            data: Data | None = None,
            json: object = None,
            **kwargs: Unpack[PostOptions],
        ) -> Response: ...

        def put(  # type: ignore[override]
            self,
            url: str | bytes,
            data: Data | None = None,
            **kwargs: Unpack[PutOptions],
        ) -> Response: ...

        def patch(  # type: ignore[override]
            self,
            url: str | bytes,
            data: Data | None = None,
            **kwargs: Unpack[PutOptions],
        ) -> Response: ...

        def delete(  # type: ignore[override]
            self, url: str | bytes, **kwargs: Unpack[RequestOptions]
        ) -> Response: ...

    else:

        def request(
            self,
            method: str | bytes,
            url: str | bytes,
            *args: Any,
            max_body_bytes: Any = _scope.NOT_GIVEN,
            **kwargs: Any,
        ) -> Response:
            # requests' own request(); max_body_bytes= travels to send() in a
            # context variable, since request() cannot pass it on.
            if max_body_bytes is _scope.NOT_GIVEN:
                return super().request(method, url, *args, **kwargs)
            check_count("max_body_bytes", max_body_bytes, minimum=0, allow_none=True)
            token = _scope.body_limit.set(max_body_bytes)
            try:
                return super().request(method, url, *args, **kwargs)
            finally:
                _scope.body_limit.reset(token)

    # -- the environment, read once per origin --------------------------------

    def refresh_environment(self) -> None:
        """Read proxy, ``no_proxy``, CA-bundle and netrc settings afresh.

        ``requests.Session`` rereads the process environment (and stats
        ``~/.netrc``) on every request; a ``ManagedSession`` reads it once per
        origin and keeps the answer. Call this after changing ``HTTP_PROXY``,
        ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``NETRC`` or
        the netrc file while the session is in use. ``trust_env = False`` is
        honoured at once, without a refresh.
        """
        self._rm_env.clear()
        self._rm_adapter._rm_tls.clear()

    def prepare_request(self, request: Request) -> PreparedRequest:
        """Same contract as ``requests.Session.prepare_request``.

        The same prepared request, with the netrc lookup cached per origin
        (see ``refresh_environment``) and without requests' slow generic
        merging.
        """
        return _prepare.prepare_request(self, request, self._rm_env, self._rm_prepared)

    def merge_environment_settings(
        self,
        url: Any,
        proxies: Any,
        stream: Any,
        verify: Any,
        cert: Any,
    ) -> _Settings:
        """Same contract as ``requests.Session.merge_environment_settings``.

        The environment's proxies and CA bundle come from a per-origin cache
        (see ``refresh_environment``); a request with proxies of its own is
        merged by requests' own code.
        """
        merged = _prepare.merge_environment_settings(
            self, self._rm_env, url, proxies, stream, verify, cert
        )
        if merged is None:
            return super().merge_environment_settings(
                url, proxies, stream, verify, cert
            )
        return cast("_Settings", merged)

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        """Send a ``PreparedRequest`` with the session's timeout and deadline.

        Same contract as ``requests.Session.send``; ``timeout=None`` (or no
        ``timeout``) means the session default. Redirects followed by this
        call share its deadline.

        Raises:
            SessionClosed: the session was closed.
            InvalidTimeout: ``timeout`` is not a valid timeout.
            DeadlineExceeded: the total deadline passed.
        """
        if self._rm_closed:
            raise SessionClosed(
                f"{self!r} is closed; create a new session", request=request
            )
        # The scope belongs to the manager of the adapter that will serve the
        # request. A redirect hop (requests' resolve_redirects sends with
        # allow_redirects=False) shares the scope of the send it belongs to;
        # anything else, a request from a hook included, gets its own.
        try:
            adapter: Any = self.get_adapter(cast(str, request.url))
        except requests.exceptions.InvalidSchema:
            adapter = None
        owner = self._rm_owner(adapter)
        scope = None
        if kwargs.get("allow_redirects", True) is False:
            scope = _scope.owned_by(owner)
        token = None
        if scope is None:
            timeout = Timeout.coerce(kwargs.get("timeout"), self._rm_timeout)
            limit = _scope.body_limit.get()
            scope = _scope.RequestScope(
                owner,
                timeout,
                Deadline(timeout.total),
                self._rm_max_body if limit is _scope.NOT_GIVEN else limit,  # type: ignore[arg-type]
            )
            token = _scope.enter(scope)
        timeout, deadline = scope.timeout, scope.deadline
        if "proxies" not in kwargs:
            # what Session.send would compute, without its environment scan
            kwargs["proxies"] = _prepare.resolve_proxies(self, self._rm_env, request)
        # Every adapter, ours or one mounted by the user (requests-mock...),
        # receives an explicit (connect, read) bound within the deadline.
        left = deadline.remaining()
        kwargs["timeout"] = (
            socket_phase(timeout.connect, left),
            socket_phase(timeout.read, left),
        )
        try:
            base_send = super().send
            if (
                adapter is None
                or type(request) is not PreparedRequest
                or getattr(base_send, "__func__", None) is not _prepare.SESSION_SEND
            ):
                # requests' send as it is now (patched by requests-mock...)
                response = base_send(request, **kwargs)
            else:  # requests' own send, with the adapter found above
                response = _prepare.send(self, request, adapter, **kwargs)
        except Exception as exc:
            # Our adapter has translated already; this is for the others.
            error = translate_send(exc, deadline, request)
            if error is None:
                raise
            raise error from exc
        finally:
            if token is not None:
                _scope.leave(token)
        if adapter is not self._rm_adapter and owner is not adapter:
            reason = own_pools(adapter, response.raw)
            if reason is not None:  # adopted, but its pools are its own
                for prefix, mounted in list(self.adapters.items()):
                    if mounted is adapter and prefix not in self._rm_unmanaged:
                        self._rm_unmanaged[prefix] = reason
                        _log_unmanaged(prefix, reason)
        if kwargs.get("stream"):
            _leaks.track(response.raw, self.leak_tracebacks)
        return response

    def close(self) -> None:
        """Close every idle connection now and each in-use one on release.

        Idempotent. Afterwards every request raises ``SessionClosed``.
        """
        if self._rm_closed:
            return
        self._rm_closed = True
        self._rm_finalizer.detach()
        # The manager first: the mounted adapters requests closes next (in
        # prefix order) retire their pools into a closed manager, so their
        # connections close as session-closed, not pool-evicted.
        self._rm_adapter.close()
        super().close()

    def pool_stats(self) -> PoolStats:
        """An immutable snapshot of this session's connections, per host and total.

        Connections of adapters mounted on the session (an ``HTTPAdapter``
        with retries of its own, ``CacheControl``'s) and through proxies are
        counted too; ``unmanaged`` names the mounted prefixes whose adapter
        cannot be managed, and why.
        """
        stats = self._rm_adapter.pool_stats()
        if self._rm_unmanaged:
            unmanaged = MappingProxyType(dict(self._rm_unmanaged))
            stats = dataclasses.replace(stats, unmanaged=unmanaged)
        return stats

    def subscribe(self, listener: ConnectionListener) -> Callable[[], None]:
        """Call ``listener(event)`` for every connection opened, reused or closed.

        Returns a function that unsubscribes it. With no listener subscribed,
        no event object is ever built.

        Raises:
            TypeError: ``listener`` is not callable.
        """
        if not callable(listener):
            raise TypeError(
                "listener must be a callable taking a ConnectionEvent, "
                f"got {listener!r}"
            )
        return self._rm_adapter._rm_manager.subscribe(listener)


# The defaults are immutable values: one instance serves every session.
_DEFAULT_LIMITS = PoolLimits()
_DEFAULT_POLICY = KeepAlivePolicy()

# requests.Session.__init__ as this module found it: it mounts two
# HTTPAdapters (each with a PoolManager and a Retry) that a ManagedSession
# replaces at once, which made creating a session 3x slower than
# requests.Session(). When nothing stands between ManagedSession and
# requests.Session in the MRO and nobody has patched that __init__, the same
# state is set here without the throwaway adapters; tests/test_seams.py checks
# it against requests' own, attribute by attribute.
# (Captured at import, before any install() patches that class's __new__.)
_REQUESTS_SESSION: type[requests.Session] = requests.Session
_REQUESTS_INIT = own_function(vars(_REQUESTS_SESSION)["__init__"], requests.sessions)
_REQUESTS_MOUNT = own_function(vars(_REQUESTS_SESSION)["mount"], requests.sessions)


# The helpers requests.Session.__init__ calls, looked up in requests.sessions
# at each call: patched (a test's or an app's defaults), requests' own
# __init__ runs.
_SESSIONS_MODULE: Any = requests.sessions
# (requests' own functions: one patched before this module was first
# imported is not taken for requests')
_DEFAULT_HEADERS = own_function(_SESSIONS_MODULE.default_headers, requests.utils)
_DEFAULT_HOOKS = own_function(_SESSIONS_MODULE.default_hooks, requests.hooks)
_COOKIEJAR_FROM_DICT = own_function(
    _SESSIONS_MODULE.cookiejar_from_dict, requests.cookies
)


def _plain_session_init(session: requests.Session) -> bool:
    mro = type(session).__mro__
    following = mro[mro.index(ManagedSession) + 1]
    sessions = _SESSIONS_MODULE
    return (
        following is _REQUESTS_SESSION
        and vars(_REQUESTS_SESSION).get("__init__") is _REQUESTS_INIT
        and sessions.default_headers is _DEFAULT_HEADERS
        and sessions.default_hooks is _DEFAULT_HOOKS
        and sessions.cookiejar_from_dict is _COOKIEJAR_FROM_DICT
    )


def _session_defaults(session: requests.Session) -> None:
    """What ``requests.Session.__init__`` sets, minus its two adapters."""
    session.headers = _default_headers()  # type: ignore[assignment]
    session.auth = None
    session.proxies = {}
    session.hooks = default_hooks()
    session.params = {}
    session.stream = False
    session.verify = True
    session.cert = None
    session.max_redirects = DEFAULT_REDIRECT_LIMIT
    session.trust_env = True
    # what cookiejar_from_dict({}) returns, without walking the empty jar
    session.cookies = RequestsCookieJar()
    session.adapters = OrderedDict()


# requests' default_headers() builds its CaseInsensitiveDict through
# MutableMapping.update, item by item: a quarter of what requests.Session()
# costs. The headers are always the same four strings, read from these two
# names of requests.utils; while neither is patched, a session gets a copy of
# the store of one default_headers() result (names and values are strings, so
# a shallow copy shares nothing mutable). tests/test_seams.py compares the two.
_TEMPLATE_HEADERS: CaseInsensitiveDict[str] = default_headers()
_TEMPLATE_SOURCES = (_utils.default_user_agent, _utils.DEFAULT_ACCEPT_ENCODING)


def _default_headers() -> CaseInsensitiveDict[str]:
    """Equal to ``requests.utils.default_headers()``, a new dict each time."""
    if (
        _utils.default_user_agent is not _TEMPLATE_SOURCES[0]
        or _utils.DEFAULT_ACCEPT_ENCODING is not _TEMPLATE_SOURCES[1]
    ):
        return default_headers()
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict.__new__(CaseInsensitiveDict)
    headers._store = _TEMPLATE_HEADERS._store.copy()  # type: ignore[attr-defined]
    return headers


# (prefix, reason) pairs logged so far: each is logged once per process.
_LOGGED: set[tuple[str, str]] = set()


def _log_unmanaged(prefix: str, reason: str) -> None:
    if (prefix, reason) in _LOGGED or len(_LOGGED) > 1000:
        return
    _LOGGED.add((prefix, reason))
    logger.debug("adapter mounted at %r is not managed: %s", prefix, reason)


def _check_retries(retries: object) -> RetriesType:
    # Checked here: urllib3 would only fail on the first error, with a
    # TypeError from deep inside its retry arithmetic.
    if retries is None or isinstance(retries, Retry):
        return retries
    if isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0:
        return retries
    raise TypeError(
        "retries must be a urllib3 Retry, an int >= 0 or None (no retries "
        f"beyond the one safe replay), got {retries!r}"
    )


def _close_unclosed(
    adapters: MutableMapping[str, BaseAdapter], created_at: _leaks.CodeSite | None
) -> None:
    # Silent, as requests.Session is, when the session holds no socket: only
    # a session dropped with connections open (idle or in use) leaked one.
    managers = {getattr(a, "_rm_manager", None) for a in adapters.values()}
    held = sum(m.open_connections for m in managers if m is not None)
    # our own adapters first (see ManagedSession.close)
    mounted = sorted(adapters.values(), key=lambda a: not isinstance(a, ManagedAdapter))
    for adapter in mounted:
        adapter.close()
    if held == 0:
        return
    site = None if created_at is None else _leaks.site_of(created_at)
    where = "unpickled" if site is None else f"created at {site}"
    plural = "connection" if held == 1 else "connections"
    message = ResourceWarning(
        f"unclosed ManagedSession {where} still held {held} open {plural}; "
        "they were closed. Use `with ManagedSession() as s:` or call s.close()."
    )
    if site is None:
        warnings.warn(message, stacklevel=2)
    else:
        # Attributed to the line that created the session, so warning
        # filters (and the report) point at the user's code.
        warnings.warn_explicit(message, ResourceWarning, site.filename, site.lineno)
