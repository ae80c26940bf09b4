from __future__ import annotations

import pickle

import pytest
import requests

from requests_managed import (
    ConnectionLeakWarning,
    DeadlineExceeded,
    InvalidTimeout,
    PoolTimeout,
    SessionClosed,
)


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (DeadlineExceeded, (requests.Timeout, requests.ConnectionError)),
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
    "cls", [DeadlineExceeded, PoolTimeout, SessionClosed, InvalidTimeout]
)
def test_exceptions_survive_pickle(cls: type[requests.RequestException]) -> None:
    request = requests.Request("GET", "http://127.0.0.1/").prepare()
    exc = cls("message", request=request)
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is cls
    assert str(clone) == "message"
