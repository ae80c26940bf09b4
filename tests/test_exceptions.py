from __future__ import annotations

import pickle

import pytest
import requests

from requests_managed import (
    BodyReadTimeout,
    ConnectionLeakWarning,
    DeadlineExceeded,
    IncompleteResponseHead,
    InvalidTimeout,
    PoolTimeout,
    SessionClosed,
)


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (DeadlineExceeded, (requests.Timeout, requests.ConnectionError)),
        (BodyReadTimeout, (requests.ReadTimeout, requests.ConnectionError)),
        (
            IncompleteResponseHead,
            (requests.ConnectionError, requests.exceptions.ChunkedEncodingError),
        ),
        (PoolTimeout, (requests.Timeout,)),
        (SessionClosed, (requests.RequestException,)),
        (InvalidTimeout, (requests.RequestException, ValueError)),
        (ConnectionLeakWarning, (ResourceWarning,)),
    ],
)
def test_existing_except_clauses_keep_working(
    cls: type[BaseException], bases: tuple[type[BaseException], ...]
) -> None:
    assert issubclass(cls, bases)


@pytest.mark.parametrize(
    "cls",
    [DeadlineExceeded, BodyReadTimeout, PoolTimeout, SessionClosed, InvalidTimeout],
)
def test_exceptions_survive_pickle(cls: type[requests.RequestException]) -> None:
    request = requests.Request("GET", "http://127.0.0.1/").prepare()
    exc = cls("message", request=request)
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is cls
    assert str(clone) == "message"
    # request= passes through, as requests' own exceptions keep it
    assert clone.request is not None
    assert clone.request.url == request.url == "http://127.0.0.1/"


def test_leak_warning_survives_pickle() -> None:
    warning = ConnectionLeakWarning("made at app.py:12")
    clone = pickle.loads(pickle.dumps(warning))
    assert type(clone) is ConnectionLeakWarning
    assert str(clone) == "made at app.py:12"


def test_raised_errors_survive_pickle_with_their_request() -> None:
    from requests_managed import ManagedSession

    session = ManagedSession()
    session.close()
    with pytest.raises(SessionClosed) as info:
        session.get("http://127.0.0.1:9/x")
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is SessionClosed
    assert clone.request is not None and clone.request.url == "http://127.0.0.1:9/x"
    assert str(clone) == str(info.value)
