"""Courses: the public list and pages (with an .ics of each), and the staff's pages to manage
them. Fundraising courses come first: the centre's plan puts them first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from icalendar import Calendar, Event
from sqlalchemy import select
from starlette.datastructures import FormData

from aggregator.courses import (
    COURSE_KINDS,
    CourseForm,
    parse_course_form,
    upcoming_courses,
    when_text,
)
from aggregator.fields import FIELD_SHORT_LABELS, FIELDS
from aggregator.storage.models import CourseRow
from api.auth import Csrf, StaffDep
from api.deps import SessionDep, SettingsDep
from api.text import safe_url
from api.web import FormDep, absolute, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Csrf])

ICS_TYPE = "text/calendar; charset=utf-8"


@dataclass
class CourseView:
    """A course as pages show it."""

    id: int
    kind: str
    kind_label: str
    title: str
    when: str
    place: str | None
    online_href: str | None
    online: bool
    capacity: str | None
    fields: list[str]
    description: str
    how_to_apply: str
    published: bool
    past: bool


def course_view(row: CourseRow, tz: ZoneInfo, now: datetime) -> CourseView:
    return CourseView(
        id=row.id,
        kind=row.kind,
        kind_label=COURSE_KINDS.get(row.kind, row.kind),
        title=row.title,
        when=when_text(row.starts_at, row.ends_at, tz),
        place=row.place,
        online_href=safe_url(row.online_url),
        online=bool(row.online_url),
        capacity=f"{row.capacity}名" if row.capacity else None,
        fields=[FIELD_SHORT_LABELS.get(f, f) for f in row.fields or []],
        description=row.description or "",
        how_to_apply=row.how_to_apply or "",
        published=row.published,
        past=(row.ends_at or row.starts_at) < now,
    )


def _tz(settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


# -- public -----------------------------------------------------------------------------------


@router.get("/courses")
def course_list(request: Request, session: SessionDep, settings: SettingsDep):
    tz, now = _tz(settings), datetime.now(UTC)
    courses = [course_view(row, tz, now) for row in upcoming_courses(session, now)]
    return render(request, "courses/list.html", title="講座・研修のご案内", courses=courses)


def _published(session, course_id: int) -> CourseRow:
    row = (
        session.scalars(
            select(CourseRow).where(CourseRow.id == course_id, CourseRow.published.is_(True))
        ).one_or_none()
        if 0 < course_id < 2**31
        else None
    )
    if row is None:
        raise HTTPException(status_code=404, detail="講座が見つかりません。")
    return row


@router.get("/courses/{course_id:int}")
def course_page(request: Request, course_id: int, session: SessionDep, settings: SettingsDep):
    row = _published(session, course_id)
    course = course_view(row, _tz(settings), datetime.now(UTC))
    return render(request, "courses/detail.html", title=course.title, course=course)


@router.get("/courses/{course_id:int}.ics")
def course_ics(course_id: int, session: SessionDep, settings: SettingsDep):
    row = _published(session, course_id)
    page = absolute(settings, f"/courses/{row.id}")
    cal = Calendar()
    cal.add("prodid", "-//kyodo//講座//JA")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"course-{row.id}@kyodo")
    event.add("dtstamp", row.updated_at.astimezone(UTC))
    event.add("dtstart", row.starts_at.astimezone(UTC))
    if row.ends_at is not None:
        event.add("dtend", row.ends_at.astimezone(UTC))
    event.add("summary", row.title)
    event.add("url", page)
    where = row.place or ("オンライン" if row.online_url else None)
    if where:
        event.add("location", where)
    lines = [COURSE_KINDS.get(row.kind, row.kind)]
    if row.description:
        lines.append(row.description)
    lines.append(f"申込方法: {row.how_to_apply}")
    online = safe_url(row.online_url)
    if online:
        lines.append(f"オンライン: {online}")
    lines.append(f"詳細: {page}")
    event.add("description", "\n".join(lines))
    cal.add_component(event)
    return Response(
        content=cal.to_ical(),
        media_type=ICS_TYPE,
        headers={"Content-Disposition": f'attachment; filename="kyodo-course-{row.id}.ics"'},
    )


# -- staff ------------------------------------------------------------------------------------


def _form_page(
    request: Request,
    form: CourseForm,
    *,
    course_id: int | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
):
    return render(
        request,
        "staff/course_form.html",
        status_code=status_code,
        title="講座を編集する" if course_id else "講座を登録する",
        form=form,
        course_id=course_id,
        errors=errors or [],
        kinds=list(COURSE_KINDS.items()),
        field_options=[(slug, FIELD_SHORT_LABELS.get(slug, n)) for slug, n in FIELDS.items()],
    )


def _form_of(form_data: FormData) -> CourseForm:
    data = {key: form_data.get(key) for key in form_data}
    data["fields"] = form_data.getlist("fields")
    return CourseForm.from_mapping(data)


@router.get("/staff/courses")
def staff_courses(request: Request, viewer: StaffDep, session: SessionDep, settings: SettingsDep):
    tz, now = _tz(settings), datetime.now(UTC)
    rows = session.scalars(select(CourseRow).order_by(CourseRow.starts_at.desc())).all()
    views = [course_view(row, tz, now) for row in rows]
    return render(
        request,
        "staff/courses.html",
        title="講座の管理",
        upcoming=[v for v in views if not v.past][::-1],
        past=[v for v in views if v.past],
    )


@router.get("/staff/courses/new")
def new_course_form(request: Request, viewer: StaffDep):
    return _form_page(request, CourseForm())


@router.post("/staff/courses/new")
def new_course(
    request: Request,
    viewer: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
    form_data: FormDep,
):
    form = _form_of(form_data)
    values, errors = parse_course_form(form, _tz(settings))
    if errors:
        return _form_page(request, form, errors=errors, status_code=400)
    now = datetime.now(UTC)
    session.add(CourseRow(**values, created_at=now, updated_at=now))
    session.commit()
    return redirect("/staff/courses", "saved")


def _course_or_404(session, course_id: int) -> CourseRow:
    row = session.get(CourseRow, course_id) if 0 < course_id < 2**31 else None
    if row is None:
        raise HTTPException(status_code=404, detail="講座が見つかりません。")
    return row


@router.get("/staff/courses/{course_id:int}/edit")
def edit_course_form(
    request: Request, course_id: int, viewer: StaffDep, session: SessionDep, settings: SettingsDep
):
    row = _course_or_404(session, course_id)
    return _form_page(request, CourseForm.from_row(row, _tz(settings)), course_id=row.id)


@router.post("/staff/courses/{course_id:int}/edit")
def edit_course(
    request: Request,
    course_id: int,
    viewer: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
    form_data: FormDep,
):
    row = _course_or_404(session, course_id)
    form = _form_of(form_data)
    values, errors = parse_course_form(form, _tz(settings))
    if errors:
        return _form_page(request, form, course_id=row.id, errors=errors, status_code=400)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = datetime.now(UTC)
    session.commit()
    return redirect("/staff/courses", "saved")


@router.post("/staff/courses/{course_id:int}/delete")
def delete_course(request: Request, course_id: int, viewer: StaffDep, session: SessionDep):
    row = _course_or_404(session, course_id)
    session.delete(row)
    session.commit()
    return redirect("/staff/courses", "deleted")
