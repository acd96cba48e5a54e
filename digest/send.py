"""Sending the week's digests: one outbox row per (group, week, recipient), then delivery.

Every message is written to the outbox (key `digest:<group>:<week>:<address>`) before any is
sent, so a run killed at any point and started again builds nothing twice and sends only what
is missing. `List-Unsubscribe` (an https URL) and `List-Unsubscribe-Post` (RFC 8058) let mail
clients unsubscribe in one click, without signing in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aggregator.mail import DeliveryReport, build_message, deliver, enqueue
from aggregator.settings import Settings
from aggregator.storage.models import GroupRow, OutboxRow
from digest.build import IsoWeek, build_digest

KIND = "digest"


def digest_key(group_id: int, week: IsoWeek, email: str) -> str:
    return f"digest:{group_id}:{week}:{email}"


def unsubscribe_url(settings: Settings, group: GroupRow) -> str:
    # Short on purpose: a List-Unsubscribe URL over ~70 characters gets RFC 2047-encoded.
    return f"{settings.site_url.rstrip('/')}/u/{group.unsubscribe_token}"


def list_headers(settings: Settings, group: GroupRow) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(settings, group)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def last_digest_at(session: Session, group_id: int, week: IsoWeek) -> datetime | None:
    """When the group's previous digest (an earlier week's) was built."""
    return session.scalar(
        select(func.max(OutboxRow.created_at)).where(
            OutboxRow.group_id == group_id,
            OutboxRow.kind == KIND,
            OutboxRow.key.not_like(f"digest:{group_id}:{week}:%"),
        )
    )


@dataclass
class SendReport:
    groups: int = 0
    queued: int = 0
    skipped_empty: int = 0
    already: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    files: list[Path] = field(default_factory=list)


def due_groups(session: Session, *, weekday: int | None) -> list[GroupRow]:
    """Groups with digests on (and, given a weekday 0–6, those whose day it is)."""
    query = select(GroupRow).where(GroupRow.digest_enabled.is_(True)).order_by(GroupRow.id)
    if weekday is not None:
        query = query.where(GroupRow.digest_weekday == weekday)
    return [g for g in session.scalars(query) if g.recipients]


def queue_digests(
    engine: Engine,
    settings: Settings,
    week: IsoWeek,
    *,
    today: date,
    weekday: int | None = None,
    report: SendReport | None = None,
) -> SendReport:
    """Builds each due group's digest for `week` and stores one message per recipient.

    A group whose messages for the week are all stored already is skipped (re-runs are cheap);
    one group per transaction, so a killed run keeps what it stored.
    """
    report = report or SendReport()
    with Session(engine) as session:
        group_ids = [g.id for g in due_groups(session, weekday=weekday)]
    for group_id in group_ids:
        with Session(engine) as session, session.begin():
            group = session.get(GroupRow, group_id)
            keys = {digest_key(group.id, week, r.email) for r in group.recipients}
            stored = set(session.scalars(select(OutboxRow.key).where(OutboxRow.key.in_(keys))))
            report.groups += 1
            if stored == keys:
                report.already += 1
                continue
            since = last_digest_at(session, group.id, week)
            digest = build_digest(session, group, week, settings, today=today, since=since)
            if digest is None:
                report.skipped_empty += 1
                continue
            now = datetime.now(UTC)
            for recipient in group.recipients:
                row = enqueue(
                    session,
                    settings,
                    key=digest_key(group.id, week, recipient.email),
                    kind=KIND,
                    to=recipient.email,
                    subject=digest.subject,
                    text=digest.text,
                    html=digest.html,
                    group_id=group.id,
                    headers=list_headers(settings, group),
                    now=now,
                )
                if row is not None:
                    report.queued += 1
    return report


def send_digests(
    engine: Engine,
    settings: Settings,
    week: IsoWeek,
    *,
    today: date,
    weekday: int | None = None,
) -> SendReport:
    """Queue the week's digests, then deliver everything due in the outbox."""
    report = queue_digests(engine, settings, week, today=today, weekday=weekday)
    report.delivery = deliver(engine, settings)
    return report


def write_dry_run(
    engine: Engine, settings: Settings, week: IsoWeek, folder: Path, *, today: date
) -> SendReport:
    """Builds the week's digests into `.eml` files in `folder`; stores and sends nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    report = SendReport()
    with Session(engine) as session:
        for group in due_groups(session, weekday=None):
            report.groups += 1
            since = last_digest_at(session, group.id, week)
            digest = build_digest(session, group, week, settings, today=today, since=since)
            if digest is None:
                report.skipped_empty += 1
                continue
            for number, recipient in enumerate(group.recipients, start=1):
                message = build_message(
                    settings,
                    to=recipient.email,
                    subject=digest.subject,
                    text=digest.text,
                    html=digest.html,
                    headers=list_headers(settings, group),
                )
                path = folder / f"{week}-group{group.id}-{number}.eml"
                path.write_bytes(message.as_bytes())
                report.files.append(path)
                report.queued += 1
    return report
