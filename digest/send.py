"""Sending the week's digests: one outbox row per (group, week, recipient), then delivery.

Every message is written to the outbox (key `digest:<group>:<week>:<address>`) before any is
sent, so a run killed at any point and started again builds nothing twice and sends only what
is missing. `List-Unsubscribe` (an https URL) and `List-Unsubscribe-Post` (RFC 8058) let mail
clients unsubscribe in one click, without signing in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aggregator.mail import DeliveryReport, build_message, compose, deliver, outbox_values
from aggregator.settings import Settings
from aggregator.storage.models import DigestCallRow, GroupRow, OutboxRow
from digest.build import DigestData, IsoWeek, build_digest, default_since, listed_call_ids

KIND = "digest"
BATCH = 200  # groups stored per transaction


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
    return last_digests(session, week, [group_id]).get(group_id)


def last_digests(
    session: Session, week: IsoWeek, group_ids: Collection[int] | None = None
) -> dict[int, datetime]:
    """Group id -> when its last digest of another week than `week` was built."""
    query = (
        select(OutboxRow.group_id, func.max(OutboxRow.created_at))
        .where(OutboxRow.kind == KIND, OutboxRow.key.not_like(f"digest:%:{week}:%"))
        .group_by(OutboxRow.group_id)
    )
    if group_ids is not None:
        query = query.where(OutboxRow.group_id.in_(group_ids))
    return {group_id: at for group_id, at in session.execute(query) if group_id is not None}


@dataclass
class SendReport:
    groups: int = 0
    queued: int = 0
    skipped_empty: int = 0
    already: int = 0
    stopped: bool = False  # a stop was asked for (SIGTERM) before the end
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    files: list[Path] = field(default_factory=list)


def due_groups(session: Session, *, weekday: int | None) -> list[GroupRow]:
    """Groups with digests on; given a weekday 0–6 (Monday–Sunday), those whose digest day is
    that day or earlier in the week, so a day missed (the machine was off) is caught up by the
    next run; groups whose digest for the week is stored already are skipped by the caller."""
    query = select(GroupRow).where(GroupRow.digest_enabled.is_(True)).order_by(GroupRow.id)
    if weekday is not None:
        query = query.where(GroupRow.digest_weekday <= weekday)
    return [g for g in session.scalars(query) if g.recipients]


def queue_digests(
    engine: Engine,
    settings: Settings,
    week: IsoWeek,
    *,
    today: date,
    weekday: int | None = None,
    report: SendReport | None = None,
    stop: Callable[[], bool] | None = None,
) -> SendReport:
    """Builds each due group's digest for `week` and stores one message per recipient.

    What digests can list is loaded once (`DigestData`); groups whose messages for the week are
    all stored already are skipped, so re-runs are cheap. Groups are stored BATCH at a time,
    each batch in one transaction with the calls it listed (`digest_calls`): a killed run
    keeps what it committed and the next run builds the rest. `stop()` (e.g. after SIGTERM)
    ends the loop between batches.
    """
    report = report or SendReport()
    tz = ZoneInfo(settings.timezone)
    with Session(engine) as session:
        groups = due_groups(session, weekday=weekday)
        stored = set(
            session.scalars(
                select(OutboxRow.key).where(
                    OutboxRow.kind == KIND, OutboxRow.key.like(f"digest:%:{week}:%")
                )
            )
        )
        todo = []
        for group in groups:
            report.groups += 1
            keys = {digest_key(group.id, week, r.email) for r in group.recipients}
            if keys <= stored:
                report.already += 1
            else:
                todo.append(group.id)
        if not todo:
            return report
        previous = last_digests(session, week, todo if len(todo) < 500 else None)
        first = default_since(week, tz)
        earliest = min([first, *(previous.get(g, first) for g in todo)])
        data = DigestData.load(session, settings, today=today, earliest=earliest)
    for start in range(0, len(todo), BATCH):
        if stop is not None and stop():
            report.stopped = True
            break
        with Session(engine) as session, session.begin():
            batch = session.scalars(
                select(GroupRow).where(GroupRow.id.in_(todo[start : start + BATCH]))
            ).all()
            messages: list[dict] = []
            listed: list[dict] = []
            now = datetime.now(UTC)
            for group in sorted(batch, key=lambda g: g.id):
                since = previous.get(group.id)
                digest = build_digest(
                    session, group, week, settings, today=today, since=since, data=data
                )
                if digest is None:
                    report.skipped_empty += 1
                    continue
                for recipient in group.recipients:
                    key = digest_key(group.id, week, recipient.email)
                    if key in stored:
                        continue
                    message, message_id = compose(
                        settings,
                        to=recipient.email,
                        subject=digest.subject,
                        text=digest.text,
                        html=digest.html,
                        headers=list_headers(settings, group),
                        now=now,
                    )
                    messages.append(
                        outbox_values(
                            message,
                            key=key,
                            kind=KIND,
                            to=recipient.email,
                            subject=digest.subject,
                            group_id=group.id,
                            now=now,
                            message_id=message_id,
                        )
                    )
                listed += [
                    {"group_id": group.id, "call_id": c, "week": str(week), "sent_at": now}
                    for c in sorted(listed_call_ids(digest))
                ]
            # A run beside this one may have stored some of these meanwhile: theirs stay.
            report.queued += _insert_new(session, OutboxRow, messages, ["key"])
            _insert_new(session, DigestCallRow, listed, ["group_id", "call_id"])
    return report


def _insert_new(session: Session, model, rows: list[dict], unique: list[str]) -> int:
    """Inserts `rows` in one statement, leaving out those that clash on `unique`."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(model).on_conflict_do_nothing(index_elements=unique), rows)
    return len(rows)


def send_digests(
    engine: Engine,
    settings: Settings,
    week: IsoWeek,
    *,
    today: date,
    weekday: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> SendReport:
    """Queue the week's digests, then deliver everything due in the outbox.

    `stop()` is asked between groups and between mails: once it says True, what is stored
    stays stored, the mail being sent is finished and recorded, and the run ends (the next
    run sends the rest).
    """
    report = queue_digests(engine, settings, week, today=today, weekday=weekday, stop=stop)
    if not report.stopped:
        report.delivery = deliver(engine, settings, stop=stop)
        report.stopped = report.delivery.stopped
    return report


def write_dry_run(
    engine: Engine,
    settings: Settings,
    week: IsoWeek,
    folder: Path,
    *,
    today: date,
    weekday: int | None = None,
) -> SendReport:
    """Builds the week's digests into `.eml` files in `folder`; stores and sends nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    report = SendReport()
    with Session(engine) as session:
        groups = due_groups(session, weekday=weekday)
        previous = last_digests(session, week)
        first = default_since(week, ZoneInfo(settings.timezone))
        earliest = min([first, *previous.values()])
        data = DigestData.load(session, settings, today=today, earliest=earliest)
        for group in groups:
            report.groups += 1
            since = previous.get(group.id)
            digest = build_digest(
                session, group, week, settings, today=today, since=since, data=data
            )
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
