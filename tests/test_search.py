"""Search over stored calls on SQLite (FTS5 trigram + character pairs) and PostgreSQL (pg_trgm)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from aggregator.ingest import Ingestor
from aggregator.search import (
    Home,
    SearchParams,
    call_detail,
    facet_counts,
    refresh_statuses,
    search,
)
from aggregator.searchtext import fold, short_grams
from aggregator.storage import make_engine, upgrade_database
from aggregator.storage.models import CallRow

TODAY = date(2026, 11, 28)


def _listing(n: int, title: str, text: str, **extra) -> dict:
    return {
        "id": f"t{n}",
        "source": extra.pop("source", "canpan"),
        "url": f"https://grants.example.jp/{n}",
        "title": title,
        "text": text,
        "organizer": extra.pop("organizer", f"公益財団法人テスト{n}財団"),
        "published": "2026-11-01",
        **extra,
    }


LISTINGS = [
    _listing(
        1, "子ども食堂応援助成", "募集期間: 2026年11月1日～2026年12月20日\n上限30万円\n任意団体可"
    ),
    _listing(2, "地域福祉活動助成", "締切: 2027年1月31日\n上限100万円。人件費も対象です。"),
    _listing(3, "里山保全活動助成", "締切: 2026年12月10日\n上限50万円", source="wam"),
    _listing(4, "ＮＰＯ基盤強化助成", "締切: 2027年2月15日\n上限200万円", source="chiba_npo"),
    _listing(5, "防災訓練助成（終了）", "締切: 2026年10月1日\n上限10万円"),
    _listing(6, "多文化共生事業", "受付期間: 2027年1月10日～2027年2月28日\n上限20万円"),
    _listing(
        7,
        "鎌ケ谷市 市民活動補助金",
        "締切: 2026年12月25日\n対象: 鎌ケ谷市内の団体\n上限5万円",
        source="chiba_shakyo",
        organizer="鎌ケ谷市",
    ),
]


@pytest.fixture()
def session(db_url: str):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    Ingestor(engine, today=TODAY).ingest(LISTINGS)
    with Session(engine) as s:
        refresh_statuses(s, TODAY)
        yield s
    engine.dispose()


def titles(session: Session, **params) -> list[str]:
    result = search(session, SearchParams(**params), today=TODAY)
    assert result.total == len(result.items) or result.total > result.per_page
    return [item["title"] for item in result.items]


def test_folding() -> None:
    assert fold("コドモ　ＮＰＯ") == "こども npo"
    assert short_grams("子ども 食堂") == "子 子ど ど ども も 食 食堂 堂"


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("子", ["子ども食堂応援助成"]),  # 1 character
        ("福祉", ["地域福祉活動助成"]),  # 2 characters
        ("コドモ", []),  # katakana folds to hiragana: こども is not in 子ども
        ("食堂応援", ["子ども食堂応援助成"]),  # 3+ characters
        ("npo", ["NPO基盤強化助成"]),  # full width folded
        ("ＮＰＯ", ["NPO基盤強化助成"]),
        ("里山 保全", ["里山保全活動助成"]),  # every word
        ("里山 福祉", []),
        ("100%", []),  # LIKE characters are escaped
        (
            "助成",
            ["里山保全活動助成", "子ども食堂応援助成", "地域福祉活動助成", "NPO基盤強化助成"],
        ),
    ],
)
def test_keywords_of_any_length(session: Session, q: str, expected: list[str]) -> None:
    assert titles(session, q=q) == expected


def test_open_by_default_sorted_by_deadline_and_other_statuses(session: Session) -> None:
    assert titles(session) == [
        "里山保全活動助成",
        "子ども食堂応援助成",
        "鎌ケ谷市 市民活動補助金",
        "地域福祉活動助成",
        "NPO基盤強化助成",
    ]
    assert titles(session, status="closed") == ["防災訓練助成(終了)"]
    assert titles(session, status="upcoming") == ["多文化共生事業"]
    assert len(titles(session, status="all")) == 7


def test_a_deadline_passing_closes_a_call_even_before_the_refresh(session: Session) -> None:
    later = date(2026, 12, 15)  # 里山 (12/10) has passed; the stored status still says open
    result = search(session, SearchParams(), today=later)
    assert "里山保全活動助成" not in [i["title"] for i in result.items]
    closed = search(session, SearchParams(status="closed"), today=later)
    assert "里山保全活動助成" in [i["title"] for i in closed.items]
    assert refresh_statuses(session, later) == 1
    assert refresh_statuses(session, later) == 0  # idempotent


def test_an_upcoming_call_opens_on_its_start_date(session: Session) -> None:
    opening = date(2027, 1, 10)
    refresh_statuses(session, opening)
    assert "多文化共生事業" in [
        i["title"] for i in search(session, SearchParams(), today=opening).items
    ]


def test_unknown_status_counts_as_open_after_a_refresh(session: Session) -> None:
    session.execute(update(CallRow).where(CallRow.title == "多文化共生事業").values(status=None))
    session.commit()
    refresh_statuses(session, TODAY)
    assert "多文化共生事業" in titles(session)


def test_filters_sorts_and_paging(session: Session) -> None:
    assert titles(session, min_amount=1_000_000) == ["地域福祉活動助成", "NPO基盤強化助成"]
    assert titles(session, sort="amount")[:2] == ["NPO基盤強化助成", "地域福祉活動助成"]
    assert titles(session, deadline_before=date(2026, 12, 20)) == [
        "里山保全活動助成",
        "子ども食堂応援助成",
    ]
    assert titles(session, within=14) == ["里山保全活動助成"]
    assert titles(session, source_kind="national") == ["里山保全活動助成"]
    assert titles(session, source_kind="prefecture") == ["NPO基盤強化助成"]
    assert titles(session, area="municipality") == ["鎌ケ谷市 市民活動補助金"]
    assert "鎌ケ谷市 市民活動補助金" in titles(session, area="reachable")
    assert titles(session, cost=("personnel",)) == ["地域福祉活動助成"]
    assert titles(session, informal_groups_ok=True) == ["子ども食堂応援助成"]
    page2 = search(session, SearchParams(per_page=2, page=2), today=TODAY)
    assert page2.total == 5 and page2.pages == 3
    assert [i["title"] for i in page2.items] == ["鎌ケ谷市 市民活動補助金", "地域福祉活動助成"]


def test_items_follow_the_api_contract(session: Session) -> None:
    (item,) = search(session, SearchParams(q="里山"), today=TODAY).items
    assert set(item) == {
        "id",
        "title",
        "organizer",
        "deadline",
        "deadline_kind",
        "max_amount_yen",
        "fields",
        "area",
        "status",
        "url",
        "sources",
    }
    assert item["deadline"] == "2026-12-10" and item["max_amount_yen"] == 500_000
    assert item["sources"] == [{"source": "wam", "url": "https://grants.example.jp/3"}]
    detail = call_detail(session, item["id"], today=TODAY)
    assert detail["evidence"]["deadline"]
    assert detail["listings"][0]["source_label"].startswith("WAM")
    assert call_detail(session, 999_999, today=TODAY) is None


def test_facet_counts_apply_the_other_filters(session: Session) -> None:
    counts = facet_counts(session, SearchParams(q="助成"), today=TODAY, home=Home())
    assert counts["status"] == {"open": 4, "upcoming": 0, "closed": 1, "all": 5}
    assert counts["source_kind"]["national"] == 1
    assert counts["area"]["municipality"] == 0
    assert sum(counts["field"].values()) >= 4


def test_a_merged_call_is_found_by_words_of_its_text(db_url: str) -> None:
    upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        first = _listing(
            20,
            "ひだまり基金 2026年度助成",
            "締切: 2026年12月24日\n上限20万円\n対象: 読み聞かせ活動",
        )
        repost = {**first, "id": "r20", "source": "jfc", "url": "https://jfc.example.jp/20"}
        Ingestor(engine, today=TODAY).ingest([first])
        Ingestor(engine, today=TODAY).ingest([repost])
        with Session(engine) as s:
            refresh_statuses(s, TODAY)
            (item,) = search(s, SearchParams(q="読み聞かせ"), today=TODAY).items
            assert len(item["sources"]) == 2
    finally:
        engine.dispose()
