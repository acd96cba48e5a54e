"""`kyodo ingest` killed by a real signal while it writes: the database stays consistent and a
re-run completes the work with no duplicates.

A generated file of listings (about 30 % reposts across ten sources, several rounds of each
program) is ingested by a real `kyodo ingest` subprocess. As soon as the first calls are
committed, the process gets SIGKILL (or SIGTERM). The database must then pass SQLite's own
checks and kyodo's (every listing has its call, every call its listings, the search indexes
agree with `calls`), and a re-run must end with exactly what a clean, uninterrupted ingest of the
same file stores in another database, compared by source ids and by which listings share a call,
never by autoincrement ids. The crawl counterpart (killing `kyodo crawl`) is in
`tests/test_faults_crawl.py`, which imports the checks below.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from aggregator.ingest import BATCH_SIZE
from aggregator.searchtext import search_columns
from aggregator.storage import make_engine, upgrade_database
from aggregator.storage.models import (
    CallField,
    CallHistoryRow,
    CallRow,
    ListingRow,
    ProgramRow,
    RejectedListingRow,
)
from bench.ingest_speed.__main__ import KINDS, SOURCES, SYL, THEMES
from kyodo.cli import EXIT_STOPPED
from tests.cli import kyodo

N_LISTINGS = 8_000  # eight batches of BATCH_SIZE
# Rounds per program (第1回 … 第8回), as real funders have. After the listings, `kyodo ingest`
# predicts upcoming rounds program by program (about 4 ms each): bench/ingest_speed's listings,
# one program per call, would spend most of the test there.
ROUNDS = 8
TODAY = "2027-06-01"  # most rounds are past: about a third of the programs get a predicted round


# -- the listings -----------------------------------------------------------------------------


def make_listings(n: int, seed: int = 8) -> Iterator[dict[str, Any]]:
    """About 70 % distinct calls, the rest reposts of them by other sources (the idea of
    `bench/ingest_speed`), grouped in programs of `ROUNDS` rounds a quarter apart."""
    rng = random.Random(seed)
    distinct = int(n * 0.7)
    programs = []
    for _ in range(-(-distinct // ROUNDS)):
        name = "".join(rng.choice(SYL) for _ in range(3)) + rng.choice(KINDS)
        first = date(2025, 1, 1) + timedelta(days=rng.randrange(300))
        cap = rng.choice([10, 20, 30, 50, 100, 200]) * 10_000
        programs.append((name, rng.choice(THEMES), first, cap))
    calls = []
    for i in range(distinct):
        name, theme, first, cap = programs[i // ROUNDS]
        number = i % ROUNDS + 1
        start = first + timedelta(days=75 * (number - 1))
        calls.append(
            (number, name, theme, start, start + timedelta(days=rng.randrange(20, 60)), cap)
        )
    for j in range(n):
        number, name, theme, start, end, cap = calls[j] if j < distinct else rng.choice(calls)
        source = SOURCES[j % len(SOURCES)] if j < distinct else rng.choice(SOURCES)
        if j < distinct:
            title = f"{start.year}年度 {theme}活動助成 第{number}回"
            body = (
                f"募集期間:{start:%Y年%-m月%-d日}~{end:%Y年%-m月%-d日}\n"
                f"助成金額:1件あたり上限{cap // 10_000}万円\n対象:{theme}に取り組む団体"
            )
            organizer = f"公益財団法人 {name}"
        else:
            title = f"({name[:3]}){theme}活動助成 第{number}回【転載】"
            body = f"【募集期間】{end:%Y/%m/%d}締切\n【助成額】{cap:,}円まで\n【対象】{theme}の団体"
            organizer = f"(公財){name}"
        yield {
            "id": f"{source}-{j}",
            "source": source,
            "title": title,
            "text": body,
            "organizer": organizer,
            "published": start.isoformat(),
            "url": f"https://{source}.example.org/{j}",
        }


# -- what the database holds, independent of ids and backends ---------------------------------

# Columns of `calls` compared between databases: all but ids and times.
_SKIPPED = {"id", "first_seen", "last_seen", "program_id"}
CALL_COLUMNS = [c.name for c in CallRow.__table__.columns if c.name not in _SKIPPED]


def snapshot(url: str) -> dict[str, Any]:
    """Listings by source id; calls by the set of their listings' source ids (the cluster),
    with every stored fact, their fields and program; predicted calls; history; rejections."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            members: dict[int, list[str]] = defaultdict(list)
            listings = {}
            for source, key, digest, listed, call_id, rank, raw, record in conn.execute(
                select(
                    ListingRow.source,
                    ListingRow.source_key,
                    ListingRow.content_hash,
                    ListingRow.listed,
                    ListingRow.call_id,
                    ListingRow.precedence,
                    ListingRow.raw,
                    ListingRow.record,
                )
            ):
                members[call_id].append(f"{source}/{key}")
                listings[f"{source}/{key}"] = (digest, listed, rank, raw, record)
            cluster = {cid: tuple(sorted(keys)) for cid, keys in members.items()}
            fields: dict[int, list[str]] = defaultdict(list)
            for call_id, field in conn.execute(
                select(CallField.call_id, CallField.field).order_by(
                    CallField.call_id, CallField.rank
                )
            ):
                fields[call_id].append(field)
            programs = dict(conn.execute(select(ProgramRow.id, ProgramRow.key)).all())
            calls: dict[tuple[str, ...], dict[str, Any]] = {}
            predicted: Counter[str] = Counter()
            for row in conn.execute(select(CallRow.__table__)).mappings():
                facts = {c: row[c] for c in CALL_COLUMNS}
                facts["fields"] = fields[row["id"]]
                facts["program"] = programs.get(row["program_id"])
                if row["predicted"]:
                    facts.pop("source_item_id")  # holds the id of the call it was predicted from
                    predicted[json.dumps(facts, default=str, sort_keys=True)] += 1
                else:
                    calls[cluster.get(row["id"], ("<no listing>", str(row["id"])))] = facts
            history = Counter(
                (kind, cluster.get(call_id), old, new, source)
                for kind, call_id, old, new, source in conn.execute(
                    select(
                        CallHistoryRow.kind,
                        CallHistoryRow.call_id,
                        CallHistoryRow.old_value,
                        CallHistoryRow.new_value,
                        CallHistoryRow.source,
                    )
                )
            )
            rejected = conn.scalar(select(func.count()).select_from(RejectedListingRow))
    finally:
        engine.dispose()
    return {
        "listings": listings,
        "calls": calls,
        "predicted": predicted,
        "history": history,
        "rejected": rejected,
    }


def assert_same(got: dict[str, Any], want: dict[str, Any], *, history: bool = True) -> None:
    """Two snapshots are equal; on a difference, name the first few keys that differ.

    Without `history`, the change history is left out: which listing "joined" a call first
    depends on the order sources were ingested in."""
    for part in ("listings", "calls"):
        missing = sorted(set(want[part]) - set(got[part]))[:3]
        extra = sorted(set(got[part]) - set(want[part]))[:3]
        assert not missing and not extra, (part, "missing", missing, "extra", extra)
        changed = [k for k in want[part] if got[part][k] != want[part][k]][:3]
        assert not changed, (part, [(k, got[part][k], want[part][k]) for k in changed])
    for part in ("predicted", "history", "rejected") if history else ("predicted", "rejected"):
        assert got[part] == want[part], part


def assert_consistent(url: str) -> None:
    """The checks a restart relies on: the file is sound, every listing points to a call,
    every call (but predicted rounds) has listings, and the search indexes agree with `calls`."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                assert conn.exec_driver_sql("PRAGMA integrity_check").all() == [("ok",)]
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            orphans = conn.scalar(
                text(
                    "SELECT count(*) FROM listings l LEFT JOIN calls c ON c.id = l.call_id "
                    "WHERE c.id IS NULL"
                )
            )
            assert orphans == 0, f"{orphans} listings point to no call"
            empty = conn.scalar(
                text(
                    "SELECT count(*) FROM calls c WHERE NOT c.predicted AND NOT EXISTS "
                    "(SELECT 1 FROM listings l WHERE l.call_id = c.id)"
                )
            )
            assert empty == 0, f"{empty} calls without a listing"
            stray = conn.scalar(
                text(
                    "SELECT count(*) FROM call_fields f LEFT JOIN calls c ON c.id = f.call_id "
                    "WHERE c.id IS NULL"
                )
            )
            assert stray == 0, f"{stray} call_fields rows without a call"
            twice = conn.scalar(
                text(
                    "SELECT count(*) FROM (SELECT source, source_key FROM listings "
                    "GROUP BY source, source_key HAVING count(*) > 1) AS d"
                )
            )
            assert twice == 0, f"{twice} listings stored twice"
            rows = conn.execute(
                select(
                    CallRow.id,
                    CallRow.title,
                    CallRow.organizer,
                    CallRow.raw_text,
                    CallRow.search_text,
                    CallRow.search_grams,
                ).where(CallRow.predicted.is_(False))
            ).all()
            for cid, title, organizer, raw_text, search_text, search_grams in rows:
                want = search_columns(title, organizer, raw_text)
                assert (search_text, search_grams) == (
                    want["search_text"],
                    want["search_grams"],
                ), cid
            if sqlite:
                _assert_fts_agrees(conn)
    finally:
        engine.dispose()


# The FTS5 tables of migration 0004: (table, column, options). Kept in sync by triggers.
_FTS_TABLES = (
    ("calls_fts", "search_text", "tokenize='trigram'"),
    ("calls_grams", "search_grams", "tokenize='unicode61 remove_diacritics 0', detail='none'"),
)


def _assert_fts_agrees(conn: Any) -> None:
    """SQLite's FTS5 tables index exactly the rows and the text of `calls`: the same row ids,
    and the same terms with the same counts as an index rebuilt from `calls` now; a sample of
    calls is found through each by its own text."""
    calls = dict(conn.execute(select(CallRow.id, CallRow.search_text)).all())
    grams = dict(conn.execute(select(CallRow.id, CallRow.search_grams)).all())
    for table, column, options in _FTS_TABLES:
        # Raises on an index that is inconsistent in itself.
        conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
        indexed = set(conn.exec_driver_sql(f"SELECT id FROM {table}_docsize").scalars())
        assert indexed == set(calls), (table, len(indexed), len(calls))
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE temp.fresh_{table} USING fts5({column}, {options})"
        )
        conn.exec_driver_sql(
            f"INSERT INTO temp.fresh_{table}(rowid, {column}) SELECT id, {column} FROM calls"
        )
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE temp.v_{table} USING fts5vocab(main, {table}, 'row')"
        )
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE temp.v_fresh_{table} USING fts5vocab(temp, fresh_{table}, 'row')"
        )
        for a, b in ((f"v_{table}", f"v_fresh_{table}"), (f"v_fresh_{table}", f"v_{table}")):
            differ = conn.exec_driver_sql(
                f"SELECT count(*) FROM (SELECT term, doc, cnt FROM temp.{a} "
                f"EXCEPT SELECT term, doc, cnt FROM temp.{b})"
            ).scalar()
            assert differ == 0, f"{table}: {differ} terms differ from an index rebuilt from calls"
    step = max(1, len(calls) // 100)
    for cid in sorted(calls)[::step]:
        tail = calls[cid][-5:]
        found = conn.exec_driver_sql(
            "SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?",
            ('"' + tail.replace('"', '""') + '"',),
        ).scalars()
        assert cid in set(found), (cid, tail)
        gram = next(g for g in grams[cid].split() if g.isalnum())  # punctuation splits
        found = conn.exec_driver_sql(
            "SELECT rowid FROM calls_grams WHERE calls_grams MATCH ?", (f'"{gram}"',)
        ).scalars()
        assert cid in set(found), (cid, gram)


# -- running and killing ----------------------------------------------------------------------


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "KYODO_DATABASE_URL": url}


def wait_for_calls(url: str, proc: subprocess.Popen, timeout: float = 90) -> int:
    """Polls the database until the running ingest has committed calls; their number."""
    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the ingest ended before any call was stored"
            with engine.connect() as conn:
                count = conn.scalar(text("SELECT count(*) FROM calls"))
            if count:
                return count
            time.sleep(0.02)
    finally:
        engine.dispose()
    pytest.fail("no call was stored in time")


def kill_ingest(url: str, listings: Path, tmp: Path, sig: signal.Signals) -> int:
    """Starts `kyodo ingest`, sends `sig` once calls are stored; the exit status."""
    with (tmp / "stderr.txt").open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kyodo.cli", "ingest", "--today", TODAY, str(listings)],
            env=_env(url),
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            wait_for_calls(url, proc)
            proc.send_signal(sig)
            return proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def ingest(url: str, listings: Path, tmp: Path) -> dict[str, int]:
    proc = kyodo("ingest", "--today", TODAY, str(listings), env=_env(url), cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def stored_listings(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(ListingRow))
    finally:
        engine.dispose()


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("listings") / "listings.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for item in make_listings(N_LISTINGS):
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def clean(listings_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a clean, uninterrupted `kyodo ingest` of the file stores (SQLite)."""
    tmp = tmp_path_factory.mktemp("clean")
    url = f"sqlite:///{tmp / 'clean.db'}"
    upgrade_database(url)
    counts = ingest(url, listings_file, tmp)
    assert counts["inserted"] == N_LISTINGS and counts["rejected"] == 0
    assert_consistent(url)
    snap = snapshot(url)
    clusters = Counter(len(members) for members in snap["calls"])
    assert clusters[1] and max(clusters) > 1  # the file has reposts, merged into calls
    assert snap["predicted"]  # and past rounds, from which upcoming ones are predicted
    return snap


# -- the tests --------------------------------------------------------------------------------


def _killed_then_rerun(
    url: str, listings: Path, tmp: Path, sig: signal.Signals, clean: dict[str, Any]
) -> int:
    status = kill_ingest(url, listings, tmp, sig)
    assert_consistent(url)
    stored = stored_listings(url)
    # Killed mid-way: each batch is one transaction, so whole batches are stored, never a part.
    assert 0 < stored < N_LISTINGS, stored
    assert stored % BATCH_SIZE == 0, stored
    partial = snapshot(url)
    for key, value in partial["listings"].items():
        assert clean["listings"][key] == value, key
    counts = ingest(url, listings, tmp)
    assert counts["inserted"] == N_LISTINGS - stored
    assert counts["unchanged"] == stored
    assert counts["rejected"] == 0
    assert_consistent(url)
    assert_same(snapshot(url), clean)
    return status


def test_sigkill_during_ingest_then_rerun(listings_file: Path, clean, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kyodo.db'}"
    upgrade_database(url)
    status = _killed_then_rerun(url, listings_file, tmp_path, signal.SIGKILL, clean)
    assert status == -signal.SIGKILL


def test_sigterm_during_ingest_then_rerun(listings_file: Path, clean, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kyodo.db'}"
    upgrade_database(url)
    status = _killed_then_rerun(url, listings_file, tmp_path, signal.SIGTERM, clean)
    # `kyodo ingest` has no SIGTERM handler: it dies at once, as with SIGKILL (the test above
    # shows that is safe). A clean stop would exit with EXIT_STOPPED after a whole batch.
    assert status in (-signal.SIGTERM, EXIT_STOPPED), status


def test_sigkill_during_ingest_on_postgresql(
    listings_file: Path, clean, pg_url: str, tmp_path: Path
) -> None:
    upgrade_database(pg_url)
    status = _killed_then_rerun(pg_url, listings_file, tmp_path, signal.SIGKILL, clean)
    assert status == -signal.SIGKILL
