"""Subclassing ManagedSession in an existing application.

Many applications already have a client class built on requests.Session: a
base URL, an auth header, errors raised for bad statuses. Changing its base
class to ManagedSession is all it takes; the overrides keep working because
they call super(), and every request gets the timeouts and the managed pool.

Run: python examples/subclassing.py
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import requests
from _server import serve

from requests_managed import ManagedSession, PoolLimits, Timeout


class ApiClient(ManagedSession):  # was: class ApiClient(requests.Session)
    """The application's client for one API: base URL, token, error statuses."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(
            timeout=Timeout(connect=3, read=10, total=30),
            limits=PoolLimits(max_per_host=4),
        )
        # Plain attribute names are the subclass's own: the library keeps its
        # state under names starting with _rm_.
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.headers["Authorization"] = f"Bearer {token}"
        self.headers["User-Agent"] = "inventory-app/2.1"
        self.hooks["response"].append(self._raise_for_status)

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        # Paths are relative to the API's base URL; call super() as usual.
        if isinstance(url, bytes):
            url = url.decode()
        return super().request(method, urljoin(self.base_url, url), *args, **kwargs)

    @staticmethod
    def _raise_for_status(response: requests.Response, **kwargs: Any) -> None:
        response.raise_for_status()

    def item(self, item_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"items/{item_id}").json()
        return result


with serve() as base, ApiClient(f"{base}/", token="s3cr3t") as api:
    print(api)  # still a ManagedSession, with the subclass's timeout
    print("is a requests.Session:", isinstance(api, requests.Session))

    for item_id in (1, 2, 3):
        print("item:", api.item(item_id))

    sent = api.get("headers").json()["headers"]
    print("sent Authorization:", sent["Authorization"])
    print("sent User-Agent:", sent["User-Agent"])

    try:
        api.get("status/404")
    except requests.HTTPError as exc:
        print("error status:", exc.response.status_code)

    # The management applies to the subclass: a per-request timeout, too.
    try:
        api.get("slow/report", timeout=0.005)
    except requests.ReadTimeout:
        print("slow reply: ReadTimeout")

    stats = api.pool_stats().for_url(base)
    print(
        f"{stats.requests} requests over {stats.opened} connection(s), "
        f"{stats.reuses} reused"
    )
