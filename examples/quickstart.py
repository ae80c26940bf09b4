"""Quickstart: a ManagedSession with explicit timeouts, reused connections."""

from _server import serve

from requests_managed import ManagedSession, Timeout

with serve() as base, ManagedSession(timeout=Timeout(connect=3, read=10)) as session:
    for n in range(5):
        print(session.get(f"{base}/items/{n}").json())
    stats = session.pool_stats().for_url(base)
    print(f"{stats.requests} requests over {stats.opened} connection(s)")
