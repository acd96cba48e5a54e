"""E-mail through an outbox: each message is stored before it is sent, then sent exactly once.

`enqueue` writes a message under a unique key (a second enqueue with the same key is a no-op),
`deliver` sends what is due over SMTP. A temporary failure (4xx, refused or dropped
connection) is retried with exponential backoff; a permanent one (5xx) marks the row failed,
shown to staff on the dashboard. A message is marked sent in the same transaction that claims
it, after the SMTP server accepted it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aggregator.settings import Settings
from aggregator.storage.models import OutboxRow

logger = logging.getLogger(__name__)

# Lines up to SMTP's hard limit: with the default 78, a List-Unsubscribe URL of an https site
# is folded or RFC 2047-encoded, which mail clients do not accept (RFC 8058 wants it literal).
_POLICY = SMTP.clone(max_line_length=998)


def build_message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """A UTF-8 message (text, and HTML as an alternative), 7-bit clean on the wire."""
    message = EmailMessage(policy=_POLICY)
    domain = settings.mail_from.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{domain}>"
    message["Date"] = format_datetime(now or datetime.now(UTC))
    username, _, sender_domain = settings.mail_from.partition("@")
    message["From"] = Address(settings.mail_from_name, username, sender_domain or "localhost")
    message["To"] = to
    message["Subject"] = subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, cte="base64")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="base64")
    return message


def enqueue(
    session: Session,
    settings: Settings,
    *,
    key: str,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    group_id: int | None = None,
    headers: dict[str, str] | None = None,
    now: datetime | None = None,
) -> OutboxRow | None:
    """Stores a message for sending; None when a message with `key` is already stored.

    Runs in the caller's transaction (a savepoint), so it is written with what it is about.
    """
    now = now or datetime.now(UTC)
    if session.scalar(select(OutboxRow.id).where(OutboxRow.key == key)) is not None:
        return None
    message = build_message(
        settings, to=to, subject=subject, text=text, html=html, headers=headers, now=now
    )
    row = OutboxRow(
        key=key,
        kind=kind,
        group_id=group_id,
        recipient=to,
        subject=subject,
        message=message.as_string(),
        message_id=message["Message-ID"],
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another process stored the same key meanwhile
        return None
    return row


@dataclass
class DeliveryReport:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    stopped: bool = False  # `stop()` said so before every due message was tried
    errors: list[str] = field(default_factory=list)


class _Temporary(Exception):
    pass


class _Permanent(Exception):
    pass


def _connect(settings: Settings) -> smtplib.SMTP:
    timeout = settings.smtp_timeout
    if settings.smtp_security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host,
            settings.smtp_port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        if settings.smtp_security == "starttls":
            client.starttls(context=ssl.create_default_context())
    if settings.smtp_user:
        client.login(settings.smtp_user, settings.smtp_password or "")
    return client


def _send_one(client: smtplib.SMTP, settings: Settings, row: OutboxRow) -> None:
    try:
        refused = client.sendmail(
            settings.mail_from, [row.recipient], row.message.encode("ascii", "surrogateescape")
        )
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise (_Permanent if code >= 500 else _Temporary)(f"{code} {reply!r}") from exc
    except smtplib.SMTPResponseException as exc:
        raise (_Permanent if exc.smtp_code >= 500 else _Temporary)(
            f"{exc.smtp_code} {exc.smtp_error!r}"
        ) from exc
    if refused:
        code, reply = next(iter(refused.values()))
        raise (_Permanent if code >= 500 else _Temporary)(f"{code} {reply!r}")


def deliver(
    engine: Engine,
    settings: Settings,
    *,
    limit: int | None = None,
    now: datetime | None = None,
    keys: list[str] | None = None,
    stop: Callable[[], bool] | None = None,
) -> DeliveryReport:
    """Sends due messages (or only those with `keys`); never raises for a failed send.

    `stop()` is asked before each message: a run told to stop (SIGTERM) finishes and records
    the message in hand, then returns; the rest stays pending for the next run.
    """
    report = DeliveryReport()
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        query = (
            select(OutboxRow.id)
            .where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.id)
        )
        if keys is not None:
            query = query.where(OutboxRow.key.in_(keys))
        if limit is not None:
            query = query.limit(limit)
        ids = list(session.scalars(query))
    if not ids:
        return report
    client: smtplib.SMTP | None = None
    try:
        for row_id in ids:
            if stop is not None and stop():
                report.stopped = True
                break
            with Session(engine) as session, session.begin():
                row = session.get(OutboxRow, row_id, with_for_update=True)
                if row is None or row.status != "pending":
                    continue  # another sender took it
                try:
                    if client is None:
                        client = _connect(settings)
                    _send_one(client, settings, row)
                except _Permanent as exc:
                    row.attempts += 1
                    row.status = "failed"
                    row.last_error = str(exc)[:1000]
                    report.failed += 1
                    report.errors.append(f"{row.recipient}: {exc}")
                except (_Temporary, smtplib.SMTPException, OSError) as exc:
                    row.attempts += 1
                    row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                    if row.attempts >= settings.mail_max_attempts:
                        row.status = "failed"
                        report.failed += 1
                    else:
                        delay = settings.mail_retry_seconds * 2 ** (row.attempts - 1)
                        row.next_attempt_at = now + timedelta(seconds=delay)
                        report.retry += 1
                    report.errors.append(f"{row.recipient}: {row.last_error}")
                    if client is not None:
                        # A 421 closes the connection (smtplib too); after any other temporary
                        # error a fresh connection costs little and starts from a clean state.
                        _quit(client)
                        client = None
                else:
                    row.attempts += 1
                    row.status = "sent"
                    row.sent_at = datetime.now(UTC)
                    row.last_error = None
                    report.sent += 1
    finally:
        if client is not None:
            _quit(client)
    return report


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
