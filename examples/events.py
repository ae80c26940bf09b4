"""Connection events for metrics, and DEBUG logs with the reason for each close.

A listener passed to session.subscribe() is called for every connection the
session opens, reuses and closes. The same events are logged at DEBUG on the
"requests_managed" logger (to stdout here, so the order stays readable). Each
connection is retired after three requests, so there are closes to see.

Run: python examples/events.py
"""

import collections
import logging
import sys

from _server import serve

from requests_managed import ConnectionEvent, KeepAlivePolicy, ManagedSession

logging.basicConfig(
    level=logging.WARNING,
    format="%(levelname)s %(name)s: %(message)s",
    stream=sys.stdout,
)
logging.getLogger("requests_managed").setLevel(logging.DEBUG)

counts: collections.Counter[str] = collections.Counter()


def count(event: ConnectionEvent) -> None:
    """Count events by kind, and closes by reason. Keep listeners this quick."""
    label = event.kind.value
    if event.reason is not None:
        label += f" ({event.reason.value})"
    counts[label] += 1


with serve() as base:
    with ManagedSession(policy=KeepAlivePolicy(max_requests=3)) as session:
        unsubscribe = session.subscribe(count)
        for n in range(7):
            session.get(f"{base}/items/{n}")
    # Leaving the block closed the session; its last connection's close was
    # counted too. Unsubscribe when the listener is no longer wanted.
    unsubscribe()

print("\nevents for 7 requests, at most 3 per connection:")
for label, n in sorted(counts.items()):
    print(f"  {label}: {n}")
