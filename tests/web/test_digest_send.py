"""Sending the week's digests through the outbox to a real SMTP server (aiosmtpd): the
List-Unsubscribe headers literally in the raw message, each mail once across re-runs,
one-click unsubscribe that touches only its own group, and the dry run's .eml files."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.storage.models import GroupRow, OutboxRow
from digest.build import IsoWeek
from digest.send import send_digests
from tests.web.conftest import TODAY, ingest_calls
from tests.web.test_groups import make_group

WEEK = IsoWeek.of(TODAY)

CALLS = [
    {
        "id": "kodomo",
        "source": "canpan",
        "title": "子ども食堂の運営を応援する助成",
        "text": "対象: 子ども食堂を運営する団体（任意団体可）\n締切: 2026年12月20日\n"
        "助成金額: 上限30万円\n対象地域: 全国",
        "url": "https://grants.example.jp/kodomo",
        "organizer": "公益財団法人 ひだまり財団",
    },
    {
        "id": "midori",
        "source": "canpan",
        "title": "里山と川の環境保全活動助成",
        "text": "対象: 環境保全に取り組む団体（任意団体可）\n締切: 2026年12月25日\n"
        "助成金額: 上限50万円\n対象地域: 全国",
        "url": "https://grants.example.jp/midori",
        "organizer": "一般財団法人 みどりの森基金",
    },
]


def _setup(site) -> tuple[int, int]:
    ingest_calls(site.engine, CALLS)
    kids = make_group(
        site, "kids@example.jp", "こども広場の会", extra=("kids2@example.jp",),
        fields=["children_youth"],
    )  # fmt: skip
    green = make_group(site, "green@example.jp", "みどりの会", fields=["environment"])
    return kids, green


def test_digests_go_once_with_one_click_unsubscribe_headers(any_site):
    site = any_site
    kids, green = _setup(site)
    report = send_digests(site.engine, site.settings, WEEK, today=TODAY)
    assert report.queued == 3 and report.delivery.sent == 3
    again = send_digests(site.engine, site.settings, WEEK, today=TODAY)
    assert again.queued == 0 and again.delivery.sent == 0 and again.already == 2
    assert len(site.smtp.inbox.raw) == 3
    ids = [m["Message-ID"] for m in site.smtp.messages]
    assert len(set(ids)) == 3

    with Session(site.engine) as session:
        tokens = dict(session.execute(select(GroupRow.id, GroupRow.unsubscribe_token)).all())
    for raw in site.smtp.inbox.raw:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        group = kids if message["To"].startswith("kids") else green
        url = f"http://testserver/u/{tokens[group]}"
        assert f"List-Unsubscribe: <{url}>".encode() in raw  # literal, not RFC 2047-encoded
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
        assert message["Date"] and message["Message-ID"]
        assert "img" not in (message.get_body(("html",)).get_content()).lower()
    [green_mail] = site.smtp.to("green@example.jp")
    assert "みどり" in green_mail.get_body(("plain",)).get_content()


def test_one_click_unsubscribe_needs_no_sign_in_and_touches_only_its_group(site):
    kids, green = _setup(site)
    with Session(site.engine) as session:
        token = session.get(GroupRow, kids).unsubscribe_token
    client = site.client()
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "配信を停止する" in page.text
    with Session(site.engine) as session:
        assert session.get(GroupRow, kids).digest_enabled  # GET changes nothing
    # What a mail client sends (RFC 8058): a POST from outside the site, no cookie, no token.
    response = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "停止しました" in response.text
    with Session(site.engine) as session:
        assert session.get(GroupRow, kids).digest_enabled is False
        assert session.get(GroupRow, green).digest_enabled is True
    assert client.post("/u/not-a-token-of-anyone-here").status_code == 404
    send_digests(site.engine, site.settings, WEEK, today=TODAY)
    assert site.smtp.to("kids@example.jp") == [] and len(site.smtp.to("green@example.jp")) == 1


def test_cli_dry_run_writes_eml_files_and_sends_nothing(site, tmp_path):
    _setup(site)
    env = {
        **os.environ,
        "KYODO_DATABASE_URL": site.url,
        "KYODO_SITE_URL": "https://kyodo.example.jp",
    }
    out = tmp_path / "eml"
    command = [sys.executable, "-m", "kyodo.cli", "digest", "send", "--week", str(WEEK),
               "--today", TODAY.isoformat(), "--dry-run", "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.eml"))
    assert len(files) == 3
    assert b"List-Unsubscribe: <https://kyodo.example.jp/u/" in files[0].read_bytes()
    assert site.smtp.inbox.raw == []
    with Session(site.engine) as session:
        assert session.scalars(select(OutboxRow)).all() == []


def test_cli_preview_prints_the_groups_mail(site):
    kids, _ = _setup(site)
    env = {**os.environ, "KYODO_DATABASE_URL": site.url, "KYODO_TODAY": TODAY.isoformat()}
    command = [sys.executable, "-m", "kyodo.cli", "digest", "preview", "--group", str(kids),
               "--week", str(WEEK)]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("件名: 【かまがや助成情報】")
    assert "子ども食堂の運営を応援する助成" in result.stdout
    assert "里山と川の環境保全活動助成" not in result.stdout  # another group's field
    missing = subprocess.run(
        [*command[:6], "999", *command[7:]], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 1 and "団体 999 はありません" in missing.stderr


def test_staff_preview_any_groups_digest_on_the_site(site):
    kids, _ = _setup(site)
    site.user("staff", "staff@example.jp")
    staff = site.sign_in("staff@example.jp")
    page = staff.get(f"/staff/groups/{kids}/digest?week={WEEK}")
    assert page.status_code == 200
    assert "【かまがや助成情報】" in page.text and "子ども食堂の運営を応援する助成" in page.text
    assert "里山と川の環境保全活動助成" not in page.text
    html = staff.get(f"/staff/groups/{kids}/digest.html?week={WEEK}")
    assert html.status_code == 200 and "子ども食堂の運営を応援する助成" in html.text
    assert staff.get(f"/staff/groups/{kids}/digest?week=2026-W99").status_code == 422
    assert staff.get("/staff/groups/999/digest").status_code == 404
    # Nothing was stored or sent by looking.
    with Session(site.engine) as session:
        assert session.scalars(select(OutboxRow)).all() == []
    group = site.sign_in("kids@example.jp")
    assert group.get(f"/staff/groups/{kids}/digest").status_code == 403
    assert site.client().get(f"/staff/groups/{kids}/digest").status_code == 303


def test_due_serves_groups_whose_day_has_come_this_week_once(site):
    """`--due` on Tuesday: Monday's group (its day missed) and Tuesday's get the week's digest,
    Friday's does not yet; Wednesday's run sends nothing again."""
    from sqlalchemy import update

    _kids, green = _setup(site)
    friday = make_group(site, "fri@example.jp", "金曜の会", fields=["children_youth"])
    with Session(site.engine) as session:
        session.execute(update(GroupRow).where(GroupRow.id == green).values(digest_weekday=1))
        session.execute(update(GroupRow).where(GroupRow.id == friday).values(digest_weekday=4))
        session.commit()
    week = IsoWeek.parse("2026-W49")
    tuesday = _send_on(site, week, 1)
    assert tuesday.groups == 2 and tuesday.delivery.sent == 3  # kids has two addresses
    assert site.smtp.to("fri@example.jp") == []
    wednesday = _send_on(site, week, 2)
    assert wednesday.already == 2 and wednesday.delivery.sent == 0
    friday_run = _send_on(site, week, 4)
    assert friday_run.delivery.sent == 1 and len(site.smtp.to("fri@example.jp")) == 1


def _send_on(site, week: IsoWeek, weekday: int):
    from datetime import timedelta

    day = week.monday + timedelta(days=weekday)
    return send_digests(site.engine, site.settings, week, today=day, weekday=weekday)
