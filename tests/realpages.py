"""The real pages in ../shared/real-pages: test data only, absent on users' machines."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from aggregator.normalize.text import normalize_text

REAL_PAGES = Path(__file__).resolve().parents[2] / "shared" / "real-pages"


def real_page_text(name: str) -> str:
    """The visible text of a real page, normalized; skips the test when the page is absent."""
    path = REAL_PAGES / name
    if not path.exists():
        pytest.skip(f"real page {name} not present (../shared/real-pages is test data only)")
    soup = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return normalize_text(soup.get_text("\n"))
