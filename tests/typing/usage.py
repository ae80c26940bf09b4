"""Code as users write it, checked by ``mypy --strict`` in CI (never run).

It must type-check cleanly: a ``Timeout`` is accepted wherever requests
accepts a ``timeout=``, and the rest of the requests API is unchanged.
"""

from __future__ import annotations

import requests
import urllib3

import requests_managed
from requests_managed import KeepAlivePolicy, ManagedSession, PoolLimits, Timeout


def fetch(url: str) -> bytes:
    with ManagedSession(
        timeout=Timeout(connect=3, read=10, total=60),
        limits=PoolLimits(max_per_host=8),
        policy=KeepAlivePolicy(idle_timeout=10),
    ) as session:
        session.get(url, timeout=Timeout(connect=1, read=2))
        session.get(url, params={"q": "x"}, timeout=(3.05, 27))
        session.post(url, json={"a": 1}, timeout=5)
        session.put(url, data=b"x", timeout=urllib3.Timeout(connect=1, read=None))
        session.request("DELETE", url, headers={"X-A": "b"}, timeout=None)
        with session.get(url, stream=True) as response:
            chunks = list(response.iter_content(65536))
        stats = session.pool_stats()
        assert stats.total.opened >= 0
    return b"".join(chunks)


def legacy(session: requests.Session, url: str) -> int:
    # A ManagedSession is a requests.Session.
    return session.get(url, timeout=5).status_code


def module_helpers(url: str) -> int:
    response = requests_managed.get(url, timeout=Timeout(read=5))
    legacy(ManagedSession(), url)
    return response.status_code
