"""Reading the lists of tests with a reason each (expected differences,
known failures): one node id per line, then ``  # reason``.

Shared by the pytest plugins and compare_library_outcomes.py; each passes
how it reports a malformed list (a pytest usage error, or exiting).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import NoReturn


def read(path: pathlib.Path, fail: Callable[[str], NoReturn]) -> dict[str, str]:
    """Node id -> reason; ``fail(message)`` for an entry without a reason or
    one listed twice (blank lines and ``#`` comments are skipped)."""
    entries: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        node_id, sep, reason = line.partition("  # ")
        node_id = node_id.strip()
        if not sep or not reason.strip():
            fail(
                f"{path.name}:{number}: every entry needs a reason "
                f"('<node id>  # <reason>'), got {raw!r}"
            )
        if node_id in entries:
            fail(f"{path.name}:{number}: {node_id!r} listed twice")
        entries[node_id] = reason.strip()
    return entries
