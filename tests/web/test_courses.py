"""Courses: staff create, edit and delete them; the public list puts fundraising first; each
course has a page and an .ics; `upcoming_courses` is what digests read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.courses import COURSE_KINDS, CourseForm, parse_course_form, upcoming_courses
from aggregator.storage.models import CourseRow

STAFF = "center-staff@kyodo.example.jp"
TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime.now(UTC).replace(second=0, microsecond=0)  # courses start on the minute
NEXT_YEAR = NOW.astimezone(TOKYO).year + 1  # dates safely in the future whatever today is


def _staff(site):
    site.user("staff", STAFF)
    return site.sign_in(STAFF)


def _form(**values) -> dict:
    return {
        "kind": "application",
        "title": "助成金申請書の書き方講座",
        "date": f"{NEXT_YEAR}-12-12",
        "start_time": "13:30",
        "end_time": "15:30",
        "place": "鎌ケ谷市市民活動推進センター 会議室",
        "online_url": "",
        "capacity": "20",
        "fields": ["health_welfare", "children_youth"],
        "description": "申請書の書き方を、実際の様式で練習します。",
        "how_to_apply": "12月5日までにセンターの窓口か電話でお申し込みください。",
        "published": "1",
        **values,
    }


def _courses(site) -> list[CourseRow]:
    with Session(site.engine) as s:
        return list(s.scalars(select(CourseRow).order_by(CourseRow.id)))


def test_staff_create_edit_and_delete_a_course(any_site):
    site = any_site
    client = _staff(site)
    page = client.get("/staff/courses/new")
    assert page.status_code == 200
    assert "（必須）" in page.text
    response = site.post(client, "/staff/courses/new", _form())
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/courses?notice=saved"
    [course] = _courses(site)
    assert course.kind == "application"
    # 13:30 in Tokyo is 04:30 UTC
    assert course.starts_at == datetime(NEXT_YEAR, 12, 12, 4, 30, tzinfo=UTC)
    assert course.ends_at == datetime(NEXT_YEAR, 12, 12, 6, 30, tzinfo=UTC)
    assert course.capacity == 20
    assert course.fields == ["health_welfare", "children_youth"]
    assert course.published is True

    listing = client.get("/staff/courses")
    assert "助成金申請書の書き方講座" in listing.text
    assert f'href="/staff/courses/{course.id}/edit"' in listing.text

    edit = client.get(f"/staff/courses/{course.id}/edit")
    soup = BeautifulSoup(edit.text, "html.parser")
    assert soup.find(id="f-date")["value"] == f"{NEXT_YEAR}-12-12"
    assert soup.find(id="f-start_time")["value"] == "13:30"  # shown in Tokyo time again
    assert soup.find(id="f-capacity")["value"] == "20"
    response = site.post(
        client,
        f"/staff/courses/{course.id}/edit",
        _form(
            kind="fundraising",
            title="はじめてのファンドレイジング",
            place="",
            online_url="https://meet.example.jp/abc",
            capacity="",
            published="",
        ),
    )
    assert response.status_code == 303
    [course] = _courses(site)
    assert (course.kind, course.title, course.place, course.online_url) == (
        "fundraising",
        "はじめてのファンドレイジング",
        None,
        "https://meet.example.jp/abc",
    )
    assert course.capacity is None and course.published is False
    # Unpublished: gone from the public pages.
    assert client.get("/courses").text.count("はじめてのファンドレイジング") == 0
    assert client.get(f"/courses/{course.id}").status_code == 404

    response = site.post(client, f"/staff/courses/{course.id}/delete")
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/courses?notice=deleted"
    assert _courses(site) == []
    assert client.get(f"/staff/courses/{course.id}/edit").status_code == 404


def test_course_form_errors_are_listed_and_what_was_typed_stays(site):
    client = _staff(site)
    response = site.post(
        client,
        "/staff/courses/new",
        _form(
            title="",
            date="12月12日",
            start_time="15:30",
            end_time="13:00",
            place="",
            online_url="javascript:alert(1)",
            capacity="0",
            how_to_apply="",
            fields=["cooking"],
            description="当日は筆記用具をお持ちください。",
        ),
    )
    assert response.status_code == 400
    soup = BeautifulSoup(response.text, "html.parser")
    alert = soup.find(attrs={"role": "alert"}).get_text()
    for message in (
        "講座名を入力してください",
        "開催日は",
        "終了時刻は開始時刻より後",
        "http:// か https://",
        "定員は1以上",
        "申込方法を入力してください",
        "活動分野は一覧から",
    ):
        assert message in alert, message
    assert soup.find(id="f-date")["value"] == "12月12日"
    assert "筆記用具" in soup.find(id="f-description").get_text()
    assert _courses(site) == []

    response = site.post(client, "/staff/courses/new", _form(place="", online_url=""))
    assert response.status_code == 400
    assert "会場かオンラインのURLのどちらか" in response.text


def _add(session: Session, kind: str, title: str, starts: datetime, **extra) -> CourseRow:
    row = CourseRow(
        kind=kind,
        title=title,
        starts_at=starts,
        ends_at=extra.pop("ends_at", starts + timedelta(hours=2)),
        place=extra.pop("place", "市民活動推進センター"),
        how_to_apply=extra.pop("how_to_apply", "センターの窓口でお申し込みください。"),
        created_at=NOW,
        updated_at=NOW,
        **extra,
    )
    session.add(row)
    session.flush()
    return row


def _seed(site) -> dict[str, int]:
    with Session(site.engine) as s:
        rows = {
            "centre_soon": _add(s, "centre", "NPOの会計入門", NOW + timedelta(days=3)),
            "application": _add(s, "application", "申請書の書き方", NOW + timedelta(days=5)),
            "fundraising_late": _add(
                s,
                "fundraising",
                "寄付を集める広報",
                NOW + timedelta(days=40),
                fields=["children_youth"],
            ),
            "fundraising": _add(
                s,
                "fundraising",
                "ファンドレイジング基礎",
                NOW + timedelta(days=20),
                capacity=30,
                fields=["health_welfare"],
            ),
            "past": _add(s, "fundraising", "終わった研修", NOW - timedelta(days=2)),
            "hidden": _add(
                s, "fundraising", "準備中の研修", NOW + timedelta(days=1), published=False
            ),
        }
        s.commit()
        return {k: v.id for k, v in rows.items()}


def test_public_list_puts_fundraising_first_then_by_date(any_site):
    site = any_site
    ids = _seed(site)
    page = site.client().get("/courses")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    titles = [h.get_text(strip=True) for h in soup.select(".course-list h2")]
    assert titles == [
        "ファンドレイジング基礎",
        "寄付を集める広報",
        "NPOの会計入門",
        "申請書の書き方",
    ]
    item = soup.find(id=f"course-{ids['fundraising']}")
    text = item.get_text(" ", strip=True)
    assert COURSE_KINDS["fundraising"] in text
    assert "30名" in text and "市民活動推進センター" in text
    assert "センターの窓口でお申し込みください" in text
    start = (NOW + timedelta(days=20)).astimezone(TOKYO)
    weekday = "月火水木金土日"[start.weekday()]
    end = start + timedelta(hours=2)
    assert (
        f"{start.year}年{start.month}月{start.day}日（{weekday}）{start:%H:%M}〜{end:%H:%M}" in text
    )
    assert "準備中の研修" not in page.text and "終わった研修" not in page.text


def test_course_page_and_ics(any_site):
    site = any_site
    ids = _seed(site)
    client = site.client()
    page = client.get(f"/courses/{ids['fundraising']}")
    assert page.status_code == 200
    assert "ファンドレイジング基礎" in page.text
    assert f'href="/courses/{ids["fundraising"]}.ics"' in page.text
    assert client.get(f"/courses/{ids['hidden']}").status_code == 404
    assert client.get("/courses/999999").status_code == 404
    past = client.get(f"/courses/{ids['past']}")
    assert past.status_code == 200 and "この講座は終了しました" in past.text

    ics = client.get(f"/courses/{ids['fundraising']}.ics")
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    [event] = Calendar.from_ical(ics.content).walk("VEVENT")
    assert str(event["summary"]) == "ファンドレイジング基礎"
    with Session(site.engine) as s:
        row = s.get(CourseRow, ids["fundraising"])
        assert event.decoded("dtstart") == row.starts_at
        assert event.decoded("dtend") == row.ends_at
    assert str(event["location"]) == "市民活動推進センター"
    assert str(event["url"]).endswith(f"/courses/{ids['fundraising']}")
    assert "センターの窓口" in str(event["description"])
    missing = client.get(f"/courses/{ids['hidden']}.ics")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


def test_upcoming_courses_for_digests(site):
    ids = _seed(site)
    with Session(site.engine) as s:
        every = [c.id for c in upcoming_courses(s, NOW)]
        assert every == [
            ids["fundraising"],
            ids["fundraising_late"],
            ids["centre_soon"],
            ids["application"],
        ]
        # A group working for children: courses for its field and courses for every field.
        children = [c.id for c in upcoming_courses(s, NOW, fields=["children_youth"])]
        assert children == [ids["fundraising_late"], ids["centre_soon"], ids["application"]]
        assert [c.id for c in upcoming_courses(s, NOW, limit=2)] == every[:2]
        later = [c.id for c in upcoming_courses(s, NOW + timedelta(days=10))]
        assert later == [ids["fundraising"], ids["fundraising_late"]]


def test_parse_course_form_stores_tokyo_time_in_utc():
    values, errors = parse_course_form(
        CourseForm.from_mapping(
            {
                "kind": "centre",
                "title": "交流会",
                "date": "２０２６年１２月１日",
                "start_time": "９時",
                "place": "センター",
                "how_to_apply": "当日参加できます。",
                "capacity": "１５名",
            }
        ),
        TOKYO,
    )
    assert errors == []
    assert values["starts_at"] == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert values["ends_at"] is None and values["capacity"] == 15
    assert values["published"] is False  # the box was not checked


def test_the_staff_course_pages_are_for_staff_only(site):
    ids = _seed(site)
    site.user("company", "csr@example.jp")
    company = site.sign_in("csr@example.jp")
    assert company.get("/staff/courses").status_code == 403
    assert site.post(company, f"/staff/courses/{ids['application']}/delete").status_code == 403
    assert site.client().get("/staff/courses").headers["location"].startswith("/login")
    assert len(_courses(site)) == 6
    # Anyone may read the public list.
    assert company.get("/courses").status_code == 200
