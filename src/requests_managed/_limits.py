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
        max_idle_per_host: Idle connections kept per host for reuse, at
            least. Beyond what is kept, connections are still opened when
            needed but closed after use (counted as ``pool-overflow`` closes,
            never warned about). ``0`` disables keep-alive reuse.
        idle_follows_peak: Keep more idle connections than
            ``max_idle_per_host`` when the host had that many in use at once
            (its peak concurrency), up to this many: 32 threads sharing a
            session keep their 32 connections between rounds instead of
            closing 22 and opening them again. The idle timeout still closes
            what a burst left behind. ``0``: keep ``max_idle_per_host`` only.
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
    idle_follows_peak: int = 64
    max_per_host: int | None = None
    max_total: int | None = None
    wait_timeout: float | None = None

    def _idle_kept(self, peak_in_use: int) -> int:
        """Idle connections kept for a host that had ``peak_in_use`` at once."""
        if self.max_idle_per_host == 0:
            return 0  # no reuse at all, whatever the concurrency
        return max(self.max_idle_per_host, min(peak_in_use, self.idle_follows_peak))

    def __post_init__(self) -> None:
        check_count(
            "max_idle_per_host", self.max_idle_per_host, minimum=0, allow_none=False
        )
        check_count(
            "idle_follows_peak", self.idle_follows_peak, minimum=0, allow_none=False
        )
        check_count("max_per_host", self.max_per_host, minimum=1, allow_none=True)
        check_count("max_total", self.max_total, minimum=1, allow_none=True)
        wait = check_seconds("wait_timeout", self.wait_timeout)
        object.__setattr__(self, "wait_timeout", wait)
