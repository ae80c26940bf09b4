"""Threads sharing one session across two hosts; pool_stats() per host afterwards.

Eight threads send 200 requests to two loopback servers (two origins). At most
three connections per host are open at once, so the threads wait for each
other instead of opening more; two idle connections per host are kept, and
each connection is retired after 20 requests.

Run: python examples/pool_stats.py
"""

from concurrent.futures import ThreadPoolExecutor

from _server import serve

from requests_managed import KeepAlivePolicy, ManagedSession, PoolLimits

limits = PoolLimits(max_idle_per_host=2, max_per_host=3)
policy = KeepAlivePolicy(max_requests=20)

with (
    serve() as first,
    serve() as second,
    ManagedSession(limits=limits, policy=policy) as session,
):
    urls = [f"{(first, second)[i % 2]}/slow/{i}" for i in range(200)]

    def fetch(url: str) -> int:
        return session.get(url).status_code

    with ThreadPoolExecutor(max_workers=8) as executor:
        codes = list(executor.map(fetch, urls))
    print(f"{codes.count(200)} of {len(codes)} requests returned 200\n")

    stats = session.pool_stats()
    for (scheme, host, port), host_stats in stats.hosts.items():
        print(f"{scheme}://{host}:{port}")
        print(
            f"  connections opened {host_stats.opened}, open now {host_stats.open} "
            f"({host_stats.idle} idle, {host_stats.in_use} in use)"
        )
        print(
            f"  requests {host_stats.requests}, reused a connection "
            f"{host_stats.reuses} times ({host_stats.reuse_ratio:.0%})"
        )
        print(f"  waited at max_per_host {host_stats.waits} times")
        for reason, count in sorted(
            host_stats.closed.items(), key=lambda item: item[0].value
        ):
            print(f"  closed, {reason.value}: {count}")

    total = stats.total
    print(
        f"\nall hosts: {total.opened} connections for {total.requests} requests, "
        f"{total.closed_total} closed, {total.open} still open"
    )
