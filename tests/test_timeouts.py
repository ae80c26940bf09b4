from __future__ import annotations

import dataclasses
import math
import time

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from requests_managed import InvalidTimeout, Timeout


def test_defaults_and_repr_round_trip() -> None:
    timeout = Timeout()
    assert (timeout.connect, timeout.read, timeout.total) == (5.0, 30.0, 300.0)
    assert repr(timeout) == "Timeout(connect=5.0, read=30.0, total=300.0)"
    assert eval(repr(timeout)) == timeout  # paste-able


def test_is_frozen_hashable_and_replaceable() -> None:
    timeout = Timeout(connect=1, read=2, total=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        timeout.read = 5  # type: ignore[misc]
    assert hash(timeout) == hash(Timeout(connect=1.0, read=2.0, total=3.0))
    assert dataclasses.replace(timeout, read=None).read is None


def test_unbounded_phases_only_by_name() -> None:
    timeout = Timeout(read=None, total=None)
    assert timeout.read is None and timeout.total is None
    assert timeout.connect == 5.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Timeout()),
        (7, Timeout(connect=7, read=7)),
        (2.5, Timeout(connect=2.5, read=2.5)),
        ((3.05, 27), Timeout(connect=3.05, read=27)),
        ((None, 4), Timeout(connect=None, read=4)),
        (Timeout(connect=1, read=2, total=3), Timeout(connect=1, read=2, total=3)),
    ],
)
def test_coerce_accepts_what_requests_accepts(value: object, expected: Timeout) -> None:
    assert Timeout.coerce(value) == expected


def test_coerce_none_is_the_given_default() -> None:
    default = Timeout(connect=1, read=1, total=9)
    assert Timeout.coerce(None, default) is default
    assert Timeout.coerce(4, default) == Timeout(connect=4, read=4, total=9)


def test_urllib3_timeout_phases_are_taken_as_given() -> None:
    base = Timeout(connect=1, read=2, total=60)
    unbounded = Timeout.coerce(urllib3.Timeout(connect=None, read=None), base)
    assert (unbounded.connect, unbounded.read) == (None, None)
    # never silently unbounded: the session's total still applies
    assert unbounded.total == 60
    partial = Timeout.coerce(urllib3.Timeout(read=7), base)
    assert (partial.connect, partial.read) == (1, 7)
    assert Timeout.coerce(urllib3.Timeout(total=5), base).total == 5


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        (-1, "positive"),
        (0, "positive"),
        (0.0, "positive"),
        (math.nan, "positive"),
        (math.inf, "positive"),
        (True, "must be an int, float or None"),
        (False, "must be an int, float or None"),
        ("5", "must be an int, float or None"),
        (b"5", "must be an int, float or None"),
        ([1, 2], "must be an int, float or None"),
        ((1, 2, 3), "(connect, read)"),
        ((1,), "(connect, read)"),
        ((), "(connect, read)"),
        ((1, -2), "positive"),
        ((1, "x"), "must be an int, float or None"),
        ((True, 1), "must be an int, float or None"),
    ],
)
def test_invalid_values_raise_invalid_timeout_naming_the_value(
    value: object, phrase: str
) -> None:
    with pytest.raises(InvalidTimeout) as info:
        Timeout.coerce(value)
    message = str(info.value)
    assert phrase in message
    assert repr(value) in message or any(repr(v) in message for v in value)  # type: ignore[attr-defined]
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("field", ["connect", "read", "total"])
@pytest.mark.parametrize("bad", [-0.5, 0, math.nan, math.inf, "1", True])
def test_invalid_phase_names_the_phase(field: str, bad: object) -> None:
    with pytest.raises(InvalidTimeout, match=f"^{field} timeout"):
        Timeout(**{field: bad})  # type: ignore[arg-type]


@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=3),
        st.tuples(st.floats(), st.floats()),
        st.lists(st.integers(), max_size=3).map(tuple),
    )
)
def test_coerce_returns_bounded_timeout_or_raises_invalid_timeout(
    value: object,
) -> None:
    try:
        timeout = Timeout.coerce(value)
    except InvalidTimeout as exc:
        assert str(exc)
        return
    for phase in (timeout.connect, timeout.read):
        assert phase is None or (math.isfinite(phase) and phase > 0)
    assert timeout.total == 300.0  # the default total is never dropped


def test_a_request_timeout_takes_the_phases_it_leaves_out_from_the_session() -> None:
    # before: Timeout(connect=3, read=10) on a request reset the session's
    # total=2 to 300 s
    session_default = Timeout(connect=1, total=2)
    request = Timeout(connect=3, read=10)
    assert Timeout.coerce(request, session_default) == Timeout(
        connect=3, read=10, total=2
    )
    # standing alone, the phases left out are the documented defaults
    assert request == Timeout(connect=3, read=10, total=300)
    assert request.given == {"connect", "read"}
    # unbounding a phase stays possible by name
    assert Timeout.coerce(Timeout(total=None), session_default).total is None


def test_a_request_timeout_keeps_the_session_total_on_the_wire() -> None:
    from requests_managed import DeadlineExceeded, ManagedSession

    from .server import Reply, Server

    def dribble(request: object) -> Reply:
        script: list[bytes | float] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
        ]
        for _ in range(100):
            script += [0.1, b"x"]
        return Reply(script=script)

    with Server(dribble) as server, ManagedSession(timeout=Timeout(total=1)) as s:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            s.get(server.url, timeout=Timeout(connect=3, read=10))
        assert time.monotonic() - started < 6  # the 10 s dribble was cut at 1 s


def test_unbounded_is_every_phase_none_and_reads_as_such() -> None:
    from requests_managed import UNBOUNDED

    assert Timeout.unbounded() is UNBOUNDED
    assert (UNBOUNDED.connect, UNBOUNDED.read, UNBOUNDED.write, UNBOUNDED.total) == (
        None,
        None,
        None,
        None,
    )
    assert repr(UNBOUNDED) == "Timeout(connect=None, read=None, total=None)"
    # given in full: a session default cannot fill any phase back in
    assert Timeout.coerce(UNBOUNDED, Timeout(connect=1, read=1, total=1)) is UNBOUNDED


def test_unbounded_request_outwaits_the_session_read_timeout_and_total() -> None:
    """A call that waits on purpose (docker's wait(), a long poll) asks for
    it by name and is not cut by the session's bounds."""
    from requests_managed import UNBOUNDED, ManagedSession

    from .server import Reply, Server

    # the reply comes 10x past the session's read timeout and 2x past its total
    reply = Reply(body=b"done", delay=2.0)
    tight = Timeout(connect=1, read=0.2, total=1)
    with Server(lambda request: reply) as server, ManagedSession(timeout=tight) as s:
        assert s.get(server.url, timeout=UNBOUNDED).text == "done"
