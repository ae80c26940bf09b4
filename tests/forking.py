"""Run a function in a forked child and bring back what it says."""

from __future__ import annotations

import os
from collections.abc import Callable


def in_child(work: Callable[[], str]) -> str:
    """Fork; in the child run ``work`` and send its text back; return it.

    The child leaves with ``os._exit`` (no atexit handlers, no pytest
    teardown), with status 1 if ``work`` raised; the parent asserts it
    exited 0.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            os.write(write_end, work().encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, said
    return said
