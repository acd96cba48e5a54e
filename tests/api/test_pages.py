"""The Japanese pages (search, call, print, errors), checked as HTML with BeautifulSoup.

A database of our own listings (own wording) is built per test on SQLite and PostgreSQL:
a call listed at two sources with a disputed and then extended deadline, past and predicted
rounds of programs, an upcoming city subsidy, and a hostile call whose crawled text carries
<script>, <img onerror> and javascript: links.
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.fields import FIELD_SHORT_LABELS, FIELDS
from aggregator.ingest import Ingestor
from aggregator.programs import predict_upcoming
from aggregator.settings import Settings
from aggregator.storage.db import make_engine, upgrade_database
from aggregator.storage.models import CallRow
from api.app import create_app
from api.pages import days_left_text, safe_url, who_may_apply, yen

TODAY = date(2026, 11, 28)

KODOMO_TITLE = "2026年度 こども居場所づくり応援助成"
KODOMO_TEXT = (
    "募集期間: 2026年11月1日～{deadline}\n"
    "助成金額: 1団体あたり上限50万円（助成総額500万円）\n"
    "対象団体: 千葉県内で子ども食堂や学習支援を行う団体（法人格の有無は問いません）。"
    "構成員5名以上で、活動実績1年以上の団体であること。\n"
    "対象経費: 講師への謝金、会場の家賃。人件費は対象外です。"
)
HOSTILE_TITLE = '<script>alert("t")</script>緊急支援助成<img src=x onerror=alert(1)>'
HOSTILE_TEXT = (
    "募集期間: 2026年12月1日～2026年12月25日\n"
    "助成金額: 上限20万円\n"
    '詳しくは<a href="javascript:alert(2)">こちら</a><script>alert(3)</script>\n'
    "対象: 全国の<img src=x onerror=alert(4)>団体"
)

FIRST_CRAWL = [
    {
        "id": "kodomo-2026",
        "source": "canpan",
        "title": KODOMO_TITLE,
        "text": KODOMO_TEXT.format(deadline="2026年12月18日"),
        "url": "https://fields.canpan.info/grant/detail/kodomo-2026",
        "published": "2026-11-01",
        "organizer": "公益財団法人 ひまわり子ども基金",
        "status": "募集中",
    },
    {
        "id": "kodomo",
        "source": "jfc",
        "title": KODOMO_TITLE,
        "text": KODOMO_TEXT.format(deadline="2026年12月19日"),
        "url": "https://www.jfc.or.jp/news_subsidy/kodomo/",
        "published": "2026-10-20",
        "organizer": "公益財団法人 ひまわり子ども基金",
        "status": "募集中",
    },
    {
        "id": "kodomo-2025",
        "source": "canpan",
        "title": "2025年度 こども居場所づくり応援助成",
        "text": KODOMO_TEXT.format(deadline="2025年12月19日").replace("2026年11月", "2025年11月"),
        "url": "https://fields.canpan.info/grant/detail/kodomo-2025",
        "published": "2025-10-25",
        "organizer": "公益財団法人 ひまわり子ども基金",
        "status": "募集終了",
    },
    {
        "id": "satoyama",
        "source": "jgrants",
        "title": "里山保全活動推進補助金",
        "text": (
            "公募期間: 2026年11月10日～2027年1月29日\n"
            "補助上限額: 300万円\n補助率: 2/3\n"
            "対象者: NPO法人又は一般社団法人に限る（全国）\n"
            "対象経費: 人件費、謝金、賃借料（家賃を含む）"
        ),
        "url": "https://www.jgrants-portal.go.jp/subsidy/satoyama",
        "published": "2026-11-10",
        "organizer": "環境省",
        "status": "募集中",
    },
    {
        "id": "shimin-r9",
        "source": "kamagaya",
        "title": "鎌ケ谷市 市民活動推進補助金（令和9年度）",
        "text": (
            "受付期間: 2027年1月5日～2027年2月26日\n"
            "補助金額: 上限10万円\n"
            "対象: 鎌ケ谷市内で活動する市民活動団体（任意団体を含む）"
        ),
        "url": "https://www.city.kamagaya.chiba.jp/shimin/hojo.html",
        "published": "2026-11-20",
        "organizer": "鎌ケ谷市",
        "status": "募集予定",
    },
    {
        "id": "step-2025",
        "source": "chiba_npo",
        "title": "2025年度 市民活動ステップアップ助成",
        "text": (
            "募集期間: 2025年12月1日～2026年1月30日\n"
            "助成金額: 上限30万円\n対象: 千葉県内の市民活動団体"
        ),
        "url": "https://www.pref.chiba.lg.jp/kkbunka/npo/step2025.html",
        "published": "2025-11-20",
        "organizer": "一般財団法人 なのはな市民財団",
        "status": "募集終了",
    },
    {
        "id": "mimamori",
        "source": "shakyo",
        "title": "高齢者の見守り福祉活動助成",
        "text": (
            "応募締切: 2026年12月10日\n助成額: 上限100万円\n"
            "対象: 高齢者の福祉に取り組む非営利団体（全国）"
        ),
        "url": "https://www.shakyo.or.jp/guide/sponsor/mimamori.html",
        "published": "2026-11-15",
        "organizer": "公益財団法人 あおぞら福祉財団",
        "status": "募集中",
    },
    {
        "id": "hostile",
        "source": "musubie",
        "title": HOSTILE_TITLE,
        "text": HOSTILE_TEXT,
        "url": "javascript:alert(5)",
        "published": "2026-11-25",
        "organizer": "<b onmouseover=alert(6)>悪意のある団体</b>",
        "status": "募集中",
    },
]

# The next crawl: CANPAN announces an extension of the 2026 round.
SECOND_CRAWL = [
    {
        **FIRST_CRAWL[0],
        "title": "【締切延長】" + KODOMO_TITLE,
        "text": KODOMO_TEXT.format(deadline="2027年1月15日"),
    }
]


def build_database(url: str) -> None:
    upgrade_database(url)
    engine = make_engine(url)
    try:
        Ingestor(engine, today=TODAY).ingest(FIRST_CRAWL)
        Ingestor(engine, today=TODAY).ingest(SECOND_CRAWL)
        predict_upcoming(engine, today=TODAY)
    finally:
        engine.dispose()


@pytest.fixture
def site(db_url: str) -> TestClient:
    """A client over our test database, on SQLite and PostgreSQL."""
    build_database(db_url)
    with TestClient(create_app(Settings(database_url=db_url), today=TODAY)) as client:
        yield client


def call_id(db_url: str, title_part: str, *, predicted: bool = False) -> int:
    """The id of the one call whose title contains `title_part`."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            ids = session.scalars(
                select(CallRow.id)
                .where(CallRow.title.contains(title_part), CallRow.predicted.is_(predicted))
                .order_by(CallRow.id)
            ).all()
    finally:
        engine.dispose()
    assert len(ids) == 1, (title_part, ids)
    return ids[0]


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def query_of(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


def result_titles(page: BeautifulSoup) -> list[str]:
    return [a.get_text(strip=True) for a in page.select("ol.results h3 a")]


def assert_accessible_basics(page: BeautifulSoup) -> None:
    """lang="ja", one <main>, a skip link, headings in order, every input labelled."""
    assert page.html["lang"] == "ja"
    assert len(page.find_all("main")) == 1
    skip = page.select_one("a.skip-link")
    assert skip is not None and page.find(id=skip["href"][1:]) is not None
    levels = [int(h.name[1]) for h in page.find_all(["h1", "h2", "h3", "h4", "h5", "h6"])]
    assert levels and levels[0] == 1 and levels.count(1) == 1
    for before, after in pairwise(levels):
        assert after <= before + 1, levels
    for control in page.find_all(["input", "select", "textarea"]):
        if control.get("type") in ("hidden", "submit"):
            continue
        labelled = control.find_parent("label") is not None or (
            control.get("id") and page.find("label", attrs={"for": control["id"]})
        )
        assert labelled, f"no label for {control}"
        assert page.find("label", attrs={"for": control.get("id")}).get_text(strip=True)
    for th in page.find_all("th"):
        assert th.get("scope") in ("col", "row"), th
    for fieldset in page.find_all("fieldset"):
        assert fieldset.find("legend", recursive=False).get_text(strip=True)


# -- search page -------------------------------------------------------------------------------


def test_search_page_lists_open_calls_soonest_first(site: TestClient, db_url: str) -> None:
    response = site.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = soup(response)
    assert_accessible_basics(page)
    titles = result_titles(page)
    # Open by default, deadline order: 見守り (12/10), hostile (12/25), こども (1/15), 里山 (1/29).
    assert titles[0] == "高齢者の見守り福祉活動助成"
    assert titles.index("里山保全活動推進補助金") > titles.index(KODOMO_TITLE)
    assert not any("2025年度" in t for t in titles)  # closed rounds are not open
    assert not any("令和9年度" in t for t in titles)  # upcoming is not open
    assert page.select_one(".result-count").get_text(strip=True).startswith("4件")

    first = page.select_one("ol.results li article")
    text = first.get_text(" ", strip=True)
    assert "公益財団法人 あおぞら福祉財団" in text
    assert "2026年12月10日（木）" in text
    assert "あと12日" in text
    assert "上限 100万円" in text
    assert FIELD_SHORT_LABELS["health_welfare"] in text  # 保健・医療・福祉
    assert "全国" in text
    assert first.select_one(".badge-open").get_text(strip=True) == "募集中"
    href = first.select_one("h3 a")["href"]
    assert href == f"/calls/{call_id(db_url, '見守り')}"


def test_source_count_and_amount_units(site: TestClient) -> None:
    page = soup(site.get("/", params={"q": "こども居場所"}))
    article = page.select_one("ol.results article")
    text = article.get_text(" ", strip=True)
    assert "上限 50万円" in text
    assert "2か所" in text  # CANPAN and 助成財団センター
    assert "あと48日" in text  # extended to 2027-01-15


def test_every_filter_renders_and_round_trips(site: TestClient) -> None:
    search = {
        "q": "こども",
        "field": ["children_youth", "health_welfare"],
        "area": "prefecture",
        "within": "92",
        "deadline_after": "2025-12-01",
        "deadline_before": "2027-03-31",
        "min_amount": "300000",
        "informal_groups_ok": "true",
        "cost": ["honoraria", "rent"],
        "source_kind": "foundation",
        "status": "all",
        "sort": "amount",
        "per_page": "1",
    }
    response = site.get("/", params=search)
    assert response.status_code == 200
    page = soup(response)
    form = page.select_one("form.search-form")
    assert form["method"] == "get" and form["action"] == "/"
    assert form.select_one("input[name=q]")["value"] == "こども"
    checked = {(i["name"], i["value"]) for i in form.select("input[checked]")}
    assert {
        ("field", "children_youth"),
        ("field", "health_welfare"),
        ("area", "prefecture"),
        ("within", "92"),
        ("informal_groups_ok", "true"),
        ("cost", "honoraria"),
        ("cost", "rent"),
        ("source_kind", "foundation"),
        ("status", "all"),
    } <= checked
    assert ("cost", "personnel") not in checked
    assert form.select_one("#deadline_after")["value"] == "2025-12-01"
    assert form.select_one("#deadline_before")["value"] == "2027-03-31"
    assert form.select_one("#min_amount option[selected]")["value"] == "300000"
    assert form.select_one("#sort option[selected]")["value"] == "amount"
    assert form.select_one("input[type=hidden][name=per_page]")["value"] == "1"

    # The filters find the 2026 and 2025 rounds of こども居場所 (千葉県, 任意団体可, 謝金・家賃):
    # two results, one per page, so paging links appear and keep the whole search.
    assert page.select_one(".result-count").get_text(strip=True).startswith("2件")
    next_link = page.select_one(".pagination a[rel=next]")
    assert next_link is not None
    expected = {k: v if isinstance(v, list) else [v] for k, v in search.items()}
    assert query_of(next_link["href"]) == {**expected, "page": ["2"]}
    page2 = soup(site.get(next_link["href"]))
    assert page2.select_one("input[name=q]")["value"] == "こども"
    assert result_titles(page2) != result_titles(page)
    prev_link = page2.select_one(".pagination a[rel=prev]")
    assert query_of(prev_link["href"]) == expected  # page 1 is the default, left out

    # The feeds, exports and the printable list carry the same search (without paging).
    feeds = {a.get_text(strip=True): a["href"] for a in page.select(".use-results a")}
    without_paging = {k: v for k, v in expected.items() if k != "per_page"}
    paths = {urlsplit(href).path for href in feeds.values()}
    assert paths == {
        "/feeds/calls.atom",
        "/feeds/calls.ics",
        "/exports/calls.csv",
        "/exports/calls.xlsx",
        "/print",
    }
    for href in feeds.values():
        assert query_of(href) == without_paging, href


def test_counts_are_shown_next_to_filter_values(site: TestClient) -> None:
    page = soup(site.get("/"))

    def label_text(input_id: str) -> str:
        return page.find("label", attrs={"for": input_id}).get_text(strip=True)

    # Open calls: 見守り, hostile, こども (千葉県), 里山 — status counts ignore the status filter.
    statuses = {i["value"]: label_text(i["id"]) for i in page.select("input[name=status]")}
    assert statuses == {
        "open": "募集中（4件）",
        "upcoming": "募集予定（2件）",  # 鎌ケ谷市 and the predicted ステップアップ round
        "closed": "終了（2件）",
        "all": "すべて（8件）",
    }
    areas = {i["value"]: label_text(i["id"]) for i in page.select("input[name=area]")}
    assert areas[""] == "指定なし"
    assert areas["prefecture"] == "千葉県（1件）"
    assert areas["municipality"] == "鎌ケ谷市（0件）"
    assert areas["reachable"].startswith("鎌ケ谷市の団体が応募できるもの（")
    kinds = {i["value"]: label_text(i["id"]) for i in page.select("input[name=source_kind]")}
    assert kinds["national"] == "国（1件）"
    assert kinds["foundation"] == "財団（3件）"
    assert kinds["municipality"] == "市（0件）"
    fields = page.select("input[name=field]")
    assert [f["value"] for f in fields] == list(FIELDS)
    welfare = label_text("field-health_welfare")
    assert welfare == FIELDS["health_welfare"] + "（1件）"  # 見守り; こども is not open
    assert "件）" in label_text("informal_groups_ok")
    costs = {i["value"]: label_text(i["id"]) for i in page.select("input[name=cost]")}
    assert costs == {"personnel": "人件費", "honoraria": "謝金", "rent": "家賃"}
    within = [label_text(i["id"]) for i in page.select("input[name=within]")]
    assert within == ["指定なし", "2週間以内", "1か月以内", "3か月以内"]
    sorts = [o.get_text(strip=True) for o in page.select("#sort option")]
    assert sorts == ["締切が近い順", "新着順", "金額が大きい順"]


def test_short_japanese_keyword_and_within_window(site: TestClient) -> None:
    page = soup(site.get("/", params={"q": "福祉"}))
    assert result_titles(page) == ["高齢者の見守り福祉活動助成"]
    page = soup(site.get("/", params={"within": "14"}))
    assert result_titles(page) == ["高齢者の見守り福祉活動助成"]


def test_empty_results_explain_what_to_do(site: TestClient) -> None:
    page = soup(site.get("/", params={"q": "存在しないことば"}))
    assert page.select("ol.results") == []
    empty = page.select_one(".empty")
    assert "見つかりませんでした" in empty.get_text()
    assert empty.select_one("a")["href"] == "/"
    assert page.select_one(".result-count").get_text(strip=True).startswith("0件")


def test_empty_form_values_are_ignored(site: TestClient) -> None:
    """A submitted form sends every field, most of them empty."""
    response = site.get(
        "/?q=&area=&within=&deadline_after=&deadline_before=&min_amount=&source_kind="
        "&status=open&sort=deadline"
    )
    assert response.status_code == 200
    assert len(result_titles(soup(response))) == 4


# -- call page ---------------------------------------------------------------------------------


def test_call_page_shows_facts_with_evidence(site: TestClient, db_url: str) -> None:
    cid = call_id(db_url, KODOMO_TITLE, predicted=False)
    response = site.get(f"/calls/{cid}")
    assert response.status_code == 200
    page = soup(response)
    assert_accessible_basics(page)
    # Among equally trusted listings the title without a 【…】 label is shown.
    assert page.h1.get_text(strip=True) == KODOMO_TITLE

    facts = {row.th.get_text(strip=True): row.td for row in page.select("table.facts tbody tr")}
    for label in (
        "締切",
        "受付開始",
        "上限額",
        "総額",
        "補助率",
        "分野",
        "地域",
        "任意団体",
        "法人格",
        "人数",
        "活動年数",
        "対象経費: 人件費",
        "対象経費: 謝金",
        "対象経費: 家賃",
    ):
        assert label in facts, label
    deadline = facts["締切"]
    assert "2027年1月15日（金）" in deadline.select_one(".value").get_text()
    assert "2027年1月15日" in deadline.select_one("q.evidence").get_text()
    assert deadline.select_one(".fact-source a")["href"] == (
        "https://fields.canpan.info/grant/detail/kodomo-2026"
    )
    amount = facts["上限額"]
    assert amount.select_one(".value").get_text(strip=True) == "50万円"
    assert "上限50万円" in amount.select_one("q.evidence").get_text()
    assert facts["総額"].select_one(".value").get_text(strip=True) == "500万円"
    assert facts["地域"].select_one(".value").get_text(strip=True) == "千葉県"
    informal = facts["任意団体"]
    assert informal.select_one(".value").get_text(strip=True) == "可"
    assert "法人格の有無は問いません" in informal.select_one("q.evidence").get_text()
    assert facts["人数"].select_one(".value").get_text(strip=True) == "5人以上"
    assert "構成員5名以上" in facts["人数"].select_one("q.evidence").get_text()
    assert facts["活動年数"].select_one(".value").get_text(strip=True) == "1年以上"
    assert facts["対象経費: 人件費"].select_one(".value").get_text(strip=True) == "対象外"
    assert "人件費は対象外" in facts["対象経費: 人件費"].select_one("q.evidence").get_text()
    assert "あと48日" in page.select_one(".call-summary").get_text()


def test_call_page_listings_conflicts_history_and_rounds(site: TestClient, db_url: str) -> None:
    cid = call_id(db_url, KODOMO_TITLE, predicted=False)
    page = soup(site.get(f"/calls/{cid}"))
    sections = {s.h2.get_text(strip=True): s for s in page.select("main section") if s.h2}

    listings = sections["掲載されている場所"].select("ul.listings li")
    texts = [li.get_text(" ", strip=True) for li in listings]
    hrefs = {li.a["href"] for li in listings}
    assert hrefs == {
        "https://fields.canpan.info/grant/detail/kodomo-2026",
        "https://www.jfc.or.jp/news_subsidy/kodomo/",
    }
    assert all(li.a["rel"] == ["noopener", "noreferrer"] for li in listings)
    assert any("CANPAN 助成制度" in t for t in texts)
    assert any("助成財団センター" in t for t in texts)
    assert all("掲載中" in t for t in texts)

    conflicts = sections["掲載元によって内容が違います"]
    assert conflicts.h3.get_text(strip=True) == "締切"
    conflict_text = conflicts.get_text(" ", strip=True)
    assert "2027年1月15日（金）" in conflict_text and "2026年12月19日（土）" in conflict_text

    history = sections["変更の履歴"].select("table.history tbody tr")
    kinds = [row.select("td")[0].get_text(strip=True) for row in history]
    assert "締切延長" in kinds
    extended = history[kinds.index("締切延長")].get_text(" ", strip=True)
    assert "2026年12月18日（金） → 2027年1月15日（金）" in extended

    rounds = sections["この助成のほかの募集回"].select("ul.rounds li")
    assert len(rounds) == 1
    assert "2025年度" in rounds[0].a.get_text()
    assert rounds[0].a["href"] == f"/calls/{call_id(db_url, '2025年度 こども')}"
    assert "終了" in rounds[0].get_text()

    actions = {a.get_text(strip=True): a["href"] for a in page.select(".actions a")}
    assert actions["締切をカレンダーに追加"] == f"/calls/{cid}.ics"
    assert actions["印刷用に表示"] == f"/calls/{cid}?print=1"


def test_predicted_round_is_marked(site: TestClient, db_url: str) -> None:
    past = call_id(db_url, "市民活動ステップアップ", predicted=False)
    page = soup(site.get(f"/calls/{past}"))
    rounds = page.select("ul.rounds li")
    assert len(rounds) == 1
    assert rounds[0].select_one(".badge-predicted").get_text(strip=True) == "予測"
    assert "2027年1月30日" in rounds[0].get_text()
    predicted = call_id(db_url, "市民活動ステップアップ", predicted=True)
    page = soup(site.get(f"/calls/{predicted}"))
    assert "予測" in page.select_one(".notice").get_text()
    # In the results and the printed list too, a predicted round says so.
    page = soup(site.get("/", params={"status": "upcoming"}))
    articles = {a.h3.get_text(strip=True): a for a in page.select("ol.results article")}
    assert articles["2026年度 市民活動ステップアップ助成"].select_one(".badge-predicted")
    assert articles["鎌ケ谷市 市民活動推進補助金(令和9年度)"].select_one(".badge-predicted") is None
    page = soup(site.get("/print", params={"status": "upcoming"}))
    notes = [td.get_text(strip=True) for td in page.select("td.print-deadline .print-status")]
    assert sorted(notes) == ["募集予定", "募集予定（予測）"]


def test_call_print_view(site: TestClient, db_url: str) -> None:
    cid = call_id(db_url, "里山保全")
    page = soup(site.get(f"/calls/{cid}", params={"print": "1"}))
    assert "print-view" in page.body["class"]
    assert "印刷" in page.select_one(".print-note").get_text()
    facts = {r.th.get_text(strip=True): r.td for r in page.select("table.facts tbody tr")}
    assert facts["補助率"].select_one(".value").get_text(strip=True) == "2/3"
    assert facts["上限額"].select_one(".value").get_text(strip=True) == "300万円"
    assert facts["任意団体"].select_one(".value").get_text(strip=True) == "不可"


def test_unknown_call_is_a_japanese_404_page(site: TestClient) -> None:
    for path in ("/calls/999999", "/calls/99999999999999", "/no-such-page"):
        response = site.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        page = soup(response)
        assert page.html["lang"] == "ja"
        assert page.h1.get_text(strip=True) == "ページが見つかりません"
        assert "Not Found" not in page.get_text()
    page = soup(site.get("/calls/999999"))
    assert "999999" in page.select_one(".error-message").get_text()


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "param", "label"),
    [
        ("min_amount=たくさん", "min_amount", "上限額"),
        ("field=gardening", "field", "活動分野"),
        ("deadline_before=2026-13-45", "deadline_before", "締切（この日まで）"),
        ("status=soon", "status", "募集状況"),
        ("page=0", "page", "ページ"),
    ],
)
def test_invalid_parameters_give_a_japanese_422_page(
    site: TestClient, query: str, param: str, label: str
) -> None:
    response = site.get(f"/?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    page = soup(response)
    assert page.html["lang"] == "ja"
    assert page.h1.get_text(strip=True) == "検索条件を読み取れませんでした"
    message = page.select_one(".error-message").get_text()
    assert f"{label}（{param}）" in message
    assert f"{label}（{param}）" in page.select_one(".error-list").get_text()
    assert page.select_one("main a[href='/']") is not None


def test_invalid_print_parameters_give_a_422_page(site: TestClient) -> None:
    response = site.get("/print?sort=random")
    assert response.status_code == 422
    assert "並び順（sort）" in soup(response).select_one(".error-message").get_text()


# -- printable list ----------------------------------------------------------------------------


def test_print_page_has_the_rows_of_the_search(site: TestClient) -> None:
    response = site.get("/print", params={"status": "all", "sort": "deadline"})
    assert response.status_code == 200
    page = soup(response)
    assert_accessible_basics(page)
    assert page.find("link", href="/static/print.css") is not None
    assert "センターだより" in page.select_one(".print-header").get_text()
    assert "かまがや助成情報" in page.select_one(".print-header").get_text()
    assert "2026年11月28日（土）" in page.select_one(".print-header").get_text()
    rows = page.select("table.print-table tbody tr")
    assert len(rows) == 8  # every call of the search, not one screen page
    by_title = {r.select_one(".print-title").get_text(strip=True): r for r in rows}
    kodomo = by_title[KODOMO_TITLE]
    cells = [td.get_text(strip=True) for td in kodomo.select("td")]
    assert cells == [
        "2027年1月15日（金）",
        "50万円",
        "千葉県の団体・任意団体可・5人以上・活動1年以上",
    ]
    assert "公益財団法人 ひまわり子ども基金" in kodomo.th.get_text()
    closed = by_title["2025年度 こども居場所づくり応援助成"]
    assert closed.select_one(".print-status").get_text(strip=True) == "終了"
    satoyama = by_title["里山保全活動推進補助金"]
    assert "全国の団体" in satoyama.select("td")[2].get_text()
    assert "NPO法人" in satoyama.select("td")[2].get_text()
    assert page.select("form") == []


def test_print_page_keeps_filters(site: TestClient) -> None:
    page = soup(site.get("/print", params={"area": "municipality", "status": "upcoming"}))
    titles = [t.get_text(strip=True) for t in page.select(".print-title")]
    assert titles == ["鎌ケ谷市 市民活動推進補助金(令和9年度)"]  # NFKC-normalized title
    assert (
        "鎌ケ谷市の団体・任意団体可" in page.select_one("table.print-table td:nth-of-type(3)").text
    )
    back = page.select_one(".screen-only a")["href"]
    assert query_of(back) == {"area": ["municipality"], "status": ["upcoming"]}


# -- untrusted text ----------------------------------------------------------------------------


def assert_inert(page: BeautifulSoup) -> None:
    assert page.find("script") is None
    assert page.find("img") is None
    assert page.find("b") is None
    for tag in page.find_all(True):
        for attr, value in tag.attrs.items():
            assert not attr.lower().startswith("on"), tag
            values = value if isinstance(value, list) else [value]
            assert not any("javascript:" in v.lower() for v in values), tag


def test_hostile_call_renders_inert(site: TestClient, db_url: str) -> None:
    cid = call_id(db_url, "緊急支援助成")
    search = site.get("/", params={"q": "緊急支援"})
    page = soup(search)
    assert_inert(page)
    # The markup is shown as text, not run.
    assert result_titles(page) == [HOSTILE_TITLE]
    assert "<script>" not in search.text and "&lt;script&gt;" in search.text

    response = site.get(f"/calls/{cid}")
    assert response.status_code == 200
    page = soup(response)
    assert_inert(page)
    assert page.h1.get_text() == HOSTILE_TITLE
    # Its javascript: URL is shown as text, never as a link.
    source = page.select_one(".call-summary .unlinked")
    assert "javascript:alert(5)" in source.get_text()
    assert all(a["href"].startswith(("/", "#", "https://")) for a in page.find_all("a"))

    for path in (f"/calls/{cid}?print=1", "/print?q=緊急支援"):
        assert_inert(soup(site.get(path)))


# -- helpers -----------------------------------------------------------------------------------


def test_safe_url_accepts_only_http() -> None:
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert safe_url("HTTP://example.org/") == "HTTP://example.org/"
    for bad in (
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\nscript:alert(1)",
        "jav\tascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//example.org/",
        "/relative",
        "http:no-host",
        "",
        None,
    ):
        assert safe_url(bad) is None, bad


def test_yen_in_japanese_units() -> None:
    assert yen(500_000) == "50万円"
    assert yen(3_000_000) == "300万円"
    assert yen(15_000_000) == "1,500万円"
    assert yen(100_000_000) == "1億円"
    assert yen(150_000_000) == "1億5,000万円"
    assert yen(1_234_567) == "123万4,567円"
    assert yen(8_000) == "8,000円"
    assert yen(None) is None


def test_days_left_and_who_may_apply() -> None:
    assert days_left_text("2026-12-01", TODAY) == "あと3日"
    assert days_left_text("2026-11-28", TODAY) == "本日締切"
    assert days_left_text("2026-11-27", TODAY) is None
    assert days_left_text(None, TODAY) is None
    assert (
        who_may_apply("municipality:鎌ケ谷市", True, [], None, None) == "鎌ケ谷市の団体・任意団体可"
    )
    assert (
        who_may_apply("national", False, ["NPO法人", "一般社団法人"], None, 2)
        == "全国の団体・NPO法人、一般社団法人・活動2年以上"
    )
    assert who_may_apply(None, False, [], None, None) == "全国の団体・法人格が必要"
