"""The checks the value types share: counts and seconds, one message shape each.

``Timeout`` raises ``InvalidTimeout`` (a ``ValueError``) and keeps the
phrases requests' own timeout errors use; ``PoolLimits`` and
``KeepAlivePolicy`` raise ``ValueError`` through these helpers, so the same
mistake reads the same everywhere: ``<name> must be <what is accepted>, got
<the value>``.
"""

from __future__ import annotations

import math

__all__ = ["check_count", "check_seconds"]


def check_count(name: str, value: object, *, minimum: int, allow_none: bool) -> None:
    """``value`` is an int >= ``minimum`` (or ``None`` when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        accepted = f"an int >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {accepted}, got {value!r}")


def check_seconds(
    name: str, value: object, *, allow_zero: bool = False, allow_none: bool = True
) -> float | None:
    """``value`` is a finite number of seconds > 0 (>= 0 when ``allow_zero``),
    or ``None`` when allowed; returns it as a float."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)  # True seconds is never what anyone meant
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or math.isinf(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        kind = "non-negative" if allow_zero else "positive"
        unbounded = " or None" if allow_none else ""
        raise ValueError(
            f"{name} must be a {kind}, finite number of seconds{unbounded}, "
            f"got {value!r}"
        )
    return float(value)
