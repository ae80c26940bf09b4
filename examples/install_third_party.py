"""install(): managed sessions for code you do not control.

`third_party_fetch` stands for a library that calls `requests.get(url)` with
no timeout. While `requests_managed.installed(...)` is active, every
`requests.Session` it creates, including the one behind `requests.get`, is a
ManagedSession with the installed timeout, so a server that never answers
costs half a second instead of forever. On leaving the block, requests is
plain requests again.

Run: python examples/install_third_party.py
"""

import socket
import time

import requests
from _server import serve

import requests_managed
from requests_managed import Timeout


def third_party_fetch(url: str) -> object:
    """Library code you cannot change: no timeout anywhere."""
    return requests.get(url).json()


original = requests.Session

# A listener that never accepts: connecting works, no answer ever comes.
with serve() as base, socket.create_server(("127.0.0.1", 0)) as silent:
    silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/"

    with requests_managed.installed(timeout=Timeout(connect=2, read=0.5, total=10)):
        with requests.Session() as session:
            print(f"requests.Session() is now {session!r}")
        print(f"third_party_fetch: {third_party_fetch(f'{base}/items/1')}")

        started = time.monotonic()
        try:
            third_party_fetch(silent_url)
        except requests.Timeout as exc:
            elapsed = time.monotonic() - started
            print(f"silent server: {type(exc).__name__} after {elapsed:.1f} s")
        else:
            raise SystemExit("expected a timeout from the silent server")

    with requests.Session() as after:
        restored = type(after) is original
    print(f"after the block, requests.Session() is plain again: {restored}")

    # The module-level helpers need no install(): one managed request each.
    response = requests_managed.get(f"{base}/items/2", timeout=5)
    print(f"requests_managed.get: {response.status_code} {response.json()}")
