"""Hostile crawled content, through a real crawl, renders inert everywhere it comes out.

A CANPAN-shaped detail page and a JFC-shaped RSS feed (our own wording), served by kyodo's
mirror server, carry: markup as text (`<script>`, `<img onerror>`, `onclick=`) and as live
elements, `javascript:` / `data:` / `vbscript:` URLs (as the feed items' links, so as the calls'
links), a 200,000-character title and text, C0 and C1 control characters, NUL, an encoded lone
surrogate and other invalid UTF-8 bytes, right-to-left overrides, and titles / organizers
starting with `=HYPERLINK(...)`, `+`, `-`, `@`, a tab or a CR before `=`. `kyodo crawl` (a real
subprocess) stores them in a SQLite file; every output is then read back as its consumer reads
it: pages and the staff pages with BeautifulSoup, the JSON API as JSON, the Atom feed with an
XML parser, `.ics` with `icalendar`, CSV with `csv`, XLSX with openpyxl, and a group's weekly
digest as sent by `kyodo digest send` to a real SMTP server (aiosmtpd).

The per-output checks of a hostile call ingested directly are in tests/api (test_pages,
test_feeds_exports, test_api) and tests/browser/test_hostile.py (scripts in real Chromium);
this file is the whole path from a crawled page.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import os
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from icalendar import Calendar
from openpyxl import load_workbook
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from aggregator.accounts import Role, create_user
from aggregator.groups import GroupProfile, create_group
from aggregator.settings import Settings
from aggregator.storage.db import make_engine
from aggregator.storage.models import CallRow, ListingRow
from api.app import create_app
from digest.build import IsoWeek
from spiders.mirror import Mirror, MirrorServer, Route, Site
from tests.cli import kyodo

TODAY = date(2026, 11, 28)
WEEK = IsoWeek.of(TODAY)
SITE_URL = "https://kyodo.example.jp"
STAFF_EMAIL = "staff@kyodo.example.jp"
PASSWORD = "correct-horse-42"
GROUP_EMAIL = "kodomo@example.jp"

CANPAN = "fields.canpan.info"
JFC = "www.jfc.or.jp"

# What the pages say, as the spiders read it (HTML escapes undone).
SCRIPT = "<script>alert('t')</script>"
IMG = "<img src=x onerror=alert(1)>"
TITLE_START = f"{SCRIPT}緊急こども支援助成{IMG}"
HUGE = 200_000
ORGANIZER = '=HYPERLINK("https://evil.example/","請求書")'
JS_URL = "javascript:alert(document.cookie)"
DATA_URL = "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="

# Characters that must not reach any output: C0 but tab and line breaks, DEL, C1, bidi
# overrides / embeddings / isolates / marks, surrogates, U+FFFE / U+FFFF.
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SCHEMES = re.compile(r"^\s*(javascript|data|vbscript):", re.IGNORECASE)


# -- the hostile sites ----------------------------------------------------------------------------


def _canpan_list() -> bytes:
    """A CANPAN list page (fields.canpan.info/grant/) of one row."""
    return """<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>助成制度一覧</title>
</head><body><div id="search-results"><div class="box upper"><dl><dt><span>表示件数</span></dt>
<dd><p class="count">1/1件（1〜1件目）</p><ul class="paging"><li class="current">1</li>
<li>次へ ＞</li></ul></dd></dl></div>
<table><tbody><tr><th><div class="cell-wrapper first">概要</div></th>
<th><div class="cell-wrapper last">募集ステータス・募集時期</div></th></tr>
<tr><td><div class="cell-wrapper first"><dl>
<dt><span>助成制度名</span></dt><dd><h3><a href="/grant/detail/901">緊急こども支援助成</a></h3></dd>
<dt><span>実施団体</span></dt><dd><p><a href="/organization/detail/77">ひなた子ども基金</a></p></dd>
<dt><span>対象事業</span></dt><dd><p>事業プロジェクト</p></dd></dl></div></td>
<td><div class="cell-wrapper"><p class="status">募集中</p>
<p class="term">2026年11月1日～2026年12月20日</p>
<p class="update">2026年11月1日 10:00更新</p></div></td></tr>
</tbody></table></div></body></html>""".encode()


def _canpan_detail() -> bytes:
    """The detail page of the row: every kind of hostile content at once."""
    title = (
        "&lt;script&gt;alert('t')&lt;/script&gt;緊急こども支援助成"
        "&lt;img src=x onerror=alert(1)&gt;\u202e&#x1;\u0085\u009b&#0;\x07" + "長" * HUGE
    )
    organizer = (
        '<a href="javascript:alert(2)" onclick="alert(3)">'
        "=HYPERLINK(&quot;https://evil.example/&quot;,&quot;請求書&quot;)</a>"
    )
    body = (
        "<script>alert(4)</script><img src=x onerror=alert(5)>"
        '<a href="#" onclick="alert(6)">全国</a>の子ども食堂を運営する団体を応援します。<br>'
        "詳しくは&lt;a href=&quot;javascript:alert(7)&quot;&gt;こちら&lt;/a&gt;<br>"
        + "続" * HUGE
        + "<br>\u202eRTL\u202c \u2066isolate\u2069 &#xD800; \u0085\u009b @@BYTES@@ 終わり"
    )
    pairs = [
        ("助成制度名", title),
        ("実施団体", organizer),
        ("募集ステータス", "募集中"),
        ("募集時期", "2026年11月1日～2026年12月20日"),
        ("対象分野", "子どもの健全育成"),
        ("内容／対象", body),
        ("助成金額", "1件あたりの上限額：200,000円"),
        (
            "関連URL",
            f'<a href="{JS_URL}">{JS_URL}</a> <a href="{DATA_URL}">資料</a> '
            "data:text/html,&lt;script&gt;alert(9)&lt;/script&gt;",
        ),
    ]
    rows = "".join(
        f'<tr><td class="h"><h3>{label}</h3></td><td><div class="cell-wrapper">{value}'
        "</div></td></tr>"
        for label, value in pairs
    )
    page = f"""<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8">
<title>助成制度詳細</title></head><body><div id="page-title"><h1>助成制度詳細</h1>
<p class="update">最終更新日時：2026年11月1日 10:00</p></div>
<div id="detail"><table><tbody>{rows}</tbody></table></div></body></html>"""
    # NUL, an encoded lone surrogate (U+D800), a stray byte and a cut-off sequence: not UTF-8.
    return page.encode().replace(b"@@BYTES@@", b"\x00\xed\xa0\x80\xff\xe3\x81")


# JFC feed items: (post id, title as XML text, link as XML text, deadline, amount in 千円).
JFC_ITEMS = [
    (70001, "=HYPERLINK(&quot;https://evil.example/&quot;,&quot;請求書&quot;) 子ども食堂応援助成",
     JS_URL, "2027/01/15", 500),
    (70002, "+1+2 高齢者見守り活動助成", DATA_URL, "2027/01/22", 600),
    (70003, "-2+3 里山保全活動助成", "  JaVaScRiPt:alert(3)", "2027/01/29", 700),
    (70004, "@SUM(1+1) 防災訓練活動助成", "java&#x09;script:alert(4)", "2027/02/05", 800),
    (70005, "&#x09;=1+1 多文化共生活動助成", "vbscript:msgbox(5)", "2027/02/12", 900),
    (70006, "&#x0D;=1+1 学習支援活動助成", "https://gakushu.example.jp/2027", "2027/02/19", 1000),
]  # fmt: skip


def _jfc_feed() -> bytes:
    items = []
    for post, title, link, deadline, amount in JFC_ITEMS:
        content = (
            "<p>市民活動団体への助成を募集しています。<script>alert(10)</script></p>"
            f"<p>応募期間（締切）　2026/11/16～{deadline}<br />"
            f"助成金額　{amount}千円/1件</p>"
            '<p><a href="javascript:alert(11)" onmouseover="alert(12)">詳細</a>'
            f'<a href="{DATA_URL}">資料</a></p>'
        )
        items.append(
            f"""<item><title>{title}</title><link>{link}</link>
<pubDate>Thu, 26 Nov 2026 01:00:00 +0000</pubDate>
<guid isPermaLink="false">https://www.jfc.or.jp/?post_type=news_subsidy&amp;p={post}</guid>
<description><![CDATA[市民活動団体への助成を募集しています。]]></description>
<content:encoded><![CDATA[{content}]]></content:encoded></item>"""
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>助成金募集ニュース</title><link>https://www.jfc.or.jp</link>
<description>助成財団の助成金募集情報（テスト）</description>
{"".join(items)}</channel></rss>""".encode()


def hostile_mirror() -> Mirror:
    canpan = Site(
        routes=[
            Route("/grant/", body=_canpan_list()),
            Route("/grant/detail/901", body=_canpan_detail()),
        ]
    )
    rss = "application/rss+xml; charset=utf-8"
    jfc = Site(routes=[Route("/news_subsidy/feed/", body=_jfc_feed(), content_type=rss)])
    return Mirror({CANPAN: canpan, JFC: jfc})


# -- the crawl, the site and the mail server -----------------------------------------------------


class _Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.content)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Crawled:
    env: dict[str, str]
    folder: Path
    database_url: str
    crawl_log: str
    ids: dict[str, int]  # listing id (canpan/901, jfc/70001 …) -> call id
    titles: dict[int, str]  # call id -> stored title
    inbox: _Inbox

    @property
    def hostile(self) -> int:
        return self.ids["canpan/901"]


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    folder = tmp_path_factory.mktemp("hostile")
    database_url = f"sqlite:///{folder / 'kyodo.db'}"
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    env = {
        **os.environ,
        "KYODO_DATABASE_URL": database_url,
        "KYODO_SITE_URL": SITE_URL,
        "KYODO_SMTP_HOST": "127.0.0.1",
        "KYODO_SMTP_PORT": str(port),
        "KYODO_MAIL_FROM": "info@kyodo.example.jp",
        "KYODO_CRAWL_DELAY": "0",
        "KYODO_RETRY_BACKOFF": "0",
        "KYODO_CRAWL_TIMEOUT": "10",
    }
    try:
        assert kyodo("db", "upgrade", env=env, cwd=folder).returncode == 0
        with MirrorServer(hostile_mirror()) as server:
            proc = kyodo(
                "crawl", "canpan", "jfc", "--base-url", server.url, "--today", TODAY.isoformat(),
                env=env, cwd=folder,
            )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        engine = make_engine(database_url)
        try:
            with Session(engine) as session:
                ids = dict(session.execute(select(ListingRow.source_key, ListingRow.call_id)).all())
                titles = dict(session.execute(select(CallRow.id, CallRow.title)).all())
                group = create_group(
                    session,
                    GroupProfile(
                        name="ひなた子ども食堂の会",
                        fields=["children_youth"],
                        prefecture="千葉県",
                        municipality="鎌ケ谷市",
                        legal_form="任意団体",
                        members=12,
                        founded_year=2019,
                        needs=["funds"],
                        recipients=[GROUP_EMAIL],
                    ),
                    registered_by_staff=True,
                )
                create_user(session, STAFF_EMAIL, PASSWORD, Role.STAFF, confirmed=True)
                session.commit()
                assert group.id
        finally:
            engine.dispose()
        yield Crawled(env, folder, database_url, proc.stderr, ids, titles, inbox)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def client(crawled: Crawled) -> Iterator[TestClient]:
    settings = Settings(database_url=crawled.database_url, site_url=SITE_URL)
    with TestClient(create_app(settings, today=TODAY), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def staff(crawled: Crawled) -> Iterator[TestClient]:
    settings = Settings(database_url=crawled.database_url, site_url=SITE_URL)
    app = create_app(settings, today=TODAY)
    # The site is https: its session cookie is Secure.
    with TestClient(app, base_url=SITE_URL, follow_redirects=False) as test_client:
        login = test_client.get("/login").text
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', login).group(1)
        signed_in = test_client.post(
            "/login", data={"email": STAFF_EMAIL, "password": PASSWORD, "csrf_token": token}
        )
        assert signed_in.status_code == 303, signed_in.text
        yield test_client


# -- checks shared by the outputs ----------------------------------------------------------------

# Elements the site never renders (it ships no script at all): any of them came from a page.
FOREIGN_ELEMENTS = ("script", "img", "iframe", "object", "embed", "svg", "math", "base", "frame")
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "srcset", "poster", "xlink:href")


def assert_inert_html(html: str) -> BeautifulSoup:
    """No element or attribute of the page came from crawled markup; no forbidden character."""
    page = BeautifulSoup(html, "html.parser")
    assert not page.find_all(FOREIGN_ELEMENTS), page.find_all(FOREIGN_ELEMENTS)[:3]
    for tag in page.find_all(True):
        for name, value in tag.attrs.items():
            assert not name.lower().startswith("on"), (tag.name, name, value)
            value = " ".join(value) if isinstance(value, list) else value
            if name in URL_ATTRIBUTES:
                assert not SCHEMES.match(re.sub(r"[\x00-\x20]", "", value)), (tag.name, value)
            if name != "value":  # a form field shows the title as typed: that is text
                assert "alert(" not in value, (tag.name, name, value)
        if tag.name == "meta":
            assert tag.get("http-equiv", "").lower() != "refresh"
    assert not FORBIDDEN.search(html), repr(FORBIDDEN.search(html))
    return page


def assert_clean_text(value: Any, where: str) -> None:
    """No forbidden character in any string of a decoded JSON value."""
    if isinstance(value, str):
        assert not FORBIDDEN.search(value), (where, repr(FORBIDDEN.search(value)))
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_clean_text(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_clean_text(item, f"{where}[{index}]")


# -- the crawl -----------------------------------------------------------------------------------


def test_the_crawl_stored_every_hostile_call_bounded_and_cleaned(crawled: Crawled) -> None:
    assert "収集完了" in crawled.crawl_log
    expected = {"canpan/901"} | {f"jfc/{post}" for post, *_ in JFC_ITEMS}
    assert set(crawled.ids) == expected
    assert len(set(crawled.ids.values())) == len(expected)  # none merged into another
    title = crawled.titles[crawled.hostile]
    # Controls removed; `&#0;` is read as U+FFFD by the HTML parser (visible, harmless).
    assert title.startswith(TITLE_START + "\ufffd長") and title.endswith("長…")
    assert len(title) == 200  # the 200,000 characters were cut, not the markup
    for stored in crawled.titles.values():
        assert not FORBIDDEN.search(stored), repr(stored[:80])
    engine = make_engine(crawled.database_url)
    try:
        with engine.connect() as conn:
            raw, organizer, link = conn.execute(
                text(
                    "select l.raw, c.organizer, c.source_url from listings l "
                    "join calls c on c.id = l.call_id where l.source_key = 'canpan/901'"
                )
            ).one()
            links = dict(
                conn.execute(
                    text("select l.source_key, c.source_url from listings l join calls c "
                         "on c.id = l.call_id where l.source = 'jfc'")
                ).all()
            )  # fmt: skip
    finally:
        engine.dispose()
    raw = json.loads(raw) if isinstance(raw, str) else raw
    assert len(raw["title"]) > HUGE and raw["text"].count("続") == HUGE  # crawled whole
    assert organizer == ORGANIZER
    assert link == f"https://{CANPAN}/grant/detail/901"
    assert links["jfc/70001"] == JS_URL and links["jfc/70002"] == DATA_URL  # the calls' links


# -- HTML pages ----------------------------------------------------------------------------------


def test_search_pages_show_the_markup_as_text(client: TestClient, crawled: Crawled) -> None:
    for params in ({"q": "緊急こども"}, {"q": "活動助成"}, {}, {"sort": "new"}):
        response = client.get("/", params=params)
        assert response.status_code == 200
        page = assert_inert_html(response.text)
        assert len(response.content) < 120_000, len(response.content)
    found = client.get("/", params={"q": "緊急こども"})
    page = assert_inert_html(found.text)
    assert TITLE_START in page.get_text() and "&lt;script&gt;" in found.text
    print_page = client.get("/print", params={"q": "助成"})
    assert print_page.status_code == 200
    assert_inert_html(print_page.text)


@pytest.mark.parametrize("key", ["canpan/901", "jfc/70001", "jfc/70002", "jfc/70003", "jfc/70004"])
def test_call_pages_are_inert_and_bounded(client: TestClient, crawled: Crawled, key: str) -> None:
    call_id = crawled.ids[key]
    for path in (f"/calls/{call_id}", f"/calls/{call_id}?print=1"):
        response = client.get(path)
        assert response.status_code == 200
        page = assert_inert_html(response.text)
        # A call page of a 200,000-character title and text stays the size of any call page.
        assert len(response.content) < 40_000, (path, len(response.content))
        assert page.h1.get_text() == crawled.titles[call_id]
        hrefs = [a["href"] for a in page.find_all("a", href=True)]
        assert all(h.startswith(("/", "#", "https://")) for h in hrefs), hrefs


def test_the_calls_own_javascript_link_is_shown_as_text(client: TestClient, crawled: Crawled):
    page = assert_inert_html(client.get(f"/calls/{crawled.ids['jfc/70001']}").text)
    assert JS_URL in page.get_text()  # visible, so staff can see what the source said
    assert not page.find_all(href=re.compile("script:|^data:", re.IGNORECASE))


def test_staff_pages_are_inert(staff: TestClient, crawled: Crawled) -> None:
    call_id = crawled.hostile
    engine = make_engine(crawled.database_url)
    try:
        with engine.connect() as conn:
            group_id = conn.execute(text("select id from groups")).scalar_one()
    finally:
        engine.dispose()
    paths = [
        "/staff",
        "/staff/calls",
        "/staff/calls?q=緊急こども",
        f"/staff/calls/{call_id}/edit",
        f"/staff/calls/{call_id}/merge",
        f"/staff/calls/{crawled.ids['jfc/70001']}/merge",
        "/staff/sources/canpan",
        "/staff/sources/jfc",
        f"/staff/groups/{group_id}",
        f"/staff/groups/{group_id}/digest?week={WEEK}",
        f"/staff/groups/{group_id}/digest.html?week={WEEK}",
    ]
    for path in paths:
        response = staff.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert_inert_html(response.text)
        assert len(response.content) < 150_000, (path, len(response.content))
    edit = BeautifulSoup(staff.get(f"/staff/calls/{call_id}/edit").text, "html.parser")
    # The title as a form value: an attribute, escaped, read back exactly.
    assert edit.find("input", attrs={"name": "title"})["value"] == crawled.titles[call_id]
    listed = staff.get("/staff/calls", params={"q": "緊急こども"}).text
    assert TITLE_START in BeautifulSoup(listed, "html.parser").get_text()


# -- JSON API ------------------------------------------------------------------------------------


def test_the_json_api_returns_the_text_as_data(client: TestClient, crawled: Crawled) -> None:
    listing = client.get("/api/v1/calls", params={"q": "助成", "per_page": 100})
    assert listing.status_code == 200 and listing.headers["content-type"] == "application/json"
    data = json.loads(listing.text)  # strict: no raw control characters in strings
    assert_clean_text(data, "list")
    titles = {item["id"]: item["title"] for item in data["items"]}
    assert titles[crawled.hostile] == crawled.titles[crawled.hostile]
    assert len(listing.content) < 100_000
    for key, call_id in crawled.ids.items():
        detail = client.get(f"/api/v1/calls/{call_id}")
        assert detail.status_code == 200, key
        call = json.loads(detail.text)
        assert_clean_text(call, key)
        assert call["title"] == crawled.titles[call_id]
        assert len(detail.content) < 40_000, (key, len(detail.content))
    hostile = client.get(f"/api/v1/calls/{crawled.hostile}").json()
    assert hostile["organizer"] == ORGANIZER and hostile["title"].startswith(TITLE_START)


# -- Atom feed -----------------------------------------------------------------------------------

A = "{http://www.w3.org/2005/Atom}"


@pytest.mark.parametrize("params", [{}, {"q": "助成"}, {"sort": "new", "per_page": "5"}])
def test_the_atom_feed_is_well_formed_and_plain(client: TestClient, crawled: Crawled, params):
    response = client.get("/feeds/calls.atom", params=params)
    assert response.status_code == 200
    assert not FORBIDDEN.search(response.text)
    assert "<script" not in response.text  # markup arrives as &lt;script&gt;, text
    feed = ET.fromstring(response.content)  # a strict XML parser: refuses what XML forbids
    entries = feed.findall(f"{A}entry")
    assert entries
    for entry in entries:
        call_id = int(entry.findtext(f"{A}id").rsplit("/", 1)[1])
        assert entry.findtext(f"{A}title") == crawled.titles[call_id]
        for link in entry.findall(f"{A}link"):
            assert link.get("href").startswith("https://"), link.attrib
        assert entry.find(f"{A}title").get("type") == "text"
        assert entry.find(f"{A}summary").get("type") == "text"
    if not params:
        by_id = {int(e.findtext(f"{A}id").rsplit("/", 1)[1]): e for e in entries}
        hostile = by_id[crawled.hostile]
        assert hostile.findtext(f"{A}author/{A}name") == ORGANIZER
        assert by_id[crawled.ids["jfc/70001"]].find(f"{A}link[@rel='related']") is None


# -- iCalendar -----------------------------------------------------------------------------------

EVENT_PROPERTIES = {
    "UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "URL", "DESCRIPTION", "TRANSP", "CATEGORIES",
}  # fmt: skip


def _assert_folded(body: bytes) -> list[str]:
    """Every line ends in CRLF and is at most 75 octets (RFC 5545 §3.1); the unfolded lines."""
    assert b"\n" not in body.replace(b"\r\n", b""), "a bare line break"
    assert b"\r" not in body.replace(b"\r\n", b""), "a bare carriage return"
    physical = body.split(b"\r\n")
    assert all(len(line) <= 75 for line in physical), max(physical, key=len)[:80]
    return body.decode().replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")


def test_ics_of_each_call_is_folded_and_injects_nothing(client: TestClient, crawled: Crawled):
    for key, call_id in crawled.ids.items():
        response = client.get(f"/calls/{call_id}.ics")
        assert response.status_code == 200, key
        assert not FORBIDDEN.search(response.text)
        lines = _assert_folded(response.content)
        names = {re.split(r"[:;]", line, maxsplit=1)[0] for line in lines if line}
        assert names <= EVENT_PROPERTIES | {
            "BEGIN", "END", "VERSION", "PRODID", "CALSCALE", "METHOD", "X-WR-CALNAME",
            "X-WR-TIMEZONE", "REFRESH-INTERVAL", "X-PUBLISHED-TTL",
        }, names  # fmt: skip
        (event,) = Calendar.from_ical(response.content).walk("VEVENT")
        assert set(event) <= EVENT_PROPERTIES
        assert str(event["SUMMARY"]) == f"締切: {crawled.titles[call_id]}"
        description = str(event["DESCRIPTION"])
        assert not SCHEMES.search(description) and "script:" not in description.lower()
        assert str(event["URL"]) == f"{SITE_URL}/calls/{call_id}"


def test_the_ics_feed_parses_with_every_call(client: TestClient, crawled: Crawled) -> None:
    response = client.get("/feeds/calls.ics")
    _assert_folded(response.content)
    events = Calendar.from_ical(response.content).walk("VEVENT")
    uids = {str(e["UID"]) for e in events}
    assert {f"call-{call_id}@kyodo" for call_id in crawled.ids.values()} <= uids
    assert len(response.content) < 100_000


# -- CSV and XLSX --------------------------------------------------------------------------------


def test_csv_cells_never_start_a_formula(client: TestClient, crawled: Crawled) -> None:
    response = client.get("/exports/calls.csv", params={"status": "all"})
    assert response.status_code == 200
    body = response.content.decode("utf-8-sig")
    assert not FORBIDDEN.search(body)
    rows = list(csv.reader(io.StringIO(body, newline="")))
    header, data = rows[0], rows[1:]
    assert {int(row[header.index("ID")]) for row in data} >= set(crawled.ids.values())
    for row in data:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), cell[:60]
    by_id = {int(row[header.index("ID")]): dict(zip(header, row, strict=True)) for row in data}
    assert by_id[crawled.hostile]["実施団体"] == "'" + ORGANIZER
    for post, *_ in JFC_ITEMS[:4]:  # titles starting = + - @ keep their text after a '
        call_id = crawled.ids[f"jfc/{post}"]
        assert by_id[call_id]["名称"] == "'" + crawled.titles[call_id]
    for post, *_ in JFC_ITEMS[:5]:  # javascript:, data:, vbscript: links are left out
        assert by_id[crawled.ids[f"jfc/{post}"]]["URL"] == ""
    assert by_id[crawled.ids["jfc/70006"]]["URL"] == "https://gakushu.example.jp/2027"


def test_xlsx_cells_are_strings_never_formulas(client: TestClient, crawled: Crawled) -> None:
    response = client.get("/exports/calls.xlsx", params={"status": "all"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    seen = set()
    for row in sheet.iter_rows(min_row=2):
        seen.add(row[header.index("ID")].value)
        for cell in row:
            assert cell.data_type != "f", cell.value
            if isinstance(cell.value, str):
                assert not cell.value.startswith(FORMULA_STARTS), cell.value[:60]
                assert not FORBIDDEN.search(cell.value)
    assert seen >= set(crawled.ids.values())


# -- the weekly digest mail ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digest_mail(crawled: Crawled) -> tuple[bytes, EmailMessage]:
    """The group's digest for the week, sent by `kyodo digest send` to the SMTP server."""
    proc = kyodo(
        "digest", "send", "--week", str(WEEK), "--today", TODAY.isoformat(),
        env=crawled.env, cwd=crawled.folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (raw,) = crawled.inbox.raw
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def test_digest_headers_cannot_be_injected(digest_mail) -> None:
    raw, message = digest_mail
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # non-ASCII header text is RFC 2047-encoded
    names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line[:1] != b" "]
    assert names.count(b"subject") == 1 and b"bcc" not in names and b"cc" not in names
    assert message["To"] == GROUP_EMAIL
    assert "\n" not in str(message["Subject"]) and "<" not in str(message["Subject"])


def test_digest_html_part_is_escaped(digest_mail, crawled: Crawled) -> None:
    _, message = digest_mail
    html = message.get_body(("html",)).get_content()
    page = assert_inert_html(html)
    listed = page.get_text()
    assert TITLE_START in listed and "&lt;script&gt;" in html
    # The call whose own link is javascript: is listed, with a link to our page only.
    assert crawled.titles[crawled.ids["jfc/70001"]] in listed
    assert len(html.encode()) < 100_000


def test_digest_text_part_is_plain(digest_mail, crawled: Crawled) -> None:
    _, message = digest_mail
    part = message.get_body(("plain",))
    assert part.get_content_type() == "text/plain"
    body = part.get_content()
    assert TITLE_START in body  # plain text: the characters themselves, not entities
    assert "&lt;" not in body and "&#" not in body
    assert not FORBIDDEN.search(body)
    assert f"{SITE_URL}/calls/{crawled.hostile}" in body
    assert "javascript:" not in body.lower() and "data:text" not in body
    assert len(body.encode()) < 60_000


def test_a_control_character_cannot_uncover_a_formula_in_xlsx(tmp_path: Path) -> None:
    """A title stored with a control character before `=` (a staff edit is not normalized):
    the XLSX writer drops the character, and the formula start it uncovers gets its `'`."""
    from aggregator.ingest import Ingestor
    from aggregator.storage.db import upgrade_database

    url = f"sqlite:///{tmp_path / 'kyodo.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    try:
        listing = {
            "id": "edited", "source": "canpan", "title": "子ども食堂応援助成",
            "text": "締切: 2026年12月20日\n助成金額: 上限20万円", "status": "募集中",
            "url": "https://grants.example.jp/edited", "organizer": "ひなた子ども基金",
        }  # fmt: skip
        Ingestor(engine, today=TODAY).ingest([listing])
        with engine.begin() as conn:
            values = {"t": "\x01=1+1 子ども食堂応援助成", "o": "\x02\x03@SUM(1+1)"}
            conn.execute(text("update calls set title = :t, organizer = :o"), values)
    finally:
        engine.dispose()
    settings = Settings(database_url=url, site_url=SITE_URL)
    with TestClient(create_app(settings, today=TODAY)) as test_client:
        response = test_client.get("/exports/calls.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    row = {name: cell for name, cell in zip(header, sheet[2], strict=True)}
    assert row["名称"].value == "'=1+1 子ども食堂応援助成" and row["名称"].data_type == "s"
    assert row["実施団体"].value == "'@SUM(1+1)"
