"""Quickstart: one ManagedSession, timeouts on every request, reused connections.

Run: python examples/quickstart.py
"""

import requests
from _server import serve

from requests_managed import ManagedSession, Timeout

with serve() as base, ManagedSession(timeout=Timeout(connect=3, read=10)) as session:
    print(session)  # the session's default timeout, total included

    for n in range(5):
        item = session.get(f"{base}/items/{n}").json()
        print("got", item)

    # A request can set its own bound; a slow reply then fails instead of hanging.
    try:
        session.get(f"{base}/slow/report", timeout=0.005)
    except requests.ReadTimeout as exc:
        print("slow reply:", type(exc).__name__)

    stats = session.pool_stats().for_url(base)
    print(
        f"{stats.requests} requests over {stats.opened} connection(s), "
        f"{stats.reuses} reused"
    )
    print("closed:", {reason.value: n for reason, n in stats.closed.items()})
