"""The in-memory search index (aggregator/searchindex.py) against SQL, on SQLite and PostgreSQL.

Every comparison runs the same search twice, once in SQL (`search` / `facet_counts` without an
index) and once through the index, and asks for the same total, the same ids in the same order
and the same counts. The data are bench/search_latency's generated calls, made more varied
(statuses the date has overtaken, no status, no deadline, several source kinds, mixed-case
and katakana text), then changed by other connections the way ingest, dedupe and staff do.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from aggregator.search import SearchParams, facet_counts, search
from aggregator.searchindex import SearchIndex, keyword_matches, prune_journal
from aggregator.searchtext import search_columns
from aggregator.storage.db import make_engine
from aggregator.storage.models import CallChangeRow, CallField, CallRow, ListingRow
from bench.search_latency.__main__ import build

TODAY = date(2026, 11, 28)
N = 1500
WORDS = [
    "子",
    "食",
    "会",
    "地域",
    "福祉",
    "教室",
    "子ども食堂",
    "まちづくり",
    "npo",
    "ボランティア",
]
WORDS += ["伝統芸能", "多文化共生", "財団", "(", "5万", "上限", "cafe", "かふぇ", "ー"]
AREAS = ["national", "prefecture", "municipality", "reachable", "千葉県", "prefecture:東京都"]
FIELDS = ["children_youth", "health_welfare", "environment", "community_development"]
FIELDS += ["culture_arts_sports", "social_education", "international", "disaster_relief"]


def _vary(url: str) -> None:
    """Cases the generator lacks: stale and missing statuses, no deadline, source kinds, text."""
    engine = make_engine(url)
    rng = random.Random(11)
    with Session(engine) as session:
        ids = session.scalars(select(CallRow.id).order_by(CallRow.id)).all()
        for call_id in rng.sample(ids, 60):  # stored open, but the deadline passed
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id)
                .values(status="open", deadline_kind="fixed", deadline=TODAY - timedelta(days=3))
            )
        for call_id in rng.sample(ids, 60):  # stored upcoming, but applications began
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id)
                .values(status="upcoming", application_start=TODAY - timedelta(days=2))
            )
        for call_id in rng.sample(ids, 40):
            session.execute(update(CallRow).where(CallRow.id == call_id).values(status=None))
        for call_id in rng.sample(ids, 40):
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id)
                .values(deadline=None, deadline_kind="unknown", max_amount_yen=None)
            )
        for call_id in rng.sample(ids, 80):  # a second listing from a company's or city's page
            session.add(
                ListingRow(
                    call_id=call_id,
                    source=rng.choice(["corporate_csr", "kamagaya_city", "jgrants"]),
                    source_key=f"extra-{call_id}",
                    url=f"https://example.org/extra/{call_id}",
                    content_hash="x",
                    raw={},
                    record={},
                    precedence=1,
                    listed=True,
                    first_seen=datetime.now(UTC),
                    last_seen=datetime.now(UTC),
                )
            )
        for call_id in rng.sample(ids, 40):
            title = rng.choice(
                ["NPO Cafe かふぇ支援 (第2回)", "カフェ・ボランティア 5万円", "ーー"]
            )
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id)
                .values(title=title, **search_columns(title, "財団", "上限5万円"))
            )
        session.commit()
    engine.dispose()


@pytest.fixture
def data_url(db_url: str) -> str:
    build(db_url, N)
    _vary(db_url)
    return db_url


def _random_params(rng: random.Random) -> SearchParams:
    p: dict = {}
    if rng.random() < 0.6:
        p["q"] = " ".join(rng.sample(WORDS, rng.choice([1, 1, 1, 2])))
    if rng.random() < 0.4:
        p["field"] = rng.sample(FIELDS, rng.choice([1, 1, 2]))
    if rng.random() < 0.4:
        p["area"] = rng.choice(AREAS)
    p["status"] = rng.choice(["open", "open", "upcoming", "closed", "all"])
    p["sort"] = rng.choice(["deadline", "new", "amount"])
    p["page"] = rng.choice([1, 1, 2, 3, 40])
    p["per_page"] = rng.choice([20, 20, 50, 100])
    extra = rng.random()
    if extra < 0.08:
        p["within"] = rng.choice([7, 30])
    elif extra < 0.16:
        p["min_amount"] = rng.choice([100_000, 1_000_000])
    elif extra < 0.28:
        p["informal_groups_ok"] = rng.choice([True, False])
    elif extra < 0.36:
        p["cost"] = rng.sample(["personnel", "honoraria", "rent"], rng.choice([1, 2]))
    elif extra < 0.46:
        p["source_kind"] = rng.choice(["national", "foundation", "corporate", "municipality"])
    elif extra < 0.52:
        p["deadline_after"] = "2026-12-10"
        p["deadline_before"] = "2027-03-31"
    return SearchParams(**p)


def _compare(url: str, index: SearchIndex, params_list: list[SearchParams]) -> None:
    engine = make_engine(url)
    try:
        for params in params_list:
            with Session(engine) as session:
                sql = search(session, params, today=TODAY)
                sql_counts = facet_counts(session, params, today=TODAY)
                mem = search(session, params, today=TODAY, index=index)
                mem_counts = facet_counts(session, params, today=TODAY, index=index)
            shown = params.model_dump(exclude_defaults=True)
            assert mem.total == sql.total, shown
            assert [i["id"] for i in mem.items] == [i["id"] for i in sql.items], shown
            assert mem.items == sql.items, shown
            assert mem_counts == sql_counts, shown
    finally:
        engine.dispose()


def test_index_answers_like_sql(data_url: str) -> None:
    index = SearchIndex.for_url(data_url)
    rng = random.Random(3)
    params = [SearchParams(), SearchParams(status="all", sort="amount", per_page=100)]
    params += [_random_params(rng) for _ in range(150)]
    _compare(data_url, index, params)
    assert index.reloads == 1
    index.dispose()


def test_index_follows_changes_by_other_processes(data_url: str) -> None:
    """Inserts, updates, field and listing changes, a merge's delete: applied from the journal
    on the next search, without reloading; keywords already kept follow the new text."""
    index = SearchIndex.for_url(data_url)
    rng = random.Random(4)
    params = [_random_params(rng) for _ in range(60)]
    _compare(data_url, index, params)  # loads, and keeps the keywords' matches
    engine = make_engine(data_url)
    now = datetime.now(UTC)
    with Session(engine) as session:
        ids = session.scalars(select(CallRow.id).order_by(CallRow.id)).all()
        template = session.get(CallRow, ids[0])
        for n in range(30):  # new calls (a crawl), some matching kept words
            title = rng.choice(["子ども食堂の新しい助成", "まちづくり基金", "NPO 地域福祉 教室"])
            call = CallRow(
                source="wam",
                source_item_id=f"new-{n}",
                title=title,
                organizer="新しい財団",
                deadline=TODAY + timedelta(days=n),
                deadline_kind="fixed",
                application_start=TODAY - timedelta(days=1),
                area=rng.choice(["national", "municipality:鎌ケ谷市"]),
                max_amount_yen=rng.choice([None, 200_000]),
                informal_groups_ok=rng.choice([True, None]),
                status="open",
                first_seen=now + timedelta(seconds=n),
                last_seen=now,
                raw_text=title,
                **search_columns(title, "新しい財団", title),
            )
            call.fields = [CallField(field=rng.choice(FIELDS), rank=0)]
            session.add(call)
            session.flush()
            session.add(
                ListingRow(
                    call_id=call.id,
                    source="corporate_csr",
                    source_key=f"new-{n}",
                    url=None,
                    content_hash="y",
                    raw={},
                    record={},
                    precedence=0,
                    listed=True,
                    first_seen=now,
                    last_seen=now,
                )
            )
        changed = rng.sample(ids[1:], 80)
        for call_id in changed[:20]:  # deadline extended, amount changed
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id)
                .values(deadline=TODAY + timedelta(days=90), max_amount_yen=5_000_000)
            )
        for call_id in changed[20:40]:  # text rewritten: kept keywords must follow
            session.execute(
                update(CallRow)
                .where(CallRow.id == call_id)
                .values(**search_columns("会場の清掃と子ども食堂", None, "ボランティア募集"))
            )
        for call_id in changed[40:50]:  # fields re-classified
            session.execute(delete(CallField).where(CallField.call_id == call_id))
            session.add(CallField(call_id=call_id, field="ordinance", rank=0))
        for call_id in changed[50:60]:  # a merge: listings move, the call goes
            session.execute(
                update(ListingRow).where(ListingRow.call_id == call_id).values(call_id=ids[0])
            )
            session.execute(delete(CallField).where(CallField.call_id == call_id))
            session.execute(delete(CallRow).where(CallRow.id == call_id))
        session.execute(  # the daily status refresh
            update(CallRow).where(CallRow.id.in_(changed[60:])).values(status="closed")
        )
        session.commit()
        assert template is not None
    engine.dispose()
    params += [_random_params(rng) for _ in range(60)]
    params += [SearchParams(q="子ども食堂", status="all"), SearchParams(field=["ordinance"])]
    _compare(data_url, index, params)
    assert index.reloads == 1, "changes applied from the journal, not by reloading"
    assert index.changes_applied >= 100
    index.dispose()


def test_uncommitted_changes_are_not_seen(data_url: str) -> None:
    """The index reads through its own connection: another session's open transaction, later
    rolled back, never reaches it."""
    index = SearchIndex.for_url(data_url)
    engine = make_engine(data_url)
    params = SearchParams(q="まちづくり", status="all")
    with Session(engine) as session:
        before = search(session, params, today=TODAY, index=index).total
    with Session(engine) as writer:
        writer.execute(update(CallRow).values(status="closed", search_text="", search_grams=""))
        writer.flush()
        with Session(engine) as reader:
            assert search(reader, params, today=TODAY, index=index).total == before
        writer.rollback()
    _compare(data_url, index, [params, SearchParams(status="closed")])
    engine.dispose()
    index.dispose()


def test_postgresql_commit_out_of_journal_order(pg_url: str) -> None:
    """Transaction A writes first (lower journal numbers) but commits after B, whose commit
    the index has already read: A's calls are still found."""
    build(pg_url, 200)
    index = SearchIndex.for_url(pg_url)
    engine = make_engine(pg_url)
    params = SearchParams(status="all", per_page=100)
    _compare(pg_url, index, [params])
    with engine.connect() as a, engine.connect() as b:
        a.execute(update(CallRow).where(CallRow.id == 1).values(area="municipality:鎌ケ谷市"))
        b.execute(update(CallRow).where(CallRow.id == 2).values(area="municipality:鎌ケ谷市"))
        b.commit()
        _compare(pg_url, index, [SearchParams(area="municipality", status="all")])
        a.commit()
    _compare(pg_url, index, [SearchParams(area="municipality", status="all"), params])
    seqs = dict(Session(engine).execute(select(CallChangeRow.call_id, CallChangeRow.seq)).all())
    assert seqs[1] < seqs[2], "A's journal row is numbered before B's"
    assert index.reloads == 1
    engine.dispose()
    index.dispose()


def test_journal_is_pruned_and_a_long_idle_index_reloads(sqlite_url: str, monkeypatch) -> None:
    build(sqlite_url, 50)
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        session.execute(delete(CallChangeRow))  # the build's own rows
        session.execute(update(CallRow).where(CallRow.id <= 10).values(status="closed"))
        session.execute(
            text(
                "UPDATE call_changes SET changed_at = datetime('now', '-2 days') WHERE call_id <= 5"
            )
        )
        session.commit()
        total = session.scalar(select(func.count()).select_from(CallChangeRow))
        assert total == 10
        assert prune_journal(session) == 5
        session.commit()
        assert session.scalar(select(func.count()).select_from(CallChangeRow)) == 5
        # All old: the newest row stays, so that SQLite's next `seq` still follows it.
        newest = session.scalar(select(func.max(CallChangeRow.seq)))
        session.execute(text("UPDATE call_changes SET changed_at = datetime('now', '-2 days')"))
        assert prune_journal(session) == 4
        session.commit()
        assert session.scalars(select(CallChangeRow.seq)).all() == [newest]
    index = SearchIndex.for_url(sqlite_url)
    index.refresh()
    assert index.reloads == 1
    import aggregator.searchindex as module

    monkeypatch.setattr(module, "IDLE_RELOAD_SECONDS", -1)
    index.refresh()
    assert index.reloads == 2
    engine.dispose()
    index.dispose()


@pytest.mark.parametrize(
    ("term", "body", "expected"),
    [
        ("子", "子ども食堂", True),
        ("子ど", "子ども食堂", True),
        ("食子", "子ども 食子", True),
        ("も食", "子ども 食堂", False),  # a pair across words is no gram
        ("子ども食堂", "子ども食堂", True),
        ("子ども", "x" * 1200 + "子ども", True),  # 3+: the whole text
        ("子ど", "x" * 1200 + " 子ども", False),  # 1–2: only the head (SHORT_GRAM_CHARS)
        ("(", "基金(第2回)", True),  # not a letter: a substring, anywhere
    ],
)
def test_keyword_rules_match_the_database(term: str, body: str, expected: bool) -> None:
    assert keyword_matches(term, body) is expected


# -- in the web app ------------------------------------------------------------------------


def _ready(client) -> None:
    import time

    deadline = time.monotonic() + 60
    while client.get("/healthz").json()["search_index"] != "ready":
        assert time.monotonic() < deadline, "the search index did not load"
        time.sleep(0.05)


def test_the_site_searches_through_the_index_and_sees_each_commit_at_once(db_url: str) -> None:
    """`kyodo serve`'s app loads the index at start (/healthz: loading → ready); a call another
    process commits is in the very next search, its count and its page."""
    from fastapi.testclient import TestClient

    from aggregator.settings import Settings
    from api.app import create_app

    build(db_url, 300)
    _vary(db_url)
    settings = Settings(database_url=db_url, site_url="https://kyodo.example.jp")
    app = create_app(settings, today=TODAY)
    with TestClient(app) as client:
        _ready(client)
        index = app.state.search_index
        query = {"q": "ひまわり文庫", "status": "all"}
        assert client.get("/api/v1/calls", params=query).json()["total"] == 0
        engine = make_engine(db_url)
        with Session(engine) as session:
            title = "ひまわり文庫の読み聞かせ助成"
            call = CallRow(
                source="canpan",
                source_item_id="himawari",
                title=title,
                organizer="ひまわり財団",
                deadline=TODAY + timedelta(days=20),
                deadline_kind="fixed",
                area="municipality:鎌ケ谷市",
                status="open",
                first_seen=datetime.now(UTC),
                last_seen=datetime.now(UTC),
                **search_columns(title, "ひまわり財団", ""),
            )
            call.fields = [CallField(field="social_education", rank=0)]
            session.add(call)
            session.commit()
            new_id = call.id
        engine.dispose()
        found = client.get("/api/v1/calls", params=query).json()
        assert found["total"] == 1 and found["items"][0]["id"] == new_id
        page = client.get("/", params={"q": "ひまわり文庫", "area": "municipality"})
        assert f"/calls/{new_id}" in page.text
        assert index.reloads == 1 and index.changes_applied >= 1
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json() == {
            "status": "ok",
            "search_index": "ready",
        }


def test_the_index_can_be_turned_off(sqlite_url: str) -> None:
    from fastapi.testclient import TestClient

    from aggregator.settings import Settings
    from api.app import create_app

    build(sqlite_url, 20)
    settings = Settings(database_url=sqlite_url, search_index=False)
    with TestClient(create_app(settings, today=TODAY)) as client:
        assert client.get("/healthz").json()["search_index"] == "off"
        assert client.get("/api/v1/calls", params={"status": "all"}).json()["total"] == 20


def test_a_database_without_the_journal_is_searched_in_sql(sqlite_url: str) -> None:
    """An index over a database not upgraded to 0008 (no journal) gives way to SQL."""
    build(sqlite_url, 20)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE call_changes"))
    index = SearchIndex.for_url(sqlite_url)
    with Session(engine) as session:
        found = search(session, SearchParams(status="all"), today=TODAY, index=index)
    assert found.total == 20 and not index.ready
    engine.dispose()
    index.dispose()
