"""Ingest on a real SQLite file and a real PostgreSQL server: idempotent, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.ingest import Ingestor, Rejected
from aggregator.storage import make_engine, upgrade_database
from aggregator.storage.models import (
    CallHistoryRow,
    CallRow,
    ListingRow,
    RejectedListingRow,
)

TODAY = date(2026, 6, 1)

CANPAN = {
    "id": "g100",
    "source": "canpan",
    "url": "https://fields.example.org/grant/detail/100",
    "title": "2026年度 子どもの居場所づくり助成",
    "organizer": "公益財団法人 あおぞら子ども財団",
    "published": "2026-05-20",
    "text": "募集時期 2026年6月1日~2026年6月30日\n助成金額 1件あたりの上限額:500,000円\n"
    "対象:子ども食堂・学習支援を行う団体(任意団体可)",
}
MAGAZINE = {
    "id": "m55#3",
    "source": "chiba_npo",
    "url": "https://pref.example.jp/npo/mag55.html#3",
    "title": "(公財)あおぞら子ども財団「子どもの居場所づくり助成」",
    "published": "2026-05-25",
    "text": "【募集期間】令和8年6月1日(月曜日)~6月30日(火曜日)\n【助成額】上限50万円\n"
    "【対象】子どもの居場所づくりに取り組む団体",
}
OTHER = {
    "id": "g200",
    "source": "canpan",
    "url": "https://fields.example.org/grant/detail/200",
    "title": "2026年度 里山保全活動助成",
    "organizer": "一般財団法人 みどりの森基金",
    "published": "2026-05-10",
    "text": "募集時期 2026年5月10日~2026年7月15日\n助成金額 1件あたりの上限額:300,000円",
}


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return {
                "calls": s.scalar(select(func.count()).select_from(CallRow)),
                "listings": s.scalar(select(func.count()).select_from(ListingRow)),
                "history": s.scalar(select(func.count()).select_from(CallHistoryRow)),
                "rejected": s.scalar(select(func.count()).select_from(RejectedListingRow)),
            }
    finally:
        engine.dispose()


def _ingest(url: str, items, *, complete: bool = False, now: datetime | None = None):
    engine = make_engine(url)
    try:
        return Ingestor(engine, today=TODAY, now=now).ingest(items, complete=complete)
    finally:
        engine.dispose()


def test_reposts_merge_into_one_call_and_a_rerun_changes_nothing(db_url: str) -> None:
    upgrade_database(db_url)
    report = _ingest(db_url, [CANPAN, MAGAZINE, OTHER])
    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (3, 0, 0, 0)
    assert report.calls_created == 2
    before = _counts(db_url)
    assert before["calls"] == 2 and before["listings"] == 3

    again = _ingest(db_url, [CANPAN, MAGAZINE, OTHER])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert _counts(db_url) == before  # no new rows, no new history entries

    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            call = s.scalars(select(CallRow).where(CallRow.title.contains("居場所"))).one()
            assert call.deadline == date(2026, 6, 30)
            assert call.max_amount_yen == 500_000
            assert call.conflicts == {}
            sources = s.scalars(
                select(ListingRow.source).where(ListingRow.call_id == call.id)
            ).all()
            assert sorted(sources) == ["canpan", "chiba_npo"]
    finally:
        engine.dispose()


def test_an_extended_deadline_is_history_and_a_disagreement_is_flagged(db_url: str) -> None:
    upgrade_database(db_url)
    _ingest(db_url, [CANPAN, MAGAZINE])
    extended = {
        **CANPAN,
        "title": "【締切延長】2026年度 子どもの居場所づくり助成",
        "text": CANPAN["text"].replace("2026年6月30日", "2026年7月15日"),
    }
    report = _ingest(db_url, [extended])
    assert report.updated == 1
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            call = s.scalars(select(CallRow)).one()
            history = s.scalars(select(CallHistoryRow).where(CallHistoryRow.call_id == call.id))
            kinds = {(h.kind, h.old_value, h.new_value) for h in history}
            # The magazine still says 6/30: the sources disagree, and kyodo says so.
            deadlines = {c["value"] for c in call.conflicts["deadline"]}
    finally:
        engine.dispose()
    assert ("deadline_extended", "2026-06-30", "2026-07-15") in kinds
    assert deadlines == {"2026-06-30", "2026-07-15"}


def test_bad_listings_are_kept_with_their_reason(db_url: str) -> None:
    upgrade_database(db_url)
    bad = [
        {"id": "x1", "text": "本文", "title": "source がない"},
        {"id": "x2", "source": "canpan", "title": "本文がない"},
        {"source": "canpan", "text": "id も url もない"},
        {"id": "x3", "source": "canpan", "text": "日付", "published": "2026-02-30"},
        Rejected("JSON として読めません (invalid JSON)", "{broken"),
    ]
    report = _ingest(db_url, [*bad, OTHER])
    assert report.rejected == 5
    assert report.inserted == 1
    reasons = [reason for _, reason in report.rejections]
    assert any("source" in r for r in reasons)
    assert any("published" in r for r in reasons)
    assert _counts(db_url)["rejected"] == 5
    _ingest(db_url, bad)  # the same bad lines again: counted, not duplicated
    assert _counts(db_url)["rejected"] == 5


def test_a_complete_crawl_marks_missing_listings_and_an_empty_one_changes_nothing(
    db_url: str,
) -> None:
    upgrade_database(db_url)
    _ingest(db_url, [CANPAN, OTHER, MAGAZINE], complete=True)
    later = datetime(2026, 6, 5, tzinfo=UTC)
    report = _ingest(db_url, [OTHER], complete=True, now=later)  # canpan dropped g100
    assert report.no_longer_listed == 1
    empty = _ingest(db_url, [], complete=True)
    assert empty.no_longer_listed == 0
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            row = s.scalars(select(ListingRow).where(ListingRow.source_key == "g100")).one()
            assert row.listed is False
            assert row.delisted_at == later
            kinds = s.scalars(select(CallHistoryRow.kind)).all()
            magazine = s.scalars(select(ListingRow).where(ListingRow.source == "chiba_npo")).one()
    finally:
        engine.dispose()
    assert "no_longer_listed" in kinds
    assert magazine.listed is True  # other sources are untouched
    assert _counts(db_url)["listings"] == 3  # never deleted


def test_a_listing_back_on_the_list_unchanged_is_listed_again(db_url: str) -> None:
    """Delisted by one complete crawl, back (same content) in the next: listed again, with its
    history saying so, and its call's lead chosen again among listed listings."""
    upgrade_database(db_url)
    _ingest(db_url, [CANPAN, OTHER], complete=True)
    later = datetime(2026, 6, 5, tzinfo=UTC)
    assert _ingest(db_url, [OTHER], complete=True, now=later).no_longer_listed == 1
    back = _ingest(db_url, [CANPAN, OTHER], complete=True, now=later + timedelta(days=1))
    assert back.unchanged == 2
    assert back.no_longer_listed == 0
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            row = s.scalars(select(ListingRow).where(ListingRow.source_key == "g100")).one()
            kinds = s.scalars(
                select(CallHistoryRow.kind)
                .where(CallHistoryRow.call_id == row.call_id)
                .order_by(CallHistoryRow.id)
            ).all()
    finally:
        engine.dispose()
    assert row.listed is True
    assert row.delisted_at is None
    assert row.last_seen == later + timedelta(days=1)
    assert kinds[-2:] == ["no_longer_listed", "listed"]


def test_cli_ingest(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    env = {**os.environ, "KYODO_DATABASE_URL": url}
    path = tmp_path / "listings.jsonl"
    path.write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in (CANPAN, MAGAZINE, OTHER))
        + "\n{not json\n",
        encoding="utf-8",
    )
    cmd = [sys.executable, "-m", "kyodo", "ingest", "--today", "2026-06-01", str(path)]
    not_upgraded = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert not_upgraded.returncode == 1
    assert "kyodo db upgrade" in not_upgraded.stderr
    subprocess.run([sys.executable, "-m", "kyodo", "db", "upgrade"], env=env, check=True)
    first = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert first.returncode == 1, first.stderr  # one bad line
    assert "4件目" in first.stderr
    counts = json.loads(first.stdout.strip().splitlines()[-1])
    assert counts["inserted"] == 3 and counts["rejected"] == 1
    good = tmp_path / "good.jsonl"
    good.write_text(path.read_text(encoding="utf-8").split("{not json")[0], encoding="utf-8")
    second = subprocess.run(
        [*cmd[:-1], "-"],
        env=env,
        input=good.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
    )
    assert second.returncode == 0, second.stderr
    counts = json.loads(second.stdout.strip().splitlines()[-1])
    assert counts == {**counts, "inserted": 0, "updated": 0, "unchanged": 3, "rejected": 0}


def _listing_id(url: str, source: str, key: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return s.scalars(
                select(ListingRow.id).where(
                    ListingRow.source == source, ListingRow.source_key == key
                )
            ).one()
    finally:
        engine.dispose()


def _call_of(url: str, listing_id: int) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return s.get(ListingRow, listing_id).call_id
    finally:
        engine.dispose()


def test_staff_split_and_merge_persist_across_later_ingests(db_url: str) -> None:
    from aggregator.curation import merge_listings_calls, split_listing

    upgrade_database(db_url)
    _ingest(db_url, [CANPAN, MAGAZINE, OTHER])
    canpan, magazine = (
        _listing_id(db_url, "canpan", "g100"),
        _listing_id(db_url, "chiba_npo", "m55#3"),
    )
    other = _listing_id(db_url, "canpan", "g200")
    assert _call_of(db_url, canpan) == _call_of(db_url, magazine)

    engine = make_engine(db_url)
    try:
        split_listing(engine, magazine, note="別の公募", today=TODAY)
        merge_listings_calls(engine, canpan, other, note="同じ公募", today=TODAY)
    finally:
        engine.dispose()
    assert _call_of(db_url, canpan) != _call_of(db_url, magazine)
    assert _call_of(db_url, canpan) == _call_of(db_url, other)

    # Later crawls: the same listings, and changed ones, keep the staff's decisions.
    _ingest(db_url, [CANPAN, MAGAZINE, OTHER])
    changed = {**MAGAZINE, "text": MAGAZINE["text"] + "\n※申請書の様式を更新しました"}
    _ingest(db_url, [changed, {**OTHER, "text": OTHER["text"] + "\n(更新)"}])
    assert _call_of(db_url, canpan) != _call_of(db_url, magazine)
    assert _call_of(db_url, canpan) == _call_of(db_url, other)
    assert _counts(db_url)["calls"] == 2
    assert _counts(db_url)["listings"] == 3


def _history_kinds(url: str) -> list[tuple[str, str | None, str | None]]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return [
                (h.kind, h.old_value, h.new_value)
                for h in s.scalars(select(CallHistoryRow).order_by(CallHistoryRow.id))
            ]
    finally:
        engine.dispose()


def test_amount_change_closing_reopening_and_withdrawal_are_history(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    _ingest(sqlite_url, [OTHER])
    raised = {**OTHER, "text": OTHER["text"].replace("300,000円", "400,000円")}
    _ingest(sqlite_url, [raised])
    closed = {**raised, "status": "募集終了"}
    _ingest(sqlite_url, [closed])
    _ingest(sqlite_url, [raised])  # the source lists it as open again
    withdrawn = {**raised, "title": "【募集中止】" + OTHER["title"]}
    _ingest(sqlite_url, [withdrawn])
    kinds = _history_kinds(sqlite_url)
    assert ("amount_changed", "300000", "400000") in kinds
    assert ("closed", "open", "closed") in kinds
    assert ("reopened", "closed", "open") in kinds
    assert kinds[-1] == ("withdrawn", "open", "closed")


def test_a_merged_call_prefers_a_title_without_a_repost_label(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    labelled = {
        **CANPAN,
        "id": "jfc1",
        "source": "jfc",
        "url": "https://jfc.example.jp/news/1",
        "title": "【助成先募集】あおぞら子ども財団 2026年度 子どもの居場所づくり助成",
        "published": "2026-05-28",  # newer: it would lead
    }
    _ingest(sqlite_url, [labelled, CANPAN])
    engine = make_engine(sqlite_url)
    try:
        with Session(engine) as s:
            (title,) = s.scalars(select(CallRow.title)).all()
    finally:
        engine.dispose()
    assert title == "2026年度 子どもの居場所づくり助成"
