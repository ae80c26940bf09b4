"""New HTTPS connections: ManagedSession (one SSLContext per configuration)
against requests.Session (a new context and a CA load per connection).

    python benchmarks/tls_connections.py [--connections N]

A loopback TLS server (certificate from trustme) answers every request with
``Connection: close``, so every request opens a new TLS connection. The CA
bundle is certifi's with the test CA appended, as ``verify=True`` would load
it. Prints milliseconds per new connection (CPU time of this process, the
median of interleaved rounds) and the ratio. Needs ``pip install -e
'.[test]'`` (trustme).
"""

from __future__ import annotations

import argparse
import pathlib
import ssl
import statistics
import sys
import tempfile
import time

import certifi
import requests
import trustme

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))

from requests_managed import ManagedSession
from tests.server import Reply, Server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=40, metavar="N")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    with tempfile.TemporaryDirectory() as folder:
        bundle = pathlib.Path(folder) / "bundle.pem"
        bundle.write_bytes(
            pathlib.Path(certifi.where()).read_bytes() + ca.cert_pem.bytes()
        )
        reply = Reply(body=b"ok", close=True)
        with Server(lambda r: reply, ssl_context=context) as server:
            times: dict[str, list[float]] = {
                "requests.Session": [],
                "ManagedSession": [],
            }
            for _ in range(args.rounds):
                for name, make in (
                    ("requests.Session", requests.Session),
                    ("ManagedSession", ManagedSession),
                ):
                    with make() as session:
                        session.trust_env = False
                        start = time.process_time()
                        for _ in range(args.connections):
                            session.get(
                                server.url, verify=str(bundle)
                            ).raise_for_status()
                        elapsed = time.process_time() - start
                    times[name].append(elapsed / args.connections * 1000)
    plain = statistics.median(times["requests.Session"])
    managed = statistics.median(times["ManagedSession"])
    print("New TLS connection + GET; CA bundle: certifi's and the test CA")
    print("| client | CPU ms per connection | vs requests.Session |")
    print("|---|---:|---:|")
    print(f"| requests.Session | {plain:.2f} | 1.00x |")
    print(f"| ManagedSession | {managed:.2f} | {plain / managed:.1f}x less |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
