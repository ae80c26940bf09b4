"""OpenTelemetry connection metrics for ``ManagedSession`` (the ``otel`` extra).

``pip install 'requests-managed[otel]'``, then::

    from requests_managed import otel

    stop = otel.instrument()          # every ManagedSession, now and later
    stop = otel.instrument(session)   # or one session

The pools' state is exported as the HTTP client metrics of OpenTelemetry's
semantic conventions (the ones .NET's ``SocketsHttpHandler`` ships), through
the global meter provider or the one passed:

=====================================  ===================  ==================
metric                                 instrument           unit
=====================================  ===================  ==================
``http.client.open_connections``       up-down counter      ``{connection}``
                                       (observed from
                                       ``pool_stats()``),
                                       ``http.connection.
                                       state`` = ``active``
                                       / ``idle``
``http.client.connection.duration``    histogram, at close  ``s``
``http.client.request.time_in_queue``  histogram, per wait  ``s``
                                       at a limit
=====================================  ===================  ==================

Every point carries ``server.address``, ``server.port`` and ``url.scheme``;
a connection's duration also ``requests_managed.close_reason`` (a
:class:`~requests_managed.CloseReason` value, e.g. ``"idle-expired"``).
Spans come from ``opentelemetry-instrumentation-requests``, which composes
with this.

This is the only module of the package that imports OpenTelemetry; only its
API is needed (``opentelemetry-api``), the SDK is yours to configure.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from . import __version__, _manager
from ._manager import ConnectionManager
from ._session import ManagedSession
from ._stats import ConnectionEvent, EventKind, PoolStats

__all__ = ["instrument"]

#: Bucket boundaries the semantic conventions advise (seconds).
DURATION_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _stats_of(source: ManagedSession | ConnectionManager) -> PoolStats:
    if isinstance(source, ManagedSession):
        return source.pool_stats()
    return source.stats()


class _Exporter:
    """The instruments of one meter provider and the sources they read."""

    def __init__(self, provider: MeterProvider | None) -> None:
        meter = metrics.get_meter(
            "requests_managed", __version__, meter_provider=provider
        )
        self.duration = meter.create_histogram(
            "http.client.connection.duration",
            unit="s",
            description="The duration of the client's HTTP connections.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.queue = meter.create_histogram(
            "http.client.request.time_in_queue",
            unit="s",
            description="Time requests spent waiting at a pool limit for a connection.",
            explicit_bucket_boundaries_advisory=QUEUE_BUCKETS,
        )
        meter.create_observable_up_down_counter(
            "http.client.open_connections",
            callbacks=[self._observe],
            unit="{connection}",
            description="Open HTTP connections of the client, active or idle.",
        )
        #: Sessions (or, for every session, managers) and what unsubscribes
        #: from a session; weak, so exporting keeps nothing alive.
        self.sources: weakref.WeakKeyDictionary[
            ManagedSession | ConnectionManager, Callable[[], None] | None
        ] = weakref.WeakKeyDictionary()
        self.everything = False
        #: One bound method, so that unsubscribing finds it by identity.
        self.listener = self._on_event

    def add(self, source: ManagedSession | ConnectionManager) -> None:
        """Called with ``_lock`` held, or from a new manager's ``__init__``."""
        if source in self.sources:
            return
        unsubscribe = source.subscribe(self.listener)
        # a manager's own unsubscribe refers to it: it would never be collected
        self.sources[source] = (
            unsubscribe if isinstance(source, ManagedSession) else None
        )

    def remove(self, source: ManagedSession | ConnectionManager) -> None:
        if source not in self.sources:
            return
        unsubscribe = self.sources.pop(source)
        if unsubscribe is not None:
            unsubscribe()
        elif isinstance(source, ConnectionManager):
            source.unsubscribe(self.listener)

    def _on_event(self, event: ConnectionEvent) -> None:
        kind = event.kind
        if kind is EventKind.CLOSED:
            attributes = _attributes(event.scheme, event.host, event.port)
            if event.reason is not None:
                attributes["requests_managed.close_reason"] = event.reason.value
            self.duration.record(event.age, attributes)
        elif kind is EventKind.WAITED and event.waited is not None:
            self.queue.record(
                event.waited, _attributes(event.scheme, event.host, event.port)
            )

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        # Several sessions may share an origin: one point per attribute set.
        counts: dict[tuple[str, str, int], list[int]] = {}
        with _lock:
            sources = list(self.sources)
        for source in sources:
            for key, stats in _stats_of(source).hosts.items():
                total = counts.setdefault(key, [0, 0])
                total[0] += stats.in_use
                total[1] += stats.idle
        for (scheme, host, port), (active, idle) in counts.items():
            attributes = _attributes(scheme, host, port)
            yield Observation(active, {**attributes, "http.connection.state": "active"})
            yield Observation(idle, {**attributes, "http.connection.state": "idle"})


def _attributes(scheme: str, host: str, port: int) -> dict[str, str | int]:
    return {"server.address": host, "server.port": port, "url.scheme": scheme}


_lock = threading.Lock()
_exporters: weakref.WeakKeyDictionary[object, _Exporter] = weakref.WeakKeyDictionary()


def instrument(
    session: ManagedSession | None = None,
    *,
    meter_provider: MeterProvider | None = None,
) -> Callable[[], None]:
    """Export connection metrics of ``session``, or of every ``ManagedSession``.

    Args:
        session: The session to instrument. ``None``: every ManagedSession of
            the process, those that exist and those created later (``install()``
            sessions too).
        meter_provider: Where the metrics go; ``None``: OpenTelemetry's global
            meter provider.

    Returns:
        A function that stops exporting what this call started. Calling
        ``instrument`` again for the same session and provider adds nothing.

    Raises:
        TypeError: ``session`` is not a ``ManagedSession``.

    Example:
        >>> from requests_managed import ManagedSession, otel
        >>> with ManagedSession() as session:
        ...     stop = otel.instrument(session)
        ...     stop()
    """
    if session is not None and not isinstance(session, ManagedSession):
        raise TypeError(
            "instrument() takes a ManagedSession or None (every session), "
            f"got {session!r}"
        )
    key: object = meter_provider if meter_provider is not None else metrics
    with _lock:
        # One exporter per provider, kept: OpenTelemetry cannot remove an
        # instrument, and a second one of the same name would be refused.
        exporter = _exporters.get(key)
        if exporter is None:
            exporter = _exporters[key] = _Exporter(meter_provider)
        if exporter.everything:
            return _nothing  # every session is exported already
        if session is not None:
            exporter.add(session)
            target = weakref.ref(session)
            return lambda: _stop_one(exporter, target)
        exporter.everything = True
        for other in list(exporter.sources):  # covered by their managers now
            exporter.remove(other)
        for manager in _manager.live_managers():
            exporter.add(manager)
        _manager._creation_hooks = (*_manager._creation_hooks, exporter.add)
    return lambda: _stop_all(exporter)


def _stop_one(exporter: _Exporter, target: weakref.ref[ManagedSession]) -> None:
    session = target()
    with _lock:
        if session is not None:
            exporter.remove(session)


def _stop_all(exporter: _Exporter) -> None:
    with _lock:
        if not exporter.everything:
            return
        exporter.everything = False
        _manager._creation_hooks = tuple(
            hook for hook in _manager._creation_hooks if hook != exporter.add
        )
        for source in list(exporter.sources):
            exporter.remove(source)


def _nothing() -> None:
    """The undo of a call that started nothing."""
