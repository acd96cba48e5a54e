"""The むすびえ spider on its subsidy feed (sample mirror, test-only pages, the real feed) and
over HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import Request

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from spiders.base import ShapeError
from spiders.feeds import legal_name_in, rss_date
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer, Route, Site
from spiders.spiders.musubie import MUSUBIE, MusubieSpider
from tests.realpages import REAL_PAGES
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
HOST = "musubie.org"
FEED_URL = "https://musubie.org/news_cat/subsidy/feed"
FEED_FILE = sample_file(HOST, "news_cat/subsidy/feed.xml")
REAL_FEED = "musubie-subsidy-feed.xml"
TEST_FILES = FILES / "musubie"
FEED_IDS = ["31240", "31205", "31170"]  # items with text of their own, in feed order
DETAIL_ID = "31228"  # an item with a title only: its page is read


def parse_feed(
    path: Path = FEED_FILE, spider: MusubieSpider | None = None
) -> tuple[list[dict[str, Any]], list[Request], MusubieSpider]:
    spider = spider or make_spider(MusubieSpider)
    items, requests = run_callback(spider.parse, response_from_file(path, FEED_URL))
    return items, requests, spider


def read_detail(spider: MusubieSpider, request: Request, path: Path | None = None) -> dict:
    path = path or sample_file(HOST, request.url.split(f"{HOST}/", 1)[1] + ".html")
    items, requests = run_callback(
        spider._parse_detail, response_from_file(path, request.url, meta=request.meta)
    )
    assert requests == [] and len(items) == 1
    return items[0]


@pytest.fixture()
def listings() -> dict[str, dict[str, Any]]:
    items, requests, spider = parse_feed()
    items += [read_detail(spider, r) for r in requests]
    assert errors(spider) == {}
    return {row["id"]: row for row in items}


def normalized(row: dict[str, Any]):
    return normalize_call(RawCall(**row), today=DEMO_DAY)


def real_feed() -> Path:
    path = REAL_PAGES / REAL_FEED
    if not path.exists():
        pytest.skip(f"real page {REAL_FEED} not present (../shared/real-pages is test data only)")
    return path


# -- feed items and detail pages ------------------------------------------------------------


def test_items_with_text_are_listings_and_a_title_only_item_reads_its_page() -> None:
    items, requests, _ = parse_feed()
    assert [row["id"] for row in items] == [f"musubie/{i}" for i in FEED_IDS]
    assert [r.url for r in requests] == [f"https://musubie.org/news/grant/{DETAIL_ID}"]
    row = requests[0].meta["kyodo_row"]
    assert row == {
        "id": f"musubie/{DETAIL_ID}",
        "title": "株式会社ひだまりフーズ「こども食堂応援プログラム」第3期 募集のお知らせ",
        "text": "株式会社ひだまりフーズ「こども食堂応援プログラム」第3期 募集のお知らせ",
        "url": f"https://musubie.org/news/grant/{DETAIL_ID}",
        "published": "2026-11-24",
        "organizer": "株式会社ひだまりフーズ",
        "source": "musubie",
        "status": None,
    }


def test_title(listings: dict[str, dict]) -> None:
    assert listings["musubie/31240"]["title"] == (
        "【募集要項】「むすびえ・こども食堂基金」2026年度 冬募集概要【12/18〆切】"
    )


def test_url_and_id(listings: dict[str, dict]) -> None:
    assert listings["musubie/31205"]["url"] == "https://musubie.org/news/grant/31205"
    assert sorted(listings) == sorted(f"musubie/{i}" for i in [*FEED_IDS, DETAIL_ID])


def test_published_is_the_pubdate_in_japan(listings: dict[str, dict]) -> None:
    published = {key: row["published"] for key, row in listings.items()}
    assert published == {
        "musubie/31240": "2026-11-19",
        "musubie/31205": "2026-11-11",  # Tue, 10 Nov 2026 16:10 +0000
        "musubie/31170": "2026-09-25",
        "musubie/31228": "2026-11-24",
    }


def test_organizer_where_written(listings: dict[str, dict]) -> None:
    organizers = {key: row["organizer"] for key, row in listings.items()}
    assert organizers == {
        "musubie/31240": MUSUBIE,  # むすびえ's own fund
        "musubie/31205": "公益財団法人ちばこども未来財団",
        "musubie/31170": None,
        "musubie/31228": "株式会社ひだまりフーズ",
    }


def test_status_is_left_to_the_title_and_dates(listings: dict[str, dict]) -> None:
    assert {row["status"] for row in listings.values()} == {None}


def test_text_of_a_feed_item(listings: dict[str, dict]) -> None:
    assert listings["musubie/31170"]["text"] == "\n".join(
        [
            "こども食堂が災害に備えて行う備蓄品（水・食料・カセットコンロ等）の購入を応援します。",
            "応募締切：2026年10月30日（金）必着",
            "助成額：1団体5万円",
            "※ご応募ありがとうございました。受付は終了しました。",
        ]
    )
    # an item with only an excerpt keeps the excerpt
    assert listings["musubie/31205"]["text"].startswith("千葉県内のこども食堂を対象に")


def test_text_of_a_detail_page(listings: dict[str, dict]) -> None:
    row = listings[f"musubie/{DETAIL_ID}"]
    assert "partial" not in row
    assert row["text"].splitlines()[3:7] == [
        "助成金額: 1団体あたり上限20万円",
        "助成数: 60団体程度",
        "応募締切: 2027年2月12日（金）17時",
        "対象: 月1回以上こども食堂を開催している団体（任意団体可）",
    ]
    assert "むすびえについて" not in row["text"]  # the page's navigation is not the call


@pytest.mark.parametrize("post_id", [*FEED_IDS, DETAIL_ID])
def test_every_listing(listings: dict[str, dict], post_id: str) -> None:
    row = listings[f"musubie/{post_id}"]
    assert row["source"] == "musubie"
    assert row["url"] == f"https://musubie.org/news/grant/{post_id}"
    assert row["text"] != row["title"] and "<" not in row["text"]
    assert row["published"] is not None
    assert "partial" not in row
    RawCall(**row)


# -- what the normalizer makes of them ------------------------------------------------------


EXPECTED = {  # id: (deadline, max amount, status on the demo day, area)
    "31240": (date(2026, 12, 18), 300_000, "open", "national"),
    "31205": (date(2027, 1, 8), None, "upcoming", "prefecture:千葉県"),
    "31170": (date(2026, 10, 30), 50_000, "closed", "national"),
    "31228": (date(2027, 2, 12), 200_000, "open", "national"),
}


@pytest.mark.parametrize("post_id", sorted(EXPECTED))
def test_normalizer_reads_deadline_and_amount(listings: dict[str, dict], post_id: str) -> None:
    call = normalized(listings[f"musubie/{post_id}"])
    assert (call.deadline, call.max_amount_yen, call.status, call.area) == EXPECTED[post_id]


# -- shape changes --------------------------------------------------------------------------


def test_a_detail_page_without_body_yields_the_partial_row() -> None:
    _, requests, spider = parse_feed()
    row = read_detail(spider, requests[0], TEST_FILES / "detail-redesigned.html")
    assert row == {**requests[0].meta["kyodo_row"], "partial": True}
    assert errors(spider) == {"shape": 1}


def test_an_item_with_blank_text_reads_its_page() -> None:
    items, requests, _ = parse_feed(TEST_FILES / "feed-blank-item.xml")
    assert items == []
    assert [r.url for r in requests] == ["https://musubie.org/news/grant/39001"]


def test_a_page_that_is_not_a_feed_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="channel"):
        parse_feed(TEST_FILES / "detail-redesigned.html")


# -- the real feed (captured 2026-07-05) ----------------------------------------------------


def _real_items() -> list[ET.Element]:
    root = ET.parse(real_feed()).getroot()
    channel = root.find("channel")
    assert channel is not None
    return channel.findall("item")


def test_real_feed_every_item() -> None:
    """Every item of the real feed, as a reader would write it down.

    The captured feed is between rounds: it has a channel and no items (read off the file).
    """
    path = real_feed()
    root = ET.parse(path).getroot()
    assert root.findtext("channel/title") == "認定NPO法人 全国こども食堂支援センター・むすびえ"
    assert root.findtext("channel/link") == "https://musubie.org"
    real = _real_items()
    assert len(real) == 0
    items, requests, spider = parse_feed(path)
    assert errors(spider) == {}
    rows = {r["url"]: r for r in items} | {r.url: r.meta["kyodo_row"] for r in requests}
    assert len(rows) == len(real)
    for item in real:  # checks each item, should the captured copy ever hold some
        row = rows[(item.findtext("link") or "").strip()]
        title = (item.findtext("title") or "").strip()
        assert row["title"] == title
        assert row["published"] == rss_date(item.findtext("pubDate"))
        assert row["organizer"] == (
            legal_name_in(title) or (MUSUBIE if "むすびえ" in title else None)
        )


def test_crawl_of_the_real_feed_over_http(tmp_path: Path) -> None:
    site = Site(routes=[Route(path="/news_cat/subsidy/feed", file=real_feed())])
    with MirrorServer(Mirror({HOST: site})) as server:
        items, proc = crawl_cli("musubie", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr  # an empty feed is normal between rounds
    assert items == []
    assert "エラー" not in proc.stderr


# -- over HTTP ------------------------------------------------------------------------------


def test_crawl_over_http(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("musubie", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == sorted(f"musubie/{i}" for i in [*FEED_IDS, DETAIL_ID])
    assert not any(i.get("partial") for i in items)
    row = next(i for i in items if i["id"] == f"musubie/{DETAIL_ID}")
    assert row["url"] == f"https://musubie.org/news/grant/{DETAIL_ID}"  # the real URL
    assert "応募締切: 2027年2月12日（金）17時" in row["text"]


def test_crawl_with_a_missing_detail_page_keeps_the_row(tmp_path: Path) -> None:
    site = Site(routes=[Route(path="/news_cat/subsidy/feed", file=FEED_FILE)])
    with MirrorServer(Mirror({HOST: site})) as server:
        items, proc = crawl_cli("musubie", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {i["id"]: i for i in items}
    assert len(rows) == 4
    assert rows[f"musubie/{DETAIL_ID}"]["partial"] is True
    assert "HTTP 404 エラー 1件" in proc.stderr
