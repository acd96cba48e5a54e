"""Status: the source's word first, then markers in the title, then dates against today."""

from __future__ import annotations

from datetime import date

import pytest

from aggregator.normalize.status import infer_status, is_results_notice, parse_status_word
from aggregator.normalize.text import normalize_text
from aggregator.record import DeadlineKind, Status

TODAY = date(2026, 7, 5)


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("募集中", Status.OPEN),
        ("受付中", Status.OPEN),
        ("公募中", Status.OPEN),
        ("申請受付中", Status.OPEN),
        ("随時募集", Status.OPEN),
        (" 募集中 ", Status.OPEN),
        ("募集中(締切間近)", Status.OPEN),
        ("締切延長", Status.OPEN),
        ("募集予定", Status.UPCOMING),
        ("近日公開", Status.UPCOMING),
        ("準備中", Status.UPCOMING),
        ("募集終了", Status.CLOSED),
        ("受付終了", Status.CLOSED),
        ("締切", Status.CLOSED),
        ("締め切りました", Status.CLOSED),
        ("終了しました", Status.CLOSED),
        ("〆切", Status.CLOSED),
        ("Closed", Status.CLOSED),
        (None, None),
        ("", None),
        ("要確認", None),
    ],
)
def test_parse_status_word(word: str | None, status: Status | None) -> None:
    assert parse_status_word(normalize_text(word) if word else word) == status


@pytest.mark.parametrize(
    ("title", "results"),
    [
        ("【助成先決定】2025年度 ○○基金", True),
        ("2025年度 地域福祉助成 採択結果のお知らせ", True),
        ("助成決定のお知らせ(第7回)", True),
        ("令和7年度 助成団体が決まりました", True),
        ("選考結果について", True),
        ("令和7年度WAM助成 内定一覧", True),
        ("2026年度 ○○助成 募集のお知らせ", False),
        ("【8/13締切】子ども食堂応援助成", False),
        ("助成決定後の手続きについて", False),  # about paperwork, not results
        ("", False),
    ],
)
def test_is_results_notice(title: str, results: bool) -> None:
    assert is_results_notice(normalize_text(title)) is results


def status(
    *,
    word: str | None = None,
    title: str = "",
    start: date | None = None,
    deadline: date | None = None,
    kind: DeadlineKind = DeadlineKind.FIXED,
) -> tuple[Status | None, str | None]:
    return infer_status(
        source_word=word,
        title=normalize_text(title),
        start=start,
        deadline=deadline,
        kind=kind,
        today=TODAY,
    )


def test_source_word_comes_first() -> None:
    assert status(word="募集中", deadline=date(2026, 12, 30)) == (Status.OPEN, "募集中")
    assert status(word="募集予定", deadline=date(2026, 12, 30))[0] == Status.UPCOMING


def test_a_passed_deadline_beats_a_stale_open_word() -> None:
    # Labels such as 【応募受付中・10/30締切り】 stay up after the call closed.
    closed = (Status.CLOSED, "締切 2026-06-30(経過)")
    assert status(word="募集中", deadline=date(2026, 6, 30)) == closed
    assert status(title="【応募受付中】○○助成", deadline=date(2026, 6, 30)) == closed
    # An extension the dates do not show yet: the source knows.
    assert status(word="締切延長", deadline=date(2026, 6, 30))[0] == Status.OPEN
    assert status(title="【締切延長】○○助成", deadline=date(2026, 6, 30))[0] == Status.OPEN


def test_source_word_beats_title() -> None:
    assert status(word="募集終了", title="【締切延長】○○助成")[0] == Status.CLOSED


@pytest.mark.parametrize(
    ("title", "expected", "evidence"),
    [
        ("【応募受付終了】2026年度 ○○助成", Status.CLOSED, "【応募受付終了】"),
        ("【募集終了】まちづくり活動助成", Status.CLOSED, "【募集終了】"),
        ("○○助成(受付終了)", Status.CLOSED, "(受付終了)"),
        ("令和8年度WAM助成の募集は終了しました", Status.CLOSED, "助成の募集は終了しました"),
        ("【締切延長】子ども食堂応援助成", Status.OPEN, "【締切延長】"),
        ("【募集予定】2027年度 環境助成", Status.UPCOMING, "【募集予定】"),
        ("【助成先決定】2025年度 ○○基金", Status.CLOSED, "【助成先決定】2025年度 ○○基金"),
    ],
)
def test_title_markers(title: str, expected: Status, evidence: str) -> None:
    assert status(title=title, deadline=date(2026, 8, 31)) == (expected, evidence)


def test_extension_keeps_open_even_with_the_old_deadline_past() -> None:
    assert status(title="【締切延長】○○助成", deadline=date(2026, 6, 30))[0] == Status.OPEN


def test_deadline_in_title_is_not_a_status() -> None:
    # 【8/13締切】 contains 締切 but is a date: the dates decide.
    assert status(title="【8/13締切】○○助成", deadline=date(2026, 8, 13))[0] == Status.OPEN


@pytest.mark.parametrize(
    ("start", "deadline", "kind", "expected"),
    [
        (date(2026, 8, 1), date(2026, 8, 31), DeadlineKind.FIXED, Status.UPCOMING),
        (date(2026, 7, 1), date(2026, 8, 31), DeadlineKind.FIXED, Status.OPEN),
        (None, date(2026, 7, 5), DeadlineKind.FIXED, Status.OPEN),  # closes today: still open
        (None, date(2026, 7, 4), DeadlineKind.FIXED, Status.CLOSED),
        (date(2026, 5, 1), date(2026, 6, 30), DeadlineKind.FIXED, Status.CLOSED),
        (None, None, DeadlineKind.ROLLING, Status.OPEN),
        (date(2026, 9, 1), None, DeadlineKind.ROLLING, Status.UPCOMING),
        (None, date(2026, 7, 20), DeadlineKind.RECURRING, Status.OPEN),
        (None, date(2026, 6, 20), DeadlineKind.RECURRING, Status.OPEN),  # next round comes
        (None, None, DeadlineKind.UNKNOWN, None),
        (None, None, DeadlineKind.FIXED, None),
        (date(2026, 6, 1), None, DeadlineKind.UNKNOWN, Status.OPEN),
        (date(2024, 6, 1), None, DeadlineKind.UNKNOWN, None),  # a stale start says nothing
    ],
)
def test_status_from_dates(
    start: date | None, deadline: date | None, kind: DeadlineKind, expected: Status | None
) -> None:
    result, evidence = status(start=start, deadline=deadline, kind=kind)
    assert result == expected
    assert (evidence is None) is (expected is None)


def test_dates_evidence_names_the_date() -> None:
    assert status(deadline=date(2026, 6, 30)) == (Status.CLOSED, "締切 2026-06-30(経過)")
    assert status(start=date(2026, 8, 1))[1] == "受付開始 2026-08-01(未開始)"
