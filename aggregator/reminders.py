"""Reminders before the deadlines of the calls groups saved (気になる).

A group chooses the days before a deadline it wants to be told (`groups.reminder_days`,
default 7 and 1). Each run, for every saved call with a fixed deadline not yet passed, the
reminder of the smallest chosen day count d with 0 <= days left <= d is queued: a day missed
(the command did not run) still sends once, and 7 and 1 each send once. The outbox key holds
the deadline, so an extended deadline is reminded of again, and a re-run queues nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aggregator.groups import jdate
from aggregator.mail import enqueue
from aggregator.search import effective_status
from aggregator.settings import Settings
from aggregator.storage.models import CallRow, GroupRow, SavedCallRow
from aggregator.wording import yen

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
KIND = "reminder"
_MAX_KEY = 255


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Plain-text mail: nothing is interpreted as HTML, so no autoescaping (as api.web.queue_mail).
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=False,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def reminder_day(days_left: int, chosen: list[int]) -> int | None:
    """The reminder due with `days_left` to the deadline: the smallest chosen d >= days_left."""
    if days_left < 0:
        return None
    due = [d for d in chosen if isinstance(d, int) and days_left <= d]
    return min(due) if due else None


def reminder_key(group_id: int, call_id: int, deadline: date, days: int, email: str) -> str:
    key = f"reminder:{group_id}:{call_id}:{deadline.isoformat()}:{days}:{email}"
    if len(key) > _MAX_KEY:  # a very long address: its hash keeps the key unique and short
        digest = hashlib.sha256(email.encode()).hexdigest()[:40]
        key = f"reminder:{group_id}:{call_id}:{deadline.isoformat()}:{days}:sha256:{digest}"
    return key


@dataclass(frozen=True)
class ReminderMail:
    """What templates/mail/reminder.txt reads."""

    site_name: str
    site_url: str
    group_name: str
    title: str
    organizer: str | None
    deadline: str
    days_left: int
    amount: str | None
    call_url: str
    saved_url: str
    settings_url: str


def render_reminder(mail: ReminderMail) -> tuple[str, str]:
    """(subject, body) of a reminder."""
    rendered = _environment().get_template("mail/reminder.txt").render(mail=mail)
    subject, _, body = rendered.lstrip().partition("\n")
    return subject.strip(), body.strip() + "\n"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def queue_reminders(engine: Engine, settings: Settings, today: date) -> int:
    """Queues the reminders due `today` in the outbox (send them with `mail.deliver`);
    returns how many were queued."""
    site = settings.site_url.rstrip("/")
    queued = 0
    with Session(engine) as session:
        rows = session.execute(
            select(GroupRow, CallRow)
            .join(SavedCallRow, SavedCallRow.group_id == GroupRow.id)
            .join(CallRow, CallRow.id == SavedCallRow.call_id)
            .where(
                CallRow.deadline_kind == "fixed",
                CallRow.deadline.is_not(None),
                CallRow.deadline >= today,
                CallRow.predicted.is_(False),  # a guessed deadline is no reason to write
                effective_status(today) != "closed",  # also closed early or withdrawn
            )
            .order_by(GroupRow.id, CallRow.deadline, CallRow.id)
        ).all()
        for group, call in rows:
            days_left = (call.deadline - today).days
            days = reminder_day(days_left, list(group.reminder_days or []))
            if days is None or not group.recipients:
                continue
            subject, body = render_reminder(
                ReminderMail(
                    site_name=settings.site_name,
                    site_url=site,
                    group_name=_one_line(group.name),
                    title=_one_line(call.title),
                    organizer=_one_line(call.organizer) or None,
                    deadline=jdate(call.deadline) or "",
                    days_left=days_left,
                    amount=yen(call.max_amount_yen),
                    call_url=f"{site}/calls/{call.id}",
                    saved_url=f"{site}/my/saved",
                    settings_url=f"{site}/my/settings",
                )
            )
            for recipient in group.recipients:
                row = enqueue(
                    session,
                    settings,
                    key=reminder_key(group.id, call.id, call.deadline, days, recipient.email),
                    kind=KIND,
                    to=recipient.email,
                    subject=subject,
                    text=body,
                    group_id=group.id,
                )
                if row is not None:
                    queued += 1
        session.commit()
    return queued
