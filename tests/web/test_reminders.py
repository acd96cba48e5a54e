"""Reminders before the deadlines of saved calls: which day sends which reminder, once only,
again after an extension; delivered to a real SMTP server (aiosmtpd) and read back."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aggregator.groups import save_call
from aggregator.mail import deliver
from aggregator.reminders import queue_reminders, reminder_day, reminder_key
from aggregator.storage.models import CallRow, GroupRow, OutboxRow
from tests.web.conftest import TODAY, body_text, ingest_calls
from tests.web.test_groups import make_group

ORGANIZER = "公益財団法人 いろは財団"


def _listing(key: str, title: str, deadline: str, **extra) -> dict:
    return {
        "id": key,
        "source": "canpan",
        "title": title,
        "text": f"締切: {deadline}\n助成金額: 上限30万円",
        "url": f"https://grants.example.jp/{key}",
        "organizer": ORGANIZER,
        **extra,
    }  # fmt: skip


LISTINGS = [
    _listing("d8", "里山の保全活動助成", "2026年12月6日", organizer="みどりの森財団"),
    _listing("d7", "子ども食堂応援助成", "2026年12月5日"),
    _listing("d3", "高齢者見守りネットワーク支援", "2026年12月1日", organizer="ほほえみ基金"),
    _listing("d1", "多文化共生まちづくり助成", "2026年11月29日", organizer="にじいろ財団"),
    _listing("d0", "防災ボランティア育成事業", "2026年11月28日", organizer="そなえ基金"),
    _listing("passed", "図書館ボランティア助成", "2026年11月27日", organizer="ほんの木財団"),
    _listing(
        "closed", "海辺の清掃活動支援", "2026年12月5日", status="募集終了",
        organizer="一般財団法人 うみかぜ基金",
    ),
    _listing("rolling", "障害者スポーツ振興助成", "随時受付", organizer="かけっこ財団"),
    _listing(
        "guess", "文化財保存のための地域助成", "2026年12月5日", organizer="歴史のまち財団"
    ),
]  # fmt: skip


def _calls(site) -> dict[str, int]:
    ingest_calls(site.engine, LISTINGS)
    with Session(site.engine) as session:
        by_title = dict(session.execute(select(CallRow.title, CallRow.id)).all())
        ids = {item["id"]: by_title[item["title"]] for item in LISTINGS}
        assert len(set(ids.values())) == len(LISTINGS)  # no two were taken for one call
        # A predicted round's deadline is a guess: no reminder for it.
        session.execute(update(CallRow).where(CallRow.id == ids["guess"]).values(predicted=True))
        session.commit()
        deadlines = dict(session.execute(select(CallRow.id, CallRow.deadline)).all())
    assert deadlines[ids["d7"]] == TODAY + timedelta(days=7)
    assert deadlines[ids["d0"]] == TODAY
    return ids


def _group(site, email, name, days, saved, *, extra=()) -> int:
    group_id = make_group(site, email, name, extra=extra)
    with Session(site.engine) as session:
        group = session.get(GroupRow, group_id)
        group.reminder_days = days
        for call_id in saved:
            save_call(session, group, call_id)
        session.commit()
    return group_id


def _queued(site) -> set[tuple[int, int, int, str]]:
    """(group, call, days, recipient) of every queued reminder."""
    with Session(site.engine) as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.kind == "reminder")).all()
    found = set()
    for row in rows:
        _, group, call, _deadline, days, _to = row.key.split(":", 5)
        assert row.group_id == int(group)
        found.add((int(group), int(call), int(days), row.recipient))
    return found


def test_reminder_day():
    assert reminder_day(8, [7, 1]) is None
    assert reminder_day(7, [7, 1]) == 7
    assert reminder_day(3, [7, 1]) == 7  # the 7-day one was missed: it still goes, once
    assert reminder_day(1, [7, 1]) == 1
    assert reminder_day(0, [7, 1]) == 1
    assert reminder_day(-1, [7, 1]) is None
    assert reminder_day(3, []) is None
    assert reminder_day(10, [14, 7, 3, 1]) == 14


def test_reminder_keys_fit_the_outbox():
    long_address = "a" * 240 + "@example.jp"
    key = reminder_key(123456, 654321, TODAY, 7, long_address)
    assert len(key) <= 255 and key.startswith("reminder:123456:654321:2026-11-28:7:")
    assert key != reminder_key(123456, 654321, TODAY, 7, "b" * 240 + "@example.jp")
    assert reminder_key(1, 2, TODAY, 1, "x@example.jp") == "reminder:1:2:2026-11-28:1:x@example.jp"


def test_reminders_go_once_on_the_right_days(any_site):
    site = any_site
    ids = _calls(site)
    everything = list(ids.values())
    usual = _group(
        site, "a@example.jp", "あおぞら会", [7, 1], everything, extra=("kaikei@example.jp",)
    )
    every = _group(site, "b@example.jp", "ばら会", [14, 7, 3, 1], [ids["d8"], ids["d3"]])
    _group(site, "c@example.jp", "くすのき会", [], everything)  # no reminders wanted
    make_group(site, "d@example.jp", "だいち会")  # nothing saved

    queued = queue_reminders(site.engine, site.settings, TODAY)
    expected = {
        (usual, ids["d7"], 7),
        (usual, ids["d3"], 7),
        (usual, ids["d1"], 1),
        (usual, ids["d0"], 1),
        (every, ids["d8"], 14),
        (every, ids["d3"], 3),
    }
    found = _queued(site)
    assert {(g, c, d) for g, c, d, _ in found} == expected
    assert {to for g, _, _, to in found if g == usual} == {"a@example.jp", "kaikei@example.jp"}
    assert queued == len(found) == 10
    # Run again the same day: nothing more.
    assert queue_reminders(site.engine, site.settings, TODAY) == 0

    # The next day: the call 8 days off is now 7 days off; the others were reminded already.
    tomorrow = TODAY + timedelta(days=1)
    assert queue_reminders(site.engine, site.settings, tomorrow) == 3
    new = _queued(site) - found
    assert {(g, c, d) for g, c, d, _ in new} == {(usual, ids["d8"], 7), (every, ids["d8"], 7)}

    # An extended deadline is reminded of again.
    with Session(site.engine) as session:
        session.execute(
            update(CallRow).where(CallRow.id == ids["d1"]).values(deadline=TODAY + timedelta(5))
        )
        session.commit()
    assert queue_reminders(site.engine, site.settings, tomorrow) == 2
    assert queue_reminders(site.engine, site.settings, tomorrow) == 0


def test_reminder_mails_read_well(site):
    ids = _calls(site)
    group_id = _group(site, "a@example.jp", "あおぞら会", [7, 1], [ids["d7"], ids["d0"]])
    assert queue_reminders(site.engine, site.settings, TODAY) == 2
    report = deliver(site.engine, site.settings)
    assert (report.sent, report.failed) == (2, 0)
    mails = {m["Subject"]: m for m in site.smtp.to("a@example.jp")}
    assert set(mails) == {
        "【かまがや助成情報】締切まであと7日：子ども食堂応援助成",
        "【かまがや助成情報】本日締切：防災ボランティア育成事業",
    }
    body = body_text(mails["【かまがや助成情報】締切まであと7日：子ども食堂応援助成"])
    assert "あおぞら会 ご担当者さま" in body
    assert "締切まで、あと7日です。" in body
    assert "■ 子ども食堂応援助成" in body
    assert f"主催：{ORGANIZER}" in body
    assert "締切：2026年12月5日（土）" in body
    assert "金額：上限 30万円" in body
    assert f"http://testserver/calls/{ids['d7']}" in body
    assert "http://testserver/my/saved" in body and "http://testserver/my/settings" in body
    assert "締切は本日です。" in body_text(
        mails["【かまがや助成情報】本日締切：防災ボランティア育成事業"]
    )
    with Session(site.engine) as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.group_id == group_id)).all()
        assert {r.status for r in rows} == {"sent"} and {r.kind for r in rows} == {"reminder"}
    # The staff see them in the group's history.
    site.user("staff", "staff@kyodo.example.jp")
    history = site.sign_in("staff@kyodo.example.jp").get(f"/staff/groups/{group_id}/history")
    assert "締切まであと7日：子ども食堂応援助成" in history.text and "送信済み" in history.text


def test_cli_reminders_queues_and_sends_once(site):
    import os
    import subprocess
    import sys

    ids = _calls(site)
    _group(site, "cli@example.jp", "つばさ会", [7, 1], [ids["d7"], ids["d1"]])
    env = {
        **os.environ,
        "KYODO_DATABASE_URL": site.url,
        "KYODO_SMTP_HOST": "127.0.0.1",
        "KYODO_SMTP_PORT": str(site.smtp.port),
        "KYODO_MAIL_FROM": "info@kyodo.example.jp",
    }
    command = [sys.executable, "-m", "kyodo.cli", "reminders", "--today", TODAY.isoformat()]
    first = subprocess.run(command, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "2件をキューに入れました" in first.stdout and "送信 2件" in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True)
    assert "0件をキューに入れました" in second.stdout and "送信 0件" in second.stdout
    assert len(site.smtp.to("cli@example.jp")) == 2
