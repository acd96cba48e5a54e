"""The 助成財団センター spider on its RSS feed (sample mirror, test-only feeds) and over HTTP."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from parsel import Selector

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from spiders.base import ShapeError
from spiders.feeds import item_id, organizer_in_title, plain_text, rss_date, title_label
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer, Route, Site
from spiders.spiders.jfc import JfcSpider
from tests.spiders.util import (
    FILES,
    crawl_cli,
    errors,
    make_spider,
    response_from_file,
    run_callback,
    sample_file,
)

DEMO_DAY = date(2026, 11, 28)
HOST = "www.jfc.or.jp"
FEED_URL = "https://www.jfc.or.jp/news_subsidy/feed/"
FEED_FILE = sample_file(HOST, "news_subsidy/feed/index.xml")
TEST_FILES = FILES / "jfc"
IDS = ["40218", "40205", "40197", "40188", "40176", "40102"]


def parse_feed(path: Path = FEED_FILE) -> tuple[list[dict[str, Any]], JfcSpider]:
    spider = make_spider(JfcSpider)
    items, requests = run_callback(spider.parse, response_from_file(path, FEED_URL))
    assert requests == []  # the feed carries everything: no detail pages
    return items, spider


@pytest.fixture()
def listings() -> dict[str, dict[str, Any]]:
    items, spider = parse_feed()
    assert errors(spider) == {}
    return {row["id"]: row for row in items}


def feed_items() -> list[Selector]:
    xml = Selector(text=FEED_FILE.read_text(encoding="utf-8"), type="xml")
    return xml.xpath("/rss/channel/item")


# -- fields ---------------------------------------------------------------------------------


def test_one_listing_per_item_in_feed_order() -> None:
    items, _ = parse_feed()
    assert [row["id"] for row in items] == [f"jfc/{i}" for i in IDS]
    assert len(items) == len(feed_items())


def test_title_keeps_its_label(listings: dict[str, dict]) -> None:
    assert listings["jfc/40218"]["title"] == (
        "【助成先募集】公益財団法人こもれび子ども財団 2027年度「ちいさな居場所応援助成」"
    )


def test_url_is_the_item_link_and_id_the_post_id(listings: dict[str, dict]) -> None:
    row = listings["jfc/40197"]
    assert row["url"] == "https://www.jfc.or.jp/news_subsidy/kodomo-mirai-5/"
    assert row["source"] == "jfc"


def test_published_is_the_pubdate_in_japan(listings: dict[str, dict]) -> None:
    assert listings["jfc/40218"]["published"] == "2026-11-26"
    # Tue, 24 Nov 2026 15:30 +0000 is 25 November in Japan
    assert listings["jfc/40205"]["published"] == "2026-11-25"
    assert listings["jfc/40102"]["published"] == "2026-08-14"


def test_organizer_from_the_title(listings: dict[str, dict]) -> None:
    organizers = {key: row["organizer"] for key, row in listings.items()}
    assert organizers == {
        "jfc/40218": "公益財団法人こもれび子ども財団",
        "jfc/40205": "公益財団法人しろがね医学振興財団",
        "jfc/40197": "一般財団法人こどもの未来基金",
        "jfc/40188": "公益財団法人ひかり育英会",
        "jfc/40176": "ちば緑と水の基金",  # no legal form: a name ending in 基金
        "jfc/40102": None,  # the title names no funder
    }


def test_status_is_left_to_the_dates(listings: dict[str, dict]) -> None:
    assert {row["status"] for row in listings.values()} == {None}


def test_research_grants_and_scholarships_are_kept_and_tagged(listings: dict[str, dict]) -> None:
    tags = {key: row.get("categories") for key, row in listings.items()}
    assert tags == {
        "jfc/40218": None,
        "jfc/40205": ["研究"],
        "jfc/40197": None,
        "jfc/40188": ["奨学金"],
        "jfc/40176": None,
        "jfc/40102": None,
    }


def test_text_is_the_content_with_the_funders_page(listings: dict[str, dict]) -> None:
    assert listings["jfc/40218"]["text"] == "\n".join(
        [
            "公益財団法人こもれび子ども財団が、子どもの小さな居場所づくりに取り組む団体への"
            "助成を募集しています。",
            "助成の名称 2027年度「ちいさな居場所応援助成」",
            "応募期間（締切） 2026/11/16～2027/01/15",
            "助成金額 500千円/1件（総額5,000千円）",
            "対象 子ども食堂・学習支援・遊び場などの居場所を運営する市民活動団体"
            "（法人格の有無を問わない、活動実績1年以上）",
            "詳細はこもれび子ども財団のホームページをご覧ください。",
            "関連URL: https://komorebi-kodomo.example.jp/grant/2027",
        ]
    )
    assert "関連URL" not in listings["jfc/40102"]["text"]  # no link in that item


@pytest.mark.parametrize("index", range(len(IDS)))
def test_every_item(listings: dict[str, dict], index: int) -> None:
    item = feed_items()[index]
    row = listings[f"jfc/{IDS[index]}"]
    assert row["title"] == item.xpath("title/text()").get()
    assert row["url"] == item.xpath("link/text()").get()
    assert row["title"].startswith("【") and title_label(row["title"])
    assert row["published"] is not None
    assert "応募期間（締切） " in row["text"]
    assert "<" not in row["text"] and "[…]" not in row["text"]  # content, not the excerpt
    assert "partial" not in row
    RawCall(**row)


# -- what the normalizer makes of them ------------------------------------------------------


EXPECTED = {  # id: (deadline, start, max amount, status on the demo day)
    "40218": (date(2027, 1, 15), date(2026, 11, 16), 500_000, "open"),
    "40205": (date(2026, 12, 10), date(2026, 10, 1), 3_000_000, "open"),
    "40197": (date(2026, 12, 25), date(2026, 11, 20), 1_000_000, "open"),
    "40188": (date(2027, 1, 31), date(2026, 11, 1), 30_000, "open"),  # 月額30千円
    "40176": (date(2027, 2, 19), date(2027, 1, 5), 300_000, "upcoming"),
    "40102": (date(2026, 9, 30), date(2026, 8, 19), 3_000_000, "closed"),
}


@pytest.mark.parametrize("post_id", IDS)
def test_normalizer_reads_deadline_and_amount(listings: dict[str, dict], post_id: str) -> None:
    call = normalize_call(RawCall(**listings[f"jfc/{post_id}"]), today=DEMO_DAY)
    deadline, start, amount, status = EXPECTED[post_id]
    assert (call.deadline, call.application_start) == (deadline, start)
    assert call.max_amount_yen == amount
    assert call.status == status


def test_normalizer_reads_totals_in_thousands_and_the_area(listings: dict[str, dict]) -> None:
    call = normalize_call(RawCall(**listings["jfc/40218"]), today=DEMO_DAY)
    assert call.total_budget_yen == 5_000_000
    call = normalize_call(RawCall(**listings["jfc/40176"]), today=DEMO_DAY)
    assert call.area == "prefecture:千葉県"


# -- helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "organizer"),
    [
        ("【助成先募集】公益財団法人みどり野財団「2027年度 環境助成」", "公益財団法人みどり野財団"),
        ("【助成先募集】社会福祉法人ひまわり会 地域福祉活動助成", "社会福祉法人ひまわり会"),
        ("【助成先募集】（公財）さくら文化財団 第10回 文化活動助成", "（公財）さくら文化財団"),
        ("【助成先募集】株式会社ながれ星×NPO 共創プログラム", "株式会社ながれ星"),
        ("【助成先募集】ほしぞら基金 2027年度 助成", "ほしぞら基金"),
        ("【助成先募集】ほしぞら財団「こども支援助成」", "ほしぞら財団"),
        ("【研究助成】2027年度 若手研究者助成", None),
        ("【助成先募集】地域の居場所づくり活動への助成", None),
        ("こども食堂応援助成のお知らせ", None),
    ],
)
def test_organizer_in_title(title: str, organizer: str | None) -> None:
    assert organizer_in_title(title) == organizer


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Thu, 26 Nov 2026 01:00:00 +0000", "2026-11-26"),
        ("Tue, 24 Nov 2026 15:30:00 +0000", "2026-11-25"),
        ("Tue, 24 Nov 2026 23:30:00 +0900", "2026-11-24"),
        ("Tue, 24 Nov 2026 15:30:00 GMT", "2026-11-25"),
        ("", None),
        ("いつか", None),
        (None, None),
    ],
)
def test_rss_date(value: str | None, expected: str | None) -> None:
    assert rss_date(value) == expected


def test_item_id_falls_back_to_the_last_segment_of_the_link() -> None:
    item = Selector(text="<item><guid>https://www.jfc.or.jp/news_subsidy/abc/</guid></item>")
    assert item_id(item, "https://www.jfc.or.jp/news_subsidy/abc-2027/") == "abc-2027"


def test_plain_text_keeps_inline_tags_on_their_line() -> None:
    html = (
        "<p>応募期間<strong>（締切）</strong> 2026/11/01～<a href='#'>2026/12/28</a></p><p>次</p>"
    )
    assert plain_text(html) == "応募期間（締切） 2026/11/01～2026/12/28\n次"


# -- shape changes --------------------------------------------------------------------------


def test_a_feed_without_items_is_empty_not_an_error() -> None:
    items, spider = parse_feed(TEST_FILES / "empty-feed.xml")
    assert items == []
    assert errors(spider) == {}


def test_a_page_that_is_not_a_feed_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"not an RSS 2\.0 feed"):
        parse_feed(TEST_FILES / "redesigned.html")


def test_an_item_without_link_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="without title or link"):
        parse_feed(TEST_FILES / "item-without-link.xml")


# -- over HTTP ------------------------------------------------------------------------------


def test_crawl_over_http(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("jfc", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [i["id"] for i in items] == [f"jfc/{i}" for i in IDS]
    row = items[2]
    assert row["url"] == "https://www.jfc.or.jp/news_subsidy/kodomo-mirai-5/"
    assert row["organizer"] == "一般財団法人こどもの未来基金"
    assert row["published"] == "2026-11-20"
    assert items[1]["categories"] == ["研究"]


def test_crawl_of_a_redesigned_page_fails_with_a_shape_error(tmp_path: Path) -> None:
    site = Site(routes=[Route(path="/news_subsidy/feed/", file=TEST_FILES / "redesigned.html")])
    with MirrorServer(Mirror({HOST: site})) as server:
        items, proc = crawl_cli("jfc", server.url, tmp_path)
    assert items == []
    assert proc.returncode == 1
    assert "ページの形が想定と違います 1件" in proc.stderr
