"""Threads sharing one session; pool_stats() afterwards, with close reasons."""

from concurrent.futures import ThreadPoolExecutor

from _server import serve

from requests_managed import KeepAlivePolicy, ManagedSession, PoolLimits

limits = PoolLimits(max_idle_per_host=2, max_per_host=4)
policy = KeepAlivePolicy(max_requests=20)
with serve() as base, ManagedSession(limits=limits, policy=policy) as session:
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda i: session.get(f"{base}/slow/{i}").status_code, range(100))
        )
    print(f"{codes.count(200)} of {len(codes)} requests OK")
    for (scheme, host, port), stats in session.pool_stats().hosts.items():
        print(f"{scheme}://{host}:{port}")
        print(
            f"  opened {stats.opened}, requests {stats.requests}, reused {stats.reuses}"
        )
        print(f"  waited at the limit {stats.waits} times; idle now {stats.idle}")
        for reason, count in stats.closed.items():
            print(f"  closed ({reason.value}): {count}")
