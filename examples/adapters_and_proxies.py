"""Nothing bypasses the management: a mounted HTTPAdapter, a proxy, and what is named.

Three things a ManagedSession manages beyond its own adapter, each visible in
pool_stats():

1. an HTTPAdapter mounted with a Retry of its own: its send() and its Retry
   stay, its connections go through the session's managed pools (the retries
   are counted as requests on one reused connection);
2. requests sent through a forward proxy (proxies=, or HTTP_PROXY), here by
   that mounted adapter: counted under the proxy's origin, one kept-alive
   connection to it;
3. an adapter that makes no urllib3 pools (here a tiny one for static://
   URLs): it still gets the session's timeout, and pool_stats().unmanaged
   names its prefix and why.

The example starts its own loopback server and a tiny forward proxy.

Run: python examples/adapters_and_proxies.py
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from _server import serve
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3.util import Retry

from requests_managed import ManagedSession, Timeout


class ForwardProxy:
    """A minimal HTTP forward proxy on loopback, for plain http:// URLs.

    For each request in absolute form (``GET http://host:port/path``) it
    forwards an origin-form request to that origin over a connection it
    keeps per client connection, and relays the response (the example
    server always sends a Content-Length). Loopback only.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.client_connections = 0
        self.forwarded: list[str] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def close(self) -> None:
        self._listener.close()
        for thread in [self._accepting, *self._threads]:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            self.client_connections += 1
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        with contextlib.ExitStack() as stack:
            stack.enter_context(client)
            from_client = stack.enter_context(client.makefile("rb"))
            from_upstream = None
            while True:
                request_line = from_client.readline()
                if not request_line.strip():
                    return  # the client closed its connection
                method, target, version = request_line.decode("latin-1").split()
                url = urlsplit(target)
                if url.hostname not in ("127.0.0.1", "localhost"):
                    client.sendall(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
                    )
                    return
                headers = []
                while (line := from_client.readline()) not in (b"\r\n", b"\n", b""):
                    if not line.lower().startswith(b"proxy-"):
                        headers.append(line)
                self.forwarded.append(f"{method} {target}")
                if upstream is None:
                    upstream = socket.create_connection((url.hostname, url.port))
                    stack.enter_context(upstream)
                    from_upstream = stack.enter_context(upstream.makefile("rb"))
                assert from_upstream is not None
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                head = f"{method} {path} {version}\r\n".encode("latin-1")
                upstream.sendall(head + b"".join(headers) + b"\r\n")
                # the response: status line and headers, then Content-Length bytes
                response = [from_upstream.readline()]
                length = 0
                while (line := from_upstream.readline()) not in (b"\r\n", b"\n", b""):
                    response.append(line)
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                client.sendall(
                    b"".join(response) + b"\r\n" + from_upstream.read(length)
                )


class StaticAdapter(BaseAdapter):
    """An adapter that answers static:// URLs itself: no urllib3 pools."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[object] = []

    def send(
        self, request: requests.PreparedRequest, **kwargs: object
    ) -> requests.Response:
        self.timeouts.append(kwargs.get("timeout"))
        response = requests.Response()
        response.status_code = 200
        response._content = b"static"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


@contextlib.contextmanager
def forward_proxy() -> Iterator[ForwardProxy]:
    proxy = ForwardProxy()
    try:
        yield proxy
    finally:
        proxy.close()


with serve() as base, forward_proxy() as proxy:
    with ManagedSession(timeout=Timeout(connect=2, read=5, total=10)) as session:
        session.trust_env = False  # only the proxies= below, not the environment's

        # 1. A mounted HTTPAdapter with its own Retry: 503 three times over.
        # (It serves every http:// URL, so the proxied requests below go
        # through it too: its proxy manager is managed as well.)
        retry = Retry(total=3, status_forcelist=[503], backoff_factor=0)
        session.mount("http://", HTTPAdapter(max_retries=retry))
        try:
            session.get(f"{base}/status/503")
        except requests.exceptions.RetryError:
            print("mounted HTTPAdapter: its Retry gave up after 3 retries")
        direct = session.pool_stats().for_url(base)
        print(
            f"  {base}: {direct.requests} requests on {direct.opened} connection "
            f"({direct.reuses} reuses): managed, retries included"
        )

        # 2. Through a forward proxy: one kept-alive connection to the proxy.
        proxies = {"http": proxy.url}
        for n in range(3):
            session.get(f"{base}/items/{n}", proxies=proxies).raise_for_status()
        through = session.pool_stats().for_url(proxy.url)
        print(f"through the proxy: {len(proxy.forwarded)} requests forwarded")
        print(
            f"  counted under the proxy's origin {proxy.url}: {through.requests} "
            f"requests, {through.opened} connection opened, {through.reuses} reuses "
            f"(the proxy saw {proxy.client_connections} client connection)"
        )

        # 3. What cannot be managed is named, and still gets the timeout.
        static = StaticAdapter()
        session.mount("static://", static)
        print(f"static adapter: {session.get('static://readme').text!r}")
        print(f"  it received timeout={static.timeouts[0]!r}")
        for prefix, reason in session.pool_stats().unmanaged.items():
            print(f"  unmanaged {prefix}: {reason}")

    stats = session.pool_stats()
    print("\nafter close():")
    for (scheme, host, port), host_stats in stats.hosts.items():
        closed = {reason.value: n for reason, n in host_stats.closed.items()}
        print(f"  {scheme}://{host}:{port}: open {host_stats.open}, closed {closed}")
