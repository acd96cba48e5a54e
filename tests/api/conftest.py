"""A populated database for the API, feed, export and page tests, on SQLite and PostgreSQL.

About thirty calls of our own wording, ingested through the real `Ingestor`, covering every
search filter: fields, areas (全国 / 千葉県 / 鎌ケ谷市 / another prefecture), statuses (open,
upcoming, closed, and a passed deadline stored as open), amounts, informal groups, costs
(人件費 / 謝金 / 家賃), source kinds (国 jgrants/wam, 県 chiba_npo, 市 chiba_shakyo, 財団
canpan/jfc), a call listed by two sources, a call whose deadline a second crawl extends
(締切延長), keyword targets of 1, 2 and 3+ characters (kana and full-width variants), and a
hostile call carrying <script>, <img onerror>, a javascript: link and a cell starting with `=`.

The database is built once per backend and session: tests must only read it (the app's daily
status refresh is idempotent for the fixed day).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aggregator.ingest import Ingestor
from aggregator.settings import Settings
from aggregator.storage.db import make_engine, upgrade_database
from aggregator.storage.models import CallRow, ListingRow
from api.app import create_app

TODAY = date(2026, 11, 28)
SITE_URL = "https://kyodo.example.jp"

HOSTILE_TITLE = "<script>alert(1)</script>緊急こども支援<img src=x onerror=alert(1)>"
HOSTILE_ORGANIZER = '=HYPERLINK("https://evil.example/","請求書")'
HOSTILE_TEXT = (
    "締切: 2026年12月20日\n"
    "助成金額: 上限20万円\n"
    '詳しくは<a href="javascript:alert(1)">こちら</a><script>alert(1)</script>\n'
    "対象: 全国の<img src=x onerror=alert(1)>団体"
)


def _listing(
    key: str,
    source: str,
    title: str,
    text: str,
    *,
    organizer: str = "公益財団法人 みらい市民基金",
    status: str = "募集中",
    published: str = "2026-11-01",
    url: str | None = None,
) -> dict:
    return {
        "id": key,
        "source": source,
        "title": title,
        "text": text,
        "url": url or f"https://grants.example.jp/{source}/{key}",
        "published": published,
        "organizer": organizer,
        "status": status,
    }


# key -> listing. Keys are the listings' ids; `call_ids` maps them to the stored call ids.
FIRST_BATCH = [
    _listing(
        "kodomo",
        "canpan",
        "こども食堂ネットワーク助成",
        "締切: 2026年12月15日\n助成金額: 上限30万円\n"
        "対象: 全国で子ども食堂を運営する団体（任意団体可）\n対象経費: 食材費、講師謝金",
        organizer="公益財団法人 ひだまりこども財団",
    ),
    _listing(
        "fukushi",
        "wam",
        "地域福祉ボランティア育成助成",
        "締切: 2027年1月20日\n助成金額: 上限200万円\n"
        "対象: 全国の高齢者福祉に取り組むNPO法人に限る\n対象経費: 人件費も対象とします",
        organizer="独立行政法人 福祉医療機構",
    ),
    _listing(
        "kodomo-kata",
        "jfc",
        "コドモ未来応援プログラム",
        "締切: 2027年1月10日\n助成金額: 上限50万円\n対象: 全国の子どもの学習支援を行う団体",
        organizer="一般財団法人 あさひ教育基金",
    ),
    _listing(
        "npo",
        "chiba_npo",
        "ＮＰＯ基盤強化補助金",
        "締切: 2026年12月25日\n補助金額: 上限100万円\n"
        "対象: 千葉県内に事務所のあるNPO法人\n対象経費: 事務所の家賃も対象です",
        organizer="千葉県",
    ),
    _listing(
        "kamagaya",
        "chiba_shakyo",
        "鎌ケ谷市 市民活動応援補助金",
        "締切: 2026年12月5日\n補助金額: 上限10万円\n"
        "対象: 鎌ケ谷市内で活動する市民活動団体（任意団体を含む）",
        organizer="鎌ケ谷市",
    ),
    _listing(
        "kyoto",
        "canpan",
        "京都府 伝統文化芸術活動助成",
        "締切: 2027年2月10日\n助成金額: 上限80万円\n対象: 京都府内で文化芸術活動を行う団体",
        organizer="公益財団法人 みやこ文化振興会",
    ),
    _listing(
        "satoyama",
        "jgrants",
        "里山環境保全推進事業補助金",
        "公募期間: 2026年11月10日～2027年1月29日\n補助上限額: 300万円\n"
        "対象: 全国の環境保全団体\n対象経費: 人件費、謝金、家賃",
        organizer="環境省",
    ),
    _listing(
        "bosai",
        "jgrants",
        "防災訓練支援補助金",
        "締切: 2026年10月1日\n補助上限額: 40万円\n対象: 全国の自主防災組織",
        organizer="内閣府",
        status="募集終了",
        published="2026-08-01",
    ),
    _listing(
        "passed",
        "canpan",
        "国際交流ボランティア助成",
        "締切: 2026年11月20日\n助成金額: 上限60万円\n対象: 全国の国際協力団体",
        organizer="公益財団法人 かけはし国際財団",
    ),
    _listing(
        "upcoming",
        "chiba_npo",
        "多文化共生地域づくり助成",
        "受付期間: 2027年1月11日～2027年2月26日\n助成金額: 上限25万円\n"
        "対象: 千葉県内の市民活動団体",
        organizer="千葉県",
        status="募集予定",
    ),
    _listing(
        "yomikikase",
        "jfc",
        "読み聞かせ活動助成",
        "締切: 2026年12月10日\n助成金額: 上限15万円\n対象: 全国の読書推進団体",
        organizer="一般財団法人 ほんの森文庫",
    ),
    _listing(
        "tsuru",
        "canpan",
        "鶴の里 自然学習助成",
        "締切: 2027年3月15日\n助成金額: 上限35万円\n対象: 全国の自然体験学習を行う団体",
        organizer="公益財団法人 つるの里基金",
    ),
    _listing(
        "zuiji",
        "wam",
        "緊急食料支援助成（随時受付）",
        "随時受付\n助成金額: 上限5万円\n対象: 全国のフードバンク",
        organizer="独立行政法人 福祉医療機構",
    ),
    _listing(
        "hostile",
        "canpan",
        HOSTILE_TITLE,
        HOSTILE_TEXT,
        organizer=HOSTILE_ORGANIZER,
        url="javascript:alert(1)",
    ),
]

# Plain calls for paging and sorts: deadlines a week apart, amounts in steps.
FILLERS = [
    _listing(
        f"filler-{n:02d}",
        "jfc" if n % 2 else "canpan",
        f"まちづくり活動助成 第{n}回",
        f"締切: {date(2026, 12, 1) + timedelta(days=7 * n):%Y年%-m月%-d日}\n"
        f"助成金額: 上限{10 * n}万円\n対象: 全国のまちづくり団体",
        organizer=f"一般財団法人 まちづくり基金{n}",
    )
    for n in range(1, 15)
]

# The next day's crawl: a call listed a second time, at another source (one call with two
# listings), and a call first seen that day (the newest).
SECOND_BATCH = [
    _listing(
        "mimamori",
        "wam",
        "高齢者見守り福祉活動助成",
        "締切: 2026年12月18日\n助成金額: 上限120万円\n対象: 全国の高齢者福祉に取り組む団体",
        organizer="独立行政法人 福祉医療機構",
        published="2026-11-21",
    ),
    _listing(
        "kodomo-jfc",
        "jfc",
        "こども食堂ネットワーク助成",
        "締切: 2026年12月15日\n助成金額: 上限30万円\n"
        "対象: 全国で子ども食堂を運営する団体（任意団体可）\n対象経費: 食材費、講師謝金",
        organizer="公益財団法人 ひだまりこども財団",
    ),
]

# The next crawl: the deadline of 読み聞かせ is extended.
THIRD_BATCH = [
    {
        **FIRST_BATCH[10],
        "text": FIRST_BATCH[10]["text"].replace("2026年12月10日", "2027年1月8日"),
    }
]

LISTING_KEYS = [item["id"] for item in FIRST_BATCH + FILLERS + SECOND_BATCH]


def build_populated(url: str) -> None:
    """Builds the test database at `url` (an empty database)."""
    upgrade_database(url)
    engine = make_engine(url)
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    try:
        Ingestor(engine, today=TODAY, now=start).ingest(FIRST_BATCH + FILLERS)
        Ingestor(engine, today=TODAY, now=start + timedelta(days=1)).ingest(SECOND_BATCH)
        Ingestor(engine, today=TODAY, now=start + timedelta(days=2)).ingest(THIRD_BATCH)
        with Session(engine) as session:
            # A deadline that passed since the last refresh: stored open, searched as closed.
            passed = call_ids_in(session)["passed"]
            session.execute(update(CallRow).where(CallRow.id == passed).values(status="open"))
            session.commit()
    finally:
        engine.dispose()


def call_ids_in(session: Session) -> dict[str, int]:
    rows = session.execute(select(ListingRow.source_key, ListingRow.call_id)).all()
    return {key: call_id for key, call_id in rows}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def populated_url(request: pytest.FixtureRequest, tmp_path_factory) -> str:
    """The populated database (read only), once per backend: SQLite file and PostgreSQL."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("populated") / "kyodo.db"
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_cluster").create_database()
    build_populated(url)
    return url


@pytest.fixture(scope="session")
def call_ids(populated_url: str) -> dict[str, int]:
    """Listing key (e.g. "kodomo", "filler-03") -> id of the call it belongs to."""
    engine = make_engine(populated_url)
    try:
        with Session(engine) as session:
            return call_ids_in(session)
    finally:
        engine.dispose()


@pytest.fixture
def client(populated_url: str) -> Iterator[TestClient]:
    """A client over the populated database, today fixed at 2026-11-28."""
    settings = Settings(database_url=populated_url, site_url=SITE_URL)
    with TestClient(create_app(settings, today=TODAY)) as test_client:
        yield test_client
