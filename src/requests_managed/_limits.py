"""The ``PoolLimits`` value type."""

from __future__ import annotations

import dataclasses
import math

__all__ = ["PoolLimits"]


def _count(name: str, value: object, *, minimum: int, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        accepted = f"an int >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {accepted}, got {value!r}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PoolLimits:
    """How many connections a session keeps and opens, modelled on Go's
    ``http.Transport``.

    Args:
        max_idle_per_host: Idle connections kept per host for reuse. Beyond
            it, connections are still opened when needed but closed after use
            (counted as ``pool-overflow`` closes, never warned about). ``0``
            disables keep-alive reuse.
        max_per_host: Connections open at once per ``(scheme, host, port)``,
            in use or idle. At the limit, callers wait for a free connection.
            ``None``: no limit.
        max_total: Connections open at once across all hosts. ``None``: no
            limit.
        wait_timeout: Seconds a caller waits at a limit before ``PoolTimeout``.
            ``None``: the request's connect timeout.

    Raises:
        ValueError: a count is not a non-negative int (``max_per_host`` and
            ``max_total`` at least 1), or ``wait_timeout`` is not a positive
            number.
    """

    max_idle_per_host: int = 10
    max_per_host: int | None = None
    max_total: int | None = None
    wait_timeout: float | None = None

    def __post_init__(self) -> None:
        _count("max_idle_per_host", self.max_idle_per_host, minimum=0, allow_none=False)
        _count("max_per_host", self.max_per_host, minimum=1, allow_none=True)
        _count("max_total", self.max_total, minimum=1, allow_none=True)
        wait = self.wait_timeout
        if wait is not None:
            if (
                isinstance(wait, bool)
                or not isinstance(wait, (int, float))
                or math.isnan(wait)
                or math.isinf(wait)
                or wait <= 0
            ):
                raise ValueError(
                    "wait_timeout must be a positive, finite number of seconds "
                    f"or None, got {wait!r}"
                )
            object.__setattr__(self, "wait_timeout", float(wait))
