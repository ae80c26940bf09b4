"""pytest plugin: deselect the tests an oldest-pair run cannot mean to pass.

Loaded with ``-p own_suite_plugin`` by ``run_own_suite_oldest.sh``. It
deselects the tests listed in ``own_suite_deselected.txt`` (one node id per
line, then ``  # reason``, as in ``expected_differences.txt``) and fails the
run if an entry has no reason, is listed twice or names a test that was not
collected, so the list follows our suite.
"""

from __future__ import annotations

import pathlib

import pytest
from managed_plugin import read_differences

DESELECTED = pathlib.Path(__file__).with_name("own_suite_deselected.txt")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    listed = read_differences(DESELECTED)
    stale = sorted(set(listed) - {item.nodeid for item in items})
    if stale:
        raise pytest.UsageError(
            f"{DESELECTED.name} lists tests that were not collected "
            f"(renamed or removed?): {', '.join(stale)}"
        )
    drop = [item for item in items if item.nodeid in listed]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if item.nodeid not in listed]


def pytest_report_header(config: pytest.Config) -> str:
    return f"{len(read_differences(DESELECTED))} tests deselected ({DESELECTED.name})"
