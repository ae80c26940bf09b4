"""Counting a child process's user-space instructions with callgrind.

Shared by ``budget.py`` and ``creation.py``: run this script's ``--child``
mode under ``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0`` (the
count then repeats from run to run) and read the total it collected.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys


def count(script: str, *args: str, timeout: float = 1800) -> int:
    """Instructions of ``python script --child *args`` under callgrind."""
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            script,
            "--child",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{result.stderr}")
    return int(found.group(1))
