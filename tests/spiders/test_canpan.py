"""The CANPAN spider: saved sample pages, pages whose shape changed, the real pages, and crawls
over HTTP against the sample mirror."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from scrapy.http import Request

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from spiders.base import ShapeError
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer, Route, Site
from spiders.spiders.canpan import CanpanSpider
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
HOST = "fields.canpan.info"
BASE = f"https://{HOST}"
TEST_FILES = FILES / "canpan"


def list_url(page: int) -> str:
    return f"{BASE}/grant/?page={page}&sort=update&dir=desc"


LIST_PAGES = [("grant/index.html", list_url(1)), ("grant/page2.html", list_url(2))]

# What the sample list pages say: id → (title, organizer, status, term, published).
SAMPLE_ROWS = {
    "2531": ("ちいさな居場所応援助成 2027", "こもれび子ども財団", "募集中",
             "2026年11月16日～2027年1月15日", "2026-11-20"),
    "2529": ("地域福祉活動助成（2027年度）", "みなもと福祉振興財団", "募集中",
             "2026年11月1日～2026年12月25日", "2026-11-12"),
    "2527": ("千葉県内 市民活動スタートアップ支援", "ちば市民ファンド", "募集中",
             "2026年10月20日～2027年2月12日", "2026-11-05"),
    "2524": ("第12回 みどりのまちづくり基金", "あおば環境財団", "募集予定",
             "2027年1月5日～2027年2月26日", "2026-10-28"),
    "2522": ("高齢者の見守り活動助成", "ひだまり生命社会貢献基金", "募集中",
             "2026年9月1日～2026年12月10日", "2026-09-01"),
    "2518": ("災害ボランティア活動支援助成（冬期）", "そなえ災害支援基金", "募集中",
             "2026年11月10日～2027年1月29日", "2026-11-10"),
    "2515": ("2026年度 子ども食堂応援プログラム", "ゆうやけ食育財団", "募集終了",
             "2026年8月1日～2026年10月30日", "2026-08-01"),
    "2511": ("NPO基盤強化助成（第5期）", "つなぐNPO支援機構", "募集中",
             "2026年10月1日～2026年12月18日", "2026-10-01"),
}  # fmt: skip
PAGE_IDS = [["2531", "2529", "2527", "2524", "2522"], ["2518", "2515", "2511"]]

# What the normalizer makes of the full listings on the demo day: (deadline, max, total, status).
NORMALIZED = {
    "2531": ("2027-01-15", 500_000, 5_000_000, "open"),
    "2529": ("2026-12-25", 300_000, 6_000_000, "open"),
    "2527": ("2027-02-12", 200_000, 2_000_000, "open"),
    "2524": ("2027-02-26", 1_000_000, 10_000_000, "upcoming"),
    "2522": ("2026-12-10", 150_000, 3_000_000, "open"),
    "2518": ("2027-01-29", 400_000, 8_000_000, "open"),
    "2515": ("2026-10-30", 250_000, 5_000_000, "closed"),
    "2511": ("2026-12-18", 800_000, 4_000_000, "open"),
}


def spider() -> CanpanSpider:
    return make_spider(CanpanSpider)


def list_page(index: int, spider_: CanpanSpider | None = None) -> tuple[list[dict], list[Request]]:
    """Rows (carried by the detail requests) and the next-page requests of a sample list page."""
    relative, url = LIST_PAGES[index]
    items, requests = run_callback(
        (spider_ or spider()).parse, response_from_file(sample_file(HOST, relative), url)
    )
    assert items == []  # every row goes through its detail page
    rows = [r.meta["kyodo_row"] for r in requests if "kyodo_row" in r.meta]
    pages = [r for r in requests if "kyodo_row" not in r.meta]
    return rows, pages


def sample_rows() -> dict[str, dict]:
    rows = list_page(0)[0] + list_page(1)[0]
    return {row["id"].split("/")[1]: row for row in rows}


def detail_of(row: dict, page: Path, spider_: CanpanSpider | None = None) -> list[dict]:
    """What the detail callback yields for `row` when its page is `page`."""
    spider_ = spider_ or spider()
    listing = response_from_file(sample_file(HOST, "grant/index.html"), list_url(1))
    request = spider_.detail(listing, row["url"], spider_.parse_detail, row)
    response = response_from_file(page, request.url, meta=request.meta)
    return run_callback(spider_._parse_detail, response)[0]


def full_listings() -> dict[str, dict]:
    out = {}
    for item_id, row in sample_rows().items():
        [full] = detail_of(row, sample_file(HOST, f"grant/detail/{item_id}.html"))
        out[item_id] = full
    return out


def normalized(row: dict, today: date = DEMO_DAY):
    return normalize_call(RawCall(**row), today=today)


# -- the sample list pages ----------------------------------------------------------------


def test_rows_in_page_order() -> None:
    assert [[r["id"] for r in list_page(i)[0]] for i in (0, 1)] == [
        [f"canpan/{i}" for i in ids] for ids in PAGE_IDS
    ]


@pytest.mark.parametrize("item_id", list(SAMPLE_ROWS))
def test_title(item_id: str) -> None:
    assert sample_rows()[item_id]["title"] == SAMPLE_ROWS[item_id][0]


@pytest.mark.parametrize("item_id", list(SAMPLE_ROWS))
def test_organizer_is_the_rows_implementing_body(item_id: str) -> None:
    assert sample_rows()[item_id]["organizer"] == SAMPLE_ROWS[item_id][1]


@pytest.mark.parametrize("item_id", list(SAMPLE_ROWS))
def test_status(item_id: str) -> None:
    assert sample_rows()[item_id]["status"] == SAMPLE_ROWS[item_id][2]


@pytest.mark.parametrize("item_id", list(SAMPLE_ROWS))
def test_url_and_id(item_id: str) -> None:
    row = sample_rows()[item_id]
    assert row["id"] == f"canpan/{item_id}"
    assert row["url"] == f"{BASE}/grant/detail/{item_id}"
    assert row["source"] == "canpan"


@pytest.mark.parametrize("item_id", list(SAMPLE_ROWS))
def test_published_is_the_update_date(item_id: str) -> None:
    assert sample_rows()[item_id]["published"] == SAMPLE_ROWS[item_id][4]


@pytest.mark.parametrize("item_id", list(SAMPLE_ROWS))
def test_term_is_the_first_line_of_the_text(item_id: str) -> None:
    lines = sample_rows()[item_id]["text"].split("\n")
    assert lines[0] == f"募集時期: {SAMPLE_ROWS[item_id][3]}"
    assert lines[1].startswith("対象事業: ")


def test_target_line() -> None:
    assert (
        sample_rows()["2527"]["text"].split("\n")[1] == "対象事業: 組織運営支援、事業プロジェクト"
    )


@pytest.mark.parametrize("index", [0, 1])
def test_every_row_of_every_list_page(index: int) -> None:
    rows, _ = list_page(index)
    assert len(rows) == len(PAGE_IDS[index])
    for row in rows:
        assert re.fullmatch(r"canpan/\d+", row["id"])
        assert row["title"] and row["title"] == row["title"].strip()
        assert row["organizer"] and row["organizer"] != "日本財団"
        assert row["status"] in ("募集中", "募集予定", "募集終了")
        assert re.fullmatch(r"2026-\d\d-\d\d", row["published"])
        assert "partial" not in row


# -- paging -------------------------------------------------------------------------------


def test_first_page_follows_the_next_link() -> None:
    _, pages = list_page(0)
    assert [p.url for p in pages] == [list_url(2)]
    assert pages[0].meta["canpan_page"] == 2


def test_last_page_has_no_next_link() -> None:
    assert list_page(1)[1] == []


def test_paging_stops_at_max_pages() -> None:
    spider_ = spider()
    spider_.max_pages = 3
    relative, url = LIST_PAGES[0]
    response = response_from_file(sample_file(HOST, relative), url, meta={"canpan_page": 3})
    _, requests = run_callback(spider_.parse, response)
    assert [r for r in requests if "kyodo_row" not in r.meta] == []
    assert len(requests) == 5  # the rows are still read


def test_detail_requests_carry_the_row() -> None:
    relative, url = LIST_PAGES[0]
    _, requests = run_callback(spider().parse, response_from_file(sample_file(HOST, relative), url))
    details = [r for r in requests if "kyodo_row" in r.meta]
    assert [r.url for r in details] == [f"{BASE}/grant/detail/{i}" for i in PAGE_IDS[0]]
    for request in details:
        assert request.meta["kyodo_row"]["url"] == request.url
        assert request.meta["kyodo_detail"] == "parse_detail"


# -- detail pages -------------------------------------------------------------------------


def test_detail_text_has_the_period_and_amount_first() -> None:
    full = full_listings()["2531"]
    lines = full["text"].split("\n")
    assert lines[:3] == [
        "募集時期: 2026年11月16日～2027年1月15日",
        "助成金額: 助成金総額：5,000,000円",
        "1件あたりの上限額：500,000円",
    ]
    assert "対象分野: 子どもの健全育成、まちづくり" in lines
    assert "関連URL: https://komorebi-kodomo.example.jp/grant/2027" in lines
    assert "・助成期間：2027年4月1日～2028年3月31日" in lines
    assert "備考: 人件費は助成対象外です。" in lines
    # last year's figures come last: their totals are not this call's amount
    assert lines[-2:] == [
        "昨年度実績: 応募件数：12件 ／ うち継続 - 件",
        "助成件数：6件 ／ うち継続 - 件",
    ]
    assert "partial" not in full


def test_detail_keeps_the_organizer_and_never_takes_the_footer_link() -> None:
    for item_id, full in full_listings().items():
        assert full["organizer"] == SAMPLE_ROWS[item_id][1]
        assert "nippon-foundation" not in full["text"]


def test_detail_categories_status_and_update() -> None:
    full = full_listings()
    assert full["2527"]["categories"] == ["まちづくり", "NPO支援"]
    assert full["2515"]["status"] == "募集終了"
    assert full["2524"]["published"] == "2026-10-28"
    assert full["2511"]["title"] == "NPO基盤強化助成（第5期）"


def test_normalizer_reads_deadline_amount_and_status() -> None:
    full = full_listings()
    assert set(full) == set(NORMALIZED)
    for item_id, row in full.items():
        call = normalized(row)
        deadline = call.deadline.isoformat() if call.deadline else None
        got = (deadline, call.max_amount_yen, call.total_budget_yen, call.status.value)
        assert got == NORMALIZED[item_id], item_id


def test_normalizer_reads_the_chiba_area() -> None:
    assert normalized(full_listings()["2527"]).area == "prefecture:千葉県"


# -- shape changes ------------------------------------------------------------------------


def test_list_page_without_the_table_is_a_shape_error() -> None:
    response = response_from_file(TEST_FILES / "list-without-table.html", list_url(1))
    with pytest.raises(ShapeError, match="results table"):
        run_callback(spider().parse, response)


def test_row_without_a_title_link_is_a_shape_error_and_the_other_rows_still_count() -> None:
    spider_ = spider()
    response = response_from_file(TEST_FILES / "list-row-without-link.html", list_url(1))
    _, requests = run_callback(spider_.parse, response)
    rows = [r.meta["kyodo_row"]["id"] for r in requests if "kyodo_row" in r.meta]
    assert rows == ["canpan/2531", "canpan/2527", "canpan/2524", "canpan/2522"]
    assert errors(spider_) == {"shape": 1}


def test_a_javascript_row_link_loses_only_that_row(tmp_path: Path) -> None:
    """A row whose link is `javascript:…` (no call id) is recorded; the rows after it are
    still crawled (it used to end the page there)."""
    page = sample_file(HOST, "grant/index.html").read_text(encoding="utf-8")
    broken = tmp_path / "index.html"
    broken.write_text(
        page.replace('href="/grant/detail/2529"', 'href="javascript:void(0)"'), encoding="utf-8"
    )
    spider_ = spider()
    _, requests = run_callback(spider_.parse, response_from_file(broken, list_url(1)))
    rows = [r.meta["kyodo_row"]["id"] for r in requests if "kyodo_row" in r.meta]
    assert rows == ["canpan/2531", "canpan/2527", "canpan/2524", "canpan/2522"]
    assert errors(spider_) == {"shape": 1}


def test_every_row_of_the_wrong_shape_is_a_shape_error(tmp_path: Path) -> None:
    page = sample_file(HOST, "grant/index.html").read_text(encoding="utf-8")
    broken = tmp_path / "index.html"
    broken.write_text(re.sub(r'href="/grant/detail/\d+"', 'href="#"', page), encoding="utf-8")
    with pytest.raises(ShapeError, match="unexpected call link"):
        run_callback(spider().parse, response_from_file(broken, list_url(1)))


def test_row_without_status_and_term_is_a_shape_error() -> None:
    response = response_from_file(TEST_FILES / "list-status-cell-renamed.html", list_url(1))
    with pytest.raises(ShapeError, match=r"without p\.status / p\.term"):
        run_callback(spider().parse, response)


def test_list_page_without_paging_is_a_shape_error() -> None:
    response = response_from_file(TEST_FILES / "list-without-paging.html", list_url(1))
    with pytest.raises(ShapeError, match=r"ul\.paging"):
        run_callback(spider().parse, response)


def test_detail_page_without_its_table_yields_the_partial_row() -> None:
    spider_ = spider()
    row = sample_rows()["2531"]
    [item] = detail_of(row, TEST_FILES / "detail-without-table.html", spider_)
    assert item == {**row, "partial": True}
    assert item["text"].split("\n")[0] == "募集時期: 2026年11月16日～2027年1月15日"
    assert errors(spider_) == {"shape": 1}
    [sample] = spider_.crawler.stats.get_value("kyodo/error_samples")
    assert "detail table" in sample["message"]


# -- the real pages -----------------------------------------------------------------------

REAL_LIST = "canpan-grant-list-page2.html"
REAL_DETAIL = "canpan-grant-detail.html"

# Read off the real page 2 (2026-07-05): id → (title, 実施団体, status, term).
REAL_ROWS = {
    "2459": ("第4回「子どもぬくもり基金」", "日本フィランソロピック財団", "募集中",
             "2026年6月12日～2026年7月31日"),
    "2457": ("2026年度小林製薬青い鳥財団賞", "小林製薬青い鳥財団", "募集中",
             "2026年6月10日～2026年7月31日"),
    "2456": ("2026年度助成プログラム", "小林製薬青い鳥財団", "募集中",
             "2026年6月10日～2026年7月31日"),
    "2453": ("小田基金", "公益推進協会", "募集中", "2026年6月1日～2026年7月31日"),
    "2452": ("Fusan基金", "公益推進協会", "募集中", "2026年6月1日～2026年8月20日"),
    "2438": ("第1回 ロータス福祉未来基金", "公益推進協会", "募集中",
             "2026年6月1日～2026年7月31日"),
    "2451": ("がん検診研究助成金", "日本対がん協会", "募集中", "2026年6月1日～2026年8月31日"),
    "2450": ("プロ・ナトゥーラ・ファンド助成", "自然保護助成基金", "募集中",
             "2026年6月1日～2026年7月9日"),
    "2448": ("プロジェクト未来研究助成", "日本対がん協会", "募集中",
             "2026年5月25日～2026年7月15日"),
    "2436": ("全互協奨学金基金（2027年度募集）", "全日本冠婚葬祭互助協会", "募集予定",
             "2026年8月15日～2026年10月15日"),
    "2434": ("全互協奨学金基金（2027年度募集）", "全日本冠婚葬祭互助協会", "募集予定",
             "2026年8月15日～2026年10月15日"),
    "2433": ("第28回2026(令和8)年度社会貢献基金", "全日本冠婚葬祭互助協会", "募集予定",
             "2026年10月1日～2027年1月31日"),
    "2432": ("Soil 100 for START LINE OSAKA（2026年度）", "Soil", "募集予定",
             "Soil 100の募集は2026年7月開始予定。WS応募は6月3日締切。"),
    "2431": ("住民寄り添い型伴走支援の社会資源開発モデル事業", "ホームスタート・ジャパン",
             "募集中", "2026年4月1日～2027年3月31日"),
    "2425": ("2026年度 東京芸術文化鑑賞サポート助成", "アーツカウンシル東京", "募集中",
             "2026年4月22日～"),
    "2102": ("2026年度 ちゅうでん教育振興助成（高等専門学校の部）", "ちゅうでん教育振興財団",
             "募集中", "2026年4月1日～2026年12月10日"),
    "2419": ("2026年度 第22期ナショナル・トラスト活動助成", "日本ナショナル・トラスト協会",
             "募集中", "2026年4月1日～2027年3月31日"),
    "2410": ("2026年度 災害時等における救援活動支援助成", "ニッポンハム食の未来財団", "募集中",
             "2026年4月1日～2027年3月31日"),
    "2404": ("令和８年度 社会福祉法人 松の花基金 知的障害者向け助成金", "松の花基金", "募集中",
             "2026年4月1日～2026年8月31日"),
    "2393": ("2026年度 お金をまわそう基金助成事業（第11期1回目）", "お金をまわそう基金", "募集中",
             "2026年1月26日～2月28日 ※申請用ID交付締切：2月13日 17:00（IDがないと申請できません）"),
}  # fmt: skip
# The deadline a reader takes from each term (None: no end given).
REAL_DEADLINES = {
    "2459": "2026-07-31", "2452": "2026-08-20", "2450": "2026-07-09", "2448": "2026-07-15",
    "2433": "2027-01-31", "2425": None, "2102": "2026-12-10", "2393": "2026-02-28",
}  # fmt: skip


def real_page(name: str) -> Path:
    path = REAL_PAGES / name
    if not path.exists():
        pytest.skip(f"real page {name} not present (../shared/real-pages is test data only)")
    return path


@pytest.fixture
def real_rows() -> list[dict]:
    response = response_from_file(real_page(REAL_LIST), list_url(2))
    items, requests = run_callback(spider().parse, response)
    assert items == []
    return [r.meta["kyodo_row"] for r in requests if "kyodo_row" in r.meta]


def test_real_list_every_call(real_rows: list[dict]) -> None:
    assert [r["id"] for r in real_rows] == [f"canpan/{i}" for i in REAL_ROWS]
    for row in real_rows:
        item_id = row["id"].split("/")[1]
        title, organizer, status, term = REAL_ROWS[item_id]
        assert (row["title"], row["organizer"], row["status"]) == (title, organizer, status)
        assert row["text"].split("\n")[0] == f"募集時期: {term}"
        assert row["url"] == f"{BASE}/grant/detail/{item_id}"
        assert "2026-01-30" <= row["published"] <= "2026-06-12"


def test_real_list_update_dates(real_rows: list[dict]) -> None:
    rows = {r["id"]: r for r in real_rows}
    assert rows["canpan/2459"]["published"] == "2026-06-12"
    assert rows["canpan/2448"]["published"] == "2026-05-25"
    assert rows["canpan/2393"]["published"] == "2026-01-30"


@pytest.mark.parametrize("item_id", list(REAL_DEADLINES))
def test_real_list_deadlines(real_rows: list[dict], item_id: str) -> None:
    row = next(r for r in real_rows if r["id"] == f"canpan/{item_id}")
    deadline = normalized(row, CAPTURE_DAY).deadline
    assert (deadline.isoformat() if deadline else None) == REAL_DEADLINES[item_id]


def test_real_list_follows_the_next_link() -> None:
    response = response_from_file(real_page(REAL_LIST), list_url(2))
    _, requests = run_callback(spider().parse, response)
    assert [r.url for r in requests if "kyodo_row" not in r.meta] == [list_url(3)]


def test_real_detail_period_amount_and_organizer() -> None:
    spider_ = spider()
    # The list row of this call (it is on page 1, not captured), as the spider builds it.
    row = spider_.listing(
        item_id="2474",
        title="2026年度 移民・難民支援基金（第8回）",
        text="募集時期: 2026年7月3日～2026年8月3日",
        url=f"{BASE}/grant/detail/2474",
        organizer="パブリックリソース財団",
        status="募集中",
    )
    [full] = detail_of(row, real_page(REAL_DETAIL), spider_)
    assert "partial" not in full and errors(spider_) == {}
    lines = full["text"].split("\n")
    assert lines[:3] == [
        "募集時期: 2026年7月3日～2026年8月3日",
        "助成金額: 助成金総額：3,200,000円",
        "1件あたりの上限額：800,000円",
    ]
    assert "関連URL: https://www.public.or.jp/project/f0136" in lines
    assert full["organizer"] == "パブリックリソース財団"  # not 日本財団 of the footer
    assert full["status"] == "募集中"
    assert full["published"] == "2026-07-03"
    assert full["categories"] == ["その他"]
    call = normalized(full, CAPTURE_DAY)
    assert call.deadline == date(2026, 8, 3)
    assert call.application_start == date(2026, 7, 3)
    assert (call.max_amount_yen, call.total_budget_yen) == (800_000, 3_200_000)


# -- crawls over HTTP ---------------------------------------------------------------------


def test_crawl_over_http(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("canpan", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {i["id"]: i for i in items}
    assert sorted(rows) == sorted(f"canpan/{i}" for i in SAMPLE_ROWS)
    assert not any(i.get("partial") for i in items)
    first = rows["canpan/2531"]
    assert first["url"] == f"{BASE}/grant/detail/2531"  # the real URL, not the mirror's
    assert first["organizer"] == "こもれび子ども財団"
    assert first["text"].startswith("募集時期: 2026年11月16日～2027年1月15日\n助成金額: ")


def test_crawl_over_http_of_the_real_list_page(tmp_path: Path) -> None:
    # Page 1 is the sample's (its 次へ leads to page 2), page 2 the real one; page 3 and the
    # real rows' detail pages are not served.
    site = Site(
        root=SAMPLE_MIRROR / HOST,
        routes=[Route(path="/grant/", query={"page": "2"}, file=real_page(REAL_LIST))],
    )
    with MirrorServer(Mirror({HOST: site})) as server:
        items, proc = crawl_cli("canpan", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {i["id"]: i for i in items}
    assert len(items) == len(PAGE_IDS[0]) + len(REAL_ROWS)
    assert sum(bool(i.get("partial")) for i in items) == len(REAL_ROWS)
    for item_id, (title, organizer, status, _) in REAL_ROWS.items():
        row = rows[f"canpan/{item_id}"]
        assert (row["title"], row["organizer"], row["status"]) == (title, organizer, status)
    assert "partial" not in rows["canpan/2531"]
