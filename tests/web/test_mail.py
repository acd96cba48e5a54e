"""The outbox: stored before sending, sent once, temporary failures retried, permanent ones
marked failed; `kyodo mail send` over a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.mail import build_message, compose, deliver, enqueue
from aggregator.settings import Settings
from aggregator.storage.models import OutboxRow
from tests.web.conftest import body_text


def _queue(site, key: str, to: str) -> None:
    with Session(site.engine) as session:
        enqueue(
            session,
            site.settings,
            key=key,
            kind="test",
            to=to,
            subject="【かまがや助成情報】お知らせ",
            text="こんにちは。締切は12月5日です。\n",
        )
        session.commit()


def _rows(site) -> dict[str, OutboxRow]:
    with Session(site.engine) as session:
        return {r.key: r for r in session.scalars(select(OutboxRow))}


def test_each_message_goes_once_even_when_queued_and_sent_twice(any_site):
    _queue(any_site, "a", "one@example.jp")
    _queue(any_site, "a", "one@example.jp")  # same key: not stored again
    _queue(any_site, "b", "two@example.jp")
    first = deliver(any_site.engine, any_site.settings)
    second = deliver(any_site.engine, any_site.settings)
    assert (first.sent, second.sent) == (2, 0)
    assert len(any_site.smtp.messages) == 2
    [message] = any_site.smtp.to("one@example.jp")
    assert message["Subject"] == "【かまがや助成情報】お知らせ"
    assert "締切は12月5日" in body_text(message)
    assert message["Message-ID"] == _rows(any_site)["a"].message_id
    assert "かまがや助成情報" in str(message["From"])
    raw = any_site.smtp.inbox.raw[0]
    assert max(raw) < 128  # 7-bit clean on the wire


def test_permanent_refusal_is_failed_temporary_is_retried_later(site):
    site.smtp.inbox.refuse["gone@example.jp"] = "550 5.1.1 no such user"
    site.smtp.inbox.refuse["busy@example.jp"] = "450 4.2.1 try again later"
    _queue(site, "gone", "gone@example.jp")
    _queue(site, "busy", "busy@example.jp")
    _queue(site, "ok", "ok@example.jp")
    report = deliver(site.engine, site.settings)
    assert (report.sent, report.retry, report.failed) == (1, 1, 1)
    rows = _rows(site)
    assert rows["gone"].status == "failed" and "550" in rows["gone"].last_error
    assert rows["busy"].status == "pending" and rows["busy"].attempts == 1
    assert rows["ok"].status == "sent"
    # The server accepts again: the retry goes out, once.
    del site.smtp.inbox.refuse["busy@example.jp"]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert deliver(site.engine, site.settings, now=later).sent == 1
    assert _rows(site)["busy"].status == "sent"
    assert len(site.smtp.to("busy@example.jp")) == 1


def test_unreachable_server_keeps_messages_pending(site):
    site.settings.smtp_port = 1  # nothing listens there
    _queue(site, "x", "x@example.jp")
    report = deliver(site.engine, site.settings)
    assert report.retry == 1 and report.sent == 0
    row = _rows(site)["x"]
    assert row.status == "pending" and row.attempts == 1 and row.last_error


def test_cli_mail_send_and_status(site):
    site.smtp.inbox.refuse["gone@example.jp"] = "550 no such user"
    _queue(site, "ok", "ok@example.jp")
    _queue(site, "gone", "gone@example.jp")
    env = {
        **os.environ,
        "KYODO_DATABASE_URL": site.url,
        "KYODO_SMTP_HOST": "127.0.0.1",
        "KYODO_SMTP_PORT": str(site.smtp.port),
        "KYODO_MAIL_FROM": "info@kyodo.example.jp",
    }
    kyodo = [sys.executable, "-m", "kyodo.cli"]
    sent = subprocess.run([*kyodo, "mail", "send"], env=env, capture_output=True, text=True)
    assert sent.returncode == 1, sent.stderr  # one failed
    assert "送信 1件" in sent.stdout and "失敗 1件" in sent.stdout
    assert "550" in sent.stderr
    status = subprocess.run([*kyodo, "mail", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0
    assert "送信済み (sent): 1" in status.stdout and "失敗 (failed): 1" in status.stdout


COMPOSE_CASES = [
    # (to, subject, text, html, headers)
    ("g@example.jp", "【かまがや助成情報】11/30週 新着5件・締切間近2件", "本文\nです。\n" * 300,
     "<p>本文</p>\n" * 200,
     {"List-Unsubscribe": "<https://kyodo.example.jp/u/abc>",
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}),
    ("g@example.jp", "Plain ASCII subject", "a\r\nb\rc\n\nd", None, {}),
    ("g@example.jp", "件名" * 80, "", "<p></p>", {}),
    ("g@example.jp", "絵文字🎉のある件名", "本文\u2028区切り\x0bあり", None, {}),
    ("ユーザー@例え.jp", "宛先が日本語", "本文", "<p>本文</p>", {}),  # the email package's path
]  # fmt: skip


@pytest.mark.parametrize("case", COMPOSE_CASES, ids=range(len(COMPOSE_CASES)))
def test_compose_writes_what_the_email_package_would(case):
    """The fast writer and `email.message.EmailMessage` give the same message once parsed:
    headers (decoded), structure, and bodies byte for byte; 7-bit, lines within 998."""
    to, subject, text, html, headers = case
    settings = Settings(mail_from="kyodo@kamagaya.example.jp", mail_from_name="鎌ケ谷市 センター")
    args = {"to": to, "subject": subject, "text": text, "html": html, "headers": headers}
    raw, message_id = compose(settings, **args)
    reference = build_message(settings, **args).as_string()
    ours = email.message_from_string(raw, policy=email.policy.default)
    theirs = email.message_from_string(reference, policy=email.policy.default)
    assert ours["Message-ID"] == message_id and ours["Date"]
    for name in ("From", "To", "Subject", "MIME-Version", *headers):
        assert str(ours[name]) == str(theirs[name]), name
    assert ours.get_content_type() == theirs.get_content_type()
    our_parts = [p for p in ours.walk() if not p.is_multipart()]
    their_parts = [p for p in theirs.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in our_parts] == [p.get_content_type() for p in their_parts]
    for a, b in zip(our_parts, their_parts, strict=True):
        assert a.get_content_charset() == b.get_content_charset() == "utf-8"
        assert a.get_payload(decode=True) == b.get_payload(decode=True)
    assert ours.defects == [] and all(p.defects == [] for p in ours.walk())
    assert raw.isascii() and max(len(line) for line in raw.split("\r\n")) <= 998
    if headers:
        assert "List-Unsubscribe: <https://kyodo.example.jp/u/abc>\r\n" in raw


def test_compose_refuses_a_line_break_in_a_header_as_the_email_package_does():
    settings = Settings()
    for make in (compose, build_message):
        with pytest.raises(ValueError):
            make(settings, to="g@example.jp", subject="一行目\r\nBcc: x@example.jp", text="")
