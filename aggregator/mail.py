"""E-mail through an outbox: each message is stored before it is sent, then sent exactly once.

`enqueue` writes a message under a unique key (a second enqueue with the same key is a no-op),
`deliver` sends what is due over SMTP. A temporary failure (4xx, refused or dropped
connection) is retried with exponential backoff; a permanent one (5xx) marks the row failed,
shown to staff on the dashboard. A message is claimed before it is sent and recorded as sent
right after the SMTP server accepted it; claims keep concurrent senders apart.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import smtplib
import socket
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from sqlalchemy import Engine, or_, select, update
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


def compose(
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[str, str]:
    """The message `build_message` makes, as RFC 5322 text, with its Message-ID.

    For ASCII addresses and header values (every digest and account mail), the text is written
    directly: the same headers, MIME structure and base64 bodies, about 20 times faster than
    `email`'s header registry, which took most of the time of 10,000 digests. Anything else
    goes through `build_message`. `tests/web/test_mail.py` parses both and compares them.
    """
    extra = headers or {}
    plain = [to, *extra.keys(), *extra.values(), settings.mail_from]
    if not all(v.isascii() and "\r" not in v and "\n" not in v for v in plain) or any(
        len(v) > 900 for v in plain
    ):
        message = build_message(
            settings, to=to, subject=subject, text=text, html=html, headers=headers, now=now
        )
        return message.as_string(), message["Message-ID"]
    domain = settings.mail_from.rpartition("@")[2] or "localhost"
    message_id = f"<{uuid.uuid4().hex}@{domain}>"
    lines = [
        f"Message-ID: {message_id}",
        f"Date: {format_datetime(now or datetime.now(UTC))}",
        f"From: {formataddr((settings.mail_from_name, settings.mail_from), charset='utf-8')}",
        f"To: {to}",
        f"Subject: {_encoded_header(subject, 'Subject')}",
        *(f"{name}: {value}" for name, value in extra.items()),
        "MIME-Version: 1.0",
    ]
    if html is None:
        lines += [*_part_headers("plain"), "", _base64(text)]
    else:
        boundary = f"==============={random.randrange(10**18, 10**19)}=="
        lines += [
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
            "",
            f"--{boundary}",
            *_part_headers("plain"),
            "",
            _base64(text),
            f"--{boundary}",
            *_part_headers("html"),
            "",
            _base64(html),
            f"--{boundary}--",
        ]
    return "\r\n".join(lines) + "\r\n", message_id


def _part_headers(subtype: str) -> list[str]:
    return [f'Content-Type: text/{subtype}; charset="utf-8"', "Content-Transfer-Encoding: base64"]


def _base64(text: str) -> str:
    """A text body in canonical form (CRLF line ends, one at the end, as `email` makes it),
    base64 in 76-character lines."""
    body = b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"
    encoded = base64.encodebytes(body).decode("ascii")
    return encoded.rstrip("\n").replace("\n", "\r\n")


def _encoded_header(value: str, name: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name}: header values may not contain line breaks ({value!r})")
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


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
    message, message_id = compose(
        settings, to=to, subject=subject, text=text, html=html, headers=headers, now=now
    )
    values = outbox_values(
        message,
        key=key,
        kind=kind,
        to=to,
        subject=subject,
        group_id=group_id,
        now=now,
        message_id=message_id,
    )
    row = OutboxRow(**values)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another process stored the same key meanwhile
        return None
    return row


def outbox_values(
    message: EmailMessage | str,
    *,
    key: str,
    kind: str,
    to: str,
    subject: str,
    group_id: int | None,
    now: datetime,
    message_id: str | None = None,
) -> dict:
    """The column values of an outbox row holding `message` (for bulk inserts); a message
    given already serialized needs its `message_id`."""
    return {
        "key": key,
        "kind": kind,
        "group_id": group_id,
        "recipient": to,
        "subject": subject,
        "message": message if isinstance(message, str) else message.as_string(),
        "message_id": message_id or message["Message-ID"],
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


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


def _send_one(client: smtplib.SMTP, sender: str, recipient: str, message: str) -> None:
    try:
        refused = client.sendmail(sender, [recipient], message.encode("ascii", "surrogateescape"))
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

    Each message is first claimed (a short transaction marks it with this run's name and a
    lease), then sent with no transaction open, then recorded (sent, retry later, failed) and
    released. Another sender running at the same time skips claimed messages; a claim left by
    a process that died on this machine is released at the next run's start.

    `stop()` is asked before each message: a run told to stop (SIGTERM) finishes and records
    the message in hand, then returns; the rest stays pending for the next run.
    """
    report = DeliveryReport()
    now = now or datetime.now(UTC)
    _release_dead_claims(engine)
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
    me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    lease = timedelta(seconds=max(300.0, 4 * settings.smtp_timeout))
    client: smtplib.SMTP | None = None
    try:
        for row_id in ids:
            if stop is not None and stop():
                report.stopped = True
                break
            claimed = _claim(engine, row_id, me, lease)
            if claimed is None:
                continue  # sent, failed or being sent by another sender meanwhile
            recipient, message, attempts = claimed
            outcome: dict = {"attempts": attempts + 1, "claimed_by": None, "claimed_until": None}
            try:
                if client is None:
                    client = _connect(settings)
                _send_one(client, settings.mail_from, recipient, message)
            except _Permanent as exc:
                outcome.update(status="failed", last_error=str(exc)[:1000])
                report.failed += 1
                report.errors.append(f"{recipient}: {exc}")
            except (_Temporary, smtplib.SMTPException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:1000]
                outcome["last_error"] = error
                if attempts + 1 >= settings.mail_max_attempts:
                    outcome["status"] = "failed"
                    report.failed += 1
                else:
                    delay = settings.mail_retry_seconds * 2**attempts
                    outcome["next_attempt_at"] = now + timedelta(seconds=delay)
                    report.retry += 1
                report.errors.append(f"{recipient}: {error}")
                if client is not None:
                    # A 421 closes the connection (smtplib too); after any other temporary
                    # error a fresh connection costs little and starts from a clean state.
                    _quit(client)
                    client = None
            else:
                outcome.update(status="sent", sent_at=datetime.now(UTC), last_error=None)
                report.sent += 1
            _record(engine, row_id, me, outcome)
    finally:
        if client is not None:
            _quit(client)
    return report


def _claim(engine: Engine, row_id: int, me: str, lease: timedelta) -> tuple[str, str, int] | None:
    """Marks a pending message as this sender's; (recipient, message, attempts), or None when
    it is not pending any more or another sender's live claim holds it."""
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        # The UPDATE comes first, so the transaction starts by taking the write lock (SQLite)
        # or the row lock (PostgreSQL): of two senders, the second finds the claim and skips.
        claimed = session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == row_id,
                OutboxRow.status == "pending",
                or_(OutboxRow.claimed_by.is_(None), OutboxRow.claimed_until < now),
            )
            .values(claimed_by=me, claimed_until=now + lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            return None
        row = session.execute(
            select(OutboxRow.recipient, OutboxRow.message, OutboxRow.attempts).where(
                OutboxRow.id == row_id
            )
        ).one()
        return row.recipient, row.message, row.attempts


def _record(engine: Engine, row_id: int, me: str, outcome: dict) -> None:
    with Session(engine) as session, session.begin():
        done = session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id, OutboxRow.claimed_by == me)
            .values(**outcome)
            .execution_options(synchronize_session=False)
        ).rowcount
    if done != 1:  # the lease ran out while the server took longer than 4 timeouts
        logger.warning("outbox %s: the claim was lost before the outcome was recorded", row_id)


def _release_dead_claims(engine: Engine) -> None:
    """Claims of processes on this machine that no longer run (killed mid-send) end now."""
    host = socket.gethostname()
    with Session(engine) as session:
        claims = set(
            session.scalars(
                select(OutboxRow.claimed_by).where(
                    OutboxRow.status == "pending", OutboxRow.claimed_by.like(f"{host}:%")
                )
            )
        )
    dead = [c for c in claims if not _running(c)]
    if not dead:
        return
    with Session(engine) as session, session.begin():
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.claimed_by.in_(dead))
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
    logger.warning("released the outbox claims of %d stopped sender(s)", len(dead))


def _running(claim: str) -> bool:
    try:
        pid = int(claim.split(":")[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False  # an earlier run in this process (claims end with the run)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
