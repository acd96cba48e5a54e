"""Ingest: raw listings from spiders and files into listings and merged calls, with history.

One path for everything that brings listings in. A listing is keyed by (source, the source's
id or else its URL); the hash of its content decides "unchanged". New and changed listings are
normalized, matched to a call (`aggregator.dedupe.Matcher`) and the call's facts are merged
from its listings by precedence: the organizer's own page > a national portal or API >
aggregators and reposts. Facts the listings disagree on are kept in `calls.conflicts`.

Nothing is deleted: a rejected listing is stored with its reason; a listing a complete crawl no
longer returns is marked "no longer listed"; a crawl that returns nothing changes nothing; a
listing that comes `partial` (its detail page failed) leaves the complete one stored before as
it is.
Work is committed in batches, so a killed run loses at most the batch in progress, and a re-run
completes it (listings already stored are then "unchanged").
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from aggregator.dedupe import Matcher, program_key
from aggregator.normalize.pipeline import normalize_call
from aggregator.overrides import apply_values, load_overrides
from aggregator.record import GrantCall, RawCall, Status
from aggregator.storage.models import (
    CallField,
    CallHistoryRow,
    CallRow,
    DedupeDecisionRow,
    ListingRow,
    ProgramRow,
    RejectedListingRow,
)
from aggregator.storage.repository import apply_call, call_values

# Precedence of a listing's facts, lowest first.
ORGANIZER_PAGE, NATIONAL_PORTAL, REPOST = 0, 1, 2
_PORTALS = frozenset({"jgrants", "wam"})
# "centre": calls the centre's staff entered by hand (from the organizer's flyer or a phone call).
_ORGANIZER_SOURCES = frozenset({"organizer_site", "kamagaya", "centre"})
_WITHDRAWN_WORDS = ("募集中止", "公募中止", "取り下げ", "取りやめ", "中止となりました")
_RECORD_EXCLUDE = {"raw_text", "first_seen", "last_seen", "informal_groups_ok"}

_LEADING_LABEL = re.compile(r"\s*[【\[［]")

BATCH_SIZE = 1000
_MATCH_TEXT_CHARS = 600


def precedence(source: str) -> int:
    if source in _ORGANIZER_SOURCES:
        return ORGANIZER_PAGE
    if source in _PORTALS:
        return NATIONAL_PORTAL
    return REPOST


@dataclass
class IngestReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    no_longer_listed: int = 0
    calls_created: int = 0
    rejections: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    def as_dict(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "no_longer_listed": self.no_longer_listed,
            "calls_created": self.calls_created,
        }


class Rejected(ValueError):
    """A listing that cannot be ingested; the message is for staff (Japanese, then English)."""


def content_hash(raw: dict[str, Any]) -> str:
    canonical = json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_listing(data: Any) -> tuple[RawCall, str]:
    """A validated raw call and its key within its source; raises `Rejected`."""
    if not isinstance(data, dict):
        raise Rejected("JSON オブジェクトではありません (not a JSON object)")
    if not data.get("source"):
        raise Rejected("source がありません (missing source)")
    if data.get("text") in (None, ""):
        raise Rejected("text がありません (missing text)")
    if data.get("id") in (None, "") and not data.get("url"):
        raise Rejected("id も url もありません (missing both id and url)")
    payload = dict(data)
    if payload.get("id") in (None, ""):
        payload["id"] = payload["url"]
    try:
        raw = RawCall.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise Rejected(f"項目の形式が正しくありません (invalid value: {problems})") from exc
    key = raw.id[:255]
    return raw, key


class Ingestor:
    """Ingests listings into the database at `engine`. Build one per run."""

    def __init__(self, engine: Engine, *, today: date, now: datetime | None = None) -> None:
        self.engine = engine
        self.today = today
        self.now = now or datetime.now(UTC)
        self._known: dict[tuple[str, str], tuple[int, str, int]] = {}  # -> (listing, hash, call)
        self._partial: set[tuple[str, str]] = set()  # listings stored with only their list row
        self._cluster_call: dict[str, int] = {}
        self.matcher = Matcher()
        self._loaded = False
        self._programs: dict[str, ProgramRow | int] = {}  # program key -> row or id

    # -- index ---------------------------------------------------------------------------

    def load(self) -> None:
        """Read what is stored: listing keys and hashes, staff decisions, the match index."""
        with Session(self.engine) as session:
            decisions = session.execute(
                select(
                    DedupeDecisionRow.kind,
                    DedupeDecisionRow.listing_a_id,
                    DedupeDecisionRow.listing_b_id,
                )
            ).all()
            decided = {lid for _, a, b in decisions for lid in (a, b)}
            ids: dict[int, str] = {}
            if decided:
                for lid, source, key in session.execute(
                    select(ListingRow.id, ListingRow.source, ListingRow.source_key).where(
                        ListingRow.id.in_(decided)
                    )
                ):
                    ids[lid] = f"{source}/{key}"
            must = [(ids[a], ids[b]) for kind, a, b in decisions if kind == "merge"]
            cannot = [(ids[a], ids[b]) for kind, a, b in decisions if kind == "split"]
            self.matcher = Matcher(must_link=must, cannot_link=cannot)
            self._programs = dict(session.execute(select(ProgramRow.key, ProgramRow.id)).all())
            # Streamed: holding every stored record at once would take about 10 KB a listing.
            rows = session.execute(
                select(
                    ListingRow.source,
                    ListingRow.source_key,
                    ListingRow.id,
                    ListingRow.content_hash,
                    ListingRow.call_id,
                    ListingRow.record,
                    # The head of the text: matching reads an organizer from it when the
                    # listing names none (the stored record leaves the raw text out).
                    func.substr(ListingRow.raw["text"].as_string(), 1, _MATCH_TEXT_CHARS),
                    ListingRow.raw["partial"].as_boolean(),
                ).execution_options(yield_per=2000)
            )
            for source, key, lid, digest, call_id, record, head, partial in rows:
                self._known[(source, key)] = (lid, digest, call_id)
                if partial:
                    self._partial.add((source, key))
                record["raw_text"] = head or ""
                cluster = f"call:{call_id}"
                self._cluster_call[cluster] = call_id
                self.matcher.add(
                    f"{source}/{key}", GrantCall.model_validate(record), cluster=cluster
                )
        self._loaded = True

    # -- ingest --------------------------------------------------------------------------

    def ingest(self, items: Iterable[Any], *, complete: bool = False) -> IngestReport:
        """Ingest `items` (dicts, or `Rejected` for lines that could not be read).

        With `complete`, each source that has at least one listing in `items` is taken as
        fully listed there: its stored listings missing from `items` become "no longer listed".
        """
        if not self._loaded:
            self.load()
        report = IngestReport()
        seen: dict[str, set[str]] = {}
        batch: list[tuple[int, Any]] = []
        for number, item in enumerate(items, start=1):
            batch.append((number, item))
            if len(batch) >= BATCH_SIZE:
                self._ingest_batch(batch, report, seen)
                batch = []
        if batch:
            self._ingest_batch(batch, report, seen)
        if complete:
            self._mark_delisted(seen, report)
        return report

    def _ingest_batch(
        self,
        batch: list[tuple[int, Any]],
        report: IngestReport,
        seen: dict[str, set[str]],
    ) -> None:
        # New calls and listings are written with bulk INSERTs, once per batch: building ORM
        # objects and flushing them costs milliseconds a listing, and this runs for 100,000.
        with Session(self.engine) as session, session.begin(), session.no_autoflush:
            new_calls: dict[str, dict[str, Any]] = {}  # cluster -> call values, this batch
            new_members: dict[str, list[_Pending]] = {}
            first_call: dict[str, GrantCall] = {}
            pending: list[_Pending] = []
            rejected: list[tuple[Any, str]] = []
            dirty: set[int] = set()  # stored calls whose listings changed
            touched: list[int] = []
            for number, item in batch:
                try:
                    if isinstance(item, Rejected):
                        raise item
                    raw, key = parse_listing(item)
                except Rejected as exc:
                    report.rejected += 1
                    report.rejections.append((number, str(exc)))
                    rejected.append((item, str(exc)))
                    continue
                seen.setdefault(raw.source, set()).add(key)
                digest = content_hash(item)
                known = self._known.get((raw.source, key))
                if known is not None and known[1] == digest:
                    report.unchanged += 1
                    touched.append(known[0])
                    continue
                if (
                    known is not None
                    and item.get("partial")
                    and (raw.source, key) not in self._partial
                ):
                    # Its detail page failed this time, so only the list row came: the complete
                    # listing stored before keeps its facts (a failed page loses nothing).
                    report.unchanged += 1
                    touched.append(known[0])
                    continue
                call = normalize_call(raw, today=self.today)
                record = call.model_dump(mode="json", exclude=_RECORD_EXCLUDE)
                mkey = f"{raw.source}/{key}"
                if known is None:
                    listing = _Pending(
                        source=raw.source,
                        source_key=key,
                        url=raw.url,
                        content_hash=digest,
                        raw=item,
                        record=record,
                        precedence=precedence(raw.source),
                    )
                    cluster = self.matcher.add(mkey, call)
                    call_id = self._cluster_call.get(cluster)
                    if call_id is not None:
                        listing.call_id = call_id
                        dirty.add(call_id)
                        self._history(session, call_id, "listed", None, raw.source, raw.source)
                    else:
                        if cluster not in new_calls:
                            new_calls[cluster] = {}
                            first_call[cluster] = call
                            report.calls_created += 1
                        listing.cluster = cluster
                        new_members.setdefault(cluster, []).append(listing)
                    pending.append(listing)
                    report.inserted += 1
                else:
                    lid, _, call_id = known
                    # A changed listing stays with its call: calls must not move under staff.
                    self.matcher.add(mkey, call, cluster=f"call:{call_id}")
                    session.execute(
                        update(ListingRow)
                        .where(ListingRow.id == lid)
                        .values(
                            content_hash=digest,
                            raw=item,
                            record=record,
                            url=raw.url,
                            listed=True,
                            delisted_at=None,
                            last_seen=self.now,
                        )
                    )
                    self._known[(raw.source, key)] = (lid, digest, call_id)
                    if not item.get("partial"):
                        self._partial.discard((raw.source, key))
                    report.updated += 1
                    dirty.add(call_id)
            if new_calls:
                self._insert_new_calls(session, new_calls, new_members, first_call)
            if pending:
                self._insert_listings(session, pending)
            if touched:
                for chunk in _chunks(touched, 500):
                    # Back on the source's list, unchanged, after being no longer listed.
                    back = session.execute(
                        select(ListingRow.call_id, ListingRow.source).where(
                            ListingRow.id.in_(chunk), ListingRow.listed.is_(False)
                        )
                    ).all()
                    for call_id, source in back:
                        self._history(session, call_id, "listed", None, source, source)
                        dirty.add(call_id)
                    session.execute(
                        update(ListingRow)
                        .where(ListingRow.id.in_(chunk))
                        .values(listed=True, delisted_at=None, last_seen=self.now)
                    )
            self.merge_stored(session, sorted(dirty))
            for item, reason in rejected:
                self._store_rejection(session, item, reason)

    def _insert_new_calls(
        self,
        session: Session,
        new_calls: dict[str, dict[str, Any]],
        members: dict[str, list[_Pending]],
        first_call: dict[str, GrantCall],
    ) -> None:
        new_programs: dict[str, ProgramRow] = {}
        for cluster in new_calls:
            listings = members[cluster]
            if len(listings) == 1:  # the common case: nothing to merge
                call, lead, conflicts = first_call[cluster], listings[0], {}
            else:
                call, lead, conflicts = merge_listings(listings)
            values = call_values(call)
            values.update(
                source=lead.source,
                source_item_id=lead.source_key,
                conflicts=conflicts,
                first_seen=self.now,
                last_seen=self.now,
                predicted=False,
                fields=call.fields,
            )
            if withdrawn(listings):
                values["status"] = Status.CLOSED.value
            key = program_key(call)[:255]
            if key and key not in self._programs and key not in new_programs:
                new_programs[key] = ProgramRow(key=key, organizer=call.organizer, title=call.title)
            values["program"] = key
            new_calls[cluster] = values
        if new_programs:
            session.add_all(new_programs.values())
            session.flush()
            for key, program in new_programs.items():
                self._programs[key] = program.id
        rows = []
        for values in new_calls.values():
            row = dict(values)
            key = row.pop("program")
            row.pop("fields")
            row["program_id"] = self._programs.get(key) if key else None
            rows.append(row)
        ids = session.scalars(
            insert(CallRow).returning(CallRow.id, sort_by_parameter_order=True), rows
        ).all()
        field_rows = []
        for (cluster, values), call_id in zip(new_calls.items(), ids, strict=True):
            self._cluster_call[cluster] = call_id
            self._cluster_call[f"call:{call_id}"] = call_id
            field_rows.extend(
                {"call_id": call_id, "field": slug, "rank": rank}
                for rank, slug in enumerate(values["fields"])
            )
            for listing in members[cluster]:
                listing.call_id = call_id
        if field_rows:
            session.execute(insert(CallField), field_rows)

    def _insert_listings(self, session: Session, pending: list[_Pending]) -> None:
        rows = [
            {
                "call_id": p.call_id,
                "source": p.source,
                "source_key": p.source_key,
                "url": p.url,
                "content_hash": p.content_hash,
                "raw": p.raw,
                "record": p.record,
                "precedence": p.precedence,
                "listed": True,
                "first_seen": self.now,
                "last_seen": self.now,
            }
            for p in pending
        ]
        ids = session.scalars(
            insert(ListingRow).returning(ListingRow.id, sort_by_parameter_order=True), rows
        ).all()
        for p, lid in zip(pending, ids, strict=True):
            self._known[(p.source, p.source_key)] = (lid, p.content_hash, p.call_id)
            if p.raw.get("partial"):
                self._partial.add((p.source, p.source_key))

    def _store_rejection(self, session: Session, item: Any, reason: str) -> None:
        if isinstance(item, Rejected):
            text = item.args[1] if len(item.args) > 1 else ""
            source = None
        else:
            text = json.dumps(item, ensure_ascii=False, sort_keys=True, default=str)
            source = item.get("source") if isinstance(item, dict) else None
        digest = hashlib.sha256(f"{reason}\n{text}".encode()).hexdigest()
        row = session.scalars(
            select(RejectedListingRow).where(RejectedListingRow.content_hash == digest)
        ).one_or_none()
        if row is None:
            session.add(
                RejectedListingRow(
                    content_hash=digest,
                    source=str(source)[:64] if source else None,
                    raw=text,
                    reason=reason,
                    times=1,
                    first_seen=self.now,
                    last_seen=self.now,
                )
            )
            session.flush()
        else:
            row.times += 1
            row.last_seen = self.now

    # -- merging facts -------------------------------------------------------------------

    def apply_merge(
        self,
        row: CallRow,
        listings: list[ListingRow],
        overrides: dict[str, Any] | None = None,
    ) -> bool:
        """Write the merged facts of `listings` onto a call row, then the staff's corrections
        (`overrides`, from `aggregator.overrides`); True if it was withdrawn."""
        merged, lead, conflicts = merge_listings(listings)
        apply_call(row, merged)
        row.source = lead.source
        row.source_item_id = lead.source_key
        row.conflicts = conflicts
        row.last_seen = self.now
        was_withdrawn = withdrawn(listings)
        if was_withdrawn:
            row.status = Status.CLOSED.value
        if overrides:
            apply_values(row, overrides)  # a crawl never undoes a staff edit
        return was_withdrawn

    def merge_stored(self, session: Session, call_ids: list[int]) -> None:
        """Recompute stored calls from their listings; record what changed in their history."""
        for chunk in _chunks(call_ids, 500):
            rows = session.scalars(select(CallRow).where(CallRow.id.in_(chunk))).all()
            members: dict[int, list[ListingRow]] = {}
            for listing in session.scalars(select(ListingRow).where(ListingRow.call_id.in_(chunk))):
                members.setdefault(listing.call_id, []).append(listing)
            overrides = load_overrides(session, chunk)
            for row in rows:
                old = (row.deadline, row.max_amount_yen, row.status)
                was_withdrawn = self.apply_merge(row, members[row.id], overrides.get(row.id))
                self._record_changes(session, row, old, was_withdrawn)

    def _record_changes(
        self, session: Session, row: CallRow, old: tuple, was_withdrawn: bool
    ) -> None:
        source = row.source
        if row.status == Status.CLOSED.value and old[2] != row.status:
            kind = "withdrawn" if was_withdrawn else "closed"
            self._history(session, row.id, kind, old[2], row.status, source)
        elif old[2] == Status.CLOSED.value and row.status != old[2]:
            self._history(session, row.id, "reopened", old[2], row.status, source)
        new_deadline = row.deadline
        if old[0] is not None and new_deadline is not None and old[0] != new_deadline:
            kind = "deadline_extended" if new_deadline > old[0] else "deadline_changed"
            self._history(
                session, row.id, kind, old[0].isoformat(), new_deadline.isoformat(), source
            )
        if old[1] is not None and row.max_amount_yen is not None and old[1] != row.max_amount_yen:
            self._history(
                session, row.id, "amount_changed", str(old[1]), str(row.max_amount_yen), source
            )

    def _history(
        self,
        session: Session,
        call_id: int,
        kind: str,
        old: str | None,
        new: str | None,
        source: str | None,
    ) -> None:
        session.add(
            CallHistoryRow(
                call_id=call_id, kind=kind, old_value=old, new_value=new, source=source, at=self.now
            )
        )

    # -- no longer listed ----------------------------------------------------------------

    def _mark_delisted(self, seen: dict[str, set[str]], report: IngestReport) -> None:
        with Session(self.engine) as session, session.begin():
            for source, keys in seen.items():
                if not keys:
                    continue  # a crawl that returned nothing changes nothing
                rows = session.execute(
                    select(ListingRow.id, ListingRow.source_key, ListingRow.call_id).where(
                        ListingRow.source == source, ListingRow.listed.is_(True)
                    )
                ).all()
                gone = [(lid, call_id) for lid, key, call_id in rows if key not in keys]
                for lid, call_id in gone:
                    session.execute(
                        update(ListingRow)
                        .where(ListingRow.id == lid)
                        .values(listed=False, delisted_at=self.now)
                    )
                    status = session.get(CallRow, call_id).status
                    if status != Status.CLOSED.value:
                        self._history(session, call_id, "no_longer_listed", None, None, source)
                    report.no_longer_listed += 1


@dataclass
class _Pending:
    """A new listing waiting for its bulk insert (and for its call's id)."""

    source: str
    source_key: str
    url: str | None
    content_hash: str
    raw: dict[str, Any]
    record: dict[str, Any]
    precedence: int
    call_id: int | None = None
    cluster: str | None = None
    listed: bool = True
    id: int | None = None


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def withdrawn(listings: Iterable[ListingRow]) -> bool:
    return any(
        any(w in (listing.record.get("title") or "") for w in _WITHDRAWN_WORDS)
        for listing in listings
        if listing.listed
    )


def merge_listings(
    listings: Iterable[ListingRow],
) -> tuple[GrantCall, ListingRow, dict[str, list[dict[str, Any]]]]:
    """The call's facts from its listings, the leading listing, and the disagreements.

    Listings still listed come first, then by precedence, then the most recently published.
    The leading listing gives every fact it has; missing facts are filled from the others.
    """
    ordered = sorted(
        listings,
        key=lambda r: (
            not r.listed,
            r.precedence,
            -(
                date.fromisoformat(r.record["published"]).toordinal()
                if r.record.get("published")
                else 0
            ),
            r.id or 0,
        ),
    )
    lead = ordered[0]
    data = dict(lead.record)
    data.pop("informal_groups_ok", None)
    # The stored record leaves the raw text out; the call keeps its lead listing's text (search).
    data["raw_text"] = (lead.raw or {}).get("text") or ""
    # A repost's title often starts with its own label (【助成先募集】, 【応募受付中・8/13締切り】):
    # among listings as trusted as the lead, a title without one reads better.
    if _LEADING_LABEL.match(data.get("title") or ""):
        for other in ordered[1:]:
            title = other.record.get("title") or ""
            same_tier = other.listed == lead.listed and other.precedence == lead.precedence
            if same_tier and title and not _LEADING_LABEL.match(title):
                data["title"] = title
                break
    for other in ordered[1:]:
        for attr in (
            "deadline",
            "application_start",
            "max_amount_yen",
            "total_budget_yen",
            "subsidy_rate",
            "organizer",
        ):
            if data.get(attr) is None and other.record.get(attr) is not None:
                data[attr] = other.record[attr]
                if attr in other.record.get("evidence", {}):
                    data.setdefault("evidence", {})[attr] = other.record["evidence"][attr]
    # A listing announcing an extension (締切延長) is newer news than the others' deadline.
    extended = [
        r
        for r in ordered
        if r.listed and "延長" in (r.record.get("title") or "") and r.record.get("deadline")
    ]
    if extended:
        data["deadline"] = extended[0].record["deadline"]
        if "deadline" in extended[0].record.get("evidence", {}):
            data.setdefault("evidence", {})["deadline"] = extended[0].record["evidence"]["deadline"]
    conflicts: dict[str, list[dict[str, Any]]] = {}
    for attr in ("deadline", "max_amount_yen"):
        values = [
            {"source": r.source, "url": r.url, "value": r.record.get(attr)}
            for r in ordered
            if r.listed and r.record.get(attr) is not None
        ]
        if len({v["value"] for v in values}) > 1:
            conflicts[attr] = values
    return GrantCall.model_validate(data), lead, conflicts


def read_jsonl(lines: Iterable[bytes]) -> Iterator[Any]:
    """Listings from JSON lines; an unreadable line becomes a `Rejected` with its text."""
    for line_bytes in lines:
        try:
            line = line_bytes.decode(
                "utf-8-sig" if line_bytes.startswith(b"\xef\xbb\xbf") else "utf-8"
            )
        except UnicodeDecodeError as exc:
            yield Rejected(
                f"UTF-8 として読めません (not valid UTF-8: {exc.reason})",
                line_bytes.decode("utf-8", "replace"),
            )
            continue
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            yield Rejected(f"JSON として読めません (invalid JSON: {exc.msg})", line.rstrip("\n"))
