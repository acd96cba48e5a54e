"""全社協 福祉の助成情報: hub entries as link-only listings (no detail pages), over HTTP."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from spiders.base import ShapeError
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer
from spiders.spiders.shakyo import ShakyoSpider
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
HOST = "www.shakyo.or.jp"
HUB_URL = "https://www.shakyo.or.jp/guide/sponsor/"
TEST_FILES = FILES / "shakyo"
IDS = [
    "261120kodomo",
    "261112aoba",
    "261105chiba",
    "261028furusato",
    "261015fukushi-coop",
    "261002hoiku",
]


def parse_hub(page: Path | None = None) -> tuple[Any, list[dict[str, Any]]]:
    spider = make_spider(ShakyoSpider)
    items, requests = run_callback(
        spider.parse,
        response_from_file(page or sample_file(HOST, "guide/sponsor/index.html"), HUB_URL),
    )
    assert requests == []  # link-only: the detail pages are never fetched
    return spider, items


def rows() -> dict[str, dict[str, Any]]:
    spider, items = parse_hub()
    assert errors(spider) == {}
    return {item["id"]: item for item in items}


def test_one_listing_per_entry_in_page_order() -> None:
    assert [i["id"] for i in parse_hub()[1]] == [f"shakyo/{i}" for i in IDS]


def test_title_is_the_name_in_brackets() -> None:
    assert rows()["shakyo/261112aoba"]["title"] == "在宅福祉ボランティア活動助成"
    assert rows()["shakyo/261120kodomo"]["title"] == "2027年度 ちいさな居場所応援助成"


def test_text_after_the_brackets_stays_in_the_title() -> None:
    assert rows()["shakyo/261028furusato"]["title"] == "地域福祉のまちづくり活動助成 第12回"


def test_title_without_brackets_is_the_whole_heading() -> None:
    row = rows()["shakyo/261015fukushi-coop"]
    assert row["title"] == "ふくし生活協同組合 地域たすけあい基金 2027年度助成"
    assert row["organizer"] is None


def test_organizer_is_the_part_before_the_brackets() -> None:
    assert rows()["shakyo/261120kodomo"]["organizer"] == "公益財団法人こもれび子ども財団"
    assert rows()["shakyo/261002hoiku"]["organizer"] == "公益信託 みらい保育基金"


def test_url_and_id() -> None:
    row = rows()["shakyo/261105chiba"]
    assert row["url"] == "https://www.shakyo.or.jp/guide/sponsor/p/261105chiba.html"
    assert row["id"] == "shakyo/261105chiba"


def test_published_is_the_posting_date() -> None:
    assert rows()["shakyo/261105chiba"]["published"] == "2026-11-05"


def test_status_is_not_said() -> None:
    assert {row["status"] for row in rows().values()} == {None}


def test_text_is_only_the_hubs_facts() -> None:
    assert (
        rows()["shakyo/261120kodomo"]["text"] == "掲載日: 2026年11月20日\n募集締切: 2027年1月15日"
    )
    assert rows()["shakyo/261015fukushi-coop"]["text"] == "掲載日: 2026年10月15日\n募集締切: 随時"


@pytest.mark.parametrize("item_id", IDS)
def test_every_entry_is_link_only(item_id: str) -> None:
    row = rows()[f"shakyo/{item_id}"]
    assert row["terms"] == "link_only"
    assert row["source"] == "shakyo"
    assert row["url"] == f"https://www.shakyo.or.jp/guide/sponsor/p/{item_id}.html"
    assert "「" not in row["title"] and "」" not in row["title"]
    lines = row["text"].split("\n")
    assert [line.split(": ")[0] for line in lines] == ["掲載日", "募集締切"]
    assert date.fromisoformat(row["published"]).strftime("%y%m%d") == item_id[:6]


NORMALIZED = {
    "shakyo/261120kodomo": ("2027-01-15", "open"),
    "shakyo/261112aoba": ("2026-12-25", "open"),
    "shakyo/261105chiba": ("2027-01-29", "open"),
    "shakyo/261028furusato": ("2027-02-10", "open"),
    "shakyo/261015fukushi-coop": (None, "open"),  # 随時
    "shakyo/261002hoiku": ("2026-11-13", "closed"),
}


def test_normalizer_reads_the_deadline_not_the_posting_date() -> None:
    for item_id, row in rows().items():
        call = normalize_call(RawCall(**row), today=DEMO_DAY)
        deadline = call.deadline.isoformat() if call.deadline else None
        assert (deadline, call.status.value if call.status else None) == NORMALIZED[item_id]
        assert call.max_amount_yen is None  # the hub says no amount


# -- shape changes and the empty hub --------------------------------------------------------


def test_hub_without_h2_entries_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="h2 > a"):
        parse_hub(TEST_FILES / "hub-changed.html")


def test_empty_hub_with_its_wording_is_fine() -> None:
    spider, items = parse_hub(TEST_FILES / "hub-empty.html")
    assert (items, errors(spider)) == ([], {})


def test_entry_without_its_dates_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="情報掲載"):
        parse_hub(TEST_FILES / "hub-entry-without-facts.html")


# -- over HTTP ------------------------------------------------------------------------------


def test_crawl_over_http_fetches_only_the_hub(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("shakyo", server.url, tmp_path)
        requested = [path for host, path in server.mirror.requests if host == HOST]
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == sorted(f"shakyo/{i}" for i in IDS)
    assert "/guide/sponsor/" in requested
    assert not any("/p/" in path for path in requested)
    assert all(i["terms"] == "link_only" for i in items)
    row = {i["id"]: i for i in items}["shakyo/261112aoba"]
    assert row["organizer"] == "公益財団法人あおば福祉財団"
    assert row["published"] == "2026-11-12"
