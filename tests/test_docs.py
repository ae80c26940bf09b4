"""The API reference lists every public name, and the nav every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import requests_managed

ROOT = Path(__file__).parent.parent
PUBLIC = sorted(name for name in requests_managed.__all__ if not name.startswith("__"))


@pytest.mark.parametrize("name", PUBLIC)
def test_api_reference_has_an_entry_for_each_public_name(name: str) -> None:
    entries = {
        line.removeprefix(":::").strip()
        for line in (ROOT / "docs" / "api.md").read_text().splitlines()
        if line.startswith(":::")
    }
    assert f"requests_managed.{name}" in entries


def test_api_page_table_lists_exactly_the_public_names_once_each() -> None:
    """docs/api.md is useful unbuilt: a table row per name in ``__all__``."""
    rows = re.findall(
        r"^\| `([A-Za-z_]+)` \| (.+?) \|$",
        (ROOT / "docs" / "api.md").read_text(),
        flags=re.MULTILINE,
    )
    names = [name for name, _ in rows]
    assert sorted(names) == sorted(requests_managed.__all__)
    assert len(names) == len(set(names))
    assert all(description.strip() for _, description in rows)


def test_every_docs_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert [p for p in pages if f": {p}" not in nav] == []
