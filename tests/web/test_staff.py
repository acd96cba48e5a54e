"""The staff dashboard (real counts of every section), source health pages, retrying failed
mail, and who may open each staff page."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aggregator.health import SourceRun, store_run
from aggregator.mail import deliver, enqueue
from aggregator.storage.models import (
    CallRow,
    CompanyRow,
    CourseRow,
    GroupRow,
    ListingRow,
    OfferInterestRow,
    OfferRow,
    OutboxRow,
)
from tests.web.conftest import ingest_calls

STAFF = "center-staff@kyodo.example.jp"


def _listing(key: str, title: str, deadline: str, *, source: str = "canpan", **extra) -> dict:
    return {
        "id": key,
        "source": source,
        "title": title,
        "text": f"締切: {deadline}\n助成金額: 上限30万円\n対象: 市民活動団体",
        "url": f"https://grants.example.jp/{source}/{key}",
        "published": "2026-11-20",
        "organizer": extra.pop("organizer", f"{title}財団"),
        **extra,
    }


CALLS = [
    _listing("soon1", "ひだまり子ども食堂助成", "2026年12月5日"),
    _listing("soon2", "あおぞら見守り活動助成", "2026年12月10日", organizer="あおぞら基金"),
    _listing("later", "みどりの森づくり助成", "2027年1月20日"),
    _listing("passed", "ゆうやけ文化活動助成", "2026年11月20日"),
    _listing("old", "こもれび福祉助成", "2026年12月1日"),  # first seen long ago
]


def _call_of(site, key: str) -> int:
    with Session(site.engine) as s:
        return s.scalar(select(ListingRow.call_id).where(ListingRow.source_key == key))


def _seed_calls(site) -> None:
    ingest_calls(site.engine, CALLS)
    with Session(site.engine) as s:
        s.execute(
            update(CallRow)
            .where(CallRow.id == _call_of(site, "old"))
            .values(first_seen=datetime.now(UTC) - timedelta(days=10))
        )
        s.commit()


def _seed_runs(site) -> None:
    now = datetime.now(UTC)
    store_run(
        site.engine,
        SourceRun("wam", now - timedelta(minutes=30), now - timedelta(minutes=29), listings=6),
    )
    store_run(
        site.engine,
        SourceRun(
            "canpan",
            now - timedelta(minutes=20),
            now - timedelta(minutes=19),
            listings=0,
            errors={"shape": 2, "http_404": 1},
            error_samples=[
                {
                    "kind": "shape",
                    "url": "https://fields.canpan.info/grant/",
                    "message": "一覧の表が見つかりません",
                }
            ],
        ),
    )
    store_run(
        site.engine,
        SourceRun(
            "jfc", now - timedelta(minutes=10), now - timedelta(minutes=9), listings=4, partial=1
        ),
    )


def _seed_accounts(site) -> None:
    now = datetime.now(UTC)
    with Session(site.engine) as s:
        pending = CompanyRow(name="さくら商事株式会社", status="pending", created_at=now)
        approved = CompanyRow(name="つばき電機株式会社", status="approved", created_at=now)
        other = CompanyRow(name="もみじ建設株式会社", status="pending", created_at=now)
        s.add_all([pending, approved, other])
        s.flush()
        offers = [
            OfferRow(
                company_id=approved.id,
                kind="money",
                title=t,
                status=st,
                created_at=now,
                updated_at=now,
            )
            for t, st in (
                ("地域活動への寄付", "pending"),
                ("備品の寄贈", "published"),
                ("会議室の提供", "draft"),
            )
        ]
        s.add_all(offers)
        group = GroupRow(
            name="鎌ケ谷見守りの会",
            unsubscribe_token=secrets.token_urlsafe(16),
            created_at=now,
            updated_at=now,
        )
        s.add(group)
        s.flush()
        s.add_all(
            [
                OfferInterestRow(
                    offer_id=offers[1].id, group_id=group.id, status="new", created_at=now
                ),
                OfferInterestRow(
                    offer_id=offers[0].id, group_id=group.id, status="done", created_at=now
                ),
            ]
        )
        s.commit()


def _queue(site, key: str, to: str, subject: str) -> None:
    with Session(site.engine) as s:
        enqueue(s, site.settings, key=key, kind="test", to=to, subject=subject, text="本文です。\n")
        s.commit()


def _seed_mail(site) -> None:
    site.smtp.inbox.refuse["gone@example.jp"] = "550 5.1.1 no such user"
    site.smtp.inbox.refuse["busy@example.jp"] = "451 4.3.0 try again later"
    _queue(site, "gone", "gone@example.jp", "締切のお知らせ（届かない）")
    _queue(site, "busy", "busy@example.jp", "締切のお知らせ（再送待ち）")
    _queue(site, "ok", "ok@example.jp", "締切のお知らせ（届いた）")
    report = deliver(site.engine, site.settings)
    assert (report.sent, report.failed, report.retry) == (1, 1, 1)


def _staff(site):
    site.user("staff", STAFF)
    return site.sign_in(STAFF)


def _text(soup, selector: str) -> str:
    found = soup.select_one(selector)
    assert found is not None, selector
    return found.get_text(" ", strip=True)


def test_dashboard_shows_every_section_with_real_counts(any_site):
    site = any_site
    _seed_calls(site)
    _seed_runs(site)
    _seed_accounts(site)
    _seed_mail(site)
    client = _staff(site)
    page = client.get("/staff")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")

    # Source health: failed first, then warning, then ok; errors by kind in Japanese.
    rows = soup.select("#sources tbody tr")
    assert [r.th.get_text(strip=True) for r in rows] == [
        "CANPAN 助成制度",
        "助成財団センター 助成金募集ニュース",
        "WAM助成（福祉医療機構）",
    ]
    assert [r.select_one(".outcome").get_text(strip=True) for r in rows] == ["失敗", "注意", "正常"]
    assert "ページの形が想定と違います：2件" in rows[0].get_text()
    assert "HTTP 404 エラー：1件" in rows[0].get_text()
    assert rows[0].a["href"] == "/staff/sources/canpan"
    assert "6件" in rows[2].get_text()

    # New this week: four of the five (one was first seen ten days ago).
    assert _text(soup, "#count-new") == "4"
    new_titles = [
        a.get_text() for a in soup.select("#new-heading ~ ul.call-lines li > a:first-child")
    ]
    assert "こもれび福祉助成" not in new_titles and "ひだまり子ども食堂助成" in new_titles
    assert len(new_titles) == 4

    # Closing within two weeks of 2026-11-28, soonest first; the passed one is closed.
    assert _text(soup, "#count-closing") == "3"
    closing = [a.get_text() for a in soup.select("#closing-heading ~ ul.call-lines a")]
    assert closing == ["こもれび福祉助成", "ひだまり子ども食堂助成", "あおぞら見守り活動助成"]
    assert f'href="/calls/{_call_of(site, "soon1")}"' in page.text

    assert _text(soup, "#count-companies") == "2件"
    assert _text(soup, "#count-offers") == "1件"
    assert _text(soup, "#count-interests") == "1件"
    for href in (
        "/staff/companies",
        "/staff/offers",
        "/staff/interests",
        "/staff/groups",
        "/staff/calls/new",
        "/staff/courses",
    ):
        assert soup.find("a", href=href) is not None, href

    # Failed mail: the refused address (failed) and the deferred one (pending, tried once).
    assert _text(soup, "#count-mails") == "2件"
    mail_rows = soup.select("#mails tbody tr")
    text = " ".join(r.get_text(" ", strip=True) for r in mail_rows)
    assert "gone@example.jp" in text and "busy@example.jp" in text and "ok@example.jp" not in text
    assert "送信できませんでした" in text and "再送待ち" in text
    assert "550" in text and "試行 1回" in text


def test_retry_sends_a_failed_mail_again(any_site):
    site = any_site
    _seed_mail(site)
    client = _staff(site)
    with Session(site.engine) as s:
        failed = s.scalar(select(OutboxRow).where(OutboxRow.key == "gone"))
    # Still refused: it fails again, and stays on the dashboard.
    response = site.post(client, f"/staff/outbox/{failed.id}/retry")
    assert response.status_code == 303
    assert response.headers["location"] == "/staff?notice=retry_queued"
    with Session(site.engine) as s:
        row = s.get(OutboxRow, failed.id)
        assert (row.status, row.attempts) == ("failed", 2)
    # The address is fixed on the receiving side: the retry delivers it.
    del site.smtp.inbox.refuse["gone@example.jp"]
    assert site.post(client, f"/staff/outbox/{failed.id}/retry").status_code == 303
    with Session(site.engine) as s:
        assert s.get(OutboxRow, failed.id).status == "sent"
    assert [m["Subject"] for m in site.smtp.to("gone@example.jp")] == ["締切のお知らせ（届かない）"]
    page = client.get("/staff?notice=retry_queued")
    assert "もう一度送ります" in page.text
    assert "gone@example.jp" not in page.text
    # A sent message cannot be "retried"; an unknown one is not found.
    with Session(site.engine) as s:
        sent = s.scalar(select(OutboxRow.id).where(OutboxRow.key == "ok"))
    assert site.post(client, f"/staff/outbox/{sent}/retry").status_code == 404
    assert site.post(client, "/staff/outbox/999999/retry").status_code == 404


def test_source_page_shows_the_runs_and_error_samples(site):
    _seed_runs(site)
    client = _staff(site)
    page = client.get("/staff/sources/canpan")
    assert page.status_code == 200
    assert "CANPAN 助成制度" in page.text
    assert "一覧の表が見つかりません" in page.text
    assert "ページの形が変わった可能性があります" in page.text
    assert client.get("/staff/sources/nowhere").status_code == 404


def test_empty_dashboard_says_so(site):
    client = _staff(site)
    page = client.get("/staff")
    assert page.status_code == 200
    assert "まだ収集の記録がありません" in page.text
    assert "送信できなかったメールはありません" in page.text
    soup = BeautifulSoup(page.text, "html.parser")
    assert _text(soup, "#count-new") == "0"


# -- who may open what ----------------------------------------------------------------------------

GETS = [
    "/staff",
    "/staff/sources/{source}",
    "/staff/calls",
    "/staff/calls/new",
    "/staff/calls/{call}/edit",
    "/staff/calls/{call}/merge",
    "/staff/courses",
    "/staff/courses/new",
    "/staff/courses/{course}/edit",
]
POSTS = [
    ("/staff/calls/new", {"title": "x", "text": "締切: 2026年12月5日", "action": "preview"}),
    ("/staff/calls/{call}/edit", {"title": "x"}),
    ("/staff/calls/{call}/merge", {"other_call_id": "1"}),
    ("/staff/calls/{call}/split", {"listing_id": "1"}),
    ("/staff/outbox/{mail}/retry", {}),
    ("/staff/courses/new", {"title": "x"}),
    ("/staff/courses/{course}/edit", {"title": "x"}),
    ("/staff/courses/{course}/delete", {}),
]


def _ids(site) -> dict[str, object]:
    ingest_calls(site.engine, CALLS[:1])
    _seed_runs(site)
    site.smtp.inbox.refuse["gone@example.jp"] = "550 no such user"
    _queue(site, "gone", "gone@example.jp", "届かないメール")
    deliver(site.engine, site.settings)
    now = datetime.now(UTC)
    with Session(site.engine) as s:
        course = CourseRow(
            kind="fundraising",
            title="はじめてのファンドレイジング",
            starts_at=now + timedelta(days=10),
            place="市民活動推進センター",
            how_to_apply="窓口で",
            created_at=now,
            updated_at=now,
        )
        s.add(course)
        s.commit()
        return {
            "call": _call_of(site, "soon1"),
            "course": course.id,
            "mail": s.scalar(select(OutboxRow.id)),
            "source": "canpan",
        }


def test_anonymous_visitors_are_sent_to_sign_in(site):
    ids = _ids(site)
    client = site.client()
    for path in GETS:
        url = path.format(**ids)
        response = client.get(url)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/login?next="), url
    for path, data in POSTS:
        url = path.format(**ids)
        response = site.post(client, url, data)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/login"), url


@pytest.mark.parametrize("role", ["group", "company"])
def test_groups_and_companies_may_not_open_staff_pages(site, role):
    ids = _ids(site)
    site.user(role, f"{role}@example.jp")
    client = site.sign_in(f"{role}@example.jp")
    for path in GETS:
        assert client.get(path.format(**ids)).status_code == 403, path
    for path, data in POSTS:
        assert site.post(client, path.format(**ids), data).status_code == 403, path
    with Session(site.engine) as s:  # nothing changed
        assert s.get(CourseRow, ids["course"]) is not None
        assert s.get(OutboxRow, ids["mail"]).status == "failed"


def test_staff_open_every_page_and_unknown_ids_are_not_found(site):
    ids = _ids(site)
    client = _staff(site)
    for path in GETS:
        response = client.get(path.format(**ids))
        assert response.status_code == 200, path
    unknown = {"call": 999_999, "course": 999_999, "mail": 999_999, "source": "nowhere"}
    for path in GETS:
        if "{" in path:
            assert client.get(path.format(**unknown)).status_code == 404, path
    for path, data in POSTS:
        if "{" in path and "{source}" not in path:
            assert site.post(client, path.format(**unknown), data).status_code == 404, path


def test_posts_without_the_form_token_are_refused(site):
    ids = _ids(site)
    client = _staff(site)
    response = client.post(f"/staff/outbox/{ids['mail']}/retry", data={})
    assert response.status_code == 403
    response = client.post(f"/staff/courses/{ids['course']}/delete", data={"csrf_token": "0" * 64})
    assert response.status_code == 403
    with Session(site.engine) as s:
        assert s.get(CourseRow, ids["course"]) is not None


def test_the_menu_shows_counts_only_to_staff(site):
    """Personal data on the dashboard (mail recipients) is for staff only: others get 403."""
    _seed_mail(site)
    site.user("group", "g@example.jp")
    page = site.sign_in("g@example.jp").get("/staff")
    assert page.status_code == 403
    assert not re.search(r"gone@example\.jp", page.text)
