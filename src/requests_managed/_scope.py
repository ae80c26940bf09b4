"""The owned request scope: how one request's timeout and deadline reach its pool.

requests' ``HTTPAdapter.send`` has no way to pass extra arguments down to
urllib3's ``urlopen``, so the ``send()`` that starts a request opens a
:class:`RequestScope` in a :class:`contextvars.ContextVar` and resets it with
its token when it returns. A scope has an *owner*: the connection manager of
the adapter that will serve the request. A pool reads the scope only when it
belongs to its own manager, so a request made from inside another request
(a response hook, an exporter called inside an instrumented ``send``, a
second session) never inherits the outer request's timeout or deadline: it
finds a scope that is not its own and its adapter opens a fresh one.

The values travel in one shape: one :class:`~._timeouts.Timeout` and one
:class:`~._deadline.Deadline`.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._deadline import Deadline
    from ._timeouts import Timeout

__all__ = ["RequestScope", "current", "enter", "leave"]


class RequestScope:
    """One request's bounds, owned by the manager that serves it."""

    __slots__ = ("deadline", "max_body", "owner", "timeout")

    def __init__(
        self,
        owner: object,
        timeout: Timeout,
        deadline: Deadline,
        max_body: int | None = None,
    ) -> None:
        self.owner = owner
        self.timeout = timeout
        self.deadline = deadline
        #: ``max_body_bytes`` for this request's response (None: no limit)
        self.max_body = max_body

    def __repr__(self) -> str:
        return f"<RequestScope {self.timeout!r} {self.deadline!r}>"


_scope: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar(
    "requests_managed.scope", default=None
)

#: The scope in force, or ``None`` (bound once: a plain attribute lookup).
current = _scope.get


def enter(scope: RequestScope) -> contextvars.Token[RequestScope | None]:
    """Open ``scope`` for the calling context; pass the token to :func:`leave`."""
    return _scope.set(scope)


def leave(token: contextvars.Token[RequestScope | None]) -> None:
    """Restore the scope that was in force before :func:`enter`."""
    _scope.reset(token)


#: ``max_body_bytes=`` given to ``ManagedSession.request()``, on its way to
#: the ``send()`` that opens the scope (requests' ``request()`` cannot pass
#: extra arguments to ``send()``).
NOT_GIVEN: object = object()
body_limit: contextvars.ContextVar[object] = contextvars.ContextVar(
    "requests_managed.body_limit", default=NOT_GIVEN
)


def owned_by(owner: object) -> RequestScope | None:
    """The scope in force if ``owner`` owns it, else ``None``."""
    scope = _scope.get()
    return scope if scope is not None and scope.owner is owner else None
