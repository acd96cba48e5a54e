"""ちばNPO・ボランティア情報マガジン: the index, the grant section of new issues, over HTTP."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from spiders.base import ShapeError
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer
from spiders.spiders.chiba_npo import ChibaNpoSpider
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
HOST = "www.pref.chiba.lg.jp"
INDEX_URL = "https://www.pref.chiba.lg.jp/kkbunka/npo/mailmagazine/"
ISSUE_599 = "https://www.pref.chiba.lg.jp/kkbunka/npo/mailmagazine/r8/npom599.html"
ISSUE_598 = "https://www.pref.chiba.lg.jp/kkbunka/npo/mailmagazine/r8/npom598.html"
TEST_FILES = FILES / "chiba_npo"
IDS = ["npom599-1", "npom599-2", "npom599-3", "npom598-1", "npom598-2"]


def sample_path(url: str) -> Path:
    path = sample_file(HOST, unquote(urlsplit(url).path).lstrip("/"))
    return path / "index.html" if path.is_dir() else path


def issue(url: str, page: Path | None = None) -> tuple[Any, list[dict[str, Any]]]:
    spider = make_spider(ChibaNpoSpider)
    items, requests = run_callback(
        spider.parse_issue, response_from_file(page or sample_path(url), url)
    )
    assert requests == []
    return spider, items


def listings() -> dict[str, dict[str, Any]]:
    out = {}
    for url in (ISSUE_599, ISSUE_598):
        spider, items = issue(url)
        assert errors(spider) == {}
        out.update({item["id"]: item for item in items})
    return out


# -- the index ------------------------------------------------------------------------------


def test_index_requests_the_two_newest_issues() -> None:
    spider = make_spider(ChibaNpoSpider)
    items, requests = run_callback(
        spider.parse, response_from_file(sample_path(INDEX_URL), INDEX_URL)
    )
    assert items == []
    assert [r.url for r in requests] == [ISSUE_599, ISSUE_598]  # not npom597
    assert all(r.callback == spider.parse_issue for r in requests)
    assert all(r.errback is not None for r in requests)


def test_index_without_issue_links_is_a_shape_error() -> None:
    spider = make_spider(ChibaNpoSpider)
    response = response_from_file(TEST_FILES / "index-changed.html", INDEX_URL)
    with pytest.raises(ShapeError, match="npomNNN"):
        run_callback(spider.parse, response)


# -- issue pages ----------------------------------------------------------------------------


def test_only_the_grant_section_becomes_listings() -> None:
    _, items = issue(ISSUE_599)
    assert [i["id"] for i in items] == [f"chiba_npo/{i}" for i in IDS[:3]]
    titles = [i["title"] for i in items]
    assert not any("県民活動フェスタ" in t or "会計講座" in t for t in titles)


def test_title_without_number_and_brackets() -> None:
    assert listings()["chiba_npo/npom599-1"]["title"] == "地域で子どもを育む活動助成"


def test_organizer_is_the_funder() -> None:
    assert listings()["chiba_npo/npom599-2"]["organizer"] == "一般財団法人房総福祉振興会"
    assert listings()["chiba_npo/npom598-1"]["organizer"] == "公益信託みどりの里基金"
    assert listings()["chiba_npo/npom599-3"]["organizer"] == "鎌ケ谷市市民活動推進課"


def test_url_is_the_calls_own_link_and_id_is_issue_and_position() -> None:
    row = listings()["chiba_npo/npom599-3"]
    assert row["url"] == "https://kamagaya-shimin.example.jp/machizukuri-teian/"
    assert row["id"] == "chiba_npo/npom599-3"


def test_published_is_the_issues_update_date() -> None:
    rows = listings()
    assert {rows[f"chiba_npo/{i}"]["published"] for i in IDS[:3]} == {"2026-11-20"}
    assert {rows[f"chiba_npo/{i}"]["published"] for i in IDS[3:]} == {"2026-11-06"}


def test_status_is_not_said() -> None:
    assert {row["status"] for row in listings().values()} == {None}


def test_text_is_the_entrys_lines_and_the_issue() -> None:
    assert listings()["chiba_npo/npom599-1"]["text"] == (
        "助成元: 公益財団法人ちば子ども未来財団\n"
        "期間: 12月1日(火曜日)~令和9年1月15日(金曜日)\n"
        "助成額: 1団体上限30万円\n"
        "詳細: https://kodomo-mirai.example.jp/josei/2027.html\n"
        "掲載号: ちばNPO・ボランティア情報マガジン第599号"
    )


@pytest.mark.parametrize("item_id", IDS)
def test_every_call(item_id: str) -> None:
    row = listings()[f"chiba_npo/{item_id}"]
    assert row["source"] == "chiba_npo"
    assert row["title"] and not row["title"].startswith(("(", "「"))
    assert row["organizer"] and row["organizer"] in row["text"]
    assert row["url"].startswith("https://") and row["url"] in row["text"]
    assert "期間: " in row["text"] or "締切: " in row["text"]
    assert row["text"].endswith(f"第{item_id[4:7]}号")


def test_issue_without_the_grant_section_has_no_calls() -> None:
    spider, items = issue(ISSUE_599, TEST_FILES / "issue-without-grants.html")
    assert (items, errors(spider)) == ([], {})


def test_grant_section_without_entries_has_no_calls() -> None:
    """Entries under a later section's `h3` are not calls."""
    spider, items = issue(ISSUE_599, TEST_FILES / "issue-grants-none-new.html")
    assert (items, errors(spider)) == ([], {})


def test_page_without_the_magazine_structure_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="magazine"):
        issue(ISSUE_599, TEST_FILES / "issue-changed.html")


def test_entry_without_a_name_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="without a name"):
        issue(ISSUE_599, TEST_FILES / "issue-entry-without-name.html")


# -- what the normalizer makes of them ------------------------------------------------------

NORMALIZED = {
    "chiba_npo/npom599-1": ("2027-01-15", "2026-12-01", 300_000, "upcoming"),
    "chiba_npo/npom599-2": ("2027-02-19", "2026-11-20", 500_000, "open"),
    "chiba_npo/npom599-3": ("2027-02-26", None, 300_000, "open"),  # 3分の2以内 is the rate
    "chiba_npo/npom598-1": ("2026-11-20", "2026-10-01", None, "closed"),
    "chiba_npo/npom598-2": ("2027-02-26", "2027-01-12", 200_000, "upcoming"),
}


def test_normalizer_reads_the_period_deadline_and_amount() -> None:
    rows = listings()
    assert set(rows) == set(NORMALIZED)
    for item_id, row in rows.items():
        call = normalize_call(RawCall(**row), today=DEMO_DAY)
        got = (
            call.deadline.isoformat() if call.deadline else None,
            call.application_start.isoformat() if call.application_start else None,
            call.max_amount_yen,
            call.status.value if call.status else None,
        )
        assert got == NORMALIZED[item_id], item_id


def test_normalizer_reads_the_arrival_deadline_with_its_time() -> None:
    call = normalize_call(RawCall(**listings()["chiba_npo/npom599-3"]), today=DEMO_DAY)
    assert call.deadline_note is not None
    assert (call.deadline_note.basis, call.deadline_note.time) == ("arrival", "17:00")


# -- over HTTP ------------------------------------------------------------------------------


def test_crawl_over_http(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("chiba_npo", server.url, tmp_path)
        requested = {path for _, path in server.mirror.requests}
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == sorted(f"chiba_npo/{i}" for i in IDS)
    assert "/kkbunka/npo/mailmagazine/r8/npom598.html" in requested
    assert "/kkbunka/npo/mailmagazine/r8/npom597.html" not in requested
    row = {i["id"]: i for i in items}["chiba_npo/npom599-2"]
    assert row["title"] == "高齢者の居場所づくり助成"
    assert row["published"] == "2026-11-20"
    assert row["organizer"] == "一般財団法人房総福祉振興会"
