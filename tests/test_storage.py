"""Storage on a real SQLite file and a real PostgreSQL server: migrations and the call record."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from aggregator.record import (
    ChannelDeadline,
    CostsCovered,
    Coverage,
    DeadlineBasis,
    DeadlineKind,
    DeadlineNote,
    Eligibility,
    GrantCall,
    Round,
    Status,
)
from aggregator.storage import load_call, make_engine, save_call, session_factory, upgrade_database
from aggregator.storage.db import current_revision, head_revision, include_object
from aggregator.storage.models import Base, CallField


def _call(**overrides) -> GrantCall:
    values = dict(
        id="canpan/12345",
        title="2026年度 子ども食堂応援助成（第8回）",
        organizer="公益財団法人 みらい子ども財団",
        source="canpan",
        source_url="https://example.org/grant/detail/12345",
        deadline=date(2026, 8, 3),
        deadline_kind=DeadlineKind.FIXED,
        deadline_note=DeadlineNote(
            basis=DeadlineBasis.ARRIVAL,
            time="17:00",
            channels=[ChannelDeadline(channel="mail", deadline=date(2026, 8, 3))],
            text="17:00必着",
        ),
        application_start=date(2026, 7, 3),
        rounds=[Round(label="第8回", start=date(2026, 7, 3), end=date(2026, 8, 3))],
        max_amount_yen=800_000,
        total_budget_yen=3_200_000,
        subsidy_rate="事業費総額の75%以内",
        fields=["children_youth", "health_welfare"],
        field_terms={"children_youth": ["子ども食堂"], "health_welfare": ["福祉"]},
        area="prefecture:千葉県",
        eligibility=Eligibility(
            informal_groups_ok=True,
            legal_forms=["任意団体", "NPO法人"],
            min_members=5,
            min_years_active=1,
        ),
        costs=CostsCovered(personnel=Coverage.NO, honoraria=Coverage.YES),
        status=Status.OPEN,
        raw_text="募集時期 2026年7月3日～2026年8月3日（17時必着）",
        published=date(2026, 7, 3),
        evidence={
            "deadline": "2026年7月3日~2026年8月3日(17時必着)",
            "max_amount_yen": "上限額:800,000円",
        },
    )
    values.update(overrides)
    return GrantCall(**values)


def test_upgrade_creates_schema_and_is_idempotent(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade_database(db_url)
    assert current_revision(db_url) == head_revision()
    upgrade_database(db_url)  # a second run changes nothing and does not fail
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"calls", "call_fields", "alembic_version"} <= tables


def test_migrations_match_models(db_url: str) -> None:
    """A model change without its migration fails here."""
    upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_object}
            )
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back(db_url: str) -> None:
    upgrade_database(db_url)
    from alembic import command

    from aggregator.storage.db import alembic_config

    command.downgrade(alembic_config(db_url), "base")
    engine = make_engine(db_url)
    try:
        assert "calls" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    upgrade_database(db_url)
    assert current_revision(db_url) == head_revision()


def test_call_round_trip(db_url: str) -> None:
    upgrade_database(db_url)
    engine = make_engine(db_url)
    Session = session_factory(engine)
    original = _call()
    seen = datetime(2026, 7, 4, 9, 0, tzinfo=UTC)
    try:
        with Session.begin() as session:
            save_call(session, original, seen_at=seen)
        with Session() as session:
            loaded = load_call(session, "canpan", "canpan/12345")
    finally:
        engine.dispose()
    assert loaded is not None
    expected = original.model_dump(exclude={"first_seen", "last_seen"})
    assert loaded.model_dump(exclude={"first_seen", "last_seen"}) == expected
    assert loaded.first_seen == seen
    assert loaded.last_seen == seen


def test_save_again_updates_in_place_and_keeps_first_seen(db_url: str) -> None:
    upgrade_database(db_url)
    engine = make_engine(db_url)
    Session = session_factory(engine)
    first = datetime(2026, 7, 4, tzinfo=UTC)
    later = datetime(2026, 7, 11, tzinfo=UTC)
    try:
        with Session.begin() as session:
            save_call(session, _call(), seen_at=first)
        changed = _call(
            deadline=date(2026, 8, 31), fields=["health_welfare", "children_youth", "environment"]
        )
        with Session.begin() as session:
            save_call(session, changed, seen_at=later)
        with Session() as session:
            loaded = load_call(session, "canpan", "canpan/12345")
            field_rows = session.scalars(select(CallField).order_by(CallField.rank)).all()
    finally:
        engine.dispose()
    assert loaded.deadline == date(2026, 8, 31)
    assert loaded.fields == ["health_welfare", "children_youth", "environment"]
    assert [(f.field, f.rank) for f in field_rows] == [
        ("health_welfare", 0),
        ("children_youth", 1),
        ("environment", 2),
    ]
    assert loaded.first_seen == first
    assert loaded.last_seen == later


def test_unknown_call_is_none(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        with session_factory(engine)() as session:
            assert load_call(session, "canpan", "nope") is None
    finally:
        engine.dispose()


def test_sqlite_file_uses_wal(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def _kyodo(*args: str, url: str, cwd) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KYODO_DATABASE_URL": url} if url else dict(os.environ)
    if not url:
        env.pop("KYODO_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "kyodo", *args], env=env, cwd=cwd, capture_output=True, text=True
    )


def test_cli_db_upgrade(db_url: str, tmp_path) -> None:
    result = _kyodo("db", "upgrade", url=db_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "データベースを更新しました" in result.stdout
    again = _kyodo("db", "upgrade", url=db_url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "最新です" in again.stdout
    current = _kyodo("db", "current", url=db_url, cwd=tmp_path)
    assert current.returncode == 0
    assert f"current:  {head_revision()}" in current.stdout


def test_cli_db_upgrade_default_is_kyodo_db_in_working_directory(tmp_path) -> None:
    result = _kyodo("db", "upgrade", url="", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "kyodo.db").is_file()
    assert current_revision(f"sqlite:///{tmp_path / 'kyodo.db'}") == head_revision()


@pytest.mark.parametrize(
    "url",
    ["not a url", "sqlite:////nonexistent-folder-kyodo/x/kyodo.db"],
)
def test_cli_db_upgrade_bad_url_is_a_clear_error(url: str, tmp_path) -> None:
    result = _kyodo("db", "upgrade", url=url, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Error:" in result.stderr
