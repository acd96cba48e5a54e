"""Settings from KYODO_* variables and the record's contract form."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from aggregator.record import GrantCall, RawCall
from aggregator.settings import Settings


def test_default_database_is_kyodo_db_in_working_directory(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KYODO_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().database_url == f"sqlite:///{tmp_path / 'kyodo.db'}"


def test_database_url_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("KYODO_DATABASE_URL", "postgresql://u:p@db.example/kyodo")
    assert Settings().database_url == "postgresql+psycopg://u:p@db.example/kyodo"


def test_bad_database_url_is_rejected(monkeypatch) -> None:
    monkeypatch.setenv("KYODO_DATABASE_URL", "kyodo.db")
    with pytest.raises(ValidationError, match="SQLAlchemy URL"):
        Settings()


def test_home_area_settings(monkeypatch) -> None:
    monkeypatch.setenv("KYODO_HOME_MUNICIPALITY", "船橋市")
    assert Settings().home_municipality == "船橋市"
    assert Settings().home_prefecture == "千葉県"


def test_unknown_field_slug_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown activity field"):
        GrantCall(id="x", title="t", fields=["welfare"])


def test_contract_json_has_the_contract_keys() -> None:
    call = GrantCall(id="x", title="t", deadline=date(2026, 5, 1), fields=["environment"])
    data = json.loads(call.contract_json())
    assert set(data) >= {
        "id",
        "title",
        "organizer",
        "deadline",
        "deadline_kind",
        "application_start",
        "max_amount_yen",
        "total_budget_yen",
        "fields",
        "area",
        "informal_groups_ok",
        "evidence",
    }
    assert data["deadline"] == "2026-05-01"
    assert data["informal_groups_ok"] is None
    assert "raw_text" not in data
    assert data == call.contract_dict()


def test_raw_call_accepts_numeric_id_and_empty_published() -> None:
    raw = RawCall.model_validate({"id": 12, "text": "本文", "published": "", "extra": 1})
    assert raw.id == "12"
    assert raw.published is None
