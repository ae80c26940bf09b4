"""Skipping composition tests cleanly when the ``compat`` extra is missing."""

from __future__ import annotations

from types import ModuleType

import pytest


def require(module: str, distribution: str) -> ModuleType:
    """Import ``module``, or skip the calling test module with the reason."""
    return pytest.importorskip(
        module,
        reason=f"{distribution} is not installed; the composition tests need "
        "the compat extra: pip install -e '.[test,compat]'",
    )
