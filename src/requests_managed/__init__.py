"""requests-managed: a drop-in ``requests.Session`` that manages its connections.

Mandatory timeouts with a total deadline, bounded pools, a keep-alive policy
that says why every connection closed, and guaranteed closing.
"""

import logging as _logging

from ._api import delete, get, head, options, patch, post, put, request
from ._install import Installation, install, installed, uninstall
from ._limits import PoolLimits
from ._policy import CloseReason, Decision, KeepAlivePolicy
from ._session import ManagedSession
from ._stats import (
    ConnectionEvent,
    ConnectionInfo,
    ConnectionListener,
    EventKind,
    HostStats,
    PoolStats,
)
from ._timeouts import UNBOUNDED, Timeout
from .exceptions import (
    BodyReadTimeout,
    ConnectionLeakWarning,
    DeadlineExceeded,
    IncompleteResponseHead,
    InvalidTimeout,
    PoolTimeout,
    ResponseTooLarge,
    SessionClosed,
    WriteTimeout,
)

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_init.py checks)
    "BodyReadTimeout",
    "CloseReason",
    "ConnectionEvent",
    "ConnectionInfo",
    "ConnectionLeakWarning",
    "ConnectionListener",
    "DeadlineExceeded",
    "Decision",
    "EventKind",
    "HostStats",
    "IncompleteResponseHead",
    "Installation",
    "InvalidTimeout",
    "KeepAlivePolicy",
    "ManagedSession",
    "PoolLimits",
    "PoolStats",
    "PoolTimeout",
    "ResponseTooLarge",
    "SessionClosed",
    "Timeout",
    "UNBOUNDED",
    "WriteTimeout",
    "__version__",
    "delete",
    "get",
    "head",
    "install",
    "installed",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "uninstall",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
