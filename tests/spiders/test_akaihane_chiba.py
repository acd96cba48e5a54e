"""千葉県共同募金会: 現在受付中の助成 and its detail pages (assumed structure), over HTTP."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from scrapy.http import Request

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from spiders.base import ShapeError
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer
from spiders.spiders.akaihane_chiba import AkaihaneChibaSpider
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
HOST = "akaihane-chiba.jp"
LIST_URL = "https://akaihane-chiba.jp/publics/index/36/"
TEST_FILES = FILES / "akaihane_chiba"
IDS = ["152", "150", "149", "147", "141"]


def sample_path(url: str) -> Path:
    path = sample_file(HOST, unquote(urlsplit(url).path).lstrip("/"))
    return path / "index.html" if path.is_dir() else path


def list_requests(page: Path | None = None) -> tuple[Any, list[Request]]:
    spider = make_spider(AkaihaneChibaSpider)
    items, requests = run_callback(
        spider.parse, response_from_file(page or sample_path(LIST_URL), LIST_URL)
    )
    assert items == []
    return spider, requests


def rows() -> dict[str, dict[str, Any]]:
    return {r.meta["kyodo_row"]["id"]: r.meta["kyodo_row"] for r in list_requests()[1]}


def full_listings() -> dict[str, dict[str, Any]]:
    spider, requests = list_requests()
    out = {}
    for request in requests:
        response = response_from_file(sample_path(request.url), request.url, meta=request.meta)
        for item in run_callback(spider._parse_detail, response)[0]:
            out[item["id"]] = item
    assert errors(spider) == {}
    return out


# -- the list page --------------------------------------------------------------------------


def test_one_detail_request_per_call_in_page_order() -> None:
    _, requests = list_requests()
    assert [r.meta["kyodo_row"]["id"] for r in requests] == [f"akaihane_chiba/{i}" for i in IDS]
    assert [r.url for r in requests][:2] == [
        "https://akaihane-chiba.jp/publics/detail/152/",
        "https://akaihane-chiba.jp/publics/detail/150/",
    ]


def test_title() -> None:
    assert rows()["akaihane_chiba/149"]["title"] == (
        "歳末たすけあい 子ども食堂応援助成(鎌ケ谷市・船橋市・市川市地区)"
    )


def test_url_and_id() -> None:
    row = rows()["akaihane_chiba/147"]
    assert (row["id"], row["url"]) == (
        "akaihane_chiba/147",
        "https://akaihane-chiba.jp/publics/detail/147/",
    )


def test_organizer() -> None:
    assert {row["organizer"] for row in rows().values()} == {"千葉県共同募金会"}


def test_status_is_left_to_the_dates() -> None:
    assert {row["status"] for row in rows().values()} == {None}


def test_published() -> None:
    assert rows()["akaihane_chiba/152"]["published"] == "2026-11-16"
    assert rows()["akaihane_chiba/141"]["published"] == "2026-09-01"


def test_row_text_is_the_posting_date() -> None:
    assert rows()["akaihane_chiba/150"]["text"] == "掲載日: 2026.11.10"


@pytest.mark.parametrize("item_id", IDS)
def test_every_call(item_id: str) -> None:
    listing = full_listings()[f"akaihane_chiba/{item_id}"]
    assert listing["source"] == "akaihane_chiba"
    assert listing["url"] == f"https://akaihane-chiba.jp/publics/detail/{item_id}/"
    assert listing["title"] and "<" not in listing["title"]
    assert date.fromisoformat(listing["published"]) <= DEMO_DAY
    assert listing["text"].startswith("掲載日: 2026.")
    assert "受付期間:令和" in listing["text"]
    assert "助成上限額 " in listing["text"]
    assert "partial" not in listing


# -- detail pages ---------------------------------------------------------------------------


def test_detail_requests_carry_the_row() -> None:
    for request in list_requests()[1]:
        assert request.url == request.meta["kyodo_row"]["url"]
        assert request.meta["kyodo_detail"] == "parse_detail"


def test_detail_text_is_the_row_text_and_the_body() -> None:
    assert full_listings()["akaihane_chiba/152"]["text"] == (
        "掲載日: 2026.11.16\n"
        "県内で高齢者や障害のある方、子育て家庭を支える地域福祉活動に助成します。\n"
        "対象団体:千葉県内で活動する非営利の団体(法人格の有無は問いません)\n"
        "受付期間:令和8年12月1日(火)から12月25日(金)必着\n"
        "助成上限額 20万円\n"
        "助成額:算定額の最大75%(千円未満切捨)\n"
        "申請先:お住まいの市町村共同募金委員会\n"
        "問合せ:千葉県共同募金会 配分担当"
    )


NORMALIZED = {
    "akaihane_chiba/152": ("2026-12-25", "2026-12-01", 200_000, "upcoming"),
    "akaihane_chiba/150": ("2027-02-12", "2026-11-10", 50_000, "open"),
    "akaihane_chiba/149": ("2026-12-11", "2026-11-09", 100_000, "open"),
    "akaihane_chiba/147": ("2027-01-29", "2026-10-20", 1_500_000, "open"),
    "akaihane_chiba/141": ("2026-10-30", "2026-09-01", 300_000, "closed"),
}


def test_normalizer_reads_the_period_amount_and_status() -> None:
    listings = full_listings()
    assert set(listings) == set(NORMALIZED)
    for item_id, row in listings.items():
        call = normalize_call(RawCall(**row), today=DEMO_DAY)
        got = (
            call.deadline.isoformat() if call.deadline else None,
            call.application_start.isoformat() if call.application_start else None,
            call.max_amount_yen,
            call.status.value if call.status else None,
        )
        assert got == NORMALIZED[item_id], item_id


def test_normalizer_keeps_the_rate_and_the_prefecture() -> None:
    call = normalize_call(RawCall(**full_listings()["akaihane_chiba/152"]), today=DEMO_DAY)
    assert call.subsidy_rate == "算定額の最大75%(千円未満切捨)"
    assert call.evidence["deadline"] == "受付期間:令和8年12月1日(火)から12月25日(金)必着"
    assert call.deadline_note is not None and call.deadline_note.basis == "arrival"  # 必着
    assert call.area == "prefecture:千葉県"


# -- shape changes and the empty list -------------------------------------------------------


def test_empty_list_with_the_sites_wording_is_fine() -> None:
    spider, requests = list_requests(TEST_FILES / "list-empty.html")
    assert (requests, errors(spider)) == ([], {})


def test_list_without_items_or_wording_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"li\.publics-item"):
        list_requests(TEST_FILES / "list-empty-no-wording.html")


def test_list_without_the_list_box_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"div\.publics-list"):
        list_requests(TEST_FILES / "list-changed.html")


def test_item_without_a_link_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="without a link"):
        list_requests(TEST_FILES / "list-item-without-link.html")


def test_detail_without_the_body_yields_the_partial_row() -> None:
    spider, requests = list_requests()
    request = requests[0]
    response = response_from_file(
        TEST_FILES / "detail-changed.html", request.url, meta=request.meta
    )
    items, _ = run_callback(spider._parse_detail, response)
    assert items == [{**request.meta["kyodo_row"], "partial": True}]
    assert errors(spider) == {"shape": 1}
    sample = spider.crawler.stats.get_value("kyodo/error_samples")[0]
    assert "publics-detail-body" in sample["message"]


# -- over HTTP ------------------------------------------------------------------------------


def test_crawl_over_http(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("akaihane_chiba", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == sorted(f"akaihane_chiba/{i}" for i in IDS)
    assert not any(i.get("partial") for i in items)
    row = {i["id"]: i for i in items}["akaihane_chiba/149"]
    assert row["url"] == "https://akaihane-chiba.jp/publics/detail/149/"
    assert row["organizer"] == "千葉県共同募金会"
    assert "受付期間:令和8年11月9日(月)から12月11日(金)必着" in row["text"]
