"""Source health: outcome and warnings of a run, stored and read back on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.health import SourceRun, error_label, latest_runs, run_dict, store_run
from aggregator.storage import make_engine, upgrade_database

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def _run(source: str = "canpan", **kwargs) -> SourceRun:
    return SourceRun(source=source, started_at=T0, finished_at=T0 + timedelta(seconds=12), **kwargs)


def test_a_clean_run_is_ok_and_complete() -> None:
    run = _run(pages=5, listings=40)
    assert run.assess() == "ok" and run.warnings == []
    assert run.complete()
    assert run.duration_s == 12


def test_no_listings_from_a_source_that_should_list_calls_is_a_failure() -> None:
    run = _run(pages=1, listings=0)
    assert run.assess() == "failed"
    assert run.warnings == ["募集情報が1件も取得できませんでした"]
    assert not run.complete()


def test_an_empty_season_is_normal_where_declared() -> None:
    run = _run("wam", pages=1, listings=0, empty_ok=True)
    assert run.assess() == "ok" and run.warnings == []


def test_shape_errors_warn_that_the_page_changed() -> None:
    run = _run(pages=3, listings=10, partial=2, errors={"shape": 2, "http_404": 1})
    assert run.assess() == "warning"
    assert any("ページの形が変わった" in w for w in run.warnings)
    assert any("一覧の情報のみ" in w for w in run.warnings)
    assert not run.complete()  # missing calls must not be taken as delisted


def test_more_than_a_tenth_of_invalid_listings_fails_the_run() -> None:
    assert _run(pages=3, listings=95, errors={"invalid_listing": 5}).assess() == "warning"
    run = _run(pages=3, listings=80, errors={"invalid_listing": 20})
    assert run.assess() == "failed"
    assert any("1割を超えています" in w for w in run.warnings)


def test_error_labels() -> None:
    assert error_label("http_503") == "HTTP 503 エラー"
    assert error_label("timeout") == "タイムアウト"
    assert error_label("something_new") == "something_new"


@pytest.mark.postgres
def test_runs_are_stored_and_the_latest_is_shown(db_url: str) -> None:
    upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        store_run(engine, _run(pages=2, listings=0))
        later = _run(pages=4, listings=9, errors={"timeout": 1})
        later.started_at += timedelta(days=1)
        later.finished_at += timedelta(days=1)
        store_run(engine, later)
        store_run(engine, _run("wam", pages=1, listings=0, empty_ok=True))
        runs = latest_runs(engine)
        assert set(runs) == {"canpan", "wam"}
        canpan = run_dict(runs["canpan"])
        assert canpan["listings"] == 9 and canpan["errors"] == {"timeout": 1}
        assert canpan["outcome"] == "warning"
        assert canpan["started_at"].startswith("2026-11-29T03:00")
        assert run_dict(runs["wam"])["outcome"] == "ok"
    finally:
        engine.dispose()
