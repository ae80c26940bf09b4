"""The keep-alive policy, tested alone: no sockets, no clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from requests_managed._policy import (
    LEARN_WINDOW,
    NOTHING_LEARNED,
    CloseReason,
    ConnectionFacts,
    Decision,
    ExchangeFacts,
    IdleLearning,
    KeepAlivePolicy,
    decide_checkout,
    decide_release,
    observe_idle_close,
    observe_idle_reuse,
    parse_keep_alive,
    should_drain,
)

R = CloseReason
NOW = 1000.0


def facts(
    *,
    age: float = 10.0,
    idle: float = 1.0,
    requests: int = 1,
    server_idle: float | None = None,
    server_max: int | None = None,
    announced_at: int = 0,
    learned: float | None = None,
) -> ConnectionFacts:
    return ConnectionFacts(
        learned_idle_timeout=learned,
        created=NOW - age,
        last_used=NOW - idle,
        requests=requests,
        server_idle_timeout=server_idle,
        server_max_requests=server_max,
        requests_at_announcement=announced_at,
    )


CHECKOUT_CASES = [
    # (policy kwargs, connection facts, expected decision)
    ({}, facts(), Decision(True)),
    ({"idle_timeout": 0.8}, facts(idle=0.79), Decision(True)),
    ({"idle_timeout": 0.8}, facts(idle=0.81), Decision(False, R.IDLE_EXPIRED)),
    ({"idle_timeout": None}, facts(idle=1e6), Decision(True)),
    # the margin before the server's timeout=N is a fifth of N, at most
    # keep_alive_margin (1 s): timeout=2 retires at 1.6 s, timeout=10 at 9 s
    ({}, facts(server_idle=2.0, idle=1.5), Decision(True)),
    (
        {},
        facts(server_idle=2.0, idle=1.6),
        Decision(False, R.SERVER_KEEP_ALIVE_TIMEOUT),
    ),
    ({}, facts(server_idle=10.0, idle=8.9), Decision(True)),
    (
        {},
        facts(server_idle=10.0, idle=9.0),
        Decision(False, R.SERVER_KEEP_ALIVE_TIMEOUT),
    ),
    (
        {"keep_alive_margin": 0.1},
        facts(server_idle=2.0, idle=1.8),
        Decision(True),
    ),
    (
        {"keep_alive_margin": 0},
        facts(server_idle=2.0, idle=1.99),
        Decision(True),
    ),
    (
        {"honor_server_keep_alive": False},
        facts(server_idle=2.0, idle=5),
        Decision(True),
    ),
    ({"max_age": 10}, facts(age=9.9), Decision(True)),
    ({"max_age": 10}, facts(age=10), Decision(False, R.MAX_AGE)),
    ({"max_requests": 3}, facts(requests=3), Decision(False, R.MAX_REQUESTS)),
    ({}, facts(requests=5, server_max=5), Decision(False, R.SERVER_KEEP_ALIVE_MAX)),
    ({}, facts(requests=4, server_max=5), Decision(True)),
    # Keep-Alive: max= counts the requests left after the response carrying
    # it (Apache sends max=100, 99, 98, ...)
    ({}, facts(requests=3, server_max=97, announced_at=3), Decision(True)),
    (
        {},
        facts(requests=9, server_max=2, announced_at=7),
        Decision(False, R.SERVER_KEEP_ALIVE_MAX),
    ),
    ({}, facts(requests=8, server_max=2, announced_at=7), Decision(True)),
    (
        {},
        facts(requests=4, server_max=0, announced_at=4),
        Decision(False, R.SERVER_KEEP_ALIVE_MAX),
    ),
    # a learned idle timeout retires with the same margin as an announced one
    ({}, facts(learned=2.0, idle=1.59), Decision(True)),
    ({}, facts(learned=2.0, idle=1.6), Decision(False, R.LEARNED_IDLE_TIMEOUT)),
    ({}, facts(learned=10.0, idle=9.0), Decision(False, R.LEARNED_IDLE_TIMEOUT)),
    ({"learn_idle_timeout": False}, facts(learned=2.0, idle=5), Decision(True)),
    # what the server announces wins over what was learned about it
    ({}, facts(learned=1.0, server_idle=5.0, idle=2), Decision(True)),
    (
        {"honor_server_keep_alive": False},
        facts(learned=1.0, server_idle=5.0, idle=2),
        Decision(False, R.LEARNED_IDLE_TIMEOUT),
    ),
    # idle expiry is reported before the server's hint when both apply
    (
        {"idle_timeout": 1},
        facts(idle=3, server_idle=2),
        Decision(False, R.IDLE_EXPIRED),
    ),
]


@pytest.mark.parametrize(("policy", "conn", "expected"), CHECKOUT_CASES)
def test_decide_checkout(
    policy: dict[str, object], conn: ConnectionFacts, expected: Decision
) -> None:
    assert decide_checkout(KeepAlivePolicy(**policy), conn, NOW) == expected  # type: ignore[arg-type]


RELEASE_CASES = [
    ({}, facts(), ExchangeFacts(), Decision(True)),
    ({}, facts(), ExchangeFacts(will_close=True), Decision(False, R.SERVER_CLOSE)),
    ({}, facts(), ExchangeFacts(complete=False), Decision(False, R.UNREAD_BODY)),
    ({}, facts(), ExchangeFacts(error=True), Decision(False, R.ERROR)),
    (
        {},
        facts(),
        ExchangeFacts(deadline=True, error=True),
        Decision(False, R.DEADLINE),
    ),
    (
        {"max_requests": 2},
        facts(requests=2),
        ExchangeFacts(),
        Decision(False, R.MAX_REQUESTS),
    ),
    ({"max_requests": 2}, facts(requests=1), ExchangeFacts(), Decision(True)),
    (
        {},
        facts(requests=5, server_max=5),
        ExchangeFacts(),
        Decision(False, R.SERVER_KEEP_ALIVE_MAX),
    ),
    ({"max_age": 5}, facts(age=6), ExchangeFacts(), Decision(False, R.MAX_AGE)),
    # idleness is not a reason to close on release: the connection was just used
    ({"idle_timeout": 0.5}, facts(idle=0.0), ExchangeFacts(), Decision(True)),
]


@pytest.mark.parametrize(("policy", "conn", "exchange", "expected"), RELEASE_CASES)
def test_decide_release(
    policy: dict[str, object],
    conn: ConnectionFacts,
    exchange: ExchangeFacts,
    expected: Decision,
) -> None:
    assert decide_release(KeepAlivePolicy(**policy), conn, exchange, NOW) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exchange", "limit", "expected"),
    [
        (ExchangeFacts(complete=False, unread=1024), 65536, True),
        (ExchangeFacts(complete=False, unread=65536), 65536, True),
        (ExchangeFacts(complete=False, unread=65537), 65536, False),
        (ExchangeFacts(complete=False, unread=None, framed=True), 65536, True),
        (ExchangeFacts(complete=False, unread=None, framed=False), 65536, False),
        (ExchangeFacts(complete=False, unread=10), 0, False),
        (ExchangeFacts(complete=False, unread=10, will_close=True), 65536, False),
    ],
)
def test_should_drain(exchange: ExchangeFacts, limit: int, expected: bool) -> None:
    assert should_drain(KeepAlivePolicy(drain_limit=limit), exchange) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("timeout=5, max=100", (5.0, 100)),
        ("timeout=5", (5.0, None)),
        ("max=3", (None, 3)),
        ("Timeout=2.5 ,  MAX = 7", (2.5, 7)),
        ('timeout="4"', (4.0, None)),
        ("timeout=abc, max=-1", (None, None)),
        ("timeout=nan, max=1.5", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
        ("foo=bar", (None, None)),
    ],
)
def test_parse_keep_alive(header: str | None, expected: tuple[object, object]) -> None:
    assert parse_keep_alive(header) == expected


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"idle_timeout": -1}, "idle_timeout"),
        ({"idle_timeout": math.nan}, "idle_timeout"),
        ({"max_age": "1"}, "max_age"),
        ({"max_requests": 0}, "max_requests"),
        ({"max_requests": 1.5}, "max_requests"),
        ({"keep_alive_margin": -1}, "keep_alive_margin"),
        ({"keep_alive_margin": None}, "keep_alive_margin"),
        ({"drain_limit": -1}, "drain_limit"),
        ({"drain_limit": None}, "drain_limit"),
        ({"idle_timeout": 1e10}, "idle_timeout"),
    ],
)
def test_invalid_policy_fields_are_named(kwargs: dict[str, object], name: str) -> None:
    value = next(iter(kwargs.values()))
    counts = ("max_requests", "drain_limit")
    wrong_type = (
        value is None
        or isinstance(value, str)
        or (isinstance(value, float) and name in counts and not math.isnan(value))
    )
    # a wrong type is a TypeError, a wrong value a ValueError
    with pytest.raises(TypeError if wrong_type else ValueError, match=name):
        KeepAlivePolicy(**kwargs)  # type: ignore[arg-type]


def test_honor_flag_must_be_bool() -> None:
    with pytest.raises(TypeError, match="honor_server_keep_alive"):
        KeepAlivePolicy(honor_server_keep_alive="yes")  # type: ignore[arg-type]


def test_learn_flag_must_be_bool() -> None:
    with pytest.raises(TypeError, match=r"learn_idle_timeout must be a bool, got 1"):
        KeepAlivePolicy(learn_idle_timeout=1)  # type: ignore[arg-type]


# -- learning the idle timeout --------------------------------------------------


def learn(*closes: float) -> IdleLearning:
    learning = NOTHING_LEARNED
    for idle in closes:
        learning = observe_idle_close(learning, idle)
    return learning


def test_one_observed_close_teaches_nothing() -> None:
    assert learn(2.3).estimate is None


def test_learned_timeout_is_the_second_shortest_close() -> None:
    # one early close (a restart, a reset by a load balancer) is outvoted
    assert learn(2.4, 0.1, 2.05, 2.2).estimate == 2.05
    assert learn(2.4, 2.1).estimate == 2.4


def test_reuse_forgets_the_closes_it_contradicts() -> None:
    learning = learn(0.5, 2.1, 2.3)
    assert learning.estimate == 2.1
    after = observe_idle_reuse(learning, 1.0)  # kept 1.0 s: 0.5 was no timeout
    assert after.closes == (2.1, 2.3) and after.estimate == 2.3


def test_reuse_shorter_than_every_close_changes_nothing() -> None:
    learning = learn(2.1, 2.3)
    assert observe_idle_reuse(learning, 1.9) is learning
    assert observe_idle_reuse(NOTHING_LEARNED, 5.0) is NOTHING_LEARNED


def test_a_shortened_server_timeout_is_learned_from_new_closes() -> None:
    learning = observe_idle_reuse(learn(), 9.0)  # the server kept 9 s once
    learning = learn(*learning.closes, 2.0, 2.2, 2.1)
    assert learning.estimate == 2.1


@pytest.mark.parametrize("idle", [-1.0, math.nan, math.inf])
def test_impossible_idle_times_are_ignored(idle: float) -> None:
    assert observe_idle_close(learn(2.0), idle) == learn(2.0)


observations = st.lists(
    st.tuples(st.booleans(), st.floats(0, 1e4, allow_nan=False)), max_size=60
)


@given(observations)
def test_learning_memory_is_bounded_and_the_estimate_is_an_observed_close(
    steps: list[tuple[bool, float]],
) -> None:
    learning = NOTHING_LEARNED
    for is_close, idle in steps:
        observe = observe_idle_close if is_close else observe_idle_reuse
        learning = observe(learning, idle)
        assert len(learning.closes) <= LEARN_WINDOW
        if learning.estimate is None:
            assert len(learning.closes) < 2
        else:
            assert learning.estimate in learning.closes
            assert sum(t <= learning.estimate for t in learning.closes) >= 2


# -- invariants -----------------------------------------------------------------

seconds = st.floats(min_value=0.001, max_value=1e5, allow_nan=False)
optional_seconds = st.none() | seconds
policies = st.builds(
    KeepAlivePolicy,
    idle_timeout=optional_seconds,
    max_age=optional_seconds,
    max_requests=st.none() | st.integers(1, 1000),
    honor_server_keep_alive=st.booleans(),
    keep_alive_margin=st.floats(0, 10),
    drain_limit=st.integers(0, 1 << 20),
    learn_idle_timeout=st.booleans(),
)
connections = st.builds(
    ConnectionFacts,
    created=st.floats(0, NOW),
    last_used=st.floats(0, NOW),
    requests=st.integers(0, 2000),
    server_idle_timeout=st.none() | st.floats(0, 1e4),
    server_max_requests=st.none() | st.integers(0, 2000),
    requests_at_announcement=st.integers(0, 2000),
    learned_idle_timeout=st.none() | st.floats(0, 1e4),
)
exchanges = st.builds(
    ExchangeFacts,
    will_close=st.booleans(),
    complete=st.booleans(),
    unread=st.none() | st.integers(0, 1 << 22),
    framed=st.booleans(),
    error=st.booleans(),
    deadline=st.booleans(),
)


def _past_a_limit(policy: KeepAlivePolicy, conn: ConnectionFacts) -> bool:
    return (policy.max_age is not None and NOW - conn.created >= policy.max_age) or (
        policy.max_requests is not None and conn.requests >= policy.max_requests
    )


@given(policies, connections)
def test_checkout_never_keeps_a_connection_past_a_limit(
    policy: KeepAlivePolicy, conn: ConnectionFacts
) -> None:
    decision = decide_checkout(policy, conn, NOW)
    idle = NOW - conn.last_used
    idle_expired = policy.idle_timeout is not None and idle >= policy.idle_timeout
    server_expired = (
        policy.honor_server_keep_alive
        and conn.server_idle_timeout is not None
        and idle
        >= conn.server_idle_timeout
        - min(policy.keep_alive_margin, 0.2 * conn.server_idle_timeout)
    )
    server_exhausted = (
        policy.honor_server_keep_alive
        and conn.server_max_requests is not None
        and conn.requests - conn.requests_at_announcement >= conn.server_max_requests
    )
    if _past_a_limit(policy, conn) or idle_expired:
        assert not decision.keep
    if server_expired or server_exhausted:  # the server's own limits
        assert not decision.keep
    assert decision.keep == (decision.reason is None)


@given(policies, connections, exchanges)
def test_release_never_keeps_a_closing_or_exhausted_connection(
    policy: KeepAlivePolicy, conn: ConnectionFacts, exchange: ExchangeFacts
) -> None:
    decision = decide_release(policy, conn, exchange, NOW)
    if exchange.will_close or exchange.error or exchange.deadline:
        assert not decision.keep
    if not exchange.complete:
        assert not decision.keep
    if _past_a_limit(policy, conn):
        assert not decision.keep
    assert decision.keep == (decision.reason is None)


@given(policies, connections, exchanges)
def test_decisions_depend_only_on_their_inputs(
    policy: KeepAlivePolicy, conn: ConnectionFacts, exchange: ExchangeFacts
) -> None:
    assert decide_checkout(policy, conn, NOW) == decide_checkout(policy, conn, NOW)
    assert decide_release(policy, conn, exchange, NOW) == decide_release(
        policy, conn, exchange, NOW
    )
    assert should_drain(policy, exchange) == should_drain(policy, exchange)


@pytest.mark.parametrize(
    ("kwargs", "says_none_is_accepted"),
    [
        ({"idle_timeout": -1}, True),
        ({"max_age": 0}, True),
        ({"keep_alive_margin": -1}, False),
        ({"keep_alive_margin": None}, False),
    ],
)
def test_messages_offer_none_only_where_it_is_accepted(
    kwargs: dict[str, object], says_none_is_accepted: bool
) -> None:
    with pytest.raises((ValueError, TypeError)) as error:
        KeepAlivePolicy(**kwargs)  # type: ignore[arg-type]
    assert ("or None" in str(error.value)) is says_none_is_accepted
    assert repr(next(iter(kwargs.values()))) in str(error.value)
