"""One TLS context per configuration, reused by every new connection."""

from __future__ import annotations

import pathlib
import ssl
from collections.abc import Iterator

import pytest
import requests
import trustme
import urllib3
from requests.adapters import HTTPAdapter

from requests_managed import ManagedSession

from .server import Reply, Server

pytestmark = pytest.mark.skipif(
    not hasattr(HTTPAdapter, "build_connection_pool_key_attributes"),
    reason="requests < 2.32.3 has no build_connection_pool_key_attributes hook: "
    "contexts are built per connection there, as requests itself does",
)


@pytest.fixture
def closing_tls_server(ca: trustme.CA) -> Iterator[Server]:
    """Every reply says ``Connection: close``: each request a new TLS connection."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    with Server(lambda r: Reply(body=b"tls", close=True), ssl_context=context) as s:
        yield s


@pytest.fixture
def ca_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every CA bundle load into any SSLContext, recorded."""
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(kwargs.get("cafile") or (args[0] if args else None))
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    return loads


def test_new_connections_with_one_configuration_load_the_ca_once(
    closing_tls_server: Server, ca_bundle: str, ca_loads: list[object]
) -> None:
    # Before: urllib3 built a context and loaded the bundle for every new
    # connection (~200 M instructions, ~40 ms with certifi's bundle).
    with ManagedSession() as session:
        for _ in range(5):
            assert session.get(closing_tls_server.url, verify=ca_bundle).text == "tls"
        assert closing_tls_server.connections_opened == 5
        assert ca_loads == [ca_bundle]
        session.refresh_environment()  # a bundle changed in place is reread
        assert session.get(closing_tls_server.url, verify=ca_bundle).ok
        assert ca_loads == [ca_bundle, ca_bundle]


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_never_shares_a_context_or_connection_with_verifying(
    closing_tls_server: Server, ca_bundle: str
) -> None:
    with ManagedSession() as session:
        assert session.get(closing_tls_server.url, verify=ca_bundle).ok
        adapter = session.get_adapter(closing_tls_server.url)
        assert session.get(closing_tls_server.url, verify=False).ok
        contexts = adapter._rm_tls._contexts  # type: ignore[attr-defined]
        modes = sorted(c.verify_mode for c in contexts.values())
        assert modes == [ssl.CERT_NONE, ssl.CERT_REQUIRED]
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            session.get(closing_tls_server.url)  # default CAs: still verified


def test_a_context_the_user_gives_the_pool_manager_is_used_as_given(
    closing_tls_server: Server, ca: trustme.CA, ca_loads: list[object]
) -> None:
    from requests_managed._adapter import ManagedAdapter

    class OwnContext(ManagedAdapter):
        def init_poolmanager(self, *args: object, **kwargs: object) -> None:
            context = ssl.create_default_context()
            ca.configure_trust(context)
            kwargs["ssl_context"] = context
            super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]

    with ManagedSession() as session:
        session.mount("https://", OwnContext())
        assert session.get(closing_tls_server.url, verify=True).text == "tls"
        # ours built none; urllib3 loaded requests' default bundle into the
        # user's context on top of the user's own CA, as it always does
        assert len(session.get_adapter(closing_tls_server.url)._rm_tls) == 0  # type: ignore[attr-defined]


def test_a_pools_ca_files_are_checked_once_per_configuration(
    tls_server: Server, ca_bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests' cert_verify looks the CA bundle up on disk on every request;
    # a pool that shares our context (loaded from that bundle) checks once
    checks: list[object] = []
    original = HTTPAdapter.cert_verify

    def counting(
        self: HTTPAdapter, conn: object, url: str, verify: object, cert: object
    ) -> None:
        checks.append(verify)
        original(self, conn, url, verify, cert)  # type: ignore[arg-type]

    monkeypatch.setattr(HTTPAdapter, "cert_verify", counting)
    with ManagedSession() as session:
        for _ in range(3):
            assert session.get(tls_server.url, verify=ca_bundle).ok
        assert checks == [ca_bundle]
        with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
            assert session.get(tls_server.url, verify=False).ok
        assert checks == [ca_bundle, False]  # another pool: checked for itself
        pool = session.get_adapter(tls_server.url).get_connection_with_tls_context(
            requests.Request("GET", tls_server.url).prepare(), ca_bundle
        )
        assert pool.ca_certs is None  # urllib3 never reloads it into our context
        assert session.get(tls_server.url, verify=ca_bundle).ok
        assert checks == [ca_bundle, False]


@pytest.fixture
def mtls_server(ca: trustme.CA) -> Iterator[Server]:
    """A server that demands a client certificate issued by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    with Server(lambda r: Reply(body=b"mtls"), ssl_context=context) as s:
        yield s


def test_a_client_certificate_is_keyed_into_the_context_and_the_pool(
    mtls_server: Server,
    ca: trustme.CA,
    ca_bundle: str,
    tmp_path: pathlib.Path,
) -> None:
    client = ca.issue_cert("client@example.test")
    pem = str(tmp_path / "client.pem")
    client.private_key_and_cert_chain_pem.write_to_path(pem)
    with ManagedSession() as session:
        assert session.get(mtls_server.url, verify=ca_bundle, cert=pem).text == "mtls"
        # the same origin and CA without the certificate: neither the
        # certificate's context nor its kept-alive connection is used
        with pytest.raises(requests.exceptions.RequestException):
            session.get(mtls_server.url, verify=ca_bundle)
        assert session.get(mtls_server.url, verify=ca_bundle, cert=pem).ok
        contexts = session.get_adapter(mtls_server.url)._rm_tls._contexts  # type: ignore[attr-defined]
        assert sorted(key[3] is not None for key in contexts) == [False, True]
        stats = session.pool_stats().for_url(mtls_server.url)
        assert stats.reuses == 1  # the second request with the certificate
