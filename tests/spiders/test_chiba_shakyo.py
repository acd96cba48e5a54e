"""千葉市社会福祉協議会: the reposts archive (two pages), the repost tables, over HTTP."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from scrapy.http import Request

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from spiders.base import ShapeError
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer
from spiders.spiders.chiba_shakyo import MAX_PAGES, ChibaShakyoSpider
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
HOST = "chiba-shakyo.jp"
BASE = "https://chiba-shakyo.jp/vc/subsidy-vc/"
PAGE_2 = "https://chiba-shakyo.jp/vc/subsidy-vc/page/2/"
TEST_FILES = FILES / "chiba_shakyo"
JP_SLUG = "【助成金のご案内】千葉県地域ぐるみ福祉振興基金"
PAGE_1_IDS = [
    JP_SLUG,
    "kodomo-ouen-2026",
    "【助成金のご案内】地域の見守り・サロン活動助成",
    "yoka-katsudo-2026",
    "saigai-shikizai-2026",
]
PAGE_2_IDS = ["idou-shien-2026", "tsunen-2026"]
IDS = PAGE_1_IDS + PAGE_2_IDS


def sample_path(url: str) -> Path:
    path = sample_file(HOST, unquote(urlsplit(url).path).lstrip("/"))
    return path / "index.html" if path.is_dir() else path


def parse_list(
    url: str = BASE, page: Path | None = None, meta: dict[str, Any] | None = None
) -> tuple[Any, list[Request], list[Request]]:
    """The spider, its detail requests and its paging requests for one list page."""
    spider = make_spider(ChibaShakyoSpider)
    items, requests = run_callback(
        spider.parse, response_from_file(page or sample_path(url), url, meta=meta)
    )
    assert items == []
    details = [r for r in requests if "kyodo_row" in r.meta]
    paging = [r for r in requests if "kyodo_row" not in r.meta]
    return spider, details, paging


def rows() -> dict[str, dict[str, Any]]:
    out = {}
    for url in (BASE, PAGE_2):
        for request in parse_list(url)[1]:
            out[request.meta["kyodo_row"]["id"]] = request.meta["kyodo_row"]
    return out


def full_listings() -> dict[str, dict[str, Any]]:
    out = {}
    for url in (BASE, PAGE_2):
        spider, details, _ = parse_list(url)
        for request in details:
            response = response_from_file(sample_path(request.url), request.url, meta=request.meta)
            for item in run_callback(spider._parse_detail, response)[0]:
                out[item["id"]] = item
        assert errors(spider) == {}
    return out


# -- list pages -----------------------------------------------------------------------------


def test_each_page_requests_its_reposts_in_order() -> None:
    for url, ids in ((BASE, PAGE_1_IDS), (PAGE_2, PAGE_2_IDS)):
        details = parse_list(url)[1]
        assert [r.meta["kyodo_row"]["id"] for r in details] == [f"chiba_shakyo/{i}" for i in ids]


def test_paging_follows_the_next_link_once() -> None:
    _, _, paging = parse_list(BASE)
    assert [r.url for r in paging] == [PAGE_2]
    assert paging[0].meta["kyodo_list_page"] == 2
    assert parse_list(PAGE_2, meta={"kyodo_list_page": 2})[2] == []  # no next link


def test_paging_stops_at_max_pages() -> None:
    assert parse_list(BASE, meta={"kyodo_list_page": MAX_PAGES})[2] == []


def test_title_without_label_and_funder() -> None:
    assert rows()[f"chiba_shakyo/{JP_SLUG}"]["title"] == (
        "千葉県地域ぐるみ福祉振興基金 令和9年度 市民福祉活動団体助成"
    )
    assert rows()["chiba_shakyo/saigai-shikizai-2026"]["title"] == (
        "令和8年度 災害ボランティア備品整備助成 第2期"
    )


def test_organizer_is_the_funder_in_brackets() -> None:
    assert rows()[f"chiba_shakyo/{JP_SLUG}"]["organizer"] == "千葉県社会福祉協議会"
    assert rows()["chiba_shakyo/kodomo-ouen-2026"]["organizer"] == "公益財団法人ちば子ども未来財団"


def test_url_is_percent_encoded_and_id_is_the_decoded_slug() -> None:
    row = rows()[f"chiba_shakyo/{JP_SLUG}"]
    assert row["url"] == BASE + quote(JP_SLUG).lower() + "/"
    assert row["id"] == f"chiba_shakyo/{JP_SLUG}"


def test_status_only_from_a_closed_label() -> None:
    statuses = {i: row["status"] for i, row in rows().items()}
    closed = {"chiba_shakyo/saigai-shikizai-2026", "chiba_shakyo/idou-shien-2026"}
    assert {i for i, s in statuses.items() if s == "募集終了"} == closed
    assert {s for i, s in statuses.items() if i not in closed} == {None}


def test_published_from_the_time_element() -> None:
    assert rows()["chiba_shakyo/yoka-katsudo-2026"]["published"] == "2026-10-28"
    assert rows()["chiba_shakyo/tsunen-2026"]["published"] == "2026-08-20"


def test_row_text_is_the_date_and_the_heading() -> None:
    assert rows()["chiba_shakyo/saigai-shikizai-2026"]["text"] == (
        "掲載日: 2026.10.05\n"
        "【受付終了】【助成金のご案内】"
        "令和8年度 災害ボランティア備品整備助成 第2期(千葉県共同募金会)"
    )


@pytest.mark.parametrize("item_id", IDS)
def test_every_repost(item_id: str) -> None:
    listing = full_listings()[f"chiba_shakyo/{item_id}"]
    assert listing["source"] == "chiba_shakyo"
    assert unquote(listing["url"]) == f"{BASE}{item_id}/"
    assert listing["title"] and "【" not in listing["title"] and "(" not in listing["title"]
    assert listing["organizer"]
    assert date.fromisoformat(listing["published"]) <= DEMO_DAY
    assert "\n助成金額: " in listing["text"] and "\n受付期間: " in listing["text"]
    assert "◆" not in listing["text"]
    assert "partial" not in listing


# -- detail pages ---------------------------------------------------------------------------


def test_detail_requests_carry_the_row() -> None:
    for request in parse_list(BASE)[1]:
        assert request.url == request.meta["kyodo_row"]["url"]
        assert request.meta["kyodo_detail"] == "parse_detail"


def test_detail_text_has_the_rows_table_and_notes() -> None:
    assert full_listings()["chiba_shakyo/kodomo-ouen-2026"]["text"] == (
        "掲載日: 2026.11.16\n"
        "【助成金のご案内】子ども食堂・学習支援活動応援助成(公益財団法人ちば子ども未来財団)\n"
        "助成対象団体: 千葉市内で地域福祉の活動をしている非営利の団体（法人格の有無は問いません）\n"
        "助成対象事業: 子ども食堂、学習支援、子どもの居場所づくり\n"
        "助成金額: 1団体20万円以内\n"
        "受付期間: 2026年11月16日(月)~12月18日(金)17時必着\n"
        "申請書類は助成元のホームページからダウンロードしてください。"
    )


NORMALIZED = {
    JP_SLUG: ("2027-02-12", 100_000, "upcoming"),
    "kodomo-ouen-2026": ("2026-12-18", 200_000, "open"),
    "【助成金のご案内】地域の見守り・サロン活動助成": ("2027-01-22", 50_000, "open"),
    "yoka-katsudo-2026": ("2027-01-29", 300_000, "open"),
    "saigai-shikizai-2026": ("2026-10-30", 300_000, "closed"),
    "idou-shien-2026": ("2026-10-16", 200_000, "closed"),
    "tsunen-2026": (None, 30_000, "open"),  # 随時
}


def test_normalizer_reads_deadline_amount_and_status() -> None:
    listings = full_listings()
    assert set(listings) == {f"chiba_shakyo/{i}" for i in NORMALIZED}
    for item_id, expected in NORMALIZED.items():
        call = normalize_call(RawCall(**listings[f"chiba_shakyo/{item_id}"]), today=DEMO_DAY)
        deadline = call.deadline.isoformat() if call.deadline else None
        got = (deadline, call.max_amount_yen, call.status.value if call.status else None)
        assert got == expected, item_id


# -- shape changes --------------------------------------------------------------------------


def test_list_without_the_post_list_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="post-list"):
        parse_list(page=TEST_FILES / "list-changed.html")


def test_post_without_a_link_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="without a link"):
        parse_list(page=TEST_FILES / "list-item-without-link.html")


def test_detail_without_the_table_yields_the_partial_row() -> None:
    spider, details, _ = parse_list(BASE)
    request = details[1]
    response = response_from_file(
        TEST_FILES / "detail-changed.html", request.url, meta=request.meta
    )
    items, _ = run_callback(spider._parse_detail, response)
    assert items == [{**request.meta["kyodo_row"], "partial": True}]
    assert errors(spider) == {"shape": 1}


# -- over HTTP ------------------------------------------------------------------------------


def test_crawl_over_http(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("chiba_shakyo", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == sorted(f"chiba_shakyo/{i}" for i in IDS)
    assert not any(i.get("partial") for i in items)
    row = {i["id"]: i for i in items}[f"chiba_shakyo/{JP_SLUG}"]
    assert row["url"] == BASE + quote(JP_SLUG).lower() + "/"  # the real URL, as encoded on the page
    assert row["organizer"] == "千葉県社会福祉協議会"
    assert "助成金額: 1団体10万円を上限として助成" in row["text"]
