"""Courses for groups: ファンドレイジング研修, 申請書の書き方講座, センター主催講座.

Staff enter them with a form (`parse_course_form`); the site lists upcoming ones and digests
include them (`upcoming_courses`), fundraising courses first: the centre's plan names them as
the answer to the groups' biggest worry, money.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from aggregator.forms import UNKNOWN_FIELDS, form_list, form_text, known_fields, squeeze
from aggregator.storage.models import CourseRow

COURSE_KINDS: dict[str, str] = {
    "fundraising": "ファンドレイジング研修",
    "application": "申請書の書き方講座",
    "centre": "センター主催講座",
}

WEEKDAYS = "月火水木金土日"
MAX_CAPACITY = 100_000

_DATE = re.compile(r"^(\d{4})[-/年.](\d{1,2})[-/月.](\d{1,2})日?$")
_TIME = re.compile(r"^(\d{1,2})[:時](\d{2})?分?$")


@dataclass
class CourseForm:
    """What the staff typed, as text: re-shown as it was when something is wrong."""

    kind: str = "fundraising"
    title: str = ""
    date: str = ""
    start_time: str = ""
    end_time: str = ""
    place: str = ""
    online_url: str = ""
    capacity: str = ""
    fields: list[str] = field(default_factory=list)
    description: str = ""
    how_to_apply: str = ""
    published: bool = True

    @classmethod
    def from_row(cls, row: CourseRow, tz: ZoneInfo) -> CourseForm:
        start = row.starts_at.astimezone(tz)
        end = row.ends_at.astimezone(tz) if row.ends_at else None
        return cls(
            kind=row.kind,
            title=row.title,
            date=start.date().isoformat(),
            start_time=start.strftime("%H:%M"),
            end_time=end.strftime("%H:%M") if end else "",
            place=row.place or "",
            online_url=row.online_url or "",
            capacity=str(row.capacity) if row.capacity else "",
            fields=list(row.fields or []),
            description=row.description or "",
            how_to_apply=row.how_to_apply or "",
            published=row.published,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CourseForm:
        """From form fields; `fields` is a list, `published` present when checked."""

        def text(name: str) -> str:
            return form_text(data, name)

        return cls(
            kind=text("kind"),
            title=text("title"),
            date=text("date"),
            start_time=text("start_time"),
            end_time=text("end_time"),
            place=text("place"),
            online_url=text("online_url"),
            capacity=text("capacity"),
            fields=[c for c in form_list(data, "fields") if c],
            description=text("description"),
            how_to_apply=text("how_to_apply"),
            published=bool(text("published")),
        )


def _parse_date(text: str) -> date | None:
    m = _DATE.match(squeeze(text))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _parse_time(text: str) -> time | None:
    m = _TIME.match(squeeze(text))
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_course_form(form: CourseForm, tz: ZoneInfo) -> tuple[dict[str, Any], list[str]]:
    """Column values of `courses` from the form, and the errors (Japanese) if any.

    The date and times are in the centre's time zone (`tz`); they are stored in UTC.
    """
    errors: list[str] = []
    if form.kind not in COURSE_KINDS:
        errors.append("講座の種類を選んでください。")
    if not form.title:
        errors.append("講座名を入力してください。")
    elif len(form.title) > 200:
        errors.append("講座名は200文字以内で入力してください。")
    day = _parse_date(form.date) if form.date else None
    if not form.date:
        errors.append("開催日を入力してください。")
    elif day is None:
        errors.append("開催日は 2026-12-12 の形で入力してください。")
    start = _parse_time(form.start_time) if form.start_time else None
    if not form.start_time:
        errors.append("開始時刻を入力してください。")
    elif start is None:
        errors.append("開始時刻は 13:30 の形で入力してください。")
    end = None
    if form.end_time:
        end = _parse_time(form.end_time)
        if end is None:
            errors.append("終了時刻は 15:30 の形で入力してください。")
        elif start is not None and end <= start:
            errors.append("終了時刻は開始時刻より後にしてください。")
    if not form.place and not form.online_url:
        errors.append("会場かオンラインのURLのどちらかを入力してください。")
    if form.online_url and not _http_url(form.online_url):
        errors.append("オンラインのURLは http:// か https:// で始まるアドレスを入力してください。")
    capacity = None
    if form.capacity:
        digits = squeeze(form.capacity).removesuffix("名").removesuffix("人")
        if not digits.isdigit() or not 1 <= int(digits) <= MAX_CAPACITY:
            errors.append("定員は1以上の数字で入力してください（決まっていなければ空欄）。")
        else:
            capacity = int(digits)
    fields, fields_known = known_fields(form.fields)
    if not fields_known:
        errors.append(UNKNOWN_FIELDS)
    if not form.how_to_apply:
        errors.append("申込方法を入力してください。")
    if errors:
        return {}, errors
    assert day is not None and start is not None
    starts_at = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
    ends_at = datetime.combine(day, end, tzinfo=tz).astimezone(UTC) if end else None
    return {
        "kind": form.kind,
        "title": form.title,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "place": form.place or None,
        "online_url": form.online_url or None,
        "capacity": capacity,
        "fields": fields,
        "description": form.description,
        "how_to_apply": form.how_to_apply,
        "published": form.published,
    }, []


def when_text(starts_at: datetime, ends_at: datetime | None, tz: ZoneInfo) -> str:
    """「2026年12月12日（土）13:30〜15:30」 in the centre's time zone."""
    start = starts_at.astimezone(tz)
    text = (
        f"{start.year}年{start.month}月{start.day}日（{WEEKDAYS[start.weekday()]}）{start:%H:%M}〜"
    )
    if ends_at is not None:
        end = ends_at.astimezone(tz)
        if end.date() != start.date():
            text += f"{end.month}月{end.day}日（{WEEKDAYS[end.weekday()]}）"
        text += f"{end:%H:%M}"
    return text


def _fundraising_first():
    return case((CourseRow.kind == "fundraising", 0), else_=1)


def upcoming_courses(
    session: Session,
    now: datetime,
    fields: list[str] | None = None,
    limit: int | None = None,
) -> list[CourseRow]:
    """Published courses starting at `now` or later, fundraising courses first, then by start.

    With `fields`, only courses for one of those fields or for every field (none given).
    """
    rows = session.scalars(
        select(CourseRow)
        .where(CourseRow.published.is_(True), CourseRow.starts_at >= now)
        .order_by(_fundraising_first(), CourseRow.starts_at, CourseRow.id)
    ).all()
    return courses_for(rows, fields, limit)


def courses_for(
    courses: Sequence[CourseRow], fields: Iterable[str] | None, limit: int | None = None
) -> list[CourseRow]:
    """Of `courses`, those for one of `fields` or for every field (none given), in order."""
    rows = list(courses)
    if fields is not None:
        wanted = set(fields)
        rows = [r for r in rows if not r.fields or wanted.intersection(r.fields)]
    return rows[:limit] if limit is not None else rows
