"""Dates as written on Japanese grant pages: eras, forms, ranges, years, times, malformed input."""

from __future__ import annotations

from datetime import date

import pytest

from aggregator.normalize import dates
from aggregator.normalize.dates import era_to_year, parse_date, parse_deadline
from aggregator.normalize.text import normalize_text
from aggregator.record import DeadlineBasis, DeadlineKind


def call(body: str, *, title: str = "", ref: date | None = None) -> dates.DeadlineInfo:
    """Like the pipeline: normalize once, read the title together with the body."""
    title = normalize_text(title).strip()
    body = normalize_text(body)
    return parse_deadline(f"{title}\n{body}" if title else body, title=title, reference=ref)


@pytest.fixture
def today_2026_11_28(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages with no year anywhere are read relative to today: fix today."""
    monkeypatch.setattr(dates, "_today", lambda: date(2026, 11, 28))


# --- eras ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("era", "year", "expected"),
    [
        ("令和", 8, 2026),
        ("令和", "元", 2019),
        ("令和", "1", 2019),
        ("R", 7, 2025),
        ("r", "7", 2025),
        ("平成", 1, 1989),
        ("H", "31", 2019),
        ("平成", "元", 1989),
        ("昭和", 64, 1989),
        ("S", 50, 1975),
        ("大正", 15, 1926),
        ("T", 1, 1912),
        ("明治", 45, 1912),
        ("M", 1, 1868),
    ],
)
def test_era_to_year(era: str, year: str | int, expected: int) -> None:
    assert era_to_year(era, year) == expected


@pytest.mark.parametrize(("era", "year"), [("天平", 1), ("X", 3), ("令和", 0), ("令和", "八")])
def test_era_to_year_rejects(era: str, year: str | int) -> None:
    with pytest.raises(ValueError):
        era_to_year(era, year)


# --- parse_date: one date in a short string ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026年1月30日 13:07更新", date(2026, 1, 30)),
        ("2026年6月12日 10:13更新", date(2026, 6, 12)),
        ("令和7(2025)年2月14日", date(2025, 2, 14)),
        ("令和8(2026)年1月9日", date(2026, 1, 9)),
        ("2026(令和8)年4月1日", date(2026, 4, 1)),
        ("R7.5.31", date(2025, 5, 31)),
        ("R8.5.31(日)", date(2026, 5, 31)),
        ("H31.4.30", date(2019, 4, 30)),
        ("令和7.5.31", date(2025, 5, 31)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和 8年 4月 1日", date(2026, 4, 1)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("昭和64年1月7日", date(1989, 1, 7)),
        ("2026.7.1", date(2026, 7, 1)),
        ("2025/10/01", date(2025, 10, 1)),
        ("2026-02-01", date(2026, 2, 1)),
        ("掲載:2026 年 6月 20日", date(2026, 6, 20)),
        ("2026 年 7 月 1 日 (水)", date(2026, 7, 1)),
        ("２０２６年１⽉３０⽇（⾦）", date(2026, 1, 30)),  # full-width digits, CJK radicals
        ("2025年年2月1日", date(2025, 2, 1)),
        ("2025年度11月6日(木)必着", date(2025, 11, 6)),
        ("2025年1月17(金)", date(2025, 1, 17)),
        ("2024年2月29日", date(2024, 2, 29)),
        ("2027年9月末", date(2027, 9, 30)),
        ("この情報は 2026 年 11月 20日 時点の情報です。", date(2026, 11, 20)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(normalize_text(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "掲載:なし",
        "2026年2月30日",  # impossible day
        "令和8年2月29日",  # 2026 is not a leap year
        "2026年13月1日",
        "2026年7月開始予定",  # a month is not a date
        "電話 03-0000-0000",
        "https://www.example.org/josei/2025/10/01",
        "平日9時30分~17時",
    ],
)
def test_parse_date_none(text: str) -> None:
    assert parse_date(normalize_text(text)) is None


@pytest.mark.parametrize(
    ("text", "ref", "expected"),
    [
        ("8/13(木)", date(2026, 7, 15), date(2026, 8, 13)),
        ("8/13", date(2026, 7, 15), date(2026, 8, 13)),
        ("1月20日", date(2025, 12, 12), date(2026, 1, 20)),
        ("12月1日", date(2025, 12, 12), date(2025, 12, 1)),  # within the 30-day grace
        ("11月25日(水)", date(2025, 12, 10), date(2026, 11, 25)),  # weekday fits 2026 only
    ],
)
def test_parse_date_without_year(text: str, ref: date, expected: date) -> None:
    assert parse_date(normalize_text(text), reference=ref) == expected


# --- written forms of a deadline -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "deadline", "start"),
    [
        ("2026年1月30日17:00締切", date(2026, 1, 30), None),
        ("応募締切:令和8年1月26日(月曜日)15時まで", date(2026, 1, 26), None),
        ("応募締切\n令和8年1月26日(月曜日)15時まで", date(2026, 1, 26), None),
        ("締切:R8.5.31(日)", date(2026, 5, 31), None),
        ("締切:令和元年12月27日(金)", date(2019, 12, 27), None),
        ("募集期間 2025/10/01 - 2025/10/31", date(2025, 10, 31), date(2025, 10, 1)),
        ("受付期間:2026.7.1~2026.7.31", date(2026, 7, 31), date(2026, 7, 1)),
        (
            "応募・申請期間\n2026 年 7 月 1 日 (水) ～ 2026 年 8 月 15 日 (土)",
            date(2026, 8, 15),
            date(2026, 7, 1),
        ),
        ("■期間:2026年2月1日-2026年3月15日", date(2026, 3, 15), date(2026, 2, 1)),
        (
            "募集期間:令和7年12月26日から令和8年1月26日まで",
            date(2026, 1, 26),
            date(2025, 12, 26),
        ),
        (
            "応募期間:令和8年6月15日(月曜日)~2026年7月31日(金曜日)",
            date(2026, 7, 31),
            date(2026, 6, 15),
        ),
        ("募集期間:2026年8月1日~15日", date(2026, 8, 15), date(2026, 8, 1)),
        ("募集期間 - 2026/05/29", date(2026, 5, 29), None),
        ("締切:2026年5月4日(月・祝)", date(2026, 5, 4), None),
        ("締切:2026年5月5日(祝)必着", date(2026, 5, 5), None),
        ("応募締切：２０２５年５⽉３０⽇（⾦）必着", date(2025, 5, 30), None),
    ],
)
def test_forms(text: str, deadline: date, start: date | None) -> None:
    info = call(text)
    assert info.kind is DeadlineKind.FIXED
    assert info.deadline == deadline
    assert info.application_start == start


# --- range separators -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "募集期間:2026年6月1日〜2026年6月30日",  # U+301C
        "募集期間:2026年6月1日～2026年6月30日",  # U+FF5E
        "募集期間:2026年6月1日─2026年6月30日",  # box-drawing line
        "募集期間:2026年6月1日－6月30日",  # full-width minus
        "募集期間:2026年6月1日 - 2026年6月30日",
        "募集期間:2026年6月1日から6月30日まで",
        "募集期間:2026年6月1日(月)より2026年6月30日(火)まで",
        "募集期間:2026年6月1日(月)~同年6月30日(火)",
        "募集期間:2026年6月1日(月)〜30日(火)",  # the end gives only the day
        "募集期間:2026年6月1日(月)~\n2026年6月30日(火)",  # the end on the next line
        "募集期間:R8.6.1~R8.6.30",
        "募集期間:2026/6/1~2026/6/30",
    ],
)
def test_range_separators(text: str) -> None:
    info = call(text, ref=date(2026, 5, 1))
    assert (info.application_start, info.deadline) == (date(2026, 6, 1), date(2026, 6, 30))


def test_range_start_then_update_line_is_not_a_range() -> None:
    info = call("2026年4月22日~\n2026年4月22日 14:33更新")
    assert info.deadline is None
    assert info.application_start == date(2026, 4, 22)


# --- ranges whose end has no year ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "deadline", "start"),
    [
        ("募集期間:令和8年4月1日~5月15日(必着)", date(2026, 5, 15), date(2026, 4, 1)),
        (
            "受付期間:令和7年12月1日(月曜日)~1月30日(金曜日)正午",
            date(2026, 1, 30),
            date(2025, 12, 1),
        ),
        ("受付期間:令和8年12月1日(火)から1月15日(金)必着", date(2027, 1, 15), date(2026, 12, 1)),
        ("■期間:2026年10月1日~11月19日", date(2026, 11, 19), date(2026, 10, 1)),
        ("受付:令和8年1月5日(月)から1月30日(金)まで", date(2026, 1, 30), date(2026, 1, 5)),
    ],
)
def test_range_end_takes_the_start_year(text: str, deadline: date, start: date) -> None:
    info = call(text)
    assert (info.deadline, info.application_start) == (deadline, start)


@pytest.mark.parametrize(
    ("text", "deadline", "start"),
    [
        # The end's year is a typo: a careful reader puts the end after the start.
        ("受付期間:2024年12月15日~2024年1月25日", date(2025, 1, 25), date(2024, 12, 15)),
        ("■期間:2026年12月1日~2026年1月29日", date(2027, 1, 29), date(2026, 12, 1)),
        ("受付期間:2027年4月1日(木)~2026年5月10日(月)", date(2027, 5, 10), date(2027, 4, 1)),
    ],
)
def test_range_end_year_typo(text: str, deadline: date, start: date) -> None:
    info = call(text, ref=date(2024, 11, 1))
    assert (info.deadline, info.application_start) == (deadline, start)


# --- month-day only: the year from the reference, weekday, 年度, other dates -----------------


@pytest.mark.parametrize(
    ("text", "ref", "expected"),
    [
        ("応募締切:9月30日(火曜日)必着", date(2025, 8, 8), date(2025, 9, 30)),
        ("【応募受付中・8/13締切】", date(2026, 7, 15), date(2026, 8, 13)),
        ("■期間:7/15~8/13", date(2026, 7, 15), date(2026, 8, 13)),
        ("締切:11月25日(水)まで", date(2025, 12, 10), date(2026, 11, 25)),  # weekday: 2026
        ("締切:6月1日(月)", date(2026, 7, 15), date(2026, 6, 1)),  # weekday: a closed call
        ("締切:6月1日", date(2026, 7, 15), date(2027, 6, 1)),  # no weekday: the next one
        ("締切:7月1日", date(2026, 7, 15), date(2026, 7, 1)),  # within the 30-day grace
        ("締切:1月31日", date(2025, 12, 20), date(2026, 1, 31)),
        ("募集期間:6月1日(日曜日)~8月1日(金曜日)", date(2025, 5, 16), date(2025, 8, 1)),
        # A wrong weekday: 7/31 was a Thursday in 2025, eleven months before the page; the
        # reference wins.
        ("締切:7月31日(木)", date(2026, 6, 23), date(2026, 7, 31)),
    ],
)
def test_month_day_with_reference(text: str, ref: date, expected: date) -> None:
    assert call(text, ref=ref).deadline == expected


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("令和8年度 地域福祉活動助成", "募集期間:5月1日~5月31日", date(2026, 5, 31)),
        ("令和8年度 地域福祉活動助成", "締切:2月15日", date(2027, 2, 15)),  # fiscal year
        ("2026年度 子ども支援助成", "締切:1月20日", date(2027, 1, 20)),
        ("子ども支援助成", "更新日:2026年3月2日\n締切:4月10日", date(2026, 4, 10)),
        (
            "子ども支援助成",
            "この情報は 2026 年 11月 20日 時点の情報です。\n締切:1月29日",
            date(2027, 1, 29),
        ),
        (
            "スポーツ用具助成",
            "募集期間:2027年1月8日~2月26日\n応募締切日:2月26日(金)",
            date(2027, 2, 26),
        ),
    ],
)
def test_month_day_without_reference(title: str, text: str, expected: date) -> None:
    assert call(text, title=title).deadline == expected


def test_month_day_weekday_only(today_2026_11_28: None) -> None:
    # No year anywhere and no page date: only the weekday (水) places 11/25 in 2026.
    info = call("申請受付:11月4日(水)~11月25日(水)必着")
    assert info.deadline == date(2026, 11, 25)
    assert info.application_start == date(2026, 11, 4)


def test_month_day_no_year_at_all(today_2026_11_28: None) -> None:
    # Nothing but today: the next 1月15日 (pages are read when they are fetched).
    assert call("応募締切:1月15日必着").deadline == date(2027, 1, 15)


# --- a wrong year next to a weekday ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ref", "expected"),
    [
        # 2025-07-31 was a Thursday and is 11 months before the page: the year is the typo.
        ("応募・申請期間\n2025年7月31日(金)", date(2026, 6, 12), date(2026, 7, 31)),
        # The weekday is the typo (2026-07-31 is a Friday): the written year stays.
        ("応募・申請期間\n2026年7月31日(木)", date(2026, 6, 23), date(2026, 7, 31)),
        # No weekday: nothing to correct with.
        ("応募締切:2025年7月31日", date(2026, 6, 12), date(2025, 7, 31)),
    ],
)
def test_year_typo_with_weekday(text: str, ref: date, expected: date) -> None:
    assert call(text, ref=ref).deadline == expected


# --- time of day and arrival/postmark ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "time", "basis", "note"),
    [
        ("締切:2026年1月30日17:00締切", "17:00", None, "17:00まで"),
        ("応募締切:令和8年1月26日(月曜日)15時まで", "15:00", None, "15:00まで"),
        ("■期間:2026年4月6日~5月22日正午", "12:00", None, "12:00まで"),
        (
            "【募集期間】令和7年2月3日(月曜日)~令和7年3月10日(月曜日)午後5時【必着】",
            "17:00",
            DeadlineBasis.ARRIVAL,
            "17:00必着",
        ),
        ("締切:2026年6月5日(金)午前10時", "10:00", None, "10:00まで"),
        ("受付期間:令和7年4月1日(火)~令和7年4月30日(水)午後5時15分", "17:15", None, "17:15まで"),
        ("締切:2026年6月5日(金)17時30分必着", "17:30", DeadlineBasis.ARRIVAL, "17:30必着"),
        ("締切:2026年6月5日(金)10時半", "10:30", None, "10:30まで"),
        ("電子申請 12月14日(月)23時59分まで", "23:59", None, "23:59まで"),
        (
            "受付期間:2025年10月1日(水)~2025年11月14日(金)当日消印有効",
            None,
            DeadlineBasis.POSTMARK,
            "消印有効",
        ),
        ("応募締切日:2025年9月30日(当日消印有効)", None, DeadlineBasis.POSTMARK, "消印有効"),
        ("締切:2026年7月31日(金)消印有効", None, DeadlineBasis.POSTMARK, "消印有効"),
        ("応募締切:9月30日(火曜日)必着", None, DeadlineBasis.ARRIVAL, "必着"),
        ("締切:2026年1月13日(火)電子メール必着", None, DeadlineBasis.ARRIVAL, "必着"),
        ("応募締切日:2025年12月26日 17時", "17:00", None, "17:00まで"),
    ],
)
def test_time_and_basis(
    text: str, time: str | None, basis: DeadlineBasis | None, note: str
) -> None:
    info = call(text, ref=date(2025, 8, 1))
    assert info.note.time == time
    assert info.note.basis is basis
    assert info.note.text == note


@pytest.mark.parametrize(
    ("text", "time", "basis"),
    [
        # The rule is stated once for the whole page.
        (
            "応募・申請期間\n2026年7月1日(水) ~ 2026年8月15日(土)\n締切注意\n"
            "締め切り日当日の消印があれば有効です。",
            None,
            DeadlineBasis.POSTMARK,
        ),
        (
            "応募・申請期間\n2026年8月7日(金)\n締切注意\n区役所への持参または郵送(締切日必着)",
            None,
            DeadlineBasis.ARRIVAL,
        ),
        (
            "応募・申請期間\n2026年7月17日(金)\n締切注意\n"
            "締切日の 23 時 59 分までに送信してください。",
            "23:59",
            None,
        ),
        (
            "応募・申請期間\n2026年5月29日(金)\n締切注意\n締切日 17 時までに送信してください。",
            "17:00",
            None,
        ),
    ],
)
def test_time_and_basis_stated_for_the_page(
    text: str, time: str | None, basis: DeadlineBasis | None
) -> None:
    info = call(text, ref=date(2026, 6, 1))
    assert (info.note.time, info.note.basis) == (time, basis)


# --- malformed but real, and things that are not dates --------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("受付期間:2025年6月9日(月)~2025年7月18(金)", date(2025, 7, 18)),  # 日 missing
        ("締切:2025年1月17(金)", date(2025, 1, 17)),
        ("■受付期間 2025年年8月1日から8月31日(日)まで", date(2025, 8, 31)),  # 年年
        ("■締切:2025年度11月6日(木)必着", date(2025, 11, 6)),  # 年度 inside the date
        ("締切:R7.5.31", date(2025, 5, 31)),
    ],
)
def test_malformed_dates(text: str, expected: date) -> None:
    assert call(text, ref=date(2025, 1, 1)).deadline == expected


@pytest.mark.parametrize(
    "text",
    [
        "締切:2月30日",
        "締切:令和8年2月29日",
        "締切:2026年0月10日",
        "締切:2026年12月32日",
        "締切:99/99",
        "問合せ:事務局(電話 043-000-0000、平日10時~17時)",
        "補助率 2/3 以内、1団体 上限30万円",
        "(補助率10/10)",
        "補助率:1/2~2/3",
        "1991年の財団設立から現在まで",
        "■期間:https://www.example.org/tsumugi/2025/10/01",
    ],
)
def test_not_dates_never_crash(text: str) -> None:
    info = call(text, ref=date(2026, 1, 10))
    assert info.deadline is None
    assert info.kind is DeadlineKind.UNKNOWN


def test_fraction_next_to_a_deadline_is_not_a_date() -> None:
    info = call("補助率 2/3 以内、上限30万円\n申請期限:令和8年2月27日(金)", ref=date(2026, 1, 16))
    assert info.deadline == date(2026, 2, 27)
    assert info.application_start is None


def test_office_hours_are_not_a_range() -> None:
    info = call("締切:R8.5.31(日)\n問合せ:事務局(平日10時~16時)", ref=date(2026, 3, 13))
    assert info.deadline == date(2026, 5, 31)
    assert info.note.time is None


# --- timestamps and written-out years -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "deadline", "time", "start"),
    [
        # jGrants-style UTC timestamps: 15:00Z is midnight of the next day in Japan.
        (
            "受付開始日時: 2026-06-30T15:00:00.000Z\n受付終了日時: 2026-08-21T08:30:00.000Z",
            date(2026, 8, 21),
            "17:30",
            date(2026, 7, 1),
        ),
        (
            "受付開始日時: 2026-04-01T00:00:00+09:00\n受付終了日時: 2026-04-30T14:59Z",
            date(2026, 4, 30),
            "23:59",
            date(2026, 4, 1),
        ),
        ("受付期間: 2025-10-01 ~ 2025-10-31 17:00", date(2025, 10, 31), "17:00", date(2025, 10, 1)),
    ],
)
def test_iso_timestamps(text: str, deadline: date, time: str, start: date) -> None:
    info = call(text, ref=date(2026, 3, 1))
    assert (info.deadline, info.note.time, info.application_start) == (deadline, time, start)


@pytest.mark.parametrize(
    ("text", "deadline", "start"),
    [
        (
            "公募期間:令和8年1月13日(火)~令和8年(2026年)2月27日(金)17時締切",
            date(2026, 2, 27),
            date(2026, 1, 13),
        ),
        ("締切:2026年(令和8年)3月6日(金)", date(2026, 3, 6), None),
    ],
)
def test_year_written_twice(text: str, deadline: date, start: date | None) -> None:
    info = call(text, ref=date(2026, 1, 9))
    assert (info.deadline, info.application_start) == (deadline, start)


def test_yearless_range_with_two_weekdays(today_2026_11_28: None) -> None:
    # No year, no page date: 12月1日(月) fits 2025 and 1月16日(金) fits 2026.
    info = call("■募集期間:12月1日(月)~1月16日(金)")
    assert (info.application_start, info.deadline) == (date(2025, 12, 1), date(2026, 1, 16))
