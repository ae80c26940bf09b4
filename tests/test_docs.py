"""The API reference lists every public name, and the nav every page."""

from __future__ import annotations

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


def test_every_docs_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert [p for p in pages if f": {p}" not in nav] == []
