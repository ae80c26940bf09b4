"""Bad input anywhere gets InvalidTimeout, ValueError or TypeError naming it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import urllib3
from hypothesis import given, settings
from hypothesis import strategies as st

from requests_managed import (
    InvalidTimeout,
    KeepAlivePolicy,
    ManagedSession,
    PoolLimits,
    Timeout,
)

from .adapters import RecordingAdapter
from .server import Reply, Server

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.tuples(st.integers(-5, 5), st.floats()),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def _check(make: Any, value: object) -> object | None:
    try:
        return make()
    except (InvalidTimeout, ValueError, TypeError) as exc:
        assert repr(value) in str(exc) or str(value) in str(exc), str(exc)
        return None


@given(field=st.sampled_from(["connect", "read", "total"]), value=anything)
def test_timeout_fields(field: str, value: object) -> None:
    made = _check(lambda: Timeout(**{field: value}), value)
    if made is not None:
        phase = getattr(made, field)
        assert phase is None or phase > 0


@given(
    field=st.sampled_from(
        ["max_idle_per_host", "max_per_host", "max_total", "wait_timeout"]
    ),
    value=anything,
)
def test_pool_limits_fields(field: str, value: object) -> None:
    _check(lambda: PoolLimits(**{field: value}), value)


@given(
    field=st.sampled_from(
        [
            "idle_timeout",
            "max_age",
            "max_requests",
            "honor_server_keep_alive",
            "keep_alive_margin",
            "drain_limit",
        ]
    ),
    value=anything,
)
def test_keep_alive_policy_fields(field: str, value: object) -> None:
    _check(lambda: KeepAlivePolicy(**{field: value}), value)


@settings(max_examples=50, deadline=None)
@given(
    field=st.sampled_from(["timeout", "limits", "policy"]),
    value=anything,
)
def test_session_constructor(field: str, value: object) -> None:
    session = _check(lambda: ManagedSession(**{field: value}), value)
    if isinstance(session, ManagedSession):
        session.close()
        if field == "timeout":
            assert session._rm_timeout.total == 300.0  # never silently unbounded


# -- per-request timeout= values ------------------------------------------------

# Down to the smallest positive float: a phase below a nanosecond must still
# time out as a timeout (never make the socket non-blocking).
positive = st.floats(min_value=0.0, max_value=1e6, exclude_min=True)
request_timeouts = st.one_of(
    anything,
    st.tuples(anything, anything),
    st.tuples(st.none() | positive, st.none() | positive),
    st.builds(urllib3.Timeout, connect=st.none() | positive, read=st.none() | positive),
    st.builds(
        Timeout,
        connect=st.none() | positive,
        read=st.none() | positive,
        total=st.none() | positive,
    ),
)


def _total(value: object) -> float | None:
    """The total bound a request made with ``timeout=value`` must keep."""
    return value.total if isinstance(value, Timeout) else 300.0


@settings(max_examples=300, deadline=None)
@given(value=request_timeouts)
def test_request_timeout_values(value: object) -> None:
    adapter = RecordingAdapter()
    with ManagedSession(timeout=Timeout(connect=5, read=30, total=300)) as session:
        session.mount("mock://", adapter)
        if _check(lambda: session.get("mock://x", timeout=value), value) is None:
            assert adapter.timeouts == []  # rejected before anything was sent
            return
    [(connect, read)] = adapter.timeouts
    total = _total(value)
    for phase in (connect, read):
        if total is None:  # asked for by name: Timeout(total=None)
            assert phase is None or phase > 0
        else:  # never silently unbounded: the total caps every phase
            assert phase is not None and 0 < phase <= max(total, 0.001)
        # what reaches a socket is at least a millisecond (see socket_phase)
        assert phase is None or phase >= 0.001


@pytest.fixture(scope="module")
def _loopback() -> Iterator[Server]:
    with Server(lambda request: Reply(body=b"ok")) as server:
        yield server


@settings(max_examples=40, deadline=None)
@given(value=request_timeouts)
def test_request_timeout_values_on_real_connections(
    _loopback: Server, value: object
) -> None:
    opened = _loopback.connections_opened
    with ManagedSession() as session:
        try:
            response = _check(lambda: session.get(_loopback.url, timeout=value), value)
        except requests.exceptions.Timeout:
            # a valid but tiny bound (hypothesis likes 0.001 s) may expire
            timeout = Timeout.coerce(value)
            phases = [timeout.connect, timeout.read, timeout.total]
            assert min(p for p in phases if p is not None) < 1.0
            return
        if response is None:
            assert _loopback.connections_opened == opened  # nothing was sent
        else:
            assert isinstance(response, requests.Response)
            assert response.text == "ok"


def test_subscribe_rejects_what_cannot_be_called() -> None:
    with ManagedSession() as session, pytest.raises(TypeError, match="'x'"):
        session.subscribe("x")  # type: ignore[arg-type]


@pytest.mark.parametrize("phase", ["connect", "read", "total"])
def test_a_timeout_too_long_for_a_socket_is_refused_where_it_enters(
    phase: str,
) -> None:
    # before: accepted, then a raw OverflowError at request time
    with pytest.raises(InvalidTimeout, match=phase):
        Timeout(**{phase: 1e10})  # type: ignore[arg-type]
