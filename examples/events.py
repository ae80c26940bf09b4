"""Lifecycle events for metrics, and DEBUG logs with the reason for each close."""

import collections
import logging

from _server import serve

from requests_managed import ConnectionEvent, KeepAlivePolicy, ManagedSession

logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
logging.getLogger("requests_managed").setLevel(logging.DEBUG)

counts: collections.Counter[str] = collections.Counter()


def count(event: ConnectionEvent) -> None:
    label = event.kind.value + (f" ({event.reason.value})" if event.reason else "")
    counts[label] += 1


with serve() as base, ManagedSession(policy=KeepAlivePolicy(max_requests=3)) as session:
    unsubscribe = session.subscribe(count)
    for n in range(7):
        session.get(f"{base}/items/{n}")
    unsubscribe()
print(dict(counts))
