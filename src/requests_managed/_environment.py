"""What requests reads from the environment, resolved once per session and origin.

``requests.Session`` rescans the process environment on every request: the
proxy variables (``os.environ`` walked twice, through
``urllib.request.getproxies_environment`` and ``proxy_bypass_environment``),
``no_proxy`` matched against the host, ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE``, and a ``stat`` of ``~/.netrc`` and ``~/_netrc``. On a
loopback benchmark that is about a third of a small request's CPU, and it
grows with the size of the environment.

The answers depend only on the environment and on the request's origin
(scheme, host and port; userinfo is part of the key, harmlessly). So an
:class:`EnvironmentCache` asks requests' own functions once per origin and
keeps the answers until :meth:`EnvironmentCache.clear` (public as
``ManagedSession.refresh_environment()``). The cache is per session and
bounded; it never decides anything requests would decide differently, it
only decides less often.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import requests.sessions

__all__ = ["EnvironmentCache", "origin_of"]

# A session that talks to very many hosts (a crawler) must not grow without
# bound; past this many origins the cache starts again.
_MAX_ORIGINS = 1024
_UNSET: Any = object()


def origin_of(url: str | bytes) -> str:
    """``scheme://netloc`` of ``url``, lowercased; cheap, no full URL parse.

    Two URLs with the same origin string have the same hostname and port, so
    everything requests derives from the environment for one holds for the
    other. Memoised: one request asks up to three times about one URL.
    """
    if isinstance(url, bytes):  # requests accepts bytes URLs here too
        url = url.decode("utf-8")
    found = _origins.get(url)
    if found is None:
        found = _origin(url)
        if len(_origins) >= _MAX_ORIGINS:
            _origins.clear()
        _origins[url] = found
    return found


def _origin(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.lower()
    end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if 0 <= index < end:
            end = index
    return f"{scheme}://{rest[:end]}".lower()


# Process-wide: a pure function's answers, bounded; safe to share.
_origins: dict[str, str] = {}


class EnvironmentCache:
    """Environment-derived settings of one session, per origin.

    Thread-safe: a lost race computes the same answer twice, never a wrong
    one, so lookups take no lock; only the bounded reset does.
    """

    __slots__ = ("_ca_bundle", "_lock", "_netrc", "_proxies")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proxies: dict[str, dict[str, str]] = {}
        self._netrc: dict[str, tuple[str, str] | None] = {}
        self._ca_bundle: str | None = _UNSET

    def clear(self) -> None:
        """Forget everything; the next request reads the environment again."""
        with self._lock:
            self._proxies = {}
            self._netrc = {}
            self._ca_bundle = _UNSET

    def proxies(self, url: str | bytes) -> dict[str, str]:
        """The proxies the environment gives ``url`` (``{}`` when bypassed).

        Exactly ``requests.utils.get_environ_proxies(url, no_proxy=None)``;
        callers must not mutate the returned dict.
        """
        key = origin_of(url)
        found = self._proxies.get(key)
        if found is None:
            # Looked up where requests.Session looks it up, at call time, so
            # that patching requests.sessions (as tests do) works as there.
            found = requests.sessions.get_environ_proxies(url, no_proxy=None)
            self._store(self._proxies, key, found)
        return found

    def netrc_auth(self, url: str | bytes) -> tuple[str, str] | None:
        """Exactly ``requests.utils.get_netrc_auth(url)``, once per origin."""
        key = origin_of(url)
        table = self._netrc
        if key in table:
            return table[key]
        found = requests.sessions.get_netrc_auth(url)
        self._store(table, key, found)
        return found

    def ca_bundle(self) -> str | None:
        """``REQUESTS_CA_BUNDLE`` or else ``CURL_CA_BUNDLE`` (empty means unset)."""
        found = self._ca_bundle
        if found is _UNSET:
            found = (
                os.environ.get("REQUESTS_CA_BUNDLE")
                or os.environ.get("CURL_CA_BUNDLE")
                or None
            )
            self._ca_bundle = found
        return found

    def _store(self, table: dict[str, Any], key: str, value: Any) -> None:
        if len(table) >= _MAX_ORIGINS:
            with self._lock:
                table.clear()
        table[key] = value
