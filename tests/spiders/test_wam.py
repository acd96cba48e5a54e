"""The WAM spider: the sample index and detail pages, out-of-season and changed pages, the real
pages, and crawls over HTTP against the sample mirror."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Request

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from spiders.base import ShapeError
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer, Route, Site
from spiders.spiders.wam import WamSpider
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
CAPTURE_DAY = date(2026, 7, 5)  # the real pages were captured then
HOST = "www.wam.go.jp"
HP = f"https://{HOST}/hp"
INDEX_URL = f"{HP}/wamjosei_boshu/"
INDEX = "hp/wamjosei_boshu/index.html"
TEST_FILES = FILES / "wam"
ORGANIZER = "独立行政法人福祉医療機構"

# The sample index, in page order: id → (title, status, 募集期間, detail page fetched).
SAMPLE_CALLS = {
    "r8hosei_wamjyosei": ("令和8年度WAM助成(補正予算事業)募集のお知らせ", None,
                          "令和8年11月16日から令和8年12月18日まで", True),
    "r8_kodomo_ibasho": ("令和8年度こどもの居場所づくり緊急支援助成 募集のお知らせ", None,
                         "令和8年11月4日から令和9年1月15日まで", True),
    "r9_wamjyosei": ("令和9年度WAM助成(通常助成事業)募集のお知らせ", None,
                     "令和8年12月24日から令和9年1月25日まで", True),
    "r8_wamjyosei": ("令和8年度WAM助成(通常助成事業)の募集", "募集終了",
                     "令和7年12月26日から令和8年1月26日まで", True),
    "r8_wamjyosei_model": ("令和8年度WAM助成(モデル事業)の募集", "募集終了",
                           "令和7年12月26日から令和8年1月26日まで", True),
    "r7_wamjyosei": ("令和7年度WAM助成(通常助成事業)の募集", "募集終了",
                     "令和6年12月27日から令和7年1月27日まで", False),
}  # fmt: skip

# The full listings, normalized on the demo day: (deadline, max per grant, total, status).
NORMALIZED = {
    "r8hosei_wamjyosei": ("2026-12-18", 3_000_000, 200_000_000, "open"),
    "r8_kodomo_ibasho": ("2027-01-15", 2_000_000, 100_000_000, "open"),
    "r9_wamjyosei": ("2027-01-25", 9_000_000, 600_000_000, "upcoming"),
    "r8_wamjyosei": ("2026-01-26", 9_000_000, 600_000_000, "closed"),
    "r8_wamjyosei_model": ("2026-01-26", 20_000_000, 600_000_000, "closed"),
    "r7_wamjyosei": ("2025-01-27", None, None, "closed"),
}


def spider() -> WamSpider:
    return make_spider(WamSpider)


def index(page: Path, spider_: WamSpider | None = None) -> tuple[list[dict], list[Request]]:
    """Rows of an index page: those sent to their detail page first, then those yielded."""
    items, requests = run_callback((spider_ or spider()).parse, response_from_file(page, INDEX_URL))
    assert all("kyodo_row" in r.meta for r in requests)
    return [r.meta["kyodo_row"] for r in requests] + items, requests


def sample_rows() -> dict[str, dict]:
    rows, _ = index(sample_file(HOST, INDEX))
    return {row["id"].split("/", 1)[1]: row for row in rows}


def detail_of(row: dict, page: Path, spider_: WamSpider | None = None) -> list[dict]:
    spider_ = spider_ or spider()
    listing = response_from_file(sample_file(HOST, INDEX), INDEX_URL)
    request = spider_.detail(listing, row["url"], spider_.parse_detail, row)
    return run_callback(
        spider_._parse_detail, response_from_file(page, request.url, meta=request.meta)
    )[0]


def full_listings() -> dict[str, dict]:
    out = {}
    for item_id, row in sample_rows().items():
        if SAMPLE_CALLS[item_id][3]:
            [row] = detail_of(row, sample_file(HOST, f"hp/{item_id}/index.html"))
        out[item_id] = row
    return out


def normalized(row: dict, today: date = DEMO_DAY):
    return normalize_call(RawCall(**row), today=today)


# -- the sample index ---------------------------------------------------------------------


def test_every_call_of_the_index() -> None:
    assert list(sample_rows()) == list(SAMPLE_CALLS)


@pytest.mark.parametrize("item_id", list(SAMPLE_CALLS))
def test_title(item_id: str) -> None:
    assert sample_rows()[item_id]["title"] == SAMPLE_CALLS[item_id][0]


@pytest.mark.parametrize("item_id", list(SAMPLE_CALLS))
def test_status_is_none_for_current_calls_and_closed_for_past_ones(item_id: str) -> None:
    assert sample_rows()[item_id]["status"] == SAMPLE_CALLS[item_id][1]


@pytest.mark.parametrize("item_id", list(SAMPLE_CALLS))
def test_term_is_the_text(item_id: str) -> None:
    assert sample_rows()[item_id]["text"] == f"募集期間: {SAMPLE_CALLS[item_id][2]}"


@pytest.mark.parametrize("item_id", list(SAMPLE_CALLS))
def test_url_id_organizer_and_published(item_id: str) -> None:
    row = sample_rows()[item_id]
    assert row["id"] == f"wam/{item_id}"
    assert row["url"] == f"{HP}/{item_id}/"
    assert row["organizer"] == ORGANIZER
    assert row["published"] is None  # the index dates nothing but the periods
    assert row["source"] == "wam"


def test_detail_pages_for_current_calls_and_the_newest_past_group_only() -> None:
    _, requests = index(sample_file(HOST, INDEX))
    expected = [f"{HP}/{i}/" for i, call in SAMPLE_CALLS.items() if call[3]]
    assert [r.url for r in requests] == expected
    for request in requests:
        assert request.meta["kyodo_row"]["url"] == request.url


def test_more_past_groups_with_detail() -> None:
    spider_ = spider()
    spider_.past_groups_with_detail = 2
    _, requests = index(sample_file(HOST, INDEX), spider_)
    assert len(requests) == len(SAMPLE_CALLS)


# -- detail pages -------------------------------------------------------------------------


def test_detail_text_has_deadline_totals_and_amounts() -> None:
    full = full_listings()["r9_wamjyosei"]
    lines = full["text"].split("\n")
    assert lines[:6] == [
        "募集期間: 令和8年12月24日から令和9年1月25日まで",
        "応募締切: 令和9年1月25日(月曜日)15時まで",
        "助成総額: 約6億円(モデル事業分を含む)",
        "助成金額: 地域連携活動支援事業 50万円~700万円",
        "全国的・広域的ネットワーク活動支援事業 50万円~900万円",
        "助成対象となる事業実施期間: 令和9年4月1日~令和10年3月31日",
    ]
    assert "その他の非営利の法人・団体(理事を2人以上置いていること)" in lines
    assert not any("説明動画" in line or "お問い合わせ" in line for line in lines)
    assert full["status"] is None and "partial" not in full


def test_detail_closed_notice_sets_the_status() -> None:
    full = full_listings()
    assert full["r8_wamjyosei"]["status"] == "募集終了"
    assert full["r8hosei_wamjyosei"]["status"] is None


def test_normalizer_reads_deadline_amount_and_status() -> None:
    full = full_listings()
    assert set(full) == set(NORMALIZED)
    for item_id, row in full.items():
        call = normalized(row)
        deadline = call.deadline.isoformat() if call.deadline else None
        got = (deadline, call.max_amount_yen, call.total_budget_yen, call.status.value)
        assert got == NORMALIZED[item_id], item_id


def test_normalizer_reads_the_childrens_field() -> None:
    assert "children_youth" in normalized(full_listings()["r8_kodomo_ibasho"]).fields


# -- out of season and shape changes ------------------------------------------------------


def test_out_of_season_index_has_only_past_calls_and_no_error() -> None:
    spider_ = spider()
    rows, requests = index(TEST_FILES / "index-out-of-season.html", spider_)
    assert [r["id"] for r in rows] == [
        "wam/r8_wamjyosei",
        "wam/r8_wamjyosei_model",
        "wam/r7_wamjyosei",
    ]
    assert {r["status"] for r in rows} == {"募集終了"}
    assert len(requests) == 2
    assert errors(spider_) == {}
    assert WamSpider.empty_ok is True


def test_index_whose_headings_were_renamed_is_a_shape_error() -> None:
    with pytest.raises(ShapeError, match="heading 現在の募集 not found"):
        index(TEST_FILES / "index-headings-renamed.html")


def test_current_calls_in_another_form_are_a_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"no p\.arrow_s"):
        index(TEST_FILES / "index-current-as-list.html")


def test_page_without_content_pane_is_a_shape_error() -> None:
    body = "<html><body><p>ただいまメンテナンス中です。</p></body></html>".encode()
    response = HtmlResponse(INDEX_URL, body=body, encoding="utf-8")
    with pytest.raises(ShapeError, match="ContentPane"):
        run_callback(spider().parse, response)


def test_detail_without_its_deadline_heading_yields_the_partial_row() -> None:
    spider_ = spider()
    row = sample_rows()["r9_wamjyosei"]
    [item] = detail_of(row, TEST_FILES / "detail-without-deadline.html", spider_)
    assert item == {**row, "partial": True}
    assert errors(spider_) == {"shape": 1}
    [sample] = spider_.crawler.stats.get_value("kyodo/error_samples")
    assert "heading 応募締切 not found" in sample["message"]


# -- the real pages -----------------------------------------------------------------------

REAL_INDEX = "wam-josei-boshu-index.html"
REAL_DETAIL = "wam-josei-r8-detail.html"

# Read off the real index (2026-07-05, out of season: every call is past): id → (title,
# 募集期間, deadline).
REAL_CALLS = {
    "r8_wamjyosei": ("令和8年度助成(通常助成事業)募集のお知らせ",
                     "令和7年12月26日から令和8年1月26日まで", "2026-01-26"),
    "r8_wamjyosei_model": ("令和8年度助成(モデル事業)募集のお知らせ",
                           "令和7年12月26日から令和8年1月26日まで", "2026-01-26"),
    "r7hosei_wamjyosei": ("令和7年度助成(補正予算)募集のお知らせ",
                          "令和7年12月22日から令和8年1月21日まで", "2026-01-21"),
    "r6_wamjyosei": ("令和6年度助成(通常助成事業)",
                     "令和5年12月22日から令和6年1月29日まで", "2024-01-29"),
    "r2_wamjyosei": ("令和2年度助成事業の募集(通常助成事業分)", "令和2年1月6日から2月3日まで",
                     "2020-02-03"),
    "2019_wamjyosei_model": ("2019年度助成事業の募集(モデル事業分)",
                             "平成31年1月7日から2月7日まで", "2019-02-07"),
    "guide-jyosei-kakojyoseibosyu-tabid-975/tabid-887": (
        "平成23年度助成事業の募集(1次募集分)", "平成23年2月15日から4月15日まで", "2011-04-15"),
}  # fmt: skip
REAL_COUNT = 37


def real_page(name: str) -> Path:
    path = REAL_PAGES / name
    if not path.exists():
        pytest.skip(f"real page {name} not present (../shared/real-pages is test data only)")
    return path


@pytest.fixture
def real_rows() -> dict[str, dict]:
    rows, _ = index(real_page(REAL_INDEX))
    return {row["id"].split("/", 1)[1]: row for row in rows}


@pytest.mark.parametrize("item_id", list(REAL_CALLS))
def test_real_index_calls_read_off_the_page(real_rows: dict[str, dict], item_id: str) -> None:
    title, period, deadline = REAL_CALLS[item_id]
    row = real_rows[item_id]
    assert row["title"] == title
    assert row["text"] == f"募集期間: {period}"
    assert row["status"] == "募集終了"
    assert row["organizer"] == ORGANIZER
    assert row["url"] == f"{HP}/{item_id}/"
    assert normalized(row, CAPTURE_DAY).deadline == date.fromisoformat(deadline)


def test_real_index_every_call(real_rows: dict[str, dict]) -> None:
    assert len(real_rows) == REAL_COUNT
    assert list(real_rows)[:3] == ["r8_wamjyosei", "r8_wamjyosei_model", "r7hosei_wamjyosei"]
    for row in real_rows.values():
        assert row["title"] and "募集期間" not in row["title"]
        assert row["text"].startswith("募集期間: ") and row["text"].endswith("まで")
        assert row["status"] == "募集終了"
        assert row["url"].startswith(f"{HP}/")
        call = normalized(row, CAPTURE_DAY)
        assert call.deadline is not None and call.deadline < CAPTURE_DAY
        assert call.application_start is not None and call.application_start < call.deadline
        assert call.status.value == "closed"


def test_real_index_fetches_the_newest_rounds_details_only() -> None:
    _, requests = index(real_page(REAL_INDEX))
    assert [r.url for r in requests] == [
        f"{HP}/r8_wamjyosei/",
        f"{HP}/r8_wamjyosei_model/",
        f"{HP}/r7hosei_wamjyosei/",
    ]


def test_real_detail_deadline_amounts_and_closed_notice(real_rows: dict[str, dict]) -> None:
    spider_ = spider()
    [full] = detail_of(real_rows["r8_wamjyosei"], real_page(REAL_DETAIL), spider_)
    assert "partial" not in full and errors(spider_) == {}
    lines = full["text"].split("\n")
    assert lines[:5] == [
        "募集期間: 令和7年12月26日から令和8年1月26日まで",
        "応募締切: 令和8年1月26日(月曜日)15時まで",
        "助成総額: 約6億円(モデル事業の予算を含みます。)",
        "助成金額: 地域連携活動支援事業 50万円~700万円",
        "全国的・広域的ネットワーク活動支援事業 50万円~900万円(※2)",
    ]
    assert "助成対象となる事業実施期間: 令和8年4月1日~令和9年3月31日" in lines
    assert full["status"] == "募集終了"  # 「…の募集は終了しました。」
    call = normalized(full, CAPTURE_DAY)
    assert call.deadline == date(2026, 1, 26)  # 応募締切, not the end of 事業実施期間
    assert call.application_start == date(2025, 12, 26)
    assert (call.max_amount_yen, call.total_budget_yen) == (9_000_000, 600_000_000)


# -- crawls over HTTP ---------------------------------------------------------------------


def test_crawl_over_http(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("wam", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {i["id"]: i for i in items}
    assert sorted(rows) == sorted(f"wam/{i}" for i in SAMPLE_CALLS)
    assert not any(i.get("partial") for i in items)
    first = rows["wam/r8hosei_wamjyosei"]
    assert first["url"] == f"{HP}/r8hosei_wamjyosei/"  # the real URL, not the mirror's
    assert first["text"].split("\n")[1] == "応募締切: 令和8年12月18日(金曜日)15時まで"


def test_crawl_over_http_out_of_season(tmp_path: Path) -> None:
    site = Site(
        root=SAMPLE_MIRROR / HOST,
        routes=[Route(path="/hp/wamjosei_boshu/", file=TEST_FILES / "index-out-of-season.html")],
    )
    with MirrorServer(Mirror({HOST: site})) as server:
        items, proc = crawl_cli("wam", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == [
        "wam/r7_wamjyosei",
        "wam/r8_wamjyosei",
        "wam/r8_wamjyosei_model",
    ]


def test_crawl_over_http_of_the_real_pages(tmp_path: Path) -> None:
    site = Site(
        routes=[
            Route(path="/hp/wamjosei_boshu/", file=real_page(REAL_INDEX)),
            Route(path="/hp/r8_wamjyosei/", file=real_page(REAL_DETAIL)),
        ]
    )
    with MirrorServer(Mirror({HOST: site})) as server:
        items, proc = crawl_cli("wam", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {i["id"]: i for i in items}
    assert len(items) == REAL_COUNT
    assert "partial" not in rows["wam/r8_wamjyosei"]
    assert "応募締切: 令和8年1月26日(月曜日)15時まで" in rows["wam/r8_wamjyosei"]["text"]
    # the two other detail pages of the newest round are not served: their rows arrive partial
    assert sorted(i["id"] for i in items if i.get("partial")) == [
        "wam/r7hosei_wamjyosei",
        "wam/r8_wamjyosei_model",
    ]
