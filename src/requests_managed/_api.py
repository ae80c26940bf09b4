"""Module-level ``get`` / ``post`` / ... helpers, like requests' own.

Each call makes a one-shot ``ManagedSession`` (default configuration) and
closes it before returning, as ``requests.api`` does. Closing closes the idle
connection at once; a ``stream=True`` response keeps its connection until it
is read to the end, closed or collected, and the connection is closed then,
never returned to a pool.

The keyword arguments are requests', typed as ``TypedDict``\\ s so that a type
checker checks each one by name; ``timeout=`` also takes a ``Timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http.cookiejar import CookieJar
from typing import IO, TYPE_CHECKING, Any, TypedDict, cast

from requests import PreparedRequest, Response
from requests.auth import AuthBase

from ._session import ManagedSession
from ._timeouts import TimeoutTypes

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["delete", "get", "head", "options", "patch", "post", "put", "request"]

# The forms requests accepts for each argument (see requests.Session.request).
_Params = Mapping[str, object] | Iterable[tuple[str, object]] | str | bytes
_Data = (
    str
    | bytes
    | Mapping[str, object]
    | Iterable[tuple[object, object]]
    | Iterable[bytes]
    | IO[bytes]
    | IO[str]
)
_Headers = Mapping[str, str | bytes | None]
_Cookies = CookieJar | Mapping[str, str]
_Files = Mapping[str, object] | Iterable[tuple[str, object]]
_Auth = tuple[str, str] | AuthBase | Callable[[PreparedRequest], PreparedRequest]
_Hook = Callable[[Response], object]
_Hooks = Mapping[str, _Hook | Iterable[_Hook]]
_Cert = str | tuple[str, str]


class _Options(TypedDict, total=False):
    """Keyword arguments every helper takes."""

    headers: _Headers | None
    cookies: _Cookies | None
    files: _Files | None
    auth: _Auth | None
    timeout: TimeoutTypes
    allow_redirects: bool
    proxies: Mapping[str, str] | None
    hooks: _Hooks | None
    stream: bool | None
    verify: bool | str | None
    cert: _Cert | None


class _WithParams(_Options, total=False):
    params: _Params | None


class _WithData(_Options, total=False):
    data: _Data | None


class _WithJson(_Options, total=False):
    json: object


class _GetOptions(_WithData, _WithJson, total=False):
    """``get(url, params, **options)``."""


class _PostOptions(_WithParams, total=False):
    """``post(url, data, json, **options)``."""


class _PutOptions(_WithParams, _WithJson, total=False):
    """``put`` / ``patch(url, data, **options)``."""


class _RequestOptions(_WithParams, _WithData, _WithJson, total=False):
    """``request(method, url, **options)``, ``head``, ``options``, ``delete``."""


def request(
    method: str | bytes, url: str | bytes, **kwargs: Unpack[_RequestOptions]
) -> Response:
    """Send one request through a one-shot ``ManagedSession`` and close it.

    Same arguments as ``requests.request``; ``timeout=None`` (or none given)
    means ``Timeout()``: connect 5 s, read 30 s, total 300 s. The connection
    is closed, not kept: for repeated requests use a ``ManagedSession``.

    Args:
        method: The HTTP method, e.g. ``"GET"``.
        url: The URL.
        **kwargs: ``params``, ``data``, ``json``, ``headers``, ``cookies``,
            ``files``, ``auth``, ``timeout``, ``allow_redirects``,
            ``proxies``, ``hooks``, ``stream``, ``verify``, ``cert``, as for
            ``requests.request``.

    Returns:
        The ``requests.Response``. With ``stream=True``, read or close it
        (``with requests_managed.get(url, stream=True) as r:``); its
        connection closes when you do.

    Raises:
        InvalidTimeout: ``timeout`` is not a valid timeout.
        requests.RequestException: what requests raises, e.g. ``ConnectTimeout``,
            ``ReadTimeout``, ``ConnectionError``; ``DeadlineExceeded`` when the
            total deadline passes.

    Example:
        >>> r = request("GET", "https://example.invalid/", timeout=10)  # doctest: +SKIP
    """
    # requests.Session.request's own annotations (types-requests) do not
    # know our Timeout; the TypedDicts above already checked every argument.
    arguments = cast("dict[str, Any]", kwargs)
    with ManagedSession() as session:
        return session.request(method=method, url=url, **arguments)


def get(
    url: str | bytes, params: _Params | None = None, **kwargs: Unpack[_GetOptions]
) -> Response:
    """Send a GET request (see ``request``)."""
    return request("GET", url, params=params, **kwargs)


def options(url: str | bytes, **kwargs: Unpack[_RequestOptions]) -> Response:
    """Send an OPTIONS request (see ``request``)."""
    return request("OPTIONS", url, **kwargs)


def head(url: str | bytes, **kwargs: Unpack[_RequestOptions]) -> Response:
    """Send a HEAD request (see ``request``); redirects are not followed by default."""
    kwargs.setdefault("allow_redirects", False)
    return request("HEAD", url, **kwargs)


def post(
    url: str | bytes,
    data: _Data | None = None,
    json: object = None,
    **kwargs: Unpack[_PostOptions],
) -> Response:
    """Send a POST request (see ``request``)."""
    return request("POST", url, data=data, json=json, **kwargs)


def put(
    url: str | bytes, data: _Data | None = None, **kwargs: Unpack[_PutOptions]
) -> Response:
    """Send a PUT request (see ``request``)."""
    return request("PUT", url, data=data, **kwargs)


def patch(
    url: str | bytes, data: _Data | None = None, **kwargs: Unpack[_PutOptions]
) -> Response:
    """Send a PATCH request (see ``request``)."""
    return request("PATCH", url, data=data, **kwargs)


def delete(url: str | bytes, **kwargs: Unpack[_RequestOptions]) -> Response:
    """Send a DELETE request (see ``request``)."""
    return request("DELETE", url, **kwargs)
