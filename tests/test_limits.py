from __future__ import annotations

import math

import pytest

from requests_managed import PoolLimits


def test_defaults() -> None:
    limits = PoolLimits()
    assert limits.max_idle_per_host == 10
    assert limits.max_per_host is None and limits.max_total is None
    assert limits.wait_timeout is None


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_idle_per_host": -1}, "max_idle_per_host"),
        ({"max_idle_per_host": None}, "max_idle_per_host"),
        ({"max_idle_per_host": 1.5}, "max_idle_per_host"),
        ({"max_idle_per_host": True}, "max_idle_per_host"),
        ({"max_per_host": 0}, "max_per_host"),
        ({"max_per_host": "4"}, "max_per_host"),
        ({"max_total": 0}, "max_total"),
        ({"wait_timeout": 0}, "wait_timeout"),
        ({"wait_timeout": -1}, "wait_timeout"),
        ({"wait_timeout": math.nan}, "wait_timeout"),
        ({"wait_timeout": "1"}, "wait_timeout"),
    ],
)
def test_invalid_fields_are_named(kwargs: dict[str, object], name: str) -> None:
    value = next(iter(kwargs.values()))
    wrong_type = value is None or (
        isinstance(value, (bool, str, float))
        and not (isinstance(value, float) and name == "wait_timeout")
    )
    # a wrong type is a TypeError, a wrong value a ValueError
    with pytest.raises(TypeError if wrong_type else ValueError, match=name) as info:
        PoolLimits(**kwargs)  # type: ignore[arg-type]
    assert repr(next(iter(kwargs.values()))) in str(info.value)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_small_limits_are_accepted(n: int) -> None:
    assert PoolLimits(max_idle_per_host=n).max_idle_per_host == n
    if n:
        assert PoolLimits(max_per_host=n, max_total=n).max_total == n
