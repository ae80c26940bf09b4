"""The ``Timeout`` value type and the one place user timeout values are coerced."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Union

import urllib3

from ._validate import MAX_SECONDS
from .exceptions import InvalidTimeout

__all__ = ["MIN_SOCKET_TIMEOUT", "UNBOUNDED", "Timeout", "TimeoutTypes", "socket_phase"]

#: Everything a ``timeout=`` argument accepts: what requests accepts, plus ours.
TimeoutTypes = Union["Timeout", float, int, tuple[Any, Any], urllib3.Timeout, None]

_ACCEPTED = (
    "a positive number, a (connect, read) tuple, a requests_managed.Timeout, "
    "a urllib3.Timeout, or None for the session default"
)


def _phase(name: str, value: object) -> float | None:
    """Validate one phase: a positive, finite number of seconds, or None."""
    if value is None:
        return None
    # bool is an int; True seconds is never what anyone meant.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidTimeout(
            f"{name} timeout must be an int, float or None, got {value!r}"
        )
    seconds = float(value)
    if (
        math.isnan(seconds)
        or math.isinf(seconds)
        or seconds <= 0
        or seconds > MAX_SECONDS
    ):
        raise InvalidTimeout(
            f"{name} timeout must be a positive, finite number of seconds "
            f"(at most {MAX_SECONDS:g}) or None, got {value!r}"
        )
    return seconds


class _Unset:
    """The default of a ``Timeout`` phase left out (never seen outside)."""

    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Any = _Unset()
_PHASES = ("connect", "read", "write", "total")
_DEFAULTS = {"connect": 5.0, "read": 30.0, "total": 300.0}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Timeout:
    """How long a request may take, per phase and in total (seconds).

    Args:
        connect: Bound on establishing the TCP (and TLS) connection.
        read: Bound on each wait for data from the server. A server that sends
            one byte just before each read timeout resets it every time; that
            is what ``total`` is for.
        write: Bound on each piece (64 KiB) of the request being sent while
            the server does not take it: a stalled upload raises
            ``WriteTimeout``, a slow but moving one goes on (``total`` bounds
            it). Left out, it is the ``read`` timeout.
        total: Wall-clock bound on the whole exchange: connecting, sending,
            waiting and reading the body. For ``stream=True`` it runs until the
            body is consumed or the response is closed.

    ``None`` makes a phase unbounded; it must be asked for by name, e.g.
    ``Timeout(read=None, total=None)``. DNS resolution (``getaddrinfo``) cannot
    be interrupted by any of these.

    A phase left out takes its default (5, 30, 300) when the ``Timeout``
    stands alone, but a ``Timeout`` given to one request takes the phases
    it leaves out from the session's default: with a session default of
    ``Timeout(total=2)``, ``timeout=Timeout(connect=3, read=10)`` on a
    request still has ``total=2`` (httpx's "unset" rule). Equality and the
    repr are by value, whichever phases were given.

    Raises:
        InvalidTimeout: a phase is not a positive, finite number or None.

    Example:
        >>> Timeout(connect=3, read=10)
        Timeout(connect=3.0, read=10.0, total=300.0)
    """

    connect: float | None = _UNSET
    read: float | None = _UNSET
    write: float | None = _UNSET
    total: float | None = _UNSET
    #: The phases given by name (the rest inherit a default, see above).
    given: frozenset[str] = dataclasses.field(
        default=frozenset(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        given = frozenset(name for name in _PHASES if getattr(self, name) is not _UNSET)
        object.__setattr__(self, "given", given)
        for name, default in _DEFAULTS.items():
            if name not in given:
                object.__setattr__(self, name, default)
        # Normalise where the value enters, so only floats live inside.
        object.__setattr__(self, "connect", _phase("connect", self.connect))
        object.__setattr__(self, "read", _phase("read", self.read))
        if "write" in given:
            object.__setattr__(self, "write", _phase("write", self.write))
        else:
            object.__setattr__(self, "write", self.read)
        object.__setattr__(self, "total", _phase("total", self.total))

    def __repr__(self) -> str:
        # write is shown only where it differs from read (its default)
        write = "" if self.write == self.read else f", write={self.write!r}"
        return (
            f"Timeout(connect={self.connect!r}, read={self.read!r}{write}, "
            f"total={self.total!r})"
        )

    @classmethod
    def unbounded(cls) -> Timeout:
        """No bound on any phase: :data:`UNBOUNDED`.

        For the calls that wait on purpose (a container's ``wait()``, a long
        poll, a server-sent event stream): ``timeout=Timeout.unbounded()``
        reads as what it is, where ``timeout=None`` means the session's
        default.
        """
        return UNBOUNDED

    def over(self, default: Timeout) -> Timeout:
        """This timeout, with the phases it leaves out taken from ``default``."""
        merged = {
            name: getattr(self if name in self.given else default, name)
            for name in _PHASES
        }
        if "write" not in self.given and "read" in self.given:
            merged["write"] = self.read  # write follows the read it was given
        return Timeout(**merged)

    @classmethod
    def coerce(cls, value: object, default: Timeout | None = None) -> Timeout:
        """Turn anything a user passes as ``timeout=`` into a ``Timeout``.

        Args:
            value: A number (connect and read), a ``(connect, read)`` tuple, a
                ``Timeout`` (the phases it leaves out come from ``default``),
                a ``urllib3.Timeout`` (the phases it sets taken as
                given, ``None`` meaning unbounded; phases it leaves unset come
                from ``default``, and its ``total`` applies only when tighter
                than ``default``'s), or ``None`` for ``default``.
            default: What ``None`` means and where an unspecified ``total``
                comes from; ``Timeout()`` when not given.

        Raises:
            InvalidTimeout: the value is none of the accepted forms.
        """
        if isinstance(value, Timeout):
            if default is None or len(value.given) == len(_PHASES):
                return value
            return value.over(default)
        base = default if default is not None else _DEFAULT
        if value is None:
            return base
        if isinstance(value, tuple):
            if len(value) != 2:
                raise InvalidTimeout(
                    f"Invalid timeout {value!r}. Pass a (connect, read) timeout "
                    f"tuple, or a single float to set both timeouts to the same "
                    f"value; accepted: {_ACCEPTED}"
                )
            connect, read = value
            try:
                return cls(connect=connect, read=read, total=base.total)
            except InvalidTimeout as exc:
                raise InvalidTimeout(
                    f"{exc}, in the (connect, read) timeout tuple {value!r}"
                ) from None
        if isinstance(value, urllib3.Timeout):
            return cls._from_urllib3(value, base)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidTimeout(
                f"timeout must be an int, float or None, got {value!r}; "
                f"accepted: {_ACCEPTED}"
            )
        return cls(connect=value, read=value, total=base.total)

    @classmethod
    def _from_urllib3(cls, value: urllib3.Timeout, base: Timeout) -> Timeout:
        # urllib3 marks "not given" with a sentinel; an explicit None is an
        # explicit request for an unbounded phase (requests' own tests use it).
        sentinel: object = urllib3.Timeout.DEFAULT_TIMEOUT
        connect: Any = value._connect
        read: Any = value._read
        total: Any = value.total
        return cls(
            connect=base.connect if connect is sentinel else connect,
            read=base.read if read is sentinel else read,
            # urllib3's total only spans connect + first read; ours is the
            # whole exchange, so keep the session's unless it is tighter.
            total=_min(total, base.total),
        )


#: The smallest wait handed to a socket. Python stores socket timeouts in
#: whole nanoseconds, so a positive value below that becomes 0, and a zero
#: timeout makes a socket non-blocking: a tiny but valid ``read=1e-80`` would
#: fail with ``ConnectionError`` (EAGAIN) instead of timing out.
MIN_SOCKET_TIMEOUT = 0.001


def socket_phase(phase: float | None, left: float | None) -> float | None:
    """One phase as given to the socket: capped by the time ``left``, floored."""
    if left is not None and (phase is None or left < phase):
        phase = left
    if phase is not None and phase < MIN_SOCKET_TIMEOUT:
        return MIN_SOCKET_TIMEOUT
    return phase


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


_DEFAULT = Timeout()

UNBOUNDED = Timeout(connect=None, read=None, write=None, total=None)
"""No bound on any phase (connect, read, write, total), asked for by name.

``session.get(url, timeout=UNBOUNDED)`` waits as long as it takes, for the
calls that wait on purpose. Greppable, unlike ``None``, which on a
``ManagedSession`` means the session's default. Same as
``Timeout.unbounded()``.
"""
