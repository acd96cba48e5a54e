"""Deadlines read from the real CANPAN grant list (p.term cells), as a person would write them.

The real pages are test data beside the repository (../shared/real-pages); they are not part of
kyodo, so this module is skipped where they are absent.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from aggregator.normalize.dates import parse_date, parse_deadline
from aggregator.normalize.text import normalize_text
from aggregator.record import DeadlineKind

REAL_PAGES = Path(__file__).resolve().parents[3] / "shared" / "real-pages"
LIST_PAGE = REAL_PAGES / "canpan-grant-list-page2.html"

pytestmark = pytest.mark.skipif(
    not LIST_PAGE.exists(), reason=f"real pages not available ({LIST_PAGE} is absent)"
)


@pytest.fixture(scope="module")
def terms() -> dict[str, tuple[str, date | None]]:
    """Detail link -> (normalized p.term text, date of the p.update cell)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(LIST_PAGE.read_text(encoding="utf-8"), "html.parser")
    out: dict[str, tuple[str, date | None]] = {}
    for row in soup.select("tr"):
        link = row.select_one("h3 a")
        term = row.select_one("p.term")
        if link is None or term is None:
            continue
        update = row.select_one("p.update")
        updated = parse_date(normalize_text(update.get_text())) if update else None
        out[str(link["href"])] = (normalize_text(term.get_text()).strip(), updated)
    return out


def test_every_term_cell_is_found(terms: dict[str, tuple[str, date | None]]) -> None:
    assert len(terms) == 20  # 20 calls a page (21~40 of 92)


@pytest.mark.parametrize(
    ("link", "deadline", "start"),
    [
        ("/grant/detail/2459", date(2026, 7, 31), date(2026, 6, 12)),  # 子どもぬくもり基金
        ("/grant/detail/2452", date(2026, 8, 20), date(2026, 6, 1)),  # Fusan基金
        ("/grant/detail/2450", date(2026, 7, 9), date(2026, 6, 1)),  # プロ・ナトゥーラ・ファンド
        ("/grant/detail/2448", date(2026, 7, 15), date(2026, 5, 25)),  # プロジェクト未来研究助成
        ("/grant/detail/2436", date(2026, 10, 15), date(2026, 8, 15)),  # 全互協奨学金基金
        ("/grant/detail/2433", date(2027, 1, 31), date(2026, 10, 1)),  # 社会貢献基金: into 2027
        ("/grant/detail/2431", date(2027, 3, 31), date(2026, 4, 1)),  # 伴走支援モデル事業
        ("/grant/detail/2102", date(2026, 12, 10), date(2026, 4, 1)),  # ちゅうでん教育振興助成
        ("/grant/detail/2404", date(2026, 8, 31), date(2026, 4, 1)),  # 松の花基金
        # The period's end without a year; the ID deadline is a step before applying.
        ("/grant/detail/2393", date(2026, 2, 28), date(2026, 1, 26)),  # お金をまわそう基金
    ],
)
def test_fixed_deadlines(
    terms: dict[str, tuple[str, date | None]], link: str, deadline: date, start: date
) -> None:
    text, updated = terms[link]
    for ref in (updated, None):  # with the list's update date, and from the cell alone
        info = parse_deadline(text, reference=ref)
        assert info.kind is DeadlineKind.FIXED
        assert info.deadline == deadline
        assert info.application_start == start
        assert info.evidence is not None
        assert info.evidence in text  # evidence is a snippet of the cell itself


def test_open_ended_period_has_no_deadline(terms: dict[str, tuple[str, date | None]]) -> None:
    # 東京芸術文化鑑賞サポート助成: "2026年4月22日~" gives a start and no end.
    text, updated = terms["/grant/detail/2425"]
    info = parse_deadline(text, reference=updated)
    assert info.deadline is None
    assert info.kind is not DeadlineKind.FIXED
    assert info.application_start == date(2026, 4, 22)


def test_free_text_cell(terms: dict[str, tuple[str, date | None]]) -> None:
    # Soil 100: the call opens in July (no day given); the workshop entry closes on 6月3日 of
    # the year of the cell's update (2026-05-05).
    text, updated = terms["/grant/detail/2432"]
    assert updated == date(2026, 5, 5)
    info = parse_deadline(text, reference=updated)
    assert info.deadline == date(2026, 6, 3)
    assert info.application_start is None
