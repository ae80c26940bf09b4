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

from typing import TYPE_CHECKING, Any, cast

from requests import Response

from ._session import ManagedSession
from ._types import Data, GetOptions, Params, PostOptions, PutOptions, RequestOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["delete", "get", "head", "options", "patch", "post", "put", "request"]


def request(
    method: str | bytes, url: str | bytes, **kwargs: Unpack[RequestOptions]
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
    url: str | bytes, params: Params | None = None, **kwargs: Unpack[GetOptions]
) -> Response:
    """Send a GET request (see ``request``)."""
    return request("GET", url, params=params, **kwargs)


def options(url: str | bytes, **kwargs: Unpack[RequestOptions]) -> Response:
    """Send an OPTIONS request (see ``request``)."""
    return request("OPTIONS", url, **kwargs)


def head(url: str | bytes, **kwargs: Unpack[RequestOptions]) -> Response:
    """Send a HEAD request (see ``request``); redirects are not followed by default."""
    kwargs.setdefault("allow_redirects", False)
    return request("HEAD", url, **kwargs)


def post(
    url: str | bytes,
    data: Data | None = None,
    json: object = None,
    **kwargs: Unpack[PostOptions],
) -> Response:
    """Send a POST request (see ``request``)."""
    return request("POST", url, data=data, json=json, **kwargs)


def put(
    url: str | bytes, data: Data | None = None, **kwargs: Unpack[PutOptions]
) -> Response:
    """Send a PUT request (see ``request``)."""
    return request("PUT", url, data=data, **kwargs)


def patch(
    url: str | bytes, data: Data | None = None, **kwargs: Unpack[PutOptions]
) -> Response:
    """Send a PATCH request (see ``request``)."""
    return request("PATCH", url, data=data, **kwargs)


def delete(url: str | bytes, **kwargs: Unpack[RequestOptions]) -> Response:
    """Send a DELETE request (see ``request``)."""
    return request("DELETE", url, **kwargs)
