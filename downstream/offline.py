"""The offline rule of the downstream runs: which names may be looked up.

Shared by the pytest plugins (it imports neither requests nor
requests_managed, so a plain run stays plain).
"""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: object) -> bool:
    """Whether looking ``host`` up stays on this machine."""
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard / loopback
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    name = str(host).rstrip(".").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    # An address literal needs no DNS; whether connecting to it is allowed is
    # pytest-socket's --allow-hosts decision.
    return True
