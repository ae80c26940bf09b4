"""The ``PoolLimits`` value type."""

from __future__ import annotations

import dataclasses

from ._validate import check_count, check_seconds

__all__ = ["PoolLimits"]


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
        TypeError: a count is not an int, or ``wait_timeout`` not a number.
        ValueError: a count is negative (``max_per_host`` and ``max_total``
            at least 1), or ``wait_timeout`` is not a positive, finite number
            of seconds. The message names the field and the value.
    """

    max_idle_per_host: int = 10
    max_per_host: int | None = None
    max_total: int | None = None
    wait_timeout: float | None = None

    def __post_init__(self) -> None:
        check_count(
            "max_idle_per_host", self.max_idle_per_host, minimum=0, allow_none=False
        )
        check_count("max_per_host", self.max_per_host, minimum=1, allow_none=True)
        check_count("max_total", self.max_total, minimum=1, allow_none=True)
        wait = check_seconds("wait_timeout", self.wait_timeout)
        object.__setattr__(self, "wait_timeout", wait)
