"""The connection state table, tested alone: no sockets, no locks, no clock."""

from __future__ import annotations

import itertools
import pathlib
import re

import pytest

from requests_managed._lifecycle import (
    TRANSITIONS,
    ConnEvent,
    ConnRecord,
    ConnState,
    LifecycleError,
    advance,
)

S, E = ConnState, ConnEvent

#: Every allowed transition, written out once more by hand: the table must
#: say exactly this.
EXPECTED = {
    (S.NEW, E.CONNECT): S.ACTIVE,
    (S.NEW, E.CLOSE): S.CLOSED,
    (S.ACTIVE, E.CHECKIN): S.IDLE,
    (S.ACTIVE, E.CLOSE): S.CLOSED,
    (S.IDLE, E.CHECKOUT): S.ACTIVE,
    (S.IDLE, E.CLOSE): S.CLOSED,
}
FORBIDDEN = [
    pair for pair in itertools.product(ConnState, ConnEvent) if pair not in EXPECTED
]


def record(state: ConnState) -> ConnRecord:
    rec = ConnRecord(1, ("http", "127.0.0.1", 80), object(), 0, 0.0)
    rec.state = state
    return rec


def test_a_record_starts_new_with_nothing_counted() -> None:
    rec = ConnRecord(7, ("https", "example.test", 443), None, 3, 12.5)
    assert rec.state is S.NEW
    assert (rec.created, rec.last_used, rec.requests) == (12.5, 12.5, 0)
    assert not rec.connected and rec.close_reason is None
    assert rec.generation == 3
    assert "7 https://example.test:443 new" in repr(rec)


def test_the_table_is_exactly_the_documented_transitions() -> None:
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("pair", "target"), sorted(EXPECTED.items(), key=str))
def test_every_allowed_transition(
    pair: tuple[ConnState, ConnEvent], target: ConnState
) -> None:
    state, event = pair
    rec = record(state)
    assert advance(rec, event) is state
    assert rec.state is target


@pytest.mark.parametrize("pair", FORBIDDEN, ids=str)
def test_every_forbidden_transition_raises_and_changes_nothing(
    pair: tuple[ConnState, ConnEvent],
) -> None:
    state, event = pair
    rec = record(state)
    with pytest.raises(LifecycleError, match=event.value):
        advance(rec, event)
    assert rec.state is state


def test_closed_is_final_and_every_state_can_close() -> None:
    assert not [pair for pair in TRANSITIONS if pair[0] is S.CLOSED]
    for state in (S.NEW, S.ACTIVE, S.IDLE):
        assert TRANSITIONS[state, E.CLOSE] is S.CLOSED


def test_the_state_table_in_internals_md_matches_the_code() -> None:
    page = pathlib.Path(__file__).parents[1] / "docs" / "internals.md"
    rows = re.findall(
        r"^\| `(\w+)` \| `(\w+)` \| `(\w+)` \|", page.read_text(), re.MULTILINE
    )
    documented = {(S[a.upper()], E[b.upper()]): S[c.upper()] for a, b, c in rows}
    assert documented == TRANSITIONS
