"""The life of one pooled connection: states, events and the transition table.

Everything that can happen to a connection between the moment a caller is
granted room to open it and the moment it is closed is one of the
:class:`ConnEvent` values, and :data:`TRANSITIONS` says, for each state, which
events are allowed and where they lead. Nothing else changes a connection's
state: the manager applies every transition through :func:`advance`, under
its lock, and keeps its counters in step with it. This module has no locks,
sockets, clocks or urllib3 in it (h11's ``_state.py`` is the model), so the
table can be read, drawn (``docs/internals.md``) and tested alone.

::

    (granted room)                        checkout
        NEW ──connect──▶ ACTIVE ◀───────────────────── IDLE
         │                 │    ──────── checkin ───────▶ │
         │                 │                              │
         └──close──▶ CLOSED ◀──close──┘◀──────close────────┘

A connection handed to a waiter is checked in and checked out again under
the same lock hold, so a hand-over needs no state of its own.

* ``NEW``: room was granted (it counts against the limits) but no socket is
  connected yet; a failure to connect closes it without counting an open.
* ``ACTIVE``: serving a request, or held by a response whose body is read.
* ``IDLE``: in its pool, waiting to be reused.
* ``CLOSED``: final. Whatever closed it chose one :class:`~._policy.CloseReason`.

A connection is counted "in use" while ``NEW`` or ``ACTIVE`` and "idle" while
``IDLE``; both count as "open" against ``max_per_host``/``max_total``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._policy import CloseReason

__all__ = [
    "TRANSITIONS",
    "ConnEvent",
    "ConnRecord",
    "ConnState",
    "LifecycleError",
    "advance",
]


class ConnState(enum.Enum):
    """Where a connection is in its life."""

    NEW = "new"
    ACTIVE = "active"
    IDLE = "idle"
    CLOSED = "closed"

    # Members compare by identity; hashing by identity (in C) keeps the
    # table lookups of every check-out and release off Enum's Python hash.
    __hash__ = object.__hash__


class ConnEvent(enum.Enum):
    """What can happen to a connection."""

    #: The socket connected (``NEW -> ACTIVE``); counted as "opened".
    CONNECT = "connect"
    #: Taken from its pool for a request (``IDLE -> ACTIVE``).
    CHECKOUT = "checkout"
    #: Given back after an exchange the policy let it survive (``ACTIVE -> IDLE``).
    CHECKIN = "checkin"
    #: Closed, for one reason, from any state but ``CLOSED``.
    CLOSE = "close"

    __hash__ = object.__hash__  # (see ConnState)


#: ``(state, event) -> next state``. A pair missing here is forbidden:
#: :func:`advance` raises :class:`LifecycleError` for it.
TRANSITIONS: dict[tuple[ConnState, ConnEvent], ConnState] = {
    (ConnState.NEW, ConnEvent.CONNECT): ConnState.ACTIVE,
    (ConnState.NEW, ConnEvent.CLOSE): ConnState.CLOSED,
    (ConnState.ACTIVE, ConnEvent.CHECKIN): ConnState.IDLE,
    (ConnState.ACTIVE, ConnEvent.CLOSE): ConnState.CLOSED,
    (ConnState.IDLE, ConnEvent.CHECKOUT): ConnState.ACTIVE,
    (ConnState.IDLE, ConnEvent.CLOSE): ConnState.CLOSED,
}

#: The states counted as "in use" (the rest but ``CLOSED`` are "idle").
IN_USE_STATES = frozenset({ConnState.NEW, ConnState.ACTIVE})


class LifecycleError(RuntimeError):
    """A forbidden transition: a bug in requests-managed, never the user's."""


class ConnRecord:
    """What the manager knows about one connection; one per connection.

    Times are ``time.monotonic()`` readings. ``announced_max`` is the server's
    last ``Keep-Alive: max=`` and ``requests_at_announcement`` the value of
    ``requests`` when it arrived: servers send the requests *left* (Apache
    counts ``max=100, 99, 98, ...``), so the limit is reached after
    ``announced_max`` more requests.

    ``pool`` is the manager's per-pool slot and ``arming``/``deadline`` the
    request's deadline and its watchdog entry; this module does not look
    inside them.
    """

    __slots__ = (
        "announced_idle_timeout",
        "announced_max",
        "arming",
        "close_reason",
        "connected",
        "created",
        "deadline",
        "generation",
        "id",
        "idle_before",
        "key",
        "last_used",
        "pending_reason",
        "phase",
        "pool",
        "requests",
        "requests_at_announcement",
        "state",
        "waited",
        "will_close",
    )

    def __init__(
        self,
        id: int,
        key: tuple[str, str, int],
        pool: object,
        generation: int,
        now: float,
    ) -> None:
        self.id = id
        self.key = key
        self.pool = pool
        self.generation = generation
        self.state = ConnState.NEW
        self.created = now
        self.last_used = now
        self.connected = False
        self.requests = 0
        #: Seconds the connection sat idle before the request it serves now;
        #: ``None`` while it serves its first.
        self.idle_before: float | None = None
        #: What the connection is doing for its request: "connect", "tls",
        #: "write" or "read" (set by the shims; for error messages).
        self.phase = "connect"
        self.announced_idle_timeout: float | None = None
        self.announced_max: int | None = None
        self.requests_at_announcement = 0
        self.will_close = False
        #: The reason to close with if the connection is closed before the
        #: policy sees it again (an unread body, a drain that did not finish).
        self.pending_reason: CloseReason | None = None
        self.close_reason: CloseReason | None = None
        self.deadline: object | None = None
        self.arming: object | None = None
        #: Seconds the request now holding it waited at a limit for it (or
        #: for the room to open it); ``None`` if it did not wait.
        self.waited: float | None = None

    def __repr__(self) -> str:
        return (
            f"<ConnRecord {self.id} {self.key[0]}://{self.key[1]}:{self.key[2]} "
            f"{self.state.value} requests={self.requests}>"
        )


def advance(record: ConnRecord, event: ConnEvent) -> ConnState:
    """Move ``record`` along ``event``; return the state it left.

    Raises:
        LifecycleError: ``event`` is not allowed in the record's state.
    """
    old = record.state
    try:
        record.state = TRANSITIONS[old, event]
    except KeyError:
        raise LifecycleError(
            f"connection {record.id}: {event.value!r} is not allowed in state "
            f"{old.value!r}"
        ) from None
    return old
