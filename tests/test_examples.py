"""Every file in examples/ runs to completion, offline, without warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted(
    p
    for p in (Path(__file__).parent.parent / "examples").glob("*.py")
    if not p.name.startswith("_")
)


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {
        "quickstart.py",
        "pool_stats.py",
        "threaded.py",
        "subclassing.py",
        "adapters_and_proxies.py",
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr
