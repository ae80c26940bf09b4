"""The forms users pass, typed once: requests' keyword arguments, plus ours.

Used by the module-level helpers (``_api.py``) and by ``ManagedSession``'s
type-checking signatures, so that ``session.get(url, timeout=Timeout(...))``
type-checks as well as it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http.cookiejar import CookieJar
from typing import IO, TypedDict

from requests import PreparedRequest, Response
from requests.auth import AuthBase

from ._timeouts import TimeoutTypes

__all__ = [
    "Data",
    "GetOptions",
    "Params",
    "PostOptions",
    "PutOptions",
    "RequestOptions",
]

# The forms requests accepts for each argument (see requests.Session.request).
Params = Mapping[str, object] | Iterable[tuple[str, object]] | str | bytes
Data = (
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
    max_body_bytes: int | None


class _WithParams(_Options, total=False):
    params: Params | None


class _WithData(_Options, total=False):
    data: Data | None


class _WithJson(_Options, total=False):
    json: object


class GetOptions(_WithData, _WithJson, total=False):
    """``get(url, params, **options)``."""


class PostOptions(_WithParams, total=False):
    """``post(url, data, json, **options)``."""


class PutOptions(_WithParams, _WithJson, total=False):
    """``put`` / ``patch(url, data, **options)``."""


class RequestOptions(_WithParams, _WithData, _WithJson, total=False):
    """``request(method, url, **options)``, ``head``, ``options``, ``delete``."""
