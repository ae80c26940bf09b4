"""Keep-alive policy: pure decisions from plain facts to keep-or-close.

Nothing here reads a clock or touches a socket. The pool gathers the facts
(:class:`ConnectionFacts`, :class:`ExchangeFacts`), passes an explicit ``now``
(a ``time.monotonic()`` reading) and acts on the :class:`Decision`. Two
decisions are made per use of a connection:

* :func:`decide_checkout` when an idle connection is taken from the pool: may it
  still be used, or has it aged out while idle?
* :func:`decide_release` when a response is done with it: may it go back?

Background, RFC 9112 section 9 (connection management):

* HTTP/1.1 connections are persistent unless either side sends
  ``Connection: close`` (9.3); an HTTP/1.0 response is persistent only with
  ``Connection: keep-alive`` (9.3, Appendix C.2.2). ``http.client`` computes
  both as ``will_close``; we take it as a fact.
* A server may close an idle connection at any time (9.5). The one thing a
  client can do is not reuse a connection the server is about to close: the
  (non-standard but widespread) ``Keep-Alive: timeout=N, max=M`` header says
  when that is, so we retire a connection a margin before ``N`` (a fifth of
  ``N``, at most ``keep_alive_margin`` seconds) and after ``M`` more requests:
  servers send the requests *left* on the connection (Apache counts down
  ``max=100, 99, 98, ...``), so ``M`` counts from the response that carried it.
* Most servers never announce their idle timeout (gunicorn, uvicorn, nginx,
  waitress send no ``Keep-Alive`` header); they close idle connections
  silently, and a request sent as they do fails (9.5: "a client ... SHOULD
  be prepared to retry"; a POST cannot be). :class:`IdleLearning` learns the
  timeout a host does not announce from the closes the pool observes, and
  :func:`decide_checkout` retires a connection the same margin before it as
  before an announced one.
* A connection is reusable only if the previous response was read to its end
  (9.3: message framing). Unread bytes must be drained or the connection
  closed; draining is worth it only for a small known remainder.
"""

from __future__ import annotations

import dataclasses
import enum
import math

from ._validate import check_count, check_seconds

__all__ = [
    "CloseReason",
    "ConnectionFacts",
    "Decision",
    "ExchangeFacts",
    "IdleLearning",
    "KeepAlivePolicy",
    "decide_checkout",
    "decide_release",
    "may_replay",
    "observe_idle_close",
    "observe_idle_reuse",
    "parse_keep_alive",
    "replay_refusal",
    "should_drain",
]


class CloseReason(enum.Enum):
    """Why a connection was closed instead of kept for reuse."""

    #: Idle longer than ``KeepAlivePolicy.idle_timeout``.
    IDLE_EXPIRED = "idle-expired"
    #: Older than ``KeepAlivePolicy.max_age``.
    MAX_AGE = "max-age"
    #: Served ``KeepAlivePolicy.max_requests`` requests.
    MAX_REQUESTS = "max-requests"
    #: Idle close to the server's ``Keep-Alive: timeout=N``.
    SERVER_KEEP_ALIVE_TIMEOUT = "server-keep-alive-timeout"
    #: Idle close to the host's idle timeout learned from closes the server
    #: did not announce (``KeepAlivePolicy.learn_idle_timeout``).
    LEARNED_IDLE_TIMEOUT = "learned-idle-timeout"
    #: Served the server's ``Keep-Alive: max=M`` requests.
    SERVER_KEEP_ALIVE_MAX = "server-keep-alive-max"
    #: The server said ``Connection: close`` (or HTTP/1.0 without keep-alive),
    #: or had already closed the idle connection when it was checked out.
    SERVER_CLOSE = "server-close"
    #: The response was closed with more than ``drain_limit`` bytes unread, or
    #: with a body whose end cannot be known.
    UNREAD_BODY = "unread-body"
    #: An exception interrupted the exchange.
    ERROR = "error"
    #: The request's total deadline passed while it held the connection.
    DEADLINE = "deadline"
    #: More idle connections than ``PoolLimits.max_idle_per_host``.
    POOL_OVERFLOW = "pool-overflow"
    #: The pool left service: urllib3 evicted it past ``num_pools`` origins
    #: (or TLS configurations). Idle connections close at once, in-use ones
    #: when their response is done; nothing waiting on it fails.
    POOL_EVICTED = "pool-evicted"
    #: The session (or its adapter) was closed.
    SESSION_CLOSED = "session-closed"
    #: Inherited across ``os.fork()``; closed in the child only.
    FORK = "fork"

    # identity hashing, in C (members compare by identity): reasons key the
    # close counters of every connection closed
    __hash__ = object.__hash__


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """Keep the connection, or close it for ``reason`` (``None`` when kept)."""

    keep: bool
    reason: CloseReason | None = None


KEEP = Decision(True)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KeepAlivePolicy:
    """When a pooled connection is kept for reuse and when it is closed.

    Args:
        idle_timeout: Close a connection idle this many seconds. ``None``:
            never for idleness alone.
        max_age: Close a connection this many seconds after it was opened
            (spreads load after DNS or server changes). ``None``: no limit.
        max_requests: Close a connection after this many requests. ``None``:
            no limit.
        honor_server_keep_alive: Obey the server's ``Keep-Alive: timeout=N,
            max=M`` response header.
        keep_alive_margin: Retire an idle connection before the server's
            announced ``timeout=N``, so a request is never sent on a
            connection the server is closing: a fifth of ``N`` before it, at
            most this many seconds (for ``timeout=2``, at 1.6 s of idle time;
            for ``timeout=5`` and more, 1 s before).
        drain_limit: A response closed with at most this many body bytes
            unread is read to its end so its connection can be reused; with
            more, the connection is closed (``unread-body``).
        learn_idle_timeout: Learn, per host, the idle timeout a server does
            not announce, from the idle connections it is seen to close (a
            closed socket found at check-out, a reused connection reset
            before any response byte), and retire idle connections the same
            margin before it as before an announced ``timeout=N``
            (``learned-idle-timeout``). The estimate needs two observed
            closes and shows in ``pool_stats()`` as
            ``HostStats.learned_idle_timeout``.

    Raises:
        TypeError: a field is of the wrong type (``honor_server_keep_alive``
            not a bool, a count not an int, seconds not a number).
        ValueError: a field is out of range. The message names the field
            and the value.
    """

    idle_timeout: float | None = 30.0
    max_age: float | None = None
    max_requests: int | None = None
    honor_server_keep_alive: bool = True
    keep_alive_margin: float = 1.0
    drain_limit: int = 65536
    learn_idle_timeout: bool = True

    def __post_init__(self) -> None:
        check_seconds("idle_timeout", self.idle_timeout)
        check_seconds("max_age", self.max_age)
        check_count("max_requests", self.max_requests, minimum=1, allow_none=True)
        if not isinstance(self.honor_server_keep_alive, bool):
            raise TypeError(
                "honor_server_keep_alive must be a bool, "
                f"got {self.honor_server_keep_alive!r}"
            )
        if not isinstance(self.learn_idle_timeout, bool):
            raise TypeError(
                f"learn_idle_timeout must be a bool, got {self.learn_idle_timeout!r}"
            )
        check_seconds(
            "keep_alive_margin",
            self.keep_alive_margin,
            allow_zero=True,
            allow_none=False,
        )
        check_count("drain_limit", self.drain_limit, minimum=0, allow_none=False)
        for name in ("idle_timeout", "max_age", "keep_alive_margin"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionFacts:
    """What is known about one connection between uses.

    Times are ``time.monotonic()`` readings.
    """

    created: float
    last_used: float
    requests: int
    server_idle_timeout: float | None = None
    #: The server's last ``Keep-Alive: max=``: requests left after the
    #: response that carried it, which was request ``requests_at_announcement``.
    server_max_requests: int | None = None
    requests_at_announcement: int = 0
    #: The host's idle timeout as learned (:class:`IdleLearning`), if any.
    learned_idle_timeout: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ExchangeFacts:
    """How the last exchange on a connection ended.

    Args:
        will_close: The server asked to close (``Connection: close``, or an
            HTTP/1.0 response without keep-alive), or the socket is gone.
        complete: The response body was read to its end.
        unread: Body bytes known to be left unread; ``None`` when unknown
            (chunked, or delimited by the connection closing).
        framed: The body's end is knowable (Content-Length or chunked).
        error: An exception interrupted the exchange.
        deadline: The request's total deadline passed.
    """

    will_close: bool = False
    complete: bool = True
    unread: int | None = 0
    framed: bool = True
    error: bool = False
    deadline: bool = False


def _retire(
    policy: KeepAlivePolicy, conn: ConnectionFacts, now: float
) -> CloseReason | None:
    """Limits that hold whether the connection is being taken or given back."""
    if policy.max_age is not None and now - conn.created >= policy.max_age:
        return CloseReason.MAX_AGE
    if policy.max_requests is not None and conn.requests >= policy.max_requests:
        return CloseReason.MAX_REQUESTS
    if (
        policy.honor_server_keep_alive
        and conn.server_max_requests is not None
        and conn.requests - conn.requests_at_announcement >= conn.server_max_requests
    ):
        return CloseReason.SERVER_KEEP_ALIVE_MAX
    return None


#: The share of the server's announced idle timeout kept as a safety margin.
MARGIN_SHARE = 0.2


def server_margin(policy: KeepAlivePolicy, timeout: float) -> float:
    """How long before a server's idle ``timeout`` (announced or learned) to retire.

    A fifth of it, at most ``keep_alive_margin``: a fixed second would
    waste half the reuse against Apache's common ``timeout=2``, while the
    race it guards against (the server closing as the request is sent) lasts
    a round trip, not a share of the timeout.
    """
    return min(policy.keep_alive_margin, MARGIN_SHARE * timeout)


def decide_checkout(
    policy: KeepAlivePolicy, conn: ConnectionFacts, now: float
) -> Decision:
    """May an idle connection be used for another request at ``now``?"""
    idle = now - conn.last_used
    if policy.idle_timeout is not None and idle >= policy.idle_timeout:
        return Decision(False, CloseReason.IDLE_EXPIRED)
    announced = conn.server_idle_timeout if policy.honor_server_keep_alive else None
    if announced is not None:
        # What the server says wins over what was learned about it.
        if idle >= announced - server_margin(policy, announced):
            return Decision(False, CloseReason.SERVER_KEEP_ALIVE_TIMEOUT)
    elif policy.learn_idle_timeout and conn.learned_idle_timeout is not None:
        learned = conn.learned_idle_timeout
        if idle >= learned - server_margin(policy, learned):
            return Decision(False, CloseReason.LEARNED_IDLE_TIMEOUT)
    reason = _retire(policy, conn, now)
    return KEEP if reason is None else Decision(False, reason)


def decide_release(
    policy: KeepAlivePolicy,
    conn: ConnectionFacts,
    exchange: ExchangeFacts,
    now: float,
) -> Decision:
    """May a connection go back to the pool after ``exchange``?

    ``conn.requests`` already counts the exchange that just ended. A response
    left unread is kept only when the rest of its body is small enough to
    drain (:func:`should_drain`); the pool reports ``complete=True`` once it
    has drained it.
    """
    if exchange.deadline:
        return Decision(False, CloseReason.DEADLINE)
    if exchange.error:
        return Decision(False, CloseReason.ERROR)
    if exchange.will_close:
        return Decision(False, CloseReason.SERVER_CLOSE)
    if not exchange.complete:
        return Decision(False, CloseReason.UNREAD_BODY)
    reason = _retire(policy, conn, now)
    return KEEP if reason is None else Decision(False, reason)


# -- learning the idle timeout a server does not announce ------------------------
#
# RFC 9112 section 9.5 lets a server close an idle connection whenever it
# likes, and most do so after a fixed idle time they never announce. The pool
# observes two kinds of evidence about that time T, per host:
#
# * a close: an idle connection found closed (readable: EOF or a reset) when
#   it was checked out after ``idle`` seconds, or a reused connection that
#   failed before any response byte after ``idle`` seconds. So T <= idle
#   (an upper bound; the exact race when it is the failure).
# * a reuse: a reused connection answered after ``idle`` seconds. So T > idle.
#
# The estimate is the second-shortest idle time of the last LEARN_WINDOW
# closes: the shortest ``t`` such that two observed closes happened at idle
# times <= ``t``. One close for another cause (a restart, a load balancer's
# reset) is not enough to shorten the estimate, and memory per host is
# LEARN_WINDOW floats. A reuse after ``idle`` seconds contradicts every close
# recorded at an idle time <= ``idle`` (that close was not the idle timeout,
# or the server has since lengthened it), so those are forgotten; new closes
# after the server shortens its timeout are kept, and win. Once the estimate
# is acted on, connections are retired before it and no longer produce
# evidence beyond it: the estimate errs short, which costs a reconnect, never
# a failed request.

#: Closes remembered per host (the bound on memory).
LEARN_WINDOW = 8


@dataclasses.dataclass(frozen=True, slots=True)
class IdleLearning:
    """What one host's observed closes say about its idle timeout.

    Attributes:
        closes: idle seconds at which the server was seen to have closed a
            connection, oldest first, at most ``LEARN_WINDOW``.
        estimate: the learned idle timeout, ``None`` until two closes agree.
    """

    closes: tuple[float, ...] = ()
    estimate: float | None = None


NOTHING_LEARNED = IdleLearning()


def _learned(closes: tuple[float, ...]) -> IdleLearning:
    estimate = sorted(closes)[1] if len(closes) >= 2 else None
    return IdleLearning(closes, estimate)


def observe_idle_close(learning: IdleLearning, idle: float) -> IdleLearning:
    """The server had closed a connection idle ``idle`` seconds."""
    if not math.isfinite(idle) or idle < 0:
        return learning
    return _learned((*learning.closes, idle)[-LEARN_WINDOW:])


def observe_idle_reuse(learning: IdleLearning, idle: float) -> IdleLearning:
    """A connection idle ``idle`` seconds was reused and answered.

    Returns ``learning`` itself when nothing changes (the common case, so
    the caller can skip the store).
    """
    closes = learning.closes
    if not closes or idle < min(closes):
        return learning
    return _learned(tuple(t for t in closes if t > idle))


def should_drain(policy: KeepAlivePolicy, exchange: ExchangeFacts) -> bool:
    """Is reading the rest of an unfinished body worth keeping its connection?

    With a known remainder, drain when it fits in ``drain_limit``; with a
    chunked body (framed, remainder unknown), try up to ``drain_limit`` bytes.
    A body delimited by the connection closing can never be reused.
    """
    if exchange.will_close or exchange.error or exchange.deadline:
        return False
    if not exchange.framed or policy.drain_limit == 0:
        return False
    return exchange.unread is None or exchange.unread <= policy.drain_limit


def parse_keep_alive(value: str | None) -> tuple[float | None, int | None]:
    """Parse a ``Keep-Alive: timeout=N, max=M`` header into ``(N, M)``.

    Unknown parameters and malformed values are ignored (the header is
    advisory); ``None`` stands for "not given".

    >>> parse_keep_alive("timeout=5, max=100")
    (5.0, 100)
    """
    timeout: float | None = None
    maximum: int | None = None
    if not value:
        return timeout, maximum
    for part in value.split(","):
        name, _, raw = part.partition("=")
        name = name.strip().lower()
        raw = raw.strip().strip('"')
        try:
            if name == "timeout":
                seconds = float(raw)
                if math.isfinite(seconds) and seconds >= 0:
                    timeout = seconds
            elif name == "max":
                count = int(raw)
                if count >= 0:
                    maximum = count
        except ValueError:
            continue
    return timeout, maximum


#: RFC 9110 section 9.2.2: a repeated request has the same effect as one.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


def may_replay(method: str, body: object) -> bool:
    """May a request that failed on a stale reused connection be sent again?

    Only an idempotent method (RFC 9110 section 9.2.2; RFC 9112 section 9.3.1
    allows a client to retry those automatically), and only when its body
    can be sent again (none, or bytes/str: not a stream already consumed).
    """
    return method.upper() in IDEMPOTENT_METHODS and (
        body is None or isinstance(body, (bytes, str))
    )


def replay_refusal(method: str, body: object) -> str | None:
    """Why :func:`may_replay` refuses, in words for an error message."""
    if method.upper() not in IDEMPOTENT_METHODS:
        return f"{method.upper()} is not idempotent"
    if not (body is None or isinstance(body, (bytes, str))):
        return "its body is a stream that cannot be sent again"
    return None
