"""New HTTPS connections: ManagedSession (one SSLContext per configuration)
against requests.Session (a new context and a CA load per connection).

    python benchmarks/tls_connections.py [--connections N]

The benchmark server (``benchserver.py``, in its own process; certificate
from trustme) answers every request with ``Connection: close``, so every
request opens a new TLS connection. The CA bundle is certifi's with the test
CA appended, as ``verify=True`` would load it. Prints, per new connection,
the client's CPU milliseconds and the wall-clock milliseconds (medians of
interleaved rounds; the server's side of the handshake runs in the other
process, so the CPU figure is the client's alone) and the ratios. Needs
``pip install -e '.[test]'`` (trustme).
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import certifi
import requests
import trustme
from benchserver import BenchServer

from requests_managed import ManagedSession


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=40, metavar="N")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ca = trustme.CA()
    times: dict[str, list[tuple[float, float]]] = {
        "requests.Session": [],
        "ManagedSession": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        bundle = pathlib.Path(folder) / "bundle.pem"
        bundle.write_bytes(
            pathlib.Path(certifi.where()).read_bytes() + ca.cert_pem.bytes()
        )
        pem = pathlib.Path(folder) / "server.pem"
        cert = ca.issue_cert("localhost", "127.0.0.1")
        cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
        with BenchServer(tls_cert=str(pem)) as server:
            url = server.tls_url("/close")
            for _ in range(args.rounds):
                for name, make in (
                    ("requests.Session", requests.Session),
                    ("ManagedSession", ManagedSession),
                ):
                    with make() as session:
                        session.trust_env = False
                        cpu, wall = time.process_time(), time.perf_counter()
                        for _ in range(args.connections):
                            session.get(url, verify=str(bundle)).raise_for_status()
                        cpu = time.process_time() - cpu
                        wall = time.perf_counter() - wall
                    n = args.connections
                    times[name].append((cpu / n * 1000, wall / n * 1000))
    plain_cpu = statistics.median(c for c, _ in times["requests.Session"])
    plain_wall = statistics.median(w for _, w in times["requests.Session"])
    cpu = statistics.median(c for c, _ in times["ManagedSession"])
    wall = statistics.median(w for _, w in times["ManagedSession"])
    print("New TLS connection + GET; CA bundle: certifi's and the test CA")
    print("| client | CPU ms | wall ms | CPU vs requests | wall vs requests |")
    print("|---|---:|---:|---:|---:|")
    print(f"| requests.Session | {plain_cpu:.2f} | {plain_wall:.2f} | 1.00x | 1.00x |")
    print(
        f"| ManagedSession | {cpu:.2f} | {wall:.2f} | {plain_cpu / cpu:.1f}x less "
        f"| {plain_wall / wall:.1f}x less |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
