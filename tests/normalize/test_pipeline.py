"""normalize_call end to end: written calls, and the text of real pages when they are present."""

from __future__ import annotations

from datetime import date

import pytest
from bs4 import BeautifulSoup

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import Coverage, DeadlineBasis, DeadlineKind, RawCall, Status
from tests.conftest import REAL_PAGES


def test_a_prefectural_call_in_full() -> None:
    raw = RawCall(
        id="t1",
        title="令和８年度　地域福祉活動助成（第２次募集）",
        text=(
            "■募集期間　令和８年４月１日（水）〜５月１５日（金）午後５時【必着】\n"
            "■助成金額　１団体あたり上限３０万円（助成総額６００万円）\n"
            "■対象団体　県内に事務所を有し、高齢者の見守りやサロン活動を行う５名以上の団体。"
            "法人格の有無は問いません。活動実績１年以上。\n"
            "■対象経費　謝金、会場使用料、消耗品費。人件費・家賃は対象外です。\n"
            "■問合せ　〒100-0001 東京都千代田区… 電話03-0000-0000"
        ),
        published=date(2026, 3, 20),
        organizer="社会福祉法人 千葉県共同募金会",
        source="akaihane_chiba",
    )
    call = normalize_call(raw, today=date(2026, 4, 10))
    assert call.deadline == date(2026, 5, 15)
    assert call.deadline_kind is DeadlineKind.FIXED
    assert call.application_start == date(2026, 4, 1)
    assert call.deadline_note.basis is DeadlineBasis.ARRIVAL
    assert call.deadline_note.time == "17:00"
    assert call.max_amount_yen == 300_000
    assert call.total_budget_yen == 6_000_000
    assert call.fields[0] == "health_welfare"
    assert call.area == "prefecture:千葉県"
    assert call.eligibility.informal_groups_ok is True
    assert call.eligibility.min_members == 5
    assert call.eligibility.min_years_active == 1
    assert call.costs.personnel is Coverage.NO
    assert call.costs.rent is Coverage.NO
    assert call.costs.honoraria is Coverage.YES
    assert call.status is Status.OPEN
    for key in ("deadline", "max_amount_yen", "total_budget_yen", "area", "informal_groups_ok"):
        assert call.evidence[key], key
    assert "5月15日" in call.evidence["deadline"]


def test_status_follows_today() -> None:
    raw = RawCall(
        id="t2", title="環境保全助成", text="応募締切 2026年6月30日", published=date(2026, 5, 1)
    )
    assert normalize_call(raw, today=date(2026, 6, 30)).status is Status.OPEN
    assert normalize_call(raw, today=date(2026, 7, 1)).status is Status.CLOSED


def test_a_source_word_wins_over_dates() -> None:
    raw = RawCall(
        id="t3",
        title="助成",
        text="応募締切 2026年6月30日",
        status="募集終了",
        published=date(2026, 5, 1),
    )
    assert normalize_call(raw, today=date(2026, 6, 1)).status is Status.CLOSED


def test_the_source_home_names_an_unnamed_prefecture_but_is_no_default() -> None:
    local = RawCall(
        id="t4", title="防犯活動助成", text="対象:県内で防犯活動を行う団体", source="chiba_npo"
    )
    relay = RawCall(
        id="t5", title="防犯活動助成", text="対象:防犯活動を行う団体", source="chiba_npo"
    )
    assert normalize_call(local).area == "prefecture:千葉県"
    assert normalize_call(relay).area == "national"


def test_empty_text_gives_an_unknown_call_not_an_error() -> None:
    call = normalize_call(RawCall(id="t6", text=" "))
    assert call.deadline is None
    assert call.deadline_kind is DeadlineKind.UNKNOWN
    assert call.max_amount_yen is None
    assert call.title == ""


def _page_text(name: str) -> str:
    path = REAL_PAGES / name
    if not path.exists():
        pytest.skip(f"real page {name} not present (../shared/real-pages is test data only)")
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer"]):
        tag.decompose()
    return soup.get_text("\n", strip=True)


def test_real_canpan_detail_page() -> None:
    text = _page_text("canpan-grant-detail.html")
    raw = RawCall(
        id="canpan-real",
        title="2026年度 移民・難民支援基金(第8回)",
        text=text,
        published=date(2026, 7, 3),
        organizer="パブリックリソース財団",
        source="canpan",
    )
    call = normalize_call(raw, today=date(2026, 7, 5))
    assert call.deadline == date(2026, 8, 3)
    assert call.application_start == date(2026, 7, 3)
    assert call.max_amount_yen == 800_000
    assert call.total_budget_yen == 3_200_000
    assert call.eligibility.informal_groups_ok is True
    assert call.area == "national"
    assert set(call.fields) & {"international", "human_rights_peace"}
    assert call.status is Status.OPEN


def test_real_shimisen_detail_page() -> None:
    text = _page_text("shimisen-subsidy-detail.html")
    raw = RawCall(
        id="shimisen-real",
        title="洲崎福祉財団「一般助成」-2026 年度",
        text=text,
        published=date(2026, 7, 4),
        source="shimisen",
    )
    call = normalize_call(raw, today=date(2026, 7, 5))
    # 応募・申請期間 is the application period; 実施期間 (2026-12-01 ~ 2027-05-31) is not.
    assert call.deadline == date(2026, 8, 15)
    assert call.application_start == date(2026, 7, 1)
    assert call.fields[0] == "health_welfare"
    assert call.eligibility.min_years_active == 3


def test_real_wam_detail_page() -> None:
    text = _page_text("wam-josei-r8-detail.html")
    raw = RawCall(
        id="wam-real",
        title="令和8年度WAM助成(通常助成事業)募集のお知らせ",
        text=text,
        published=date(2025, 12, 26),
        organizer="独立行政法人福祉医療機構",
        source="wam",
    )
    call = normalize_call(raw, today=date(2026, 7, 5))
    assert call.deadline == date(2026, 1, 26)
    assert call.deadline_note.time == "15:00"
    assert call.total_budget_yen == 600_000_000
    assert call.fields[0] == "health_welfare"
    assert call.status is Status.CLOSED


def test_a_text_without_any_year_is_read_against_the_given_today() -> None:
    raw = RawCall(id="t7", title="見守り活動助成", text="応募締切:11月25日(水)必着")
    # 11/25 is a Wednesday in 2026 and in 2020: the one nearest "today" is chosen.
    assert normalize_call(raw, today=date(2026, 10, 1)).deadline == date(2026, 11, 25)
    assert normalize_call(raw, today=date(2020, 10, 1)).deadline == date(2020, 11, 25)
