"""Save and load `GrantCall` records. The only code that maps the record to rows and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.record import CostsCovered, DeadlineNote, Eligibility, GrantCall, Round
from aggregator.searchtext import search_columns
from aggregator.storage.models import CallField, CallRow


def _now() -> datetime:
    return datetime.now(UTC)


def call_values(call: GrantCall) -> dict[str, Any]:
    """A record's facts as column values of `calls` (for bulk inserts; fields not included)."""
    return {
        "source": call.source or "",
        "source_item_id": call.id,
        "source_url": call.source_url,
        "title": call.title,
        "organizer": call.organizer,
        "deadline": call.deadline,
        "deadline_kind": call.deadline_kind.value,
        "deadline_note": call.deadline_note.model_dump(mode="json"),
        "application_start": call.application_start,
        "rounds": [r.model_dump(mode="json") for r in call.rounds],
        "max_amount_yen": call.max_amount_yen,
        "total_budget_yen": call.total_budget_yen,
        "subsidy_rate": call.subsidy_rate,
        "field_terms": dict(call.field_terms),
        "area": call.area,
        "informal_groups_ok": call.eligibility.informal_groups_ok,
        "legal_forms": list(call.eligibility.legal_forms),
        "min_members": call.eligibility.min_members,
        "min_years_active": call.eligibility.min_years_active,
        "cost_personnel": call.costs.personnel.value,
        "cost_honoraria": call.costs.honoraria.value,
        "cost_rent": call.costs.rent.value,
        "cost_equipment": call.costs.equipment.value,
        "status": call.status.value if call.status else None,
        "raw_text": call.raw_text,
        **search_columns(call.title, call.organizer, call.raw_text),
        "published": call.published,
        "evidence": dict(call.evidence),
    }


def apply_call(row: CallRow, call: GrantCall) -> None:
    """Write a record's facts onto a call row (its fields rows included)."""
    row.source = call.source or ""
    row.source_item_id = call.id
    row.source_url = call.source_url
    row.title = call.title
    row.organizer = call.organizer
    row.deadline = call.deadline
    row.deadline_kind = call.deadline_kind.value
    row.deadline_note = call.deadline_note.model_dump(mode="json")
    row.application_start = call.application_start
    row.rounds = [r.model_dump(mode="json") for r in call.rounds]
    row.max_amount_yen = call.max_amount_yen
    row.total_budget_yen = call.total_budget_yen
    row.subsidy_rate = call.subsidy_rate
    row.field_terms = dict(call.field_terms)
    row.area = call.area
    row.informal_groups_ok = call.eligibility.informal_groups_ok
    row.legal_forms = list(call.eligibility.legal_forms)
    row.min_members = call.eligibility.min_members
    row.min_years_active = call.eligibility.min_years_active
    row.cost_personnel = call.costs.personnel.value
    row.cost_honoraria = call.costs.honoraria.value
    row.cost_rent = call.costs.rent.value
    row.cost_equipment = call.costs.equipment.value
    row.status = call.status.value if call.status else None
    row.raw_text = call.raw_text
    for key, value in search_columns(call.title, call.organizer, call.raw_text).items():
        setattr(row, key, value)
    row.published = call.published
    row.evidence = dict(call.evidence)
    wanted = {slug: rank for rank, slug in enumerate(call.fields)}
    row.fields = [f for f in row.fields if f.field in wanted]
    for f in row.fields:
        f.rank = wanted.pop(f.field)
    row.fields.extend(CallField(field=slug, rank=rank) for slug, rank in wanted.items())


def save_call(session: Session, call: GrantCall, *, seen_at: datetime | None = None) -> CallRow:
    """Insert or update the call keyed by (source, id); keeps `first_seen`, moves `last_seen`."""
    seen_at = seen_at or _now()
    row = session.scalars(
        select(CallRow).where(
            CallRow.source == (call.source or ""), CallRow.source_item_id == call.id
        )
    ).one_or_none()
    if row is None:
        row = CallRow(first_seen=call.first_seen or seen_at, fields=[])
        session.add(row)
    apply_call(row, call)
    row.last_seen = call.last_seen or seen_at
    session.flush()
    return row


def row_to_call(row: CallRow) -> GrantCall:
    return GrantCall(
        id=row.source_item_id,
        title=row.title,
        organizer=row.organizer,
        source=row.source or None,
        source_url=row.source_url,
        deadline=row.deadline,
        deadline_kind=row.deadline_kind,
        deadline_note=DeadlineNote.model_validate(row.deadline_note or {}),
        application_start=row.application_start,
        rounds=[Round.model_validate(r) for r in row.rounds or []],
        max_amount_yen=row.max_amount_yen,
        total_budget_yen=row.total_budget_yen,
        subsidy_rate=row.subsidy_rate,
        fields=[f.field for f in sorted(row.fields, key=lambda f: f.rank)],
        field_terms=row.field_terms or {},
        area=row.area,
        eligibility=Eligibility(
            informal_groups_ok=row.informal_groups_ok,
            legal_forms=row.legal_forms or [],
            min_members=row.min_members,
            min_years_active=row.min_years_active,
        ),
        costs=CostsCovered(
            personnel=row.cost_personnel,
            honoraria=row.cost_honoraria,
            rent=row.cost_rent,
            equipment=row.cost_equipment,
        ),
        status=row.status,
        raw_text=row.raw_text,
        published=row.published,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        evidence=row.evidence or {},
    )


def load_call(session: Session, source: str | None, item_id: str) -> GrantCall | None:
    """The stored call for (source, id), or None."""
    row = session.scalars(
        select(CallRow).where(CallRow.source == (source or ""), CallRow.source_item_id == item_id)
    ).one_or_none()
    return row_to_call(row) if row else None
