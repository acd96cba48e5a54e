"""The jGrants spider on saved API answers (the sample mirror, test-only answers) and over HTTP."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from scrapy.http import Request, TextResponse

from aggregator.normalize.pipeline import normalize_call
from aggregator.record import RawCall
from spiders.base import ShapeError
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer, Route, Site
from spiders.spiders.jgrants import API, KEYWORDS, JgrantsSpider, _jst, _period, list_url
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
HOST = "api.jgrants-portal.go.jp"
LIST_PATH = "/exp/v1/public/subsidies"
LIST_FILE = sample_file(HOST, "exp/v1/public/subsidies/index.json")
TEST_FILES = FILES / "jgrants"
IDS = [
    "a0WJ200000KYa01MAA",
    "a0WJ200000KYb02MAA",
    "a0WJ200000KYc03MAA",
    "a0WJ200000KYd04MAA",
    "a0WJ200000KYe05MAA",
    "a0WJ200000KYf06MAA",
]


def detail_file(subsidy_id: str) -> Path:
    return sample_file(HOST, f"exp/v1/public/subsidies/id/{subsidy_id}.json")


def json_response(path: Path, url: str, meta: dict[str, Any] | None = None) -> TextResponse:
    return response_from_file(path, url, meta=meta, cls=TextResponse)


def list_requests(spider: JgrantsSpider, path: Path = LIST_FILE, url: str = "") -> list[Request]:
    items, requests = run_callback(spider.parse, json_response(path, url or spider.start_urls[0]))
    assert items == []  # every listing comes from its detail answer
    return requests


def detail_listing(spider: JgrantsSpider, request: Request, path: Path | None = None) -> dict:
    subsidy_id = request.url.rsplit("/", 1)[1]
    response = json_response(path or detail_file(subsidy_id), request.url, meta=request.meta)
    items, requests = run_callback(spider._parse_detail, response)
    assert requests == []
    assert len(items) == 1
    return items[0]


@pytest.fixture()
def listings() -> dict[str, dict[str, Any]]:
    spider = make_spider(JgrantsSpider)
    out = [detail_listing(spider, r) for r in list_requests(spider)]
    assert errors(spider) == {}
    return {row["id"]: row for row in out}


def normalized(row: dict[str, Any]):
    return normalize_call(RawCall(**row), today=DEMO_DAY)


# -- requests -----------------------------------------------------------------------------


def test_start_urls_are_a_union_of_keyword_searches_of_open_calls() -> None:
    queries = [parse_qs(urlsplit(url).query) for url in JgrantsSpider.start_urls]
    assert all(url.startswith(API + "?") for url in JgrantsSpider.start_urls)
    assert len(queries) == len(KEYWORDS) == 12
    for query in queries:
        assert query["sort"] == ["created_date"]
        assert query["order"] == ["DESC"]
        assert query["acceptance"] == ["1"]
        assert 2 <= len(query["keyword"][0]) <= 255 and " " not in query["keyword"][0]
    keywords = {q["keyword"][0] for q in queries}
    assert {"助成", "補助金", "支援", "地域", "NPO", "子ども", "福祉", "まちづくり"} <= keywords
    assert {"市民活動", "ボランティア"} <= keywords
    chiba = [q["keyword"][0] for q in queries if q.get("target_area_search") == ["千葉県"]]
    assert sorted(chiba) == ["支援", "補助金"]
    assert len(set(JgrantsSpider.start_urls)) == 12


def test_list_url_encodes_the_keyword() -> None:
    url = list_url("子ども", "千葉県")
    assert url == (
        f"{API}?keyword=%E5%AD%90%E3%81%A9%E3%82%82&sort=created_date&order=DESC"
        "&acceptance=1&target_area_search=%E5%8D%83%E8%91%89%E7%9C%8C"
    )


def test_the_list_asks_for_one_detail_per_id_carrying_the_list_row() -> None:
    requests = list_requests(make_spider(JgrantsSpider))
    assert [r.url for r in requests] == [f"{API}/id/{i}" for i in IDS]
    row = requests[0].meta["kyodo_row"]
    assert row == {
        "id": "jgrants/a0WJ200000KYa01MAA",
        "title": "令和8年度 千葉県地域支え合い活動応援補助金",
        "text": "受付期間: 2026年12月1日〜2027年1月15日 23時59分（日本時間）\n"
        "補助上限額: 500,000円\n対象地域: 千葉県\n対象従業員数: 従業員数の制約なし",
        "url": "https://www.jgrants-portal.go.jp/subsidy/a0WJ200000KYa01MAA",
        "published": "2026-11-20",
        "organizer": None,
        "source": "jgrants",
        "status": None,
        "area": "千葉県",
    }
    assert all(r.meta["kyodo_detail"] == "parse_detail" for r in requests)
    # Detail answers embed files in base64: kept out of the development HTTP cache too.
    assert all(r.meta["dont_cache"] is True for r in requests)


def test_ids_repeated_across_keywords_are_asked_for_once() -> None:
    spider = make_spider(JgrantsSpider)
    first = list_requests(spider, TEST_FILES / "list-keyword-a.json", list_url("助成"))
    second = list_requests(spider, TEST_FILES / "list-keyword-b.json", list_url("福祉"))
    assert [r.url.rsplit("/", 1)[1] for r in first] == IDS[:3]
    assert [r.url.rsplit("/", 1)[1] for r in second] == [IDS[3]]  # c03 and b02 seen already
    again = list_requests(spider, LIST_FILE, list_url("支援", "千葉県"))
    assert [r.url.rsplit("/", 1)[1] for r in again] == IDS[4:]


def test_a_keyword_without_results_is_not_an_error() -> None:
    spider = make_spider(JgrantsSpider)
    assert list_requests(spider, TEST_FILES / "list-empty.json") == []
    assert errors(spider) == {}


# -- fields ---------------------------------------------------------------------------------


def test_title(listings: dict[str, dict]) -> None:
    assert listings["jgrants/a0WJ200000KYc03MAA"]["title"] == (
        "鎌ケ谷市 市民公益活動団体 まちづくり提案事業補助金"
    )
    assert listings["jgrants/a0WJ200000KYd04MAA"]["title"] == (
        "小規模事業者 福祉サービス参入支援補助金（第2次公募）"
    )


def test_organizer_is_the_institution_when_named(listings: dict[str, dict]) -> None:
    organizers = {key.split("/")[1]: row["organizer"] for key, row in listings.items()}
    assert organizers == {
        "a0WJ200000KYa01MAA": None,
        "a0WJ200000KYb02MAA": None,
        "a0WJ200000KYc03MAA": "鎌ケ谷市 市民活動推進課",
        "a0WJ200000KYd04MAA": None,
        "a0WJ200000KYe05MAA": "茨城県 福祉部 福祉政策課",
        "a0WJ200000KYf06MAA": None,
    }


def test_url_is_the_portal_page_and_id_the_subsidy_id(listings: dict[str, dict]) -> None:
    row = listings["jgrants/a0WJ200000KYb02MAA"]
    assert row["url"] == "https://www.jgrants-portal.go.jp/subsidy/a0WJ200000KYb02MAA"
    assert sorted(listings) == [f"jgrants/{i}" for i in IDS]


def test_published_is_the_creation_date_in_japan(listings: dict[str, dict]) -> None:
    published = {key.split("/")[1]: row["published"] for key, row in listings.items()}
    assert published == {
        "a0WJ200000KYa01MAA": "2026-11-20",
        "a0WJ200000KYb02MAA": "2026-09-25",
        "a0WJ200000KYc03MAA": "2026-10-30",  # 06:45:10.5Z: one fractional digit
        "a0WJ200000KYd04MAA": "2026-10-10",
        "a0WJ200000KYe05MAA": None,  # created_date null
        "a0WJ200000KYf06MAA": None,  # created_date absent
    }


def test_facts_only_the_list_result_gives_are_kept(tmp_path: Path) -> None:
    data = json.loads(detail_file(IDS[0]).read_text(encoding="utf-8"))
    del data["result"][0]["created_date"]
    data["result"][0]["target_area_search"] = None
    answer = tmp_path / "detail.json"
    answer.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    spider = make_spider(JgrantsSpider)
    row = detail_listing(spider, list_requests(spider)[0], answer)
    assert (row["published"], row["area"]) == ("2026-11-20", "千葉県")


def test_status_is_left_to_the_dates(listings: dict[str, dict]) -> None:
    assert {row["status"] for row in listings.values()} == {None}


def test_area_hint_from_target_area_search(listings: dict[str, dict]) -> None:
    areas = {key.split("/")[1]: row.get("area") for key, row in listings.items()}
    assert areas == {
        "a0WJ200000KYa01MAA": "千葉県",
        "a0WJ200000KYb02MAA": "national",
        "a0WJ200000KYc03MAA": "千葉県",
        "a0WJ200000KYd04MAA": "千葉県 / 埼玉県 / 東京都",
        "a0WJ200000KYe05MAA": None,
        "a0WJ200000KYf06MAA": "national",
    }


def test_categories_are_the_use_purposes(listings: dict[str, dict]) -> None:
    assert listings["jgrants/a0WJ200000KYa01MAA"]["categories"] == [
        "まちづくり・地域振興支援がほしい",
        "教育・子育て・少子化支援がほしい",
    ]


def test_text_states_the_facts_with_japanese_labels(listings: dict[str, dict]) -> None:
    assert listings["jgrants/a0WJ200000KYa01MAA"]["text"] == "\n".join(
        [
            "ご近所の見守りや居場所づくりを始める団体を応援します",
            "受付期間: 2026年12月1日〜2027年1月15日 23時59分（日本時間）",
            "補助上限額: 500,000円",
            "対象地域: 千葉県",
            "対象従業員数: 従業員数の制約なし",
            "補助率: 補助対象経費の3/4以内",
            "地域の条件: 千葉県内に活動拠点を有する団体",
            "利用目的: まちづくり・地域振興支援がほしい / 教育・子育て・少子化支援がほしい",
            "県内の自治会、NPO、ボランティア団体等が行う地域の支え合い活動の立ち上げ経費を補助します。",
            "対象となる活動",
            "高齢者の見守り・声かけ活動",
            "子どもや高齢者の居場所づくり",
            "買い物支援・移動支援",
            "対象経費：謝金、消耗品費、会場使用料、備品購入費（1点5万円未満）",
            "人件費は対象外です。",
            "法人格の有無は問いません（任意団体可）。",
            "添付資料: 令和8年度支え合い活動応援補助金_募集要領.pdf、交付要綱.pdf、"
            "様式第1号_申請書.docx、様式第2号_収支予算書.xlsx",
        ]
    )


def test_a_table_in_the_detail_becomes_labelled_lines(listings: dict[str, dict]) -> None:
    text = listings["jgrants/a0WJ200000KYb02MAA"]["text"]
    assert (
        "補助対象: 冷蔵庫、手洗い設備、調理器具等の購入・設置\n補助額: 1団体あたり上限100万円"
        in text
    )


def test_attachments_keep_only_their_names() -> None:
    spider = make_spider(JgrantsSpider)
    requests = {r.url.rsplit("/", 1)[1]: r for r in list_requests(spider)}
    for subsidy_id in IDS:
        data = json.loads(detail_file(subsidy_id).read_text(encoding="utf-8"))["result"][0]
        files = [
            f
            for key in ("application_guidelines", "outline_of_grant", "application_form")
            for f in data.get(key) or []
        ]
        row = detail_listing(spider, requests[subsidy_id])
        dumped = json.dumps(row, ensure_ascii=False)
        for f in files:
            assert f["data"] not in dumped
            assert f["name"] in row["text"]
        assert ("添付資料: " in row["text"]) is bool(files)
        assert set(row) <= {
            "id", "title", "text", "url", "published", "organizer", "source", "status",
            "area", "categories",
        }  # fmt: skip


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-01-15T14:59:00.000Z", "2027-01-15 23:59"),
        ("2027-01-15T14:59:00Z", "2027-01-15 23:59"),
        ("2026-07-24T08:30Z", "2026-07-24 17:30"),
        ("2026-08-14T00:45:00.000Z", "2026-08-14 09:45"),
        ("2026-11-30T15:00:00.000Z", "2026-12-01 00:00"),
        ("2026-12-31T16:00:00+00:00", "2027-01-01 01:00"),
        ("2026-12-01T09:00:00", "2026-12-01 18:00"),  # no zone: UTC
    ],
)
def test_datetimes_are_read_as_utc_and_written_in_jst(value: str, expected: str) -> None:
    moment = _jst(value)
    assert moment is not None and moment.strftime("%Y-%m-%d %H:%M") == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (
            "2026-11-30T15:00:00.000Z",
            "2027-01-15T14:59:00.000Z",
            ("受付期間", "2026年12月1日〜2027年1月15日 23時59分（日本時間）"),
        ),
        (
            "2026-11-04T00:00Z",
            "2026-12-18T08:30Z",
            ("受付期間", "2026年11月4日 9時00分〜2026年12月18日 17時30分（日本時間）"),
        ),
        (None, "2027-02-26T08:00:00Z", ("受付締切", "2027年2月26日 17時00分（日本時間）")),
        ("2026-11-30T15:00:00Z", None, ("受付開始", "2026年12月1日（日本時間）")),
        (None, None, None),
        ("not a date", "", None),
    ],
)
def test_application_period(start: str | None, end: str | None, expected: Any) -> None:
    item = {"acceptance_start_datetime": start, "acceptance_end_datetime": end}
    assert _period(item) == expected


@pytest.mark.parametrize("subsidy_id", IDS)
def test_every_listing(listings: dict[str, dict], subsidy_id: str) -> None:
    row = listings[f"jgrants/{subsidy_id}"]
    data = json.loads(detail_file(subsidy_id).read_text(encoding="utf-8"))["result"][0]
    assert row["title"] == data["title"]
    assert row["source"] == "jgrants"
    assert row["url"] == f"https://www.jgrants-portal.go.jp/subsidy/{subsidy_id}"
    assert "partial" not in row
    assert row["text"].count("受付期間: ") == 1
    assert row["text"].count("（日本時間）") == 1
    if data.get("subsidy_max_limit"):
        assert f"補助上限額: {data['subsidy_max_limit']:,}円" in row["text"]
    else:
        assert "補助上限額" not in row["text"]
    assert "<" not in row["text"]  # the detail HTML as plain text
    RawCall(**row)  # what ingest reads


# -- what the normalizer makes of them ------------------------------------------------------


EXPECTED = {  # id: (deadline, max amount in yen, status on the demo day, area)
    "a0WJ200000KYa01MAA": (date(2027, 1, 15), 500_000, "upcoming", "prefecture:千葉県"),
    "a0WJ200000KYb02MAA": (date(2026, 12, 18), 1_000_000, "open", "national"),
    "a0WJ200000KYc03MAA": (date(2027, 2, 26), 300_000, "open", "municipality:鎌ケ谷市"),
    "a0WJ200000KYd04MAA": (date(2026, 12, 11), 3_000_000, "open", "prefecture:千葉県"),
    "a0WJ200000KYe05MAA": (date(2027, 1, 29), 200_000, "open", "prefecture:茨城県"),
    "a0WJ200000KYf06MAA": (date(2027, 1, 8), 2_000_000, "open", "national"),
}


@pytest.mark.parametrize("subsidy_id", IDS)
def test_normalizer_reads_deadline_amount_status_and_area(
    listings: dict[str, dict], subsidy_id: str
) -> None:
    call = normalized(listings[f"jgrants/{subsidy_id}"])
    deadline, amount, status, area = EXPECTED[subsidy_id]
    assert call.deadline == deadline
    assert call.max_amount_yen == amount
    assert call.status == status
    assert call.area == area


def test_normalizer_keeps_the_time_of_day_and_the_start(listings: dict[str, dict]) -> None:
    call = normalized(listings["jgrants/a0WJ200000KYa01MAA"])
    assert call.application_start == date(2026, 12, 1)
    assert call.deadline_note is not None and call.deadline_note.time == "23:59"
    assert call.subsidy_rate == "補助対象経費の3/4以内"
    call = normalized(listings["jgrants/a0WJ200000KYb02MAA"])
    assert call.deadline_note is not None and call.deadline_note.time == "17:30"


def test_normalizer_reads_the_list_row_alone(listings: dict[str, dict]) -> None:
    """The partial row (detail failed) still gives deadline and amount."""
    row = list_requests(make_spider(JgrantsSpider))[2].meta["kyodo_row"]
    call = normalized(row)
    assert (call.deadline, call.max_amount_yen) == (date(2027, 2, 26), 300_000)


# -- shape changes and API errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("error-400.json", "キーワードは2文字以上で指定してください"),
        ("error-500.json", "E-ML-9999"),
        ("no-result.json", "no result"),
        ("maintenance.html", "not JSON"),
    ],
)
def test_a_list_answer_without_result_is_a_shape_error(name: str, message: str) -> None:
    spider = make_spider(JgrantsSpider)
    with pytest.raises(ShapeError, match=message):
        list_requests(spider, TEST_FILES / name)


def test_a_result_without_id_is_a_shape_error(tmp_path: Path) -> None:
    data = json.loads(LIST_FILE.read_text(encoding="utf-8"))
    del data["result"][1]["id"]
    broken = tmp_path / "list.json"
    broken.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ShapeError, match="without id"):
        list_requests(make_spider(JgrantsSpider), broken)


def test_result_not_a_list_is_a_shape_error(tmp_path: Path) -> None:
    broken = tmp_path / "list.json"
    broken.write_text('{"result": {"id": "a0WJ200000KYa01MAA"}}', encoding="utf-8")
    with pytest.raises(ShapeError, match="not a list"):
        list_requests(make_spider(JgrantsSpider), broken)


@pytest.mark.parametrize("name", ["error-500.json", "no-result.json", "list-empty.json"])
def test_a_detail_error_answer_yields_the_partial_row(name: str) -> None:
    spider = make_spider(JgrantsSpider)
    request = list_requests(spider)[1]
    row = detail_listing(spider, request, TEST_FILES / name)
    assert row == {**request.meta["kyodo_row"], "partial": True}
    assert errors(spider) == {"shape": 1}


def test_a_detail_of_another_subsidy_yields_the_partial_row() -> None:
    spider = make_spider(JgrantsSpider)
    request = list_requests(spider)[0]
    row = detail_listing(spider, request, detail_file(IDS[1]))
    assert row["partial"] is True and row["title"] == "令和8年度 千葉県地域支え合い活動応援補助金"
    assert errors(spider) == {"shape": 1}


def test_the_spider_keeps_the_global_delay_and_allows_large_answers() -> None:
    spider = make_spider(JgrantsSpider)
    assert "DOWNLOAD_DELAY" not in JgrantsSpider.custom_settings
    assert spider.settings.getint("DOWNLOAD_MAXSIZE") >= 100 * 1024 * 1024


# -- over HTTP ------------------------------------------------------------------------------


def _detail_paths(mirror: Mirror) -> list[str]:
    return [t for h, t in mirror.requests if h == HOST and t.startswith(LIST_PATH + "/id/")]


def _list_queries(mirror: Mirror) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(t).query)
        for h, t in mirror.requests
        if h == HOST and urlsplit(t).path == LIST_PATH
    ]


def test_crawl_over_http(tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        items, proc = crawl_cli("jgrants", server.url, tmp_path)
        mirror = server.mirror
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == [f"jgrants/{i}" for i in IDS]
    assert not any(i.get("partial") for i in items)
    assert len(_list_queries(mirror)) == 12  # every keyword asked, one answer for all
    assert sorted(_detail_paths(mirror)) == [f"{LIST_PATH}/id/{i}" for i in IDS]  # once each
    row = next(i for i in items if i["id"] == "jgrants/a0WJ200000KYc03MAA")
    assert row["url"] == "https://www.jgrants-portal.go.jp/subsidy/a0WJ200000KYc03MAA"
    assert row["organizer"] == "鎌ケ谷市 市民活動推進課"
    assert "受付期間: 2026年11月4日 9時00分〜2027年2月26日 17時00分（日本時間）" in row["text"]
    assert "添付資料: まちづくり提案事業_募集案内.pdf、提案書様式.docx" in row["text"]
    assert "UEsg" not in json.dumps(items)  # base64 of the fake "PK …" forms


def test_crawl_with_keywords_answering_overlapping_ids(tmp_path: Path) -> None:
    site = Site(
        SAMPLE_MIRROR / HOST,
        routes=[
            Route(
                path=LIST_PATH, file=TEST_FILES / "list-keyword-a.json", query={"keyword": "助成"}
            ),
            Route(
                path=LIST_PATH, file=TEST_FILES / "list-keyword-b.json", query={"keyword": "福祉"}
            ),
            Route(path=LIST_PATH, file=TEST_FILES / "list-empty.json"),
        ],
    )
    with MirrorServer(Mirror({HOST: site})) as server:
        items, proc = crawl_cli("jgrants", server.url, tmp_path)
        mirror = server.mirror
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["id"] for i in items) == [f"jgrants/{i}" for i in IDS[:4]]
    assert sorted(_detail_paths(mirror)) == [f"{LIST_PATH}/id/{i}" for i in IDS[:4]]


def test_crawl_records_an_api_error_and_keeps_the_row(tmp_path: Path) -> None:
    site = Site(
        SAMPLE_MIRROR / HOST,
        routes=[
            Route(path=f"{LIST_PATH}/id/{IDS[1]}", file=TEST_FILES / "error-500.json", status=500),
            Route(path=f"{LIST_PATH}/id/{IDS[2]}", file=TEST_FILES / "no-result.json"),
        ],
    )
    with MirrorServer(Mirror({HOST: site})) as server:
        items, proc = crawl_cli("jgrants", server.url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {i["id"]: i for i in items}
    assert len(rows) == 6
    assert rows[f"jgrants/{IDS[1]}"]["partial"] is True
    assert rows[f"jgrants/{IDS[2]}"]["partial"] is True
    assert sum(bool(i.get("partial")) for i in items) == 2
    assert "HTTP 500 エラー 1件" in proc.stderr
    assert "ページの形が想定と違います 1件" in proc.stderr


def test_crawl_of_an_api_that_answers_errors_fails(tmp_path: Path) -> None:
    site = Site(routes=[Route(path=LIST_PATH, file=TEST_FILES / "error-400.json", status=400)])
    with MirrorServer(Mirror({HOST: site})) as server:
        items, proc = crawl_cli("jgrants", server.url, tmp_path)
    assert items == []
    assert proc.returncode == 1
    assert "HTTP 400 エラー 12件" in proc.stderr
