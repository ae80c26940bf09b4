"""Tracking responses that are dropped while they still hold a connection.

Only a response that still holds its connection after ``send()`` returns can
leak one: with ``stream=True``, until its body is consumed or it is closed.
For those, :func:`track` records the caller's file and line (a walk up a few
frames; the whole stack only when asked for). Releasing or closing the
response forgets it; if the response is garbage-collected first, its
``__del__`` calls :func:`report`, which closes the connection and warns.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from typing import Any, NamedTuple

import requests
import urllib3

from .exceptions import ConnectionLeakWarning

__all__ = ["CallSite", "call_site", "report", "track"]

_INTERNAL = tuple(
    os.path.dirname(module.__file__) + os.sep
    for module in (requests, urllib3, sys.modules[__package__])
    if module.__file__
)


class CallSite(NamedTuple):
    filename: str
    lineno: int
    stack: str | None = None

    def __str__(self) -> str:
        text = f"{self.filename}:{self.lineno}"
        return text if self.stack is None else f"{text}\n{self.stack}"


def call_site(full: bool = False) -> CallSite:
    """The first frame outside requests, urllib3 and this package."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame = frame.f_back
    stack = "".join(traceback.format_stack(frame)) if full else None
    return CallSite(frame.f_code.co_filename, frame.f_lineno, stack)


def track(raw: Any, full: bool = False) -> None:
    """Remember where a response that holds a connection was requested."""
    if getattr(raw, "_connection", None) is not None:
        raw._rm_where = call_site(full)


def report(conn: Any, where: CallSite) -> None:
    """A tracked response was collected unclosed: close its connection, warn."""
    conn.close()
    warnings.warn_explicit(
        ConnectionLeakWarning(
            "a streamed response was garbage-collected without being closed; "
            f"its connection was closed. The request was made at {where}. "
            "Use `with session.get(..., stream=True) as r:` or call r.close()."
        ),
        ConnectionLeakWarning,
        where.filename,
        where.lineno,
    )
