"""Streamed downloads with a context manager, and what leaving early costs.

A `with session.get(..., stream=True) as response:` block releases the
connection on exit, also when the body was not read to the end: a small
rest (up to KeepAlivePolicy.drain_limit, 64 KiB by default) is read and
discarded so the connection can be reused; a large one is not read, and the
connection is closed instead.

Run: python examples/streaming.py
"""

from _server import serve

from requests_managed import ManagedSession, Timeout


def report(session: ManagedSession, base: str, step: str) -> None:
    stats = session.pool_stats().for_url(base)
    closed = {reason.value: n for reason, n in stats.closed.items()} or "none"
    print(
        f"  after {step}: requests {stats.requests}, connections opened "
        f"{stats.opened}, idle {stats.idle}, closed {closed}"
    )


# The total deadline bounds each download, body included; set it generously.
timeout = Timeout(connect=5, read=10, total=60)

with serve() as base, ManagedSession(timeout=timeout) as session:
    received = 0
    with session.get(f"{base}/bytes/1000000", stream=True) as response:
        for chunk in response.iter_content(chunk_size=65536):
            received += len(chunk)  # write to a file here
    print(f"downloaded {received:,} bytes")
    report(session, base, "a full download")

    # Leave early with 19,000 bytes unread: drained, the connection is kept.
    with session.get(f"{base}/bytes/20000", stream=True) as response:
        head = response.raw.read(1000)
    print(f"read the first {len(head)} of 20,000 bytes")
    report(session, base, "leaving early, small rest")

    # Leave early with ~1 MB unread: not worth reading, the connection closes.
    with session.get(f"{base}/bytes/1000000", stream=True) as response:
        head = response.raw.read(1000)
    print(f"read the first {len(head)} of 1,000,000 bytes")
    report(session, base, "leaving early, large rest")
