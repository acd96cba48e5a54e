"""Programs across years: the usual month and predicted upcoming rounds."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.ingest import Ingestor
from aggregator.programs import pattern, predict_upcoming
from aggregator.storage import make_engine, upgrade_database
from aggregator.storage.models import CallRow


def _round(year: int) -> dict:
    reiwa = year - 2018
    return {
        "id": f"r{year}",
        "source": "canpan",
        "title": f"令和{reiwa}年度 あおば地域福祉助成",
        "organizer": "公益財団法人 あおば福祉財団",
        "published": f"{year}-06-01",
        "text": f"募集時期 {year}年6月1日~{year}年6月30日\n助成金額 上限30万円\n"
        "対象:高齢者の見守り活動を行う団体",
    }


def test_rounds_link_to_one_program_and_the_next_one_is_predicted(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        Ingestor(engine, today=date(2026, 7, 15)).ingest([_round(2025), _round(2026)])
        with Session(engine) as s:
            calls = s.scalars(select(CallRow)).all()
            assert len(calls) == 2  # a new year's round is a new call …
            assert calls[0].program_id == calls[1].program_id is not None  # … of one program
            summary = pattern(s, calls[0].program_id)
        assert summary.phrase() == "例年6月頃に募集"

        assert predict_upcoming(engine, today=date(2026, 12, 1)) == 0  # too far ahead
        assert predict_upcoming(engine, today=date(2027, 3, 1)) == 1
        assert predict_upcoming(engine, today=date(2027, 3, 2)) == 1  # not created twice
        with Session(engine) as s:
            guess = s.scalars(select(CallRow).where(CallRow.predicted.is_(True))).one()
            assert guess.deadline == date(2027, 6, 30)
            assert guess.status == "upcoming"
            assert guess.max_amount_yen == 300_000

        # The real 2027 round arrives: the prediction goes.
        Ingestor(engine, today=date(2027, 6, 2)).ingest([_round(2027)])
        predict_upcoming(engine, today=date(2027, 6, 2))
        with Session(engine) as s:
            assert s.scalars(select(CallRow).where(CallRow.predicted.is_(True))).all() == []
            assert len(s.scalars(select(CallRow)).all()) == 3
    finally:
        engine.dispose()


def test_a_predicted_round_takes_next_year_s_title() -> None:
    from aggregator.programs import next_round_title

    assert (
        next_round_title("2026年度 子ども食堂応援助成 第7回") == "2027年度 子ども食堂応援助成 第8回"
    )
    assert next_round_title("令和8年度 まちづくり補助金") == "令和9年度 まちづくり補助金"
    assert next_round_title("令和元年度 まちづくり補助金") == "令和2年度 まちづくり補助金"
    assert next_round_title("みどりの基金") == "みどりの基金"
