"""Bad input anywhere gets InvalidTimeout, ValueError or TypeError naming it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from requests_managed import (
    InvalidTimeout,
    KeepAlivePolicy,
    ManagedSession,
    PoolLimits,
    Timeout,
)

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


@settings(max_examples=50)
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
