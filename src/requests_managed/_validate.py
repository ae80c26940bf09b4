"""The checks the value types share: counts and seconds, one message shape each.

``Timeout`` raises ``InvalidTimeout`` (a ``ValueError``) and keeps the
phrases requests' own timeout errors use; ``PoolLimits`` and
``KeepAlivePolicy`` raise through these helpers, a ``TypeError`` for a wrong
type and a ``ValueError`` for a wrong value, so the same mistake reads the
same everywhere: ``<name> must be <what is accepted>, got <the value>``.
"""

from __future__ import annotations

import math

__all__ = ["MAX_SECONDS", "check_count", "check_seconds"]

#: The longest bound accepted (about 31 years): sockets and clocks overflow
#: past about 9.2e9 s. Unbounded is spelled ``None``.
MAX_SECONDS = 1e9


def check_count(name: str, value: object, *, minimum: int, allow_none: bool) -> None:
    """``value`` is an int >= ``minimum`` (or ``None`` when allowed).

    Raises:
        TypeError: not an int (a bool is not one).
        ValueError: below ``minimum``.
    """
    if value is None and allow_none:
        return
    accepted = f"an int >= {minimum}" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be {accepted}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {accepted}, got {value!r}")


def check_seconds(
    name: str, value: object, *, allow_zero: bool = False, allow_none: bool = True
) -> float | None:
    """``value`` is a finite number of seconds > 0 (>= 0 when ``allow_zero``),
    or ``None`` when allowed; returns it as a float.

    Raises:
        TypeError: not a number (a bool is not one).
        ValueError: NaN, infinite, out of range, or above ``MAX_SECONDS``.
    """
    if value is None and allow_none:
        return None
    kind = "non-negative" if allow_zero else "positive"
    unbounded = " or None" if allow_none else ""
    message = f"{name} must be a {kind}, finite number of seconds{unbounded}, "
    # True seconds is never what anyone meant
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{message}got {value!r}")
    if (
        math.isnan(value)
        or math.isinf(value)
        or value < 0
        or (value == 0 and not allow_zero)
        or value > MAX_SECONDS
    ):
        raise ValueError(f"{message}at most {MAX_SECONDS:g}, got {value!r}")
    return float(value)
