"""Pool statistics snapshots and connection lifecycle events."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from ._policy import NOTHING_LEARNED, CloseReason, IdleLearning

__all__ = [
    "ConnectionEvent",
    "ConnectionInfo",
    "ConnectionListener",
    "EventKind",
    "HostStats",
    "PoolStats",
]

#: ``(scheme, host, port)``: connections to one origin, whatever their TLS
#: settings, count against the same per-host limits.
HostKey = tuple[str, str, int]


class EventKind(enum.Enum):
    """What happened to a connection."""

    OPENED = "opened"
    REUSED = "reused"
    CLOSED = "closed"
    #: The host's learned idle timeout changed (``learned_idle_timeout``).
    IDLE_TIMEOUT_LEARNED = "idle-timeout-learned"
    #: A request waited at ``max_per_host``/``max_total`` and was granted this
    #: connection, or the room to open it (``waited``: seconds in the queue).
    WAITED = "waited"


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """One step in a connection's life, as delivered to listeners.

    Attributes:
        kind: opened, reused or closed.
        scheme: the origin's scheme, ``"http"`` or ``"https"``.
        host: the origin's host, lower-cased.
        port: the origin's port.
        connection_id: unique within the process, stable for the connection.
        requests: requests the connection had served at the event.
        reason: why it closed (``None`` unless ``kind`` is ``CLOSED``).
        learned_idle_timeout: for ``IDLE_TIMEOUT_LEARNED``, the host's new
            estimate in seconds (``None``: forgotten); else ``None``. The
            connection is the one whose close was observed.
        age: seconds since the connection opened (``0.0`` before it has).
        waited: for ``WAITED``, the seconds the request spent waiting at a
            limit; else ``None``.
    """

    kind: EventKind
    scheme: str
    host: str
    port: int
    connection_id: int
    requests: int
    reason: CloseReason | None = None
    learned_idle_timeout: float | None = None
    age: float = 0.0
    waited: float | None = None


#: What each phase of a request is called in messages.
PHASES = {
    "connect": "connecting",
    "tls": "in the TLS handshake",
    "write": "sending the request",
    "read": "waiting for the response",
    "body": "reading the response body",
}


def _seconds(value: float) -> str:
    return f"{value:.3g} s"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionInfo:
    """The facts about the connection a request failed on (``exc.connection_info``).

    Set on every ``requests.ConnectionError`` and ``requests.Timeout`` (and
    ``ChunkedEncodingError``) raised for a request that had a pooled
    connection; ``getattr(exc, "connection_info", None)`` for the others
    (nothing was connected, or the error is not about a connection).

    Attributes:
        method: the request's method.
        url: the request's URL.
        reused: the connection had served requests before this one.
        age: seconds since the connection connected (``None``: it never did).
        idle: seconds it sat idle before this request (``None`` if new).
        requests_served: requests it served before this one.
        announced_idle_timeout: the server's last ``Keep-Alive: timeout=``.
        announced_max: the server's last ``Keep-Alive: max=`` (requests left).
        learned_idle_timeout: the host's learned idle timeout, if any.
        phase: what failed: ``"connect"``, ``"tls"``, ``"write"``, ``"read"``
            (waiting for the response head) or ``"body"``.
        bound_name: the bound that applied: ``"connect"``, ``"write"``,
            ``"read"`` (timeouts) or ``"total"`` (the deadline).
        bound: its value in seconds (``None``: unbounded).
        stale: the server had closed the reused connection before any
            response byte arrived.
        replayed: the request was sent again, once, on a new connection
            (these facts are the new connection's).
        not_replayed: why a stale request was not sent again, e.g.
            ``"POST is not idempotent"``; ``None`` otherwise.
    """

    method: str
    url: str
    reused: bool
    age: float | None
    idle: float | None
    requests_served: int
    announced_idle_timeout: float | None = None
    announced_max: int | None = None
    learned_idle_timeout: float | None = None
    phase: str
    bound_name: str | None = None
    bound: float | None = None
    stale: bool = False
    replayed: bool = False
    not_replayed: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.method} {self.url}"]
        if self.reused:
            age = "" if self.age is None else f", age {_seconds(self.age)}"
            idle = "" if self.idle is None else f", idle {_seconds(self.idle)}"
            served = self.requests_served
            plural = "" if served == 1 else "s"
            parts.append(
                f"reused connection{age}{idle}, {served} request{plural} served"
            )
        elif self.age is None:
            parts.append("new connection, never connected")
        else:
            parts.append(f"new connection, age {_seconds(self.age)}")
        announced = [
            f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
            for name, value in (
                ("timeout", self.announced_idle_timeout),
                ("max", self.announced_max),
            )
            if value is not None
        ]
        if announced:
            parts.append(f"server announced Keep-Alive: {', '.join(announced)}")
        elif self.learned_idle_timeout is not None:
            learned = _seconds(self.learned_idle_timeout)
            parts.append(f"server idle timeout learned \u2248 {learned}")
        failed = f"failed while {PHASES.get(self.phase, self.phase)}"
        if self.bound_name is not None:
            what = (
                "total deadline"
                if self.bound_name == "total"
                else f"{self.bound_name} timeout"
            )
            value = "none" if self.bound is None else _seconds(self.bound)
            failed += f" ({what} {value})"
        parts.append(failed)
        if self.replayed:
            parts.append("replayed once on a new connection, which failed too")
        elif self.not_replayed is not None:
            parts.append(f"not replayed: {self.not_replayed}")
        return "; ".join(parts)


class ConnectionListener(Protocol):
    """A callable receiving ``ConnectionEvent`` records.

    Called synchronously on the thread that caused the event, never while a
    pool lock is held; keep it quick. Exceptions it raises are logged and
    dropped, never raised into the request.
    """

    def __call__(self, event: ConnectionEvent, /) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class HostStats:
    """Connection counts for one origin, or totals over all of them.

    Attributes:
        open: connections open now (``idle + in_use``).
        idle: open connections waiting in the pool.
        in_use: connections serving a request (or a response being read).
        opened: connections opened so far.
        requests: requests sent so far.
        reuses: requests sent on a connection that had served one before.
        waits: times a caller waited at ``max_per_host``/``max_total``.
        pool_timeouts: waits that ended in ``PoolTimeout``.
        closed: connections closed so far, by reason.
        learned_idle_timeout: the idle timeout learned for this host from
            closes it did not announce (``KeepAlivePolicy.learn_idle_timeout``),
            in seconds; ``None`` until learned, and in the totals.
    """

    open: int = 0
    idle: int = 0
    in_use: int = 0
    opened: int = 0
    requests: int = 0
    reuses: int = 0
    waits: int = 0
    pool_timeouts: int = 0
    closed: Mapping[CloseReason, int] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    learned_idle_timeout: float | None = None

    def __repr__(self) -> str:
        closed = ", ".join(f"{r.value}={n}" for r, n in self.closed.items())
        learned = self.learned_idle_timeout
        return (
            f"<HostStats open={self.open} (idle={self.idle}, in_use={self.in_use}) "
            f"| opened={self.opened} requests={self.requests} reuses={self.reuses}"
            + (f" waits={self.waits}" if self.waits else "")
            + (f" pool_timeouts={self.pool_timeouts}" if self.pool_timeouts else "")
            + f" | closed: {closed or 'none'}"
            + ("" if learned is None else f" | learned idle timeout {learned:.3g} s")
            + ">"
        )

    def to_dict(self) -> dict[str, Any]:
        """The counts as plain JSON-ready values.

        ``closed`` maps each reason's string (``"idle-expired"``, ...) to its
        count; ``learned_idle_timeout`` is seconds or ``None``.
        ``dataclasses.asdict`` cannot do this: ``closed`` is a read-only
        mapping keyed by :class:`CloseReason`.
        """
        return {
            "open": self.open,
            "idle": self.idle,
            "in_use": self.in_use,
            "opened": self.opened,
            "requests": self.requests,
            "reuses": self.reuses,
            "waits": self.waits,
            "pool_timeouts": self.pool_timeouts,
            "closed": {reason.value: n for reason, n in self.closed.items()},
            "learned_idle_timeout": self.learned_idle_timeout,
        }

    @property
    def closed_total(self) -> int:
        """All closes, whatever the reason."""
        return sum(self.closed.values())

    @property
    def reuse_ratio(self) -> float:
        """Share of requests that reused a connection (0.0 with no requests)."""
        return self.reuses / self.requests if self.requests else 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class PoolStats:
    """An immutable snapshot of a session's pools (``session.pool_stats()``).

    Attributes:
        hosts: per ``(scheme, host, port)``.
        total: the sum over all hosts.
        unmanaged: mounted prefixes whose adapter the session cannot manage
            (it builds no urllib3 pools, or builds its own), each with the
            reason. Requests through them get the session's timeout and no
            more; they are not counted here.
    """

    hosts: Mapping[HostKey, HostStats]
    total: HostStats
    unmanaged: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )

    def __repr__(self) -> str:
        total = self.total
        return (
            f"<PoolStats {len(self.hosts)} host{'' if len(self.hosts) == 1 else 's'}"
            f" | open={total.open} (idle={total.idle}, in_use={total.in_use}) "
            f"| requests={total.requests} reuses={total.reuses} "
            f"closed={total.closed_total}"
            + (f" | unmanaged: {', '.join(self.unmanaged)}" if self.unmanaged else "")
            + ">"
        )

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as plain JSON-ready values (``json.dumps`` takes it).

        Returns:
            ``{"hosts": {origin: counts}, "total": counts, "unmanaged":
            {prefix: reason}}``: each origin as ``"scheme://host:port"`` (an
            IPv6 host in brackets), each ``counts`` as
            :meth:`HostStats.to_dict` gives it.
        """
        return {
            "hosts": {
                origin_url(key): stats.to_dict() for key, stats in self.hosts.items()
            },
            "total": self.total.to_dict(),
            "unmanaged": dict(self.unmanaged),
        }

    def for_url(self, url: str) -> HostStats:
        """The stats of the origin of ``url``.

        Args:
            url: An ``http://`` or ``https://`` URL; only its scheme, host and
                port matter.

        Returns:
            The origin's ``HostStats``: zeros if the session never used it.

        Raises:
            TypeError: ``url`` is not a ``str``.
            ValueError: ``url`` is malformed: no ``http``/``https`` scheme, no
                host, or a host or port that does not parse.
        """
        from urllib3.exceptions import LocationParseError
        from urllib3.util import parse_url

        if not isinstance(url, str):
            raise TypeError(f"for_url() takes a URL as a str, got {url!r}")
        try:
            parsed = parse_url(url)
        except LocationParseError:
            parsed = None
        scheme = (parsed.scheme or "").lower() if parsed else ""
        if parsed is None or scheme not in ("http", "https") or not parsed.host:
            raise ValueError(
                "for_url() needs an http:// or https:// URL with a host, "
                f"got malformed URL {url!r}"
            )
        port = parsed.port or (443 if scheme == "https" else 80)
        return self.hosts.get((scheme, parsed.host.lower(), port), HostStats())


def origin_url(key: HostKey) -> str:
    """``("http", "::1", 80)`` as ``"http://[::1]:80"``."""
    scheme, host, port = key
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


class Counters:
    """Mutable per-host counters, changed only under the pool manager's lock."""

    __slots__ = (
        "closed",
        "idle",
        "in_use",
        "learning",
        "opened",
        "peak_in_use",
        "pool_timeouts",
        "requests",
        "reuses",
        "waits",
    )

    def __init__(self) -> None:
        self.idle = 0
        self.in_use = 0
        #: The most connections in use at once (what idle retention follows).
        self.peak_in_use = 0
        self.opened = 0
        self.requests = 0
        self.reuses = 0
        self.waits = 0
        self.pool_timeouts = 0
        self.closed: dict[CloseReason, int] = {}
        #: What the host's observed closes say (replaced, never mutated).
        self.learning: IdleLearning = NOTHING_LEARNED

    def snapshot(self) -> HostStats:
        return HostStats(
            open=self.idle + self.in_use,
            idle=self.idle,
            in_use=self.in_use,
            opened=self.opened,
            requests=self.requests,
            reuses=self.reuses,
            waits=self.waits,
            pool_timeouts=self.pool_timeouts,
            closed=MappingProxyType(dict(self.closed)),
            learned_idle_timeout=self.learning.estimate,
        )


def summarize(counters: Mapping[HostKey, Counters]) -> PoolStats:
    """Build the immutable snapshot (call under the lock guarding ``counters``)."""
    hosts = {key: c.snapshot() for key, c in counters.items()}
    closed: dict[CloseReason, int] = {}
    for stats in hosts.values():
        for reason, n in stats.closed.items():
            closed[reason] = closed.get(reason, 0) + n
    fields = ("idle", "in_use", "opened", "requests", "reuses", "waits")
    sums = {f: sum(getattr(s, f) for s in hosts.values()) for f in fields}
    total = HostStats(
        open=sums["idle"] + sums["in_use"],
        pool_timeouts=sum(s.pool_timeouts for s in hosts.values()),
        closed=MappingProxyType(closed),
        **sums,
    )
    return PoolStats(hosts=MappingProxyType(hosts), total=total)
