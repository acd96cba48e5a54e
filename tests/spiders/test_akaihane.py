"""中央共同募金会（赤い羽根）: the list's labels and post dates, the detail bodies, over HTTP."""

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
from spiders.spiders.akaihane import AkaihaneSpider
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
HOST = "www.akaihane.or.jp"
LIST_URL = "https://www.akaihane.or.jp/subsidies/"
TEST_FILES = FILES / "akaihane"
KEPT = ["31920", "31902", "31875", "31841"]  # 31790 results, 31760 closed, 31744 義援金


def sample_path(url: str) -> Path:
    """The sample-mirror file served for a real URL (a directory's index.html)."""
    path = sample_file(HOST, unquote(urlsplit(url).path).lstrip("/"))
    return path / "index.html" if path.is_dir() else path


def list_requests(page: Path | None = None) -> tuple[Any, list[Request]]:
    spider = make_spider(AkaihaneSpider)
    items, requests = run_callback(
        spider.parse, response_from_file(page or sample_path(LIST_URL), LIST_URL)
    )
    assert items == []  # every kept post goes through its detail page
    return spider, requests


def rows() -> dict[str, dict[str, Any]]:
    """The list rows carried by the detail requests, by id."""
    _, requests = list_requests()
    return {r.meta["kyodo_row"]["id"]: r.meta["kyodo_row"] for r in requests}


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


def test_only_calls_are_kept_in_page_order() -> None:
    _, requests = list_requests()
    assert [r.meta["kyodo_row"]["id"] for r in requests] == [f"akaihane/{i}" for i in KEPT]


def test_title_is_the_posts_title_with_its_label() -> None:
    assert rows()["akaihane/31902"]["title"] == (
        "【応募受付中・1/15締切り】赤い羽根福祉基金 2027年度「制度のはざまを支える福祉活動」助成"
    )


def test_url_and_id() -> None:
    row = rows()["akaihane/31875"]
    assert row["url"] == "https://www.akaihane.or.jp/subsidies/kyodo-program/31875/"
    assert row["id"] == "akaihane/31875"


def test_organizer() -> None:
    assert {row["organizer"] for row in rows().values()} == {"中央共同募金会"}


def test_status_from_the_label() -> None:
    statuses = {i: row["status"] for i, row in rows().items()}
    assert statuses == {
        "akaihane/31920": "募集予定",
        "akaihane/31902": "募集中",
        "akaihane/31875": "募集中",
        "akaihane/31841": "募集中",
    }


def test_published_is_the_post_date() -> None:
    assert rows()["akaihane/31841"]["published"] == "2026-10-26"
    assert rows()["akaihane/31920"]["published"] == "2026-11-25"


def test_row_text_has_the_resolved_deadline_and_the_original_title() -> None:
    assert rows()["akaihane/31902"]["text"] == (
        "締切: 2027年1月15日\n"
        "掲載日: 2026年11月20日\n"
        "区分: 赤い羽根福祉基金\n"
        "【応募受付中・1/15締切り】赤い羽根福祉基金 2027年度「制度のはざまを支える福祉活動」助成"
    )
    assert rows()["akaihane/31875"]["text"].split("\n")[0] == "締切: 2026年12月18日"


@pytest.mark.parametrize("item_id", KEPT)
def test_every_kept_row(item_id: str) -> None:
    row = rows()[f"akaihane/{item_id}"]
    assert row["source"] == "akaihane"
    assert row["url"].startswith("https://www.akaihane.or.jp/subsidies/")
    assert row["url"].rstrip("/").endswith(item_id)
    assert row["title"].startswith("【")
    assert date.fromisoformat(row["published"]) <= DEMO_DAY
    assert row["text"].startswith("締切: 20")
    assert row["title"] in row["text"]
    assert "partial" not in row
    for skipped in ("【助成先決定】", "【応募受付終了】", "義援金"):
        assert skipped not in row["title"]


def test_deadline_year_comes_from_the_post_date_not_today() -> None:
    """A December post closing `1/15` closes in the next January; `12/26` in the same year."""
    _, requests = list_requests(TEST_FILES / "list-december.html")
    texts = {r.meta["kyodo_row"]["id"]: r.meta["kyodo_row"]["text"] for r in requests}
    assert texts["akaihane/29011"].split("\n")[0] == "締切: 2026年1月15日"
    assert texts["akaihane/29010"].split("\n")[0] == "締切: 2025年12月26日"
    assert texts["akaihane/29002"].split("\n")[0] == "締切: 2025年12月19日"
    # a post without a deadline label has no 締切 line and no status
    assert texts["akaihane/28990"].split("\n")[0] == "掲載日: 2025年11月28日"
    statuses = {r.meta["kyodo_row"]["id"]: r.meta["kyodo_row"]["status"] for r in requests}
    assert statuses["akaihane/29002"] == "募集中"  # 締切延長
    assert statuses["akaihane/28990"] is None


# -- detail pages ---------------------------------------------------------------------------


def test_detail_requests_carry_the_row() -> None:
    _, requests = list_requests()
    for request in requests:
        row = request.meta["kyodo_row"]
        assert request.url == row["url"]
        assert request.meta["kyodo_detail"] == "parse_detail"
        assert request.errback is not None


def test_detail_adds_the_body_after_the_row_text() -> None:
    listing = full_listings()["akaihane/31902"]
    assert listing["text"].startswith(rows()["akaihane/31902"]["text"] + "\n助成の趣旨\n")
    assert "1件あたり上限300万円（助成総額 6,000万円）" in listing["text"]
    assert "2026年11月20日（金）～2027年1月15日（金）17時必着" in listing["text"]
    assert listing["title"] == rows()["akaihane/31902"]["title"]
    assert "partial" not in listing


NORMALIZED = {
    "akaihane/31920": ("2027-02-26", 2_000_000, "upcoming"),
    "akaihane/31902": ("2027-01-15", 3_000_000, "open"),
    "akaihane/31875": ("2026-12-18", 500_000, "open"),
    "akaihane/31841": ("2027-02-05", 300_000, "open"),
}


def test_normalizer_reads_deadline_amount_and_status() -> None:
    listings = full_listings()
    assert set(listings) == set(NORMALIZED)
    for item_id, row in listings.items():
        call = normalize_call(RawCall(**row), today=DEMO_DAY)
        deadline = call.deadline.isoformat() if call.deadline else None
        got = (deadline, call.max_amount_yen, call.status.value if call.status else None)
        assert got == NORMALIZED[item_id], item_id


def test_normalizer_uses_the_resolved_year_of_a_row_without_detail() -> None:
    _, requests = list_requests(TEST_FILES / "list-december.html")
    row = next(r.meta["kyodo_row"] for r in requests if r.meta["kyodo_row"]["id"].endswith("29011"))
    call = normalize_call(RawCall(**row), today=date(2025, 12, 20))
    assert call.deadline == date(2026, 1, 15)


# -- shape changes --------------------------------------------------------------------------


def test_list_without_the_post_list_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="cmn-post-list01"):
        list_requests(TEST_FILES / "list-changed.html")


def test_post_without_a_title_link_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"span\.title a"):
        list_requests(TEST_FILES / "list-item-without-link.html")


def test_detail_without_the_body_yields_the_partial_row() -> None:
    spider, requests = list_requests()
    request = next(r for r in requests if r.meta["kyodo_row"]["id"] == "akaihane/31902")
    response = response_from_file(
        TEST_FILES / "detail-changed.html", request.url, meta=request.meta
    )
    items, _ = run_callback(spider._parse_detail, response)
    assert items == [{**request.meta["kyodo_row"], "partial": True}]
    assert items[0]["text"].startswith("締切: 2027年1月15日")
    assert errors(spider) == {"shape": 1}


# -- over HTTP ------------------------------------------------------------------------------


def test_crawl_over_http(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("akaihane", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == sorted(f"akaihane/{i}" for i in KEPT)
    assert not any(i.get("partial") for i in items)
    by_id = {i["id"]: i for i in items}
    first = by_id["akaihane/31902"]
    assert first["url"] == "https://www.akaihane.or.jp/subsidies/fukushi-kikin/31902/"
    assert first["status"] == "募集中"
    assert first["published"] == "2026-11-20"
    assert "1件あたり上限300万円" in first["text"]
