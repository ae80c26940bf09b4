"""Tracking responses that are dropped while they still hold a connection.

Only a response that still holds its connection after ``send()`` returns can
leak one: with ``stream=True``, until its body is consumed or it is closed.
For those, :func:`track` records the caller's file and line (a walk up a few
frames; the whole stack only when asked for). Releasing or closing the
response forgets it; if the response is garbage-collected first, its
``__del__`` calls :func:`report`, which closes the connection, warns and logs.

The warning is a ``ResourceWarning``, which Python hides unless asked
(``-X dev``, ``-W``). So each leaking call site is also logged once, at
WARNING on the ``requests_managed`` logger, where ordinary application logs
show it; later leaks from the same line are counted and logged at DEBUG.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import traceback
import warnings
from types import CodeType
from typing import Any, NamedTuple

import requests
import urllib3

from .exceptions import ConnectionLeakWarning

__all__ = [
    "CallSite",
    "CodeSite",
    "call_site",
    "code_site",
    "report",
    "site_of",
    "track",
]

logger = logging.getLogger("requests_managed")

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


#: Where :func:`call_site` would point, before its line is looked up: the
#: frame's code and the offset of its current instruction.
CodeSite = tuple[CodeType, int]


def code_site() -> CodeSite:
    """:func:`call_site`'s frame, with the line left to :func:`site_of`.

    A frame's ``f_lineno`` is found by scanning its code's line table up to
    the current instruction, which in a long function or a module costs more
    than creating a session. A session records where it was created for a
    warning that is almost never issued, so it keeps this and resolves it then.
    """
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame = frame.f_back
    return frame.f_code, frame.f_lasti


def site_of(site: CodeSite) -> CallSite:
    """The ``CallSite`` (file and line) of a :func:`code_site` result."""
    code, offset = site
    # the line table read as the interpreter reads it for f_lineno
    for start, end, line in code.co_lines():
        if start <= offset < end:
            if line is not None:
                return CallSite(code.co_filename, line)
            break
    return CallSite(code.co_filename, code.co_firstlineno)


def track(raw: Any, full: bool = False) -> None:
    """Remember where a response that holds a connection was requested."""
    if getattr(raw, "_connection", None) is not None:
        raw._rm_where = call_site(full)


# Leaks so far in this process, per call site and in all. An itertools.count
# per site: setdefault() and next() are each atomic under the GIL, so threads
# (and a garbage collection running report() inside another report()) need
# no lock, and each site's first leak is numbered 1 exactly once. Call sites
# are lines of code, so the mapping stays small. A forked child starts over:
# its logs are its own.
_LEAKS: dict[tuple[str, int], itertools.count[int]] = {}
_TOTAL = itertools.count(1)


def _after_fork_in_child() -> None:
    global _TOTAL
    _LEAKS.clear()
    _TOTAL = itertools.count(1)


os.register_at_fork(after_in_child=_after_fork_in_child)


def report(conn: Any, where: CallSite) -> None:
    """A tracked response was collected unclosed: close its connection, warn, log.

    The ``ConnectionLeakWarning`` goes through the warning filters, as every
    leak does. The log record (written first) is at WARNING the first time
    ``where`` leaks, at DEBUG after that, and carries the counts so far.
    """
    conn.close()
    # Logged first: with warnings turned into errors, warn_explicit raises.
    here = next(_LEAKS.setdefault((where.filename, where.lineno), itertools.count(1)))
    total = next(_TOTAL)
    level = logging.WARNING if here == 1 else logging.DEBUG
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "connection leak: a streamed response requested at %s was "
            "garbage-collected without being closed; its connection was closed "
            "(leaks so far: %d from this line, %d in all%s). Use `with "
            "session.get(..., stream=True) as r:` or call r.close().",
            where,
            here,
            total,
            "; later ones from this line are logged at DEBUG" if here == 1 else "",
        )
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
