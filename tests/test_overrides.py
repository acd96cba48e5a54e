"""Staff corrections (call_overrides): read from forms, written onto calls, kept by every later
ingest, moved on a merge, kept by the old call on a split — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.curation import merge_listings_calls, split_listing
from aggregator.ingest import Ingestor, precedence
from aggregator.overrides import (
    STAFF_EVIDENCE,
    OverrideError,
    apply_overrides,
    corrections,
    crawled_values,
    parse_amount,
    parse_form,
    row_values,
    set_overrides,
)
from aggregator.search import SearchParams, StatusFilter, search
from aggregator.sources import SOURCES
from aggregator.storage import make_engine, upgrade_database
from aggregator.storage.models import (
    CallField,
    CallHistoryRow,
    CallOverrideRow,
    CallRow,
    ListingRow,
)

TODAY = date(2026, 11, 28)

GRANT = {
    "id": "k1",
    "source": "canpan",
    "url": "https://grants.example.jp/canpan/k1",
    "title": "ひまわり地域福祉活動助成",
    "organizer": "公益財団法人 ひまわり福祉財団",
    "published": "2026-11-10",
    "text": "締切: 2026年12月18日\n助成金額: 上限50万円\n助成総額: 500万円\n"
    "対象: 高齢者の見守りを行う団体（任意団体可）",
}
REPOST = {
    "id": "m7",
    "source": "chiba_npo",
    "url": "https://pref.example.jp/npo/mag7.html#2",
    "title": "（公財）ひまわり福祉財団「ひまわり地域福祉活動助成」",
    "published": "2026-11-15",
    "text": "【締切】令和8年12月18日（金）\n【助成額】上限50万円\n【対象】地域福祉に取り組む団体",
}
SATOYAMA = {
    "id": "k2",
    "source": "canpan",
    "url": "https://grants.example.jp/canpan/k2",
    "title": "里山の手入れ応援助成",
    "organizer": "一般財団法人 みどりの森基金",
    "published": "2026-11-01",
    "text": "締切: 2027年1月15日\n助成金額: 上限20万円\n対象: 森林保全のボランティア団体",
}


@pytest.fixture
def engine(db_url: str):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _ingest(engine, items) -> None:
    Ingestor(engine, today=TODAY).ingest(items)


def _call_id(engine, source: str, key: str) -> int:
    with Session(engine) as s:
        return s.scalar(
            select(ListingRow.call_id).where(
                ListingRow.source == source, ListingRow.source_key == key
            )
        )


def _row(session: Session, call_id: int) -> CallRow:
    return session.get(CallRow, call_id)


# -- reading forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300000", 300_000),
        ("300,000円", 300_000),
        ("30万", 300_000),
        ("３０万円", 300_000),
        ("1.5億", 150_000_000),
        ("", None),
    ],
)
def test_amounts_from_a_form(text: str, expected: int | None) -> None:
    assert parse_amount(text) == expected


def test_parse_form_reads_each_kind_of_value() -> None:
    values, errors = parse_form(
        {
            "title": " 見守り助成 ",
            "organizer": "",
            "deadline": "2026/12/25",
            "deadline_kind": "unknown",
            "application_start": "",
            "max_amount_yen": "30万円",
            "total_budget_yen": "",
            "subsidy_rate": "2/3以内",
            "area": "national",
            "area_other": "船橋市",
            "informal_groups_ok": "yes",
            "legal_forms": "NPO法人、任意団体",
            "min_members": "5人",
            "min_years_active": "",
            "fields": ["children_youth", "health_welfare"],
            "status": "",
            "cost_personnel": "no",
            "cost_honoraria": "yes",
            "cost_rent": "not_stated",
            "cost_equipment": "not_stated",
        }
    )
    assert errors == {}
    assert values["title"] == "見守り助成"
    assert values["organizer"] is None
    assert values["deadline"] == "2026-12-25"
    assert values["deadline_kind"] == "fixed"  # a date given for an unknown deadline
    assert values["max_amount_yen"] == 300_000
    assert values["area"] == "municipality:船橋市"  # the place typed wins over the choice
    assert values["informal_groups_ok"] is True
    assert values["legal_forms"] == ["NPO法人", "任意団体"]
    assert values["min_members"] == 5
    assert values["fields"] == ["children_youth", "health_welfare"]
    assert values["status"] is None
    assert values["cost_personnel"] == "no"


def test_parse_form_says_what_to_fix() -> None:
    values, errors = parse_form(
        {
            "title": "",
            "deadline": "12月25日ごろ",
            "max_amount_yen": "たくさん",
            "area": "national",
            "area_other": "どこか遠く",
            "fields": ["cooking"],
            "deadline_kind": "fixed",
            "informal_groups_ok": "",
            "cost_personnel": "maybe",
        },
        ["title", "deadline", "max_amount_yen", "area", "fields", "cost_personnel"],
    )
    assert set(errors) == {
        "title",
        "deadline",
        "max_amount_yen",
        "area",
        "fields",
        "cost_personnel",
    }
    assert "2026-12-25 の形" in errors["deadline"]
    assert "数字" in errors["max_amount_yen"]
    assert values == {}


def test_fields_a_form_does_not_hold_are_left_alone() -> None:
    values, errors = parse_form({"deadline": "2026-12-25"})
    assert (values, errors) == ({"deadline": "2026-12-25"}, {})
    # Unticked boxes send nothing: `fields_shown` says the boxes were there.
    values, _ = parse_form({"fields_shown": "1"})
    assert values == {"fields": []}


def test_corrections_keep_untouched_values_and_drop_values_equal_to_the_crawled_ones() -> None:
    current = {"deadline": "2026-12-25", "max_amount_yen": 500_000, "fields": ["a", "b"]}
    crawled = {"deadline": "2026-12-18", "max_amount_yen": 500_000, "fields": ["a", "b"]}
    stored = {"deadline": "2026-12-25"}
    # Nothing changed on the form: the correction stays, nothing new is stored.
    same = {"deadline": "2026-12-25", "max_amount_yen": 500_000, "fields": ["b", "a"]}
    assert corrections(same, current=current, crawled=crawled, stored=stored) == stored
    # The amount changed; the deadline set back to the crawled value is no correction.
    edited = {"deadline": "2026-12-18", "max_amount_yen": 400_000, "fields": ["a", "b"]}
    assert corrections(edited, current=current, crawled=crawled, stored=stored) == {
        "max_amount_yen": 400_000
    }
    # 元に戻す wins over what the input holds.
    assert (
        corrections(same, current=current, crawled=crawled, stored=stored, reverted=["deadline"])
        == {}
    )


# -- writing onto calls ------------------------------------------------------------------------


def test_centre_listings_rank_as_the_organizers_own_page() -> None:
    assert "centre" in SOURCES and SOURCES["centre"].label == "センター登録"
    assert precedence("centre") == precedence("kamagaya") < precedence("canpan")


def test_a_later_crawl_keeps_the_staff_edit_and_updates_the_rest(engine) -> None:
    _ingest(engine, [GRANT])
    call_id = _call_id(engine, "canpan", "k1")
    with Session(engine) as s:
        set_overrides(
            s,
            call_id,
            {
                "deadline": "2026-12-25",
                "title": "ひまわり見守り活動助成",
                "fields": ["children_youth"],
            },
            None,
            "主催者に電話で確認",
        )
        s.commit()
    with Session(engine) as s:
        row = _row(s, call_id)
        assert row.deadline == date(2026, 12, 25)
        assert row.title == "ひまわり見守り活動助成"
        assert [f.field for f in row.fields] == ["children_youth"]
        assert row.evidence["deadline"] == STAFF_EVIDENCE
        assert "ひまわり見守り" in row.search_text  # keyword search finds the corrected title
        assert row.max_amount_yen == 500_000

    # The source changes its page: a new deadline, amount and budget.
    changed = {
        **GRANT,
        "text": GRANT["text"]
        .replace("12月18日", "12月20日")
        .replace("上限50万円", "上限60万円")
        .replace("500万円", "800万円"),
    }
    report = Ingestor(engine, today=TODAY).ingest([changed])
    assert report.updated == 1
    with Session(engine) as s:
        row = _row(s, call_id)
        assert row.deadline == date(2026, 12, 25)  # the staff's value
        assert row.title == "ひまわり見守り活動助成"
        assert [f.field for f in row.fields] == ["children_youth"]
        assert row.max_amount_yen == 600_000  # not corrected: follows the source
        assert row.total_budget_yen == 8_000_000
        kinds = [
            h.kind
            for h in s.scalars(select(CallHistoryRow).where(CallHistoryRow.call_id == call_id))
        ]
        assert "amount_changed" in kinds
        assert "deadline_changed" not in kinds and "deadline_extended" not in kinds
        found = search(s, SearchParams(q="見守り活動", status=StatusFilter.ALL), today=TODAY)
        assert [item["id"] for item in found.items] == [call_id]
        assert crawled_values(s, call_id)["deadline"] == "2026-12-20"


def test_removing_a_correction_brings_the_crawled_value_back(engine) -> None:
    _ingest(engine, [GRANT])
    call_id = _call_id(engine, "canpan", "k1")
    with Session(engine) as s:
        set_overrides(s, call_id, {"max_amount_yen": 300_000, "informal_groups_ok": False}, None)
        s.commit()
        assert _row(s, call_id).max_amount_yen == 300_000
        set_overrides(s, call_id, {"informal_groups_ok": False}, None)
        s.commit()
    with Session(engine) as s:
        row = _row(s, call_id)
        assert row.max_amount_yen == 500_000
        assert row.informal_groups_ok is False
        assert "助成金額" in row.evidence["max_amount_yen"]  # the crawled snippet again
        set_overrides(s, call_id, {}, None)
        s.commit()
    with Session(engine) as s:
        assert s.get(CallOverrideRow, call_id) is None
        assert _row(s, call_id).informal_groups_ok is True


def test_apply_overrides_writes_the_stored_values(engine) -> None:
    _ingest(engine, [SATOYAMA])
    call_id = _call_id(engine, "canpan", "k2")
    with Session(engine) as s:
        assert apply_overrides(s, _row(s, call_id)) is False
        s.add(
            CallOverrideRow(
                call_id=call_id,
                values={"status": "closed", "cost_rent": "yes", "area": "prefecture:千葉県"},
                updated_at=_row(s, call_id).last_seen,
            )
        )
        s.flush()
        row = _row(s, call_id)
        assert apply_overrides(s, row) is True
        assert (row.status, row.cost_rent, row.area) == ("closed", "yes", "prefecture:千葉県")
        assert row.evidence["costs.rent"] == STAFF_EVIDENCE


def test_values_are_checked_before_they_are_stored(engine) -> None:
    _ingest(engine, [SATOYAMA])
    call_id = _call_id(engine, "canpan", "k2")
    with Session(engine) as s:
        with pytest.raises(OverrideError):
            set_overrides(s, call_id, {"raw_text": "x"}, None)
        with pytest.raises(OverrideError):
            set_overrides(s, call_id, {"fields": ["cooking"]}, None)
        with pytest.raises(OverrideError):
            set_overrides(s, call_id, {"max_amount_yen": -5}, None)
        with pytest.raises(LookupError):
            set_overrides(s, 999_999, {"title": "x"}, None)


def test_a_merge_moves_corrections_and_the_kept_calls_own_win(engine) -> None:
    _ingest(engine, [GRANT, SATOYAMA])
    kept, gone = _call_id(engine, "canpan", "k1"), _call_id(engine, "canpan", "k2")
    assert kept != gone
    with Session(engine) as s:
        set_overrides(s, kept, {"deadline": "2026-12-25"}, None)
        set_overrides(s, gone, {"deadline": "2027-01-31", "min_members": 3}, None)
        s.commit()
        a = s.scalar(select(ListingRow.id).where(ListingRow.call_id == kept))
        b = s.scalar(select(ListingRow.id).where(ListingRow.call_id == gone))
    merge_listings_calls(engine, a, b, today=TODAY)
    with Session(engine) as s:
        assert s.get(CallRow, gone) is None
        assert s.get(CallOverrideRow, gone) is None
        assert s.get(CallOverrideRow, kept).values == {"deadline": "2026-12-25", "min_members": 3}
        row = _row(s, kept)
        assert (row.deadline, row.min_members) == (date(2026, 12, 25), 3)
    _ingest(engine, [{**SATOYAMA, "text": SATOYAMA["text"] + "\n（要項を更新）"}])
    with Session(engine) as s:
        assert _call_id(engine, "canpan", "k2") == kept
        assert _row(s, kept).deadline == date(2026, 12, 25)


def test_a_split_leaves_the_corrections_with_the_old_call(engine) -> None:
    _ingest(engine, [GRANT, REPOST])
    call_id = _call_id(engine, "canpan", "k1")
    assert _call_id(engine, "chiba_npo", "m7") == call_id
    with Session(engine) as s:
        set_overrides(s, call_id, {"max_amount_yen": 450_000}, None)
        s.commit()
        repost = s.scalar(select(ListingRow.id).where(ListingRow.source == "chiba_npo"))
    new_id = split_listing(engine, repost, today=TODAY)
    with Session(engine) as s:
        assert _row(s, call_id).max_amount_yen == 450_000
        assert _row(s, new_id).max_amount_yen == 500_000
        assert s.get(CallOverrideRow, new_id) is None
        # the fields rows of the corrected call are intact
        assert s.scalars(select(CallField).where(CallField.call_id == call_id)).all()


def test_row_values_and_crawled_values_agree_on_an_uncorrected_call(engine) -> None:
    _ingest(engine, [GRANT])
    call_id = _call_id(engine, "canpan", "k1")
    with Session(engine) as s:
        current, crawled = row_values(_row(s, call_id)), crawled_values(s, call_id)
    assert {k: v for k, v in current.items() if k != "status"} == {
        k: v for k, v in crawled.items() if k != "status"
    }


def test_a_merge_keeps_groups_saved_and_dismissed_marks(engine) -> None:
    from datetime import UTC, datetime

    from aggregator.storage.models import DismissedCallRow, GroupRow, SavedCallRow

    _ingest(engine, [GRANT, SATOYAMA])
    kept, gone = _call_id(engine, "canpan", "k1"), _call_id(engine, "canpan", "k2")
    now = datetime.now(UTC)
    with Session(engine) as s:
        groups = [
            GroupRow(name=name, unsubscribe_token=name, created_at=now, updated_at=now)
            for name in ("a", "b", "c")
        ]
        s.add_all(groups)
        s.flush()
        a, b, c = (g.id for g in groups)
        s.add_all(
            [
                SavedCallRow(group_id=a, call_id=gone, created_at=now),  # moves
                SavedCallRow(group_id=b, call_id=gone, created_at=now),  # b has both: one stays
                SavedCallRow(group_id=b, call_id=kept, created_at=now),
                DismissedCallRow(group_id=c, call_id=gone, created_at=now),  # moves
            ]
        )
        s.commit()
        la = s.scalar(select(ListingRow.id).where(ListingRow.call_id == kept))
        lb = s.scalar(select(ListingRow.id).where(ListingRow.call_id == gone))
    merge_listings_calls(engine, la, lb, today=TODAY)
    with Session(engine) as s:
        saved = set(s.execute(select(SavedCallRow.group_id, SavedCallRow.call_id)).all())
        dismissed = set(
            s.execute(select(DismissedCallRow.group_id, DismissedCallRow.call_id)).all()
        )
    assert saved == {(a, kept), (b, kept)}
    assert dismissed == {(c, kept)}
