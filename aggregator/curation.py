"""Staff decisions on duplicates: merge two listings' calls, or split a listing off its call.

Decisions are stored (`dedupe_decisions`) and handed to the matcher on every later ingest, so
they persist across crawls and re-runs. Listings are never deleted; a call emptied by a merge
is removed after its history has moved to the call it was merged into.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from aggregator.ingest import Ingestor
from aggregator.overrides import load_overrides, move_overrides
from aggregator.storage.models import (
    CallHistoryRow,
    CallRow,
    DedupeDecisionRow,
    DigestCallRow,
    DismissedCallRow,
    ListingRow,
    SavedCallRow,
)


class CurationError(ValueError):
    """A staff request that cannot be carried out (message in Japanese, then English)."""


def _listing(session: Session, listing_id: int) -> ListingRow:
    row = session.get(ListingRow, listing_id)
    if row is None:
        raise CurationError(f"掲載 {listing_id} がありません (no listing {listing_id})")
    return row


def merge_listings_calls(
    engine: Engine, listing_a: int, listing_b: int, *, note: str | None = None, today: date
) -> int:
    """Staff say listings a and b are the same call: b's call joins a's. Returns the call id."""
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        a, b = _listing(session, listing_a), _listing(session, listing_b)
        session.add(
            DedupeDecisionRow(
                kind="merge", listing_a_id=a.id, listing_b_id=b.id, note=note, created_at=now
            )
        )
        keep, gone = a.call_id, b.call_id
        if keep != gone:
            move_overrides(session, gone, into_call=keep)  # staff edits survive the merge
            _move_group_marks(session, gone, into_call=keep)  # so do groups' 気になる / 対象外
            session.execute(
                update(ListingRow).where(ListingRow.call_id == gone).values(call_id=keep)
            )
            session.execute(
                update(CallHistoryRow).where(CallHistoryRow.call_id == gone).values(call_id=keep)
            )
            session.add(CallHistoryRow(call_id=keep, kind="merged", new_value=str(gone), at=now))
            session.flush()
            session.delete(session.get(CallRow, gone))
        ingestor = Ingestor(engine, today=today, now=now)
        ingestor.merge_stored(session, [keep])
        return keep


def _move_group_marks(session: Session, gone: int, *, into_call: int) -> None:
    """Groups' saved and dismissed marks (and the record that a digest listed it) on call
    `gone` move to `into_call` (a group that marked both keeps the mark it has on `into_call`)."""
    for table in (SavedCallRow, DismissedCallRow, DigestCallRow):
        already = select(table.group_id).where(table.call_id == into_call)
        session.execute(
            update(table)
            .where(table.call_id == gone, table.group_id.not_in(already))
            .values(call_id=into_call)
            .execution_options(synchronize_session=False)
        )


def split_listing(engine: Engine, listing_id: int, *, note: str | None = None, today: date) -> int:
    """Staff say a listing is not the same call as the others of its call. Returns its new call."""
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        listing = _listing(session, listing_id)
        old_call = listing.call_id
        others = session.scalars(
            select(ListingRow).where(ListingRow.call_id == old_call, ListingRow.id != listing.id)
        ).all()
        if not others:
            raise CurationError(
                f"掲載 {listing_id} は単独の公募です (listing {listing_id} is alone in its call)"
            )
        for other in others:
            session.add(
                DedupeDecisionRow(
                    kind="split",
                    listing_a_id=listing.id,
                    listing_b_id=other.id,
                    note=note,
                    created_at=now,
                )
            )
        ingestor = Ingestor(engine, today=today, now=now)
        # The old call first: it must stop naming this listing as its lead before the new one
        # takes it (a call's lead listing is unique).
        # Its staff corrections stay with the old call; the listing split off starts without.
        overrides = load_overrides(session, [old_call]).get(old_call)
        ingestor.apply_merge(session.get(CallRow, old_call), list(others), overrides)
        session.flush()
        new_call = CallRow(first_seen=listing.first_seen, last_seen=now, fields=[])
        ingestor.apply_merge(new_call, [listing])
        session.add(new_call)
        session.flush()
        listing.call_id = new_call.id
        session.add(
            CallHistoryRow(call_id=old_call, kind="split", new_value=str(new_call.id), at=now)
        )
        session.flush()
        return new_call.id
