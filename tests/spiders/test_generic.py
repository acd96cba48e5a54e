"""The generic listing spider: its TOML configurations, and the three bundled sources on saved
pages (the sample mirror, test-only pages, the real しみせん pages) and over HTTP."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import Request

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from aggregator.sources import SOURCES, SourceKind, Terms
from spiders.base import ShapeError
from spiders.generic import (
    CONFIG_DIR,
    ConfigError,
    GenericConfig,
    GenericListingSpider,
    load_config,
    load_configs,
)
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer, Route, Site
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
TEST_FILES = FILES / "generic"

SHIMISEN = "https://shimisen-kyoto.org"
SHIMANE = "https://shimane-ikiiki.jp"
GENKI = "https://chiba-urayasu.genki365.net"

# The list pages of the sample mirror: (host, file, real URL) per source.
LIST_PAGES = {
    "shimisen": [
        ("shimisen-kyoto.org", "subsidies/index.html", f"{SHIMISEN}/subsidies"),
        ("shimisen-kyoto.org", "subsidies/page/2/index.html", f"{SHIMISEN}/subsidies/page/2"),
    ],
    "shimane_ikiiki": [
        (
            "shimane-ikiiki.jp",
            "subsidies/search-page1.html",
            f"{SHIMANE}/subsidies/search?sort=deadline&page=1",
        ),
        (
            "shimane-ikiiki.jp",
            "subsidies/search-page2.html",
            f"{SHIMANE}/subsidies/search?sort=deadline&page=2",
        ),
    ],
    "genki365_urayasu": [
        ("chiba-urayasu.genki365.net", "system/subsidy/index.html", f"{GENKI}/system/subsidy/"),
    ],
}
SAMPLE_IDS = {
    "shimisen": ["60112", "60108", "60105", "60097", "60090", "60071", "60064"],
    "shimane_ikiiki": ["2051", "2046", "2060", "2033", "2058"],
    "genki365_urayasu": ["679", "672", "668", "665", "660"],
}
HOSTS = {"shimisen": "shimisen-kyoto.org", "shimane_ikiiki": "shimane-ikiiki.jp"}
HOSTS["genki365_urayasu"] = "chiba-urayasu.genki365.net"


def config(name: str) -> GenericConfig:
    return load_config(CONFIG_DIR / f"{name}.toml")


def spider_for(name: str | GenericConfig) -> GenericListingSpider:
    cfg = config(name) if isinstance(name, str) else name
    return make_spider(GenericListingSpider, config=cfg)


def list_rows(name: str) -> tuple[list[dict[str, Any]], list[Request]]:
    """The list rows (carried by detail requests) and the paging requests of a source."""
    spider = spider_for(name)
    rows, paging = [], []
    for host, relative, url in LIST_PAGES[name]:
        items, requests = run_callback(
            spider.parse, response_from_file(sample_file(host, relative), url)
        )
        assert items == []  # every item of these sources goes through its detail page
        for request in requests:
            if "kyodo_row" in request.meta:
                rows.append(request.meta["kyodo_row"])
            else:
                paging.append(request)
    return rows, paging


def detail_file(name: str, url: str) -> Path:
    path = url.split("/", 3)[3]
    return sample_file(HOSTS[name], path if path.endswith(".html") else f"{path}.html")


def full_listings(name: str) -> list[dict[str, Any]]:
    """What the source yields for every call of the sample mirror: list rows + detail pages."""
    spider = spider_for(name)
    out = []
    for host, relative, url in LIST_PAGES[name]:
        response = response_from_file(sample_file(host, relative), url)
        for request in run_callback(spider.parse, response)[1]:
            if "kyodo_row" not in request.meta:
                continue
            detail = response_from_file(
                detail_file(name, request.url), request.url, meta=request.meta
            )
            items, _ = run_callback(spider._parse_detail, detail)
            out.extend(items)
    assert errors(spider) == {}
    return out


def by_id(listings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in listings}


def normalized(row: dict[str, Any], today: date = DEMO_DAY):
    return normalize_call(RawCall(**row), today=today)


# -- configurations -----------------------------------------------------------------------


def test_bundled_configs_are_the_three_sources() -> None:
    configs = load_configs()
    assert set(configs) == {"shimisen", "shimane_ikiiki", "genki365_urayasu"}
    shimisen = configs["shimisen"].source
    assert (shimisen.name, shimisen.label, shimisen.kind) == (
        "shimisen",
        "京都市市民活動総合センター",
        SourceKind.MUNICIPALITY,
    )
    assert shimisen.home == "municipality:京都市"
    assert shimisen.site == "https://shimisen-kyoto.org/subsidies"
    assert configs["shimane_ikiiki"].source.kind == SourceKind.PREFECTURE
    assert configs["genki365_urayasu"].source.home == "municipality:浦安市"
    assert all(c.source.terms == Terms.LINK_ONLY for c in configs.values())
    assert all(not c.empty_ok for c in configs.values())


def test_config_reads_every_key() -> None:
    cfg = config("shimisen")
    assert cfg.urls == ("https://shimisen-kyoto.org/subsidies",)
    assert cfg.item == "div.grid > div.item"
    assert cfg.max_pages == 10
    assert cfg.id_pattern is not None and cfg.id_pattern.pattern == r"/subsidy/(\d+)"
    assert set(cfg.fields) == {
        "title", "link", "organizer", "status", "term", "published", "text", "categories"
    }  # fmt: skip
    assert cfg.fields["term"].label == "応募・申請期間"
    assert cfg.fields["status"].map == (("終了", "受付終了"),)
    assert cfg.detail is not None and cfg.detail.pairs is not None
    assert (cfg.detail.pairs.row, cfg.detail.pairs.label, cfg.detail.pairs.value) == (
        "div.single-subsidy-body table tr",
        "th",
        "td",
    )
    assert dict(cfg.detail.labels) == {"団体名": "organizer", "応募・申請期間": "term"}
    assert cfg.path == CONFIG_DIR / "shimisen.toml"


MINIMAL = """\
[source]
name = "test_centre"
label = "テスト市民活動センター"
kind = "municipality"

[list]
url = "https://centre.example.jp/grants/"
item = "ul.grants li"

[list.fields]
title = "a"
link = "a::attr(href)"
"""


def write_config(folder: Path, text: str, name: str = "test_centre.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_has_defaults(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, MINIMAL))
    assert cfg.name == "test_centre"
    assert cfg.source.site == "https://centre.example.jp/grants/"
    assert cfg.source.terms == Terms.LINK_ONLY
    assert (cfg.next, cfg.detail, cfg.id_pattern, cfg.empty_ok) == (None, None, None, False)
    assert cfg.max_pages == 20


def test_several_start_urls(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'url = "https://centre.example.jp/grants/"',
        'url = ["https://centre.example.jp/grants/", "https://centre.example.jp/awards/"]',
    )
    cfg = load_config(write_config(tmp_path, text))
    assert cfg.urls == ("https://centre.example.jp/grants/", "https://centre.example.jp/awards/")
    assert spider_for(cfg).start_urls == list(cfg.urls)


def swap(old: str, new: str) -> str:
    """MINIMAL with one change."""
    assert old in MINIMAL
    return MINIMAL.replace(old, new)


def in_list(line: str) -> str:
    """MINIMAL with one more line in [list]."""
    return swap('item = "ul.grants li"', f'item = "ul.grants li"\n{line}')


def in_source(line: str) -> str:
    """MINIMAL with one more line in [source]."""
    return swap('kind = "municipality"', f'kind = "municipality"\n{line}')


PAIRS = '\n[detail.pairs]\nrow = "tr"\nlabel = "th"\nvalue = "td"\n'
URL = 'url = "https://centre.example.jp/grants/"'

# (a config one change away from MINIMAL, the key the message must name)
BAD_CONFIGS = [
    ("[source]\nname = ", "TOML"),  # not TOML at all
    (MINIMAL + "\n[extra]\nx = 1\n", "extra"),
    (in_list('items = "li"'), "list.items"),
    (MINIMAL + 'summary = "p"\n', "list.fields.summary"),
    (swap('title = "a"', 'title = { css = "a", lable = "x" }'), "list.fields.title.lable"),
    (swap('label = "テスト', 'labl = "テスト'), "source.labl"),
    (MINIMAL.split("[list]")[0], "list"),
    (swap(URL + "\n", ""), "list.url"),
    (swap(URL, 'url = "centre.example.jp"'), "list.url"),
    (swap('item = "ul.grants li"\n', ""), "list.item"),
    (swap('title = "a"\n', ""), "list.fields.title"),
    (swap('link = "a::attr(href)"\n', ""), "list.fields.link"),
    (MINIMAL.split("[list.fields]")[0], "list.fields"),
    (swap('kind = "municipality"', 'kind = "city"'), "source.kind"),
    (swap('kind = "municipality"\n', ""), "source.kind"),
    (in_source('terms = "free"'), "source.terms"),
    (swap('name = "test_centre"', 'name = "Test Centre"'), "source.name"),
    (in_source('home = "京都市"'), "source.home"),
    (swap('item = "ul.grants li"', 'item = "ul.grants li["'), "list.item"),
    (swap('item = "ul.grants li"', 'item = "li::text"'), "list.item"),
    (swap('title = "a"', 'title = "a::content"'), "list.fields.title"),
    (swap('title = "a"', 'title = { css = "h2 >> a" }'), "list.fields.title.css"),
    (in_list('next = "a.next[rel"'), "list.next"),
    (in_list('id = "/grant/(\\\\d+"'), "list.id"),
    (swap('title = "a"', 'title = { css = "a", regex = "(" }'), "list.fields.title.regex"),
    (in_list("max_pages = 0"), "list.max_pages"),
    (in_list('empty_ok = "yes"'), "list.empty_ok"),
    (MINIMAL + "\n[detail]\n", "detail"),
    (MINIMAL + '\n[detail]\nbody = "p"\n[detail.labels]\n"主催" = "organizer"\n', "detail.labels"),
    (MINIMAL + '\n[detail.pairs]\nrow = "tr"\nlabel = "th"\n', "detail.pairs.value"),
    (MINIMAL + PAIRS.replace('"td"', '"td::text"'), "detail.pairs.value"),
    (MINIMAL + PAIRS + '[detail.labels]\n"主催" = "sponsor"\n', "detail.labels.主催"),
    (MINIMAL + '\n[list.labels]\n"主催" = "organizer"\n', "list.labels"),
]


@pytest.mark.parametrize(("text", "key"), BAD_CONFIGS, ids=[k for _, k in BAD_CONFIGS])
def test_bad_config_is_a_config_error_naming_file_and_key(
    tmp_path: Path, text: str, key: str
) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert str(path) in message
    assert key in message
    # Japanese for staff, then English in parentheses
    assert re.search(r"[ぁ-んァ-ヶ一-龠]", message) and re.search(r"\([a-zA-Z].*\)", message)


def test_the_minimal_config_itself_is_valid(tmp_path: Path) -> None:
    # The bad cases above are each one change away from this: the change is what fails.
    assert load_config(write_config(tmp_path, MINIMAL)).name == "test_centre"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nothing\.toml"):
        load_config(tmp_path / "nothing.toml")


def test_extra_folder_adds_and_overrides_configs(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_config(first, MINIMAL)
    override = (CONFIG_DIR / "shimisen.toml").read_text(encoding="utf-8")
    write_config(
        first, override.replace('label = "京都市市民活動総合センター"', 'label = "旧"'), "s.toml"
    )
    write_config(
        second, override.replace('label = "京都市市民活動総合センター"', 'label = "新"'), "s.toml"
    )
    configs = load_configs([first, second])
    assert set(configs) == {"shimisen", "shimane_ikiiki", "genki365_urayasu", "test_centre"}
    assert configs["shimisen"].source.label == "新"  # the later folder wins
    assert configs["shimisen"].path == second / "s.toml"


def test_duplicate_name_in_one_folder_is_an_error(tmp_path: Path) -> None:
    write_config(tmp_path, MINIMAL, "one.toml")
    write_config(tmp_path, MINIMAL, "two.toml")
    with pytest.raises(ConfigError, match="duplicate source name"):
        load_configs([tmp_path])


def test_missing_extra_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        load_configs([tmp_path / "absent"])


def test_spider_takes_name_urls_and_source_from_its_config(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, MINIMAL))
    SOURCES.pop("test_centre", None)
    try:
        spider = spider_for(cfg)  # through from_crawler(crawler, config=cfg)
        assert spider.name == "test_centre"
        assert spider.start_urls == ["https://centre.example.jp/grants/"]
        assert SOURCES["test_centre"] is cfg.source
        assert spider.source is cfg.source
        direct = GenericListingSpider(config=dataclasses.replace(cfg, empty_ok=True))
        assert (direct.name, direct.empty_ok) == ("test_centre", True)
    finally:
        SOURCES.pop("test_centre", None)


def test_spider_without_config_is_refused() -> None:
    with pytest.raises(ValueError, match="config"):
        GenericListingSpider()


# -- saved responses: one test per field, for each source ---------------------------------

FIRST_ROWS = {
    "shimisen": {
        "id": "shimisen/60112",
        "title": "みやこ子ども未来財団「子どもの居場所づくり助成」-2027 年度",
        "url": "https://shimisen-kyoto.org/subsidy/60112",
        "organizer": "公益財団法人 みやこ子ども未来財団",
        "status": None,
        "published": "2026-11-20",
        "term": "応募・申請期間: 2026 年 11 月 16 日 (月) ～ 2027 年 1 月 15 日 (金)",
    },
    "shimane_ikiiki": {
        "id": "shimane_ikiiki/2051",
        "title": "子ども食堂・学習支援活動助成（2027年度）",
        "url": "https://shimane-ikiiki.jp/subsidies/2051",
        "organizer": "公益財団法人しまね子ども応援基金",
        "status": "募集中",
        "published": "2026-11-02",
        "term": "募集期間: 2026/11/01 - 2026/12/18",
    },
    "genki365_urayasu": {
        "id": "genki365_urayasu/679",
        "title": "令和9年度 浦安市市民活動補助金（通常枠）",
        "url": "https://chiba-urayasu.genki365.net/system/subsidy/679.html",
        "organizer": "浦安市 市民経済部 市民参加推進課",
        "status": "受付前",
        "published": "2026-11-24",
        "term": "応募締切日: 令和9年2月26日（金）",
    },
}
NAMES = list(FIRST_ROWS)


@pytest.mark.parametrize("name", NAMES)
def test_title(name: str) -> None:
    assert list_rows(name)[0][0]["title"] == FIRST_ROWS[name]["title"]


@pytest.mark.parametrize("name", NAMES)
def test_url_and_id(name: str) -> None:
    row = list_rows(name)[0][0]
    assert (row["id"], row["url"], row["source"]) == (
        FIRST_ROWS[name]["id"],
        FIRST_ROWS[name]["url"],
        name,
    )


@pytest.mark.parametrize("name", NAMES)
def test_organizer(name: str) -> None:
    assert list_rows(name)[0][0]["organizer"] == FIRST_ROWS[name]["organizer"]


@pytest.mark.parametrize("name", NAMES)
def test_status(name: str) -> None:
    assert list_rows(name)[0][0]["status"] == FIRST_ROWS[name]["status"]


@pytest.mark.parametrize("name", NAMES)
def test_published(name: str) -> None:
    assert list_rows(name)[0][0]["published"] == FIRST_ROWS[name]["published"]


@pytest.mark.parametrize("name", NAMES)
def test_term_is_the_first_line_of_the_text(name: str) -> None:
    assert list_rows(name)[0][0]["text"].split("\n")[0] == FIRST_ROWS[name]["term"]


def test_free_text_and_pairs_follow_the_term() -> None:
    shimisen = list_rows("shimisen")[0][0]["text"].split("\n")
    assert shimisen[1].startswith("放課後や休日に子どもが安心して過ごせる居場所を")
    shimane = list_rows("shimane_ikiiki")[0][0]["text"].split("\n")
    assert shimane == [
        "募集期間: 2026/11/01 - 2026/12/18",
        "内容: 県内で子ども食堂や無料の学習支援に取り組む団体の運営費を助成します。",
    ]


def test_categories_are_the_field_tags_without_the_closed_tag() -> None:
    rows = by_id(list_rows("shimisen")[0])
    assert rows["shimisen/60112"]["categories"] == ["こども・子育て", "福祉"]
    assert rows["shimisen/60090"]["categories"] == ["観光・文化・芸術"]


def test_closed_call_status_comes_from_the_closed_notice() -> None:
    rows = by_id(list_rows("shimisen")[0])
    assert rows["shimisen/60090"]["status"] == "受付終了"
    assert [r["status"] for r in rows.values()].count(None) == 6


@pytest.mark.parametrize("name", NAMES)
def test_every_row_of_every_list_page(name: str) -> None:
    rows, _ = list_rows(name)
    assert [r["id"].split("/", 1)[1] for r in rows] == SAMPLE_IDS[name]
    for row in rows:
        assert row["title"] and "\n" not in row["title"]
        assert row["organizer"]
        assert row["url"].startswith(f"https://{HOSTS[name]}/")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["published"])
        assert re.match(r"[^:\n]+: \S", row["text"])  # the term line
        assert "partial" not in row


@pytest.mark.parametrize(
    ("name", "next_url"),
    [
        ("shimisen", f"{SHIMISEN}/subsidies/page/2"),
        ("shimane_ikiiki", f"{SHIMANE}/subsidies/search?sort=deadline&page=2"),
    ],
)
def test_paging_follows_the_next_link_once(name: str, next_url: str) -> None:
    _, paging = list_rows(name)
    assert [r.url for r in paging] == [next_url]  # the last page has no next link
    assert paging[0].meta["kyodo_generic_page"] == 2


def test_paging_stops_at_max_pages() -> None:
    spider = spider_for(dataclasses.replace(config("shimisen"), max_pages=1))
    response = response_from_file(
        sample_file("shimisen-kyoto.org", "subsidies/index.html"), f"{SHIMISEN}/subsidies"
    )
    _, requests = run_callback(spider.parse, response)
    assert all("kyodo_row" in r.meta for r in requests)


def test_genki365_has_no_paging_and_a_detail_request_per_row() -> None:
    rows, paging = list_rows("genki365_urayasu")
    assert paging == []
    assert len(rows) == 5


@pytest.mark.parametrize("name", NAMES)
def test_detail_requests_carry_the_row(name: str) -> None:
    host, relative, url = LIST_PAGES[name][0]
    spider = spider_for(name)
    _, requests = run_callback(spider.parse, response_from_file(sample_file(host, relative), url))
    details = [r for r in requests if "kyodo_row" in r.meta]
    assert details
    for request in details:
        assert request.url == request.meta["kyodo_row"]["url"]
        assert request.meta["kyodo_detail"] == "parse_detail"
        assert request.callback == spider._parse_detail


# -- detail pages -------------------------------------------------------------------------


def test_shimisen_detail_text_has_its_table_and_body() -> None:
    row = by_id(full_listings("shimisen"))["shimisen/60112"]
    lines = row["text"].split("\n")
    assert "応募・申請期間: 2026 年 11 月 16 日 (月) ～ 2027 年 1 月 15 日 (金)" in lines
    assert "実施期間: 2027 年 4 月 1 日 (木) ～ 2028 年 3 月 31 日 (金)" in lines
    assert "助成内容・額: 1 団体あたりの上限額：50 万円" in lines
    assert "締切注意: 電子メールでの申請は締切日の 17 時まで受け付けます。" in lines
    assert "対象条件: NPO法人 任意団体・地域住民組織など" in lines
    assert "概要・趣旨" in lines and "助成の応募・申請要件" in lines
    # each label once, though the page shows the period in two tables
    assert sum(line.startswith("応募・申請期間:") for line in lines) == 1
    # 団体名 became the organizer, not a line
    assert not any(line.startswith("団体名:") for line in lines)
    assert row["organizer"] == "公益財団法人 みやこ子ども未来財団"
    assert (row["published"], row["status"]) == ("2026-11-20", None)


def test_shimane_detail_replaces_the_card_text() -> None:
    row = by_id(full_listings("shimane_ikiiki"))["shimane_ikiiki/2046"]
    assert row["text"].split("\n")[:5] == [
        "募集期間: 2026/10/15 - 2027/01/29",
        "助成金額: 上限20万円（補助率2/3以内）",
        "対象: 出雲地域で新たに活動を始める5名以上の団体",
        "応募方法: 所定の申請書を窓口へ持参",
        "問い合わせ先: 出雲地域まちづくり協議会 0853-00-2202",
    ]
    assert "活動開始から3年以内の団体に限ります。" in row["text"]
    assert (row["organizer"], row["status"]) == ("出雲地域まちづくり協議会", "募集中")


def test_genki365_detail_has_both_term_lines_and_the_notes() -> None:
    row = by_id(full_listings("genki365_urayasu"))["genki365_urayasu/672"]
    assert row["text"].split("\n") == [
        "募集期間: 令和8年11月16日（月）～令和8年12月25日（金）",
        "応募締切日: 令和8年12月25日（金） 17時必着",
        "助成金額: 上限20万円",
        "対象団体: 市内に活動拠点のある市民活動団体（法人格の有無は問いません）",
        "備考: 子育て支援、高齢者福祉、まちづくりなど、市と協働して取り組む事業が対象です。",
    ]
    assert row["title"] == "令和8年度 浦安市市民活動補助金（協働提案事業）2次募集"
    assert row["published"] == "2026-11-16"


# What the normalizer makes of every sample call on 2026-11-28: (deadline, max yen, status).
NORMALIZED = {
    "shimisen/60112": ("2027-01-15", 500_000, "open"),
    "shimisen/60108": ("2026-12-25", 300_000, "open"),
    "shimisen/60105": ("2027-02-12", 200_000, "open"),
    "shimisen/60097": ("2027-02-26", 400_000, "upcoming"),
    "shimisen/60090": ("2026-10-30", 150_000, "closed"),
    "shimisen/60071": ("2026-12-10", 100_000, "open"),
    "shimisen/60064": (None, 50_000, "open"),  # 随時受付
    "shimane_ikiiki/2051": ("2026-12-18", 300_000, "open"),
    "shimane_ikiiki/2046": ("2027-01-29", 200_000, "open"),
    "shimane_ikiiki/2060": ("2027-02-19", 100_000, "upcoming"),
    "shimane_ikiiki/2033": ("2026-10-30", 100_000, "closed"),
    "shimane_ikiiki/2058": ("2027-02-10", 500_000, "open"),
    "genki365_urayasu/679": ("2027-02-26", 300_000, "upcoming"),
    "genki365_urayasu/672": ("2026-12-25", 200_000, "open"),
    "genki365_urayasu/668": ("2027-01-29", 300_000, "open"),
    "genki365_urayasu/665": ("2027-02-15", 30_000, "open"),
    "genki365_urayasu/660": ("2026-10-30", 50_000, "closed"),
}


@pytest.mark.parametrize("name", NAMES)
def test_normalizer_reads_deadline_amount_and_status(name: str) -> None:
    listings = full_listings(name)
    assert len(listings) == len(SAMPLE_IDS[name])
    for row in listings:
        call = normalized(row)
        deadline = call.deadline.isoformat() if call.deadline else None
        assert (deadline, call.max_amount_yen, call.status.value) == NORMALIZED[row["id"]], row[
            "id"
        ]


# -- shape changes ------------------------------------------------------------------------


def test_list_page_without_items_is_a_shape_error() -> None:
    spider = spider_for("shimisen")
    response = response_from_file(
        TEST_FILES / "shimisen-list-changed.html", f"{SHIMISEN}/subsidies"
    )
    with pytest.raises(ShapeError, match="item selector"):
        run_callback(spider.parse, response)


def test_item_without_link_is_a_shape_error() -> None:
    spider = spider_for("shimisen")
    response = response_from_file(
        TEST_FILES / "shimisen-item-without-link.html", f"{SHIMISEN}/subsidies"
    )
    with pytest.raises(ShapeError, match="without a link"):
        run_callback(spider.parse, response)


def test_item_without_title_is_a_shape_error() -> None:
    cfg = config("shimisen")
    fields = {**cfg.fields, "title": dataclasses.replace(cfg.fields["title"], css="h2.missing")}
    spider = spider_for(dataclasses.replace(cfg, fields=fields))
    response = response_from_file(
        sample_file("shimisen-kyoto.org", "subsidies/index.html"), f"{SHIMISEN}/subsidies"
    )
    with pytest.raises(ShapeError, match="タイトル"):
        run_callback(spider.parse, response)


def test_empty_list_with_the_sites_own_wording_is_fine() -> None:
    spider = spider_for("shimane_ikiiki")
    url = f"{SHIMANE}/subsidies/search?sort=deadline&page=1"
    items, requests = run_callback(
        spider.parse, response_from_file(TEST_FILES / "shimane-search-empty.html", url)
    )
    assert (items, requests, errors(spider)) == ([], [], {})


def test_empty_list_without_the_wording_is_a_shape_error_unless_empty_ok() -> None:
    url = f"{GENKI}/system/subsidy/"
    page = TEST_FILES / "genki365-list-empty-table.html"
    with pytest.raises(ShapeError):
        run_callback(spider_for("genki365_urayasu").parse, response_from_file(page, url))
    relaxed = spider_for(dataclasses.replace(config("genki365_urayasu"), empty_ok=True))
    assert run_callback(relaxed.parse, response_from_file(page, url)) == ([], [])
    marked = spider_for(
        dataclasses.replace(config("genki365_urayasu"), empty_selector="table.subsidy_list thead")
    )
    assert run_callback(marked.parse, response_from_file(page, url)) == ([], [])


def _detail_of_first_row(name: str, page: Path) -> tuple[GenericListingSpider, list[dict]]:
    spider = spider_for(name)
    host, relative, url = LIST_PAGES[name][0]
    _, requests = run_callback(spider.parse, response_from_file(sample_file(host, relative), url))
    request = next(r for r in requests if "kyodo_row" in r.meta)
    items, _ = run_callback(
        spider._parse_detail, response_from_file(page, request.url, meta=request.meta)
    )
    return spider, items


@pytest.mark.parametrize(
    ("name", "page"),
    [
        ("shimisen", "shimisen-detail-changed.html"),
        ("genki365_urayasu", "genki365-detail-no-table.html"),
    ],
)
def test_detail_page_without_pairs_yields_the_partial_row(name: str, page: str) -> None:
    spider, items = _detail_of_first_row(name, TEST_FILES / page)
    assert len(items) == 1
    row = items[0]
    assert row["partial"] is True
    assert row["id"] == FIRST_ROWS[name]["id"]
    assert row["title"] == FIRST_ROWS[name]["title"]
    assert row["text"].split("\n")[0] == FIRST_ROWS[name]["term"]  # the list row's facts
    assert errors(spider) == {"shape": 1}
    samples = spider.crawler.stats.get_value("kyodo/error_samples")
    assert "no label/value pairs" in samples[0]["message"]


def test_detail_with_body_only_and_no_term_keeps_the_row_text(tmp_path: Path) -> None:
    text = MINIMAL + ('\n[list.fields.term]\ncss = "span.term"\n\n[detail]\nbody = "div.entry"\n')
    cfg = load_config(write_config(tmp_path, text))
    spider = spider_for(cfg)
    list_page = tmp_path / "list.html"
    list_page.write_text(
        '<ul class="grants"><li><a href="/grants/7">地域の見守り活動助成</a>'
        '<span class="term">2026年12月18日まで</span></li></ul>',
        encoding="utf-8",
    )
    _, requests = run_callback(
        spider.parse, response_from_file(list_page, "https://centre.example.jp/grants/")
    )
    detail_page = tmp_path / "detail.html"
    detail_page.write_text('<div class="entry"><p>上限10万円</p></div>', encoding="utf-8")
    items, _ = run_callback(
        spider._parse_detail,
        response_from_file(detail_page, requests[0].url, meta=requests[0].meta),
    )
    assert items[0]["id"] == "test_centre/https://centre.example.jp/grants/7"  # no id regex
    assert items[0]["text"] == "募集期間: 2026年12月18日まで\n上限10万円"
    detail_page.write_text("<p>別の形</p>", encoding="utf-8")
    items, _ = run_callback(
        spider._parse_detail,
        response_from_file(detail_page, requests[0].url, meta=requests[0].meta),
    )
    assert items[0]["partial"] is True
    assert errors(spider) == {"shape": 1}


def test_links_to_other_sites_are_not_followed(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, MINIMAL + '\n[detail]\nbody = "div.entry"\n'))
    page = tmp_path / "list.html"
    page.write_text(
        '<ul class="grants"><li><a href="https://funder.example.org/call">外部の助成</a></li>'
        '<li><a href="/grants/8">センターの助成</a></li></ul>',
        encoding="utf-8",
    )
    items, requests = run_callback(
        spider_for(cfg).parse, response_from_file(page, "https://centre.example.jp/grants/")
    )
    assert [i["url"] for i in items] == ["https://funder.example.org/call"]
    assert [r.url for r in requests] == ["https://centre.example.jp/grants/8"]


# -- the real しみせん pages (test data only, skipped when absent) ---------------------------

REAL_LIST = "shimisen-subsidies-page1.html"
REAL_DETAIL = "shimisen-subsidy-detail.html"


def real_page(name: str) -> Path:
    path = REAL_PAGES / name
    if not path.exists():
        pytest.skip(f"real page {name} not present (../shared/real-pages is test data only)")
    return path


@pytest.fixture(scope="module")
def real_rows() -> list[dict[str, Any]]:
    spider = spider_for("shimisen")
    response = response_from_file(real_page(REAL_LIST), f"{SHIMISEN}/subsidies")
    items, requests = run_callback(spider.parse, response)
    assert items == []
    assert [r.url for r in requests if "kyodo_row" not in r.meta] == [
        f"{SHIMISEN}/subsidies/page/2"
    ]
    return [r.meta["kyodo_row"] for r in requests if "kyodo_row" in r.meta]


# Read off the real page: (title, organizer, status, published, the 応募・申請期間 cell, deadline)
REAL_CALLS = {
    "52696": (
        "洲崎福祉財団「一般助成」-2026 年度",
        "公益財団法人 洲崎福祉財団",
        None,
        "2026-07-04",
        "2026 年 7 月 1 日 (水) ～ 2026 年 8 月 15 日 (土)",
        "2026-08-15",
    ),
    "52790": (
        "ローム ミュージック ファンデーション「音楽に関する公演他への助成」-2027 年度",
        "公益財団法人 ローム ミュージック ファンデーション",
        None,
        "2026-07-01",
        "2026 年 7 月 21 日 (火)",
        "2026-07-21",
    ),
    "52583": (
        "つながる防災プロジェクト 2026-2027 (第 6 期)",
        "認定特定非営利活動法人日本 NPO センター",
        None,
        "2026-06-24",
        "2026 年 6 月 8 日 (月) ～ 7 月 17 日 (金)",
        "2026-07-17",
    ),
    "52431": (
        "生涯学習開発財団 第 7 回「松田妙子賞」",
        "一般財団法人 生涯学習開発財団",
        None,
        "2026-06-19",
        "2027 年 1 月 15 日 (金)",
        "2027-01-15",
    ),
    "52437": (
        "日韓文化交流基金「人物交流助成 2 次募集」-2026 年度",
        "公益財団法人 日韓文化交流基金",
        "受付終了",
        "2026-06-04",
        "2026 年 7 月 2 日 (木)",
        "2026-07-02",
    ),
    "52294": (
        "京都府 第 15 回「京都女性起業家賞 (アントレプレナー賞)」",
        "京都府",
        None,
        "2026-06-02",
        "エントリー締切：2026 年 7 月 31 日 (金) 書面提出締切 ：2026 年 9 月 7 日 (月)",
        "2026-07-31",
    ),
    "52197": (
        "「公益信託 大成建設自然・歴史環境基金」-2026 年度",
        "大成建設株式会社",
        None,
        "2026-05-28",
        "2026 年 7 月 31 日 (金)",
        "2026-07-31",
    ),
}


@pytest.mark.parametrize("item_id", list(REAL_CALLS))
def test_real_list_calls_read_off_the_page(real_rows: list[dict], item_id: str) -> None:
    title, organizer, status, published, term, deadline = REAL_CALLS[item_id]
    row = by_id(real_rows)[f"shimisen/{item_id}"]
    assert row["title"] == title
    assert row["organizer"] == organizer
    assert row["status"] == status
    assert row["published"] == published
    assert row["url"] == f"{SHIMISEN}/subsidy/{item_id}"
    assert row["text"].split("\n")[0] == f"応募・申請期間: {term}"
    assert normalized(row, CAPTURE_DAY).deadline == date.fromisoformat(deadline)


def test_real_list_every_call(real_rows: list[dict]) -> None:
    assert len(real_rows) == 50
    assert len({r["id"] for r in real_rows}) == 50
    assert [r["status"] for r in real_rows].count("受付終了") == 1
    for row in real_rows:
        assert re.fullmatch(r"shimisen/\d{5}", row["id"])
        assert row["url"] == f"{SHIMISEN}/subsidy/{row['id'].split('/')[1]}"
        assert row["title"] and not row["title"].startswith(" ")
        assert row["organizer"] and not row["organizer"].startswith("by")
        assert "2026-05-28" <= row["published"] <= "2026-07-05"
        term = row["text"].split("\n")[0]
        assert term.startswith("応募・申請期間: ") and "月" in term and "日" in term
        assert row["categories"] and "終了しました**" not in row["categories"]
        assert normalized(row, CAPTURE_DAY).deadline is not None


def test_real_detail_period_amount_and_deadline(real_rows: list[dict]) -> None:
    row = by_id(real_rows)["shimisen/52696"]
    spider = spider_for("shimisen")
    request = spider.detail(
        response_from_file(real_page(REAL_LIST), f"{SHIMISEN}/subsidies"),
        row["url"],
        spider.parse_detail,
        row,
    )
    response = response_from_file(real_page(REAL_DETAIL), row["url"], meta=request.meta)
    items, _ = run_callback(spider._parse_detail, response)
    assert len(items) == 1 and "partial" not in items[0]
    detail = items[0]
    lines = detail["text"].split("\n")
    assert "応募・申請期間: 2026 年 7 月 1 日 (水) ～ 2026 年 8 月 15 日 (土)" in lines
    assert "実施期間: 2026 年 12 月 1 日 (火) ～ 2027 年 5 月 31 日 (月)" in lines
    assert "助成内容・額: 総額：半期予算は 5,000 万円" in lines
    assert "福祉車両：400 万円" in lines
    assert "締切注意: 締め切り日当日の消印があれば有効です。" in lines
    assert detail["organizer"] == "公益財団法人 洲崎福祉財団"
    assert detail["published"] == "2026-07-04"
    call = normalized(detail, CAPTURE_DAY)
    assert call.deadline == date(2026, 8, 15)  # not the end of 実施期間 (2027-05-31)
    assert call.application_start == date(2026, 7, 1)
    assert call.max_amount_yen == 4_000_000
    assert errors(spider) == {}


# -- crawls over HTTP ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_crawl_over_http(name: str, tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli(name, server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == sorted(f"{name}/{i}" for i in SAMPLE_IDS[name])
    assert not any(i.get("partial") for i in items)
    first = by_id(items)[FIRST_ROWS[name]["id"]]
    assert first["title"] == FIRST_ROWS[name]["title"]
    assert first["url"] == FIRST_ROWS[name]["url"]  # the real URL, not the mirror's
    assert first["organizer"] == FIRST_ROWS[name]["organizer"]


def test_crawl_over_http_of_the_real_pages(tmp_path: Path) -> None:
    site = Site(
        routes=[
            Route(path="/subsidies", file=real_page(REAL_LIST)),
            Route(path="/subsidy/52696", file=real_page(REAL_DETAIL)),
        ]
    )
    with MirrorServer(Mirror({"shimisen-kyoto.org": site})) as server:
        items, proc = crawl_cli("shimisen", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(items) == 50
    rows = by_id(items)
    assert "partial" not in rows["shimisen/52696"]
    assert "助成内容・額: 総額：半期予算は 5,000 万円" in rows["shimisen/52696"]["text"]
    # the other detail pages are not served: their list rows arrive, flagged partial
    assert sum(bool(i.get("partial")) for i in items) == 49
    assert rows["shimisen/52437"]["status"] == "受付終了"


def test_crawl_a_config_added_from_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    write_config(
        folder,
        MINIMAL.replace("[list.fields]", "id = '/grants/(\\d+)'\n\n[list.fields]")
        + 'organizer = "span.by"\nterm = "span.term"\n',
    )
    page = (
        '<html><body><ul class="grants">'
        '<li><a href="/grants/31">鎌ケ谷市 子ども食堂応援補助金</a>'
        '<span class="by">鎌ケ谷市 こども支援課</span>'
        '<span class="term">2027年1月29日まで</span></li>'
        '<li><a href="/grants/32">まちづくり活動助成</a>'
        '<span class="by">テスト財団</span><span class="term">2026年12月25日(金)必着</span></li>'
        "</ul></body></html>"
    ).encode()
    site = Site(routes=[Route(path="/grants/", body=page)])
    crawl_dir = tmp_path / "crawl"
    crawl_dir.mkdir()
    with MirrorServer(Mirror({"centre.example.jp": site})) as server:
        items, proc = crawl_cli(
            "test_centre", server.url, crawl_dir, env={"KYODO_SPIDER_CONFIG_DIR": str(folder)}
        )
    assert proc.returncode == 0, proc.stderr
    assert [(i["id"], i["title"], i["organizer"]) for i in items] == [
        ("test_centre/31", "鎌ケ谷市 子ども食堂応援補助金", "鎌ケ谷市 こども支援課"),
        ("test_centre/32", "まちづくり活動助成", "テスト財団"),
    ]
    assert [i["text"] for i in items] == [
        "募集期間: 2027年1月29日まで",
        "募集期間: 2026年12月25日(金)必着",
    ]
    assert all(i["source"] == "test_centre" for i in items)


def test_the_annotated_example_in_the_staff_guide_is_a_valid_config(tmp_path: Path) -> None:
    guide = (CONFIG_DIR.parents[1] / "docs" / "generic-spider.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", guide, re.S)
    assert example is not None
    cfg = load_config(write_config(tmp_path, example.group(1), "kamagaya_center.toml"))
    assert cfg.name == "kamagaya_center"
    assert cfg.detail is not None and cfg.detail.labels["応募期間"] == "term"
