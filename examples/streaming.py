"""A streamed download, released by a context manager even on error."""

from _server import serve

from requests_managed import ManagedSession, Timeout

with serve() as base, ManagedSession(timeout=Timeout(total=60)) as session:
    received = 0
    with session.get(f"{base}/download", stream=True) as response:
        for chunk in response.iter_content(65536):
            received += len(chunk)
    print(f"downloaded {received} bytes")
    # Leaving early: a small rest is drained and the connection reused,
    # a large one is closed without reading it.
    with session.get(f"{base}/download", stream=True) as response:
        response.raw.read(1024)
    total = session.pool_stats().total
    closed = {reason.value: n for reason, n in total.closed.items()}
    print(f"connections opened {total.opened}, closed {closed}")
