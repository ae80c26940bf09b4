"""One ``SSLContext`` per TLS configuration, reused by every connection.

urllib3 builds a new ``SSLContext`` for every new HTTPS connection and loads
the CA bundle into it again (requests passes a CA *path*, not a context):
with certifi's bundle that is about 200 M instructions, some 40 ms, per
connection. httpx builds one context per client. Here each adapter keeps one
context per ``(cert_reqs, CA file, CA directory, client cert, client key)``:
exactly what requests puts in the pool key, so a request with
``verify=False`` never shares a context (or a pool, or a connection) with a
verifying one (CVE-2024-35195). ``ManagedSession.refresh_environment()``
drops them, so a CA bundle changed in place is read again.
"""

from __future__ import annotations

import ssl
import threading

from urllib3.util.ssl_ import create_urllib3_context, resolve_cert_reqs

__all__ = ["TLSContexts", "TLSKey"]

#: ``(cert_reqs, ca_certs, ca_cert_dir, cert_file, key_file)``
TLSKey = tuple[str, "str | None", "str | None", "str | None", "str | None"]


class TLSContexts:
    """The contexts of one adapter, built on first use (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[TLSKey, ssl.SSLContext] = {}

    def get(self, key: TLSKey) -> ssl.SSLContext:
        context = self._contexts.get(key)
        if context is not None:
            return context
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                context = self._contexts[key] = _build(key)
        return context

    def owns(self, context: object) -> bool:
        """Is ``context`` one of ours (not one a user passed)?"""
        return any(c is context for c in self._contexts.values())

    def clear(self) -> None:
        with self._lock:
            self._contexts = {}

    def __len__(self) -> int:
        return len(self._contexts)


def _build(key: TLSKey) -> ssl.SSLContext:
    cert_reqs, ca_certs, ca_cert_dir, cert_file, key_file = key
    context = create_urllib3_context(cert_reqs=resolve_cert_reqs(cert_reqs))
    if context.verify_mode != ssl.CERT_NONE:
        context.load_verify_locations(cafile=ca_certs, capath=ca_cert_dir)
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context
