"""Building one group's weekly digest: what fits it, why, rendered to text and HTML.

Only calls that fit the group's profile are listed (fields, area, legal form, size, years
active, not marked 対象外); each new call carries one line saying why it fits. Nothing here
sends mail: `digest.send` stores the result in the outbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.courses import COURSE_KINDS, upcoming_courses, when_text
from aggregator.fields import FIELD_SHORT_LABELS
from aggregator.groups import DIGEST_SECTIONS, jdate, years_active
from aggregator.offers import OFFER_KINDS, matching_offers, reachable_areas
from aggregator.search import effective_status
from aggregator.settings import Settings
from aggregator.storage.models import (
    CallField,
    CallHistoryRow,
    CallRow,
    DismissedCallRow,
    GroupRow,
    SavedCallRow,
)
from aggregator.wording import yen

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CLOSING_DAYS = 14
PREDICTED_DAYS = 60
COURSE_LIMIT = 5
INFORMAL_FORMS = ("任意団体", "ボランティア団体", "自治会")  # as aggregator.normalize.eligibility
# call_history kinds a group hears about for the calls it saved, with their wording.
CHANGE_LABELS: dict[str, str] = {
    "deadline_extended": "締切延長",
    "amount_changed": "金額変更",
    "closed": "募集終了",
    "withdrawn": "取り下げ",
}
DEADLINE_KIND_WORDS: dict[str, str] = {
    "rolling": "随時受付",
    "recurring": "定期的に募集",
    "unknown": "締切は公募ページでご確認ください",
}
_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")


@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO 8601 week, e.g. 2026-W49 (Monday 2026-11-30 to Sunday 2026-12-06)."""

    year: int
    week: int

    def __post_init__(self) -> None:
        try:
            date.fromisocalendar(self.year, self.week, 1)
        except ValueError as error:
            raise ValueError(f"{self.year}年に第{self.week}週はありません。") from error

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        match = _WEEK.match(text.strip().upper())
        if match is None:
            raise ValueError(f"週は 2026-W49 のように入力してください（{text!r}）。")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 7)

    @property
    def label(self) -> str:
        """「12/1週」: the month and day of its Monday."""
        return f"{self.monday.month}/{self.monday.day}週"

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"


# -- what goes in the mail (the templates' inputs) ----------------------------------------------


@dataclass(frozen=True)
class CallItem:
    call_id: int
    title: str
    organizer: str | None
    amount: str | None  # 上限30万円
    deadline: str  # 2026年12月5日（土）, or 随時受付 …
    url: str
    reason: str  # why it fits: 子どもの健全育成・鎌ケ谷市内の任意団体可


@dataclass(frozen=True)
class ChangeItem:
    call_id: int
    title: str
    label: str  # 締切延長
    detail: str | None  # 2026年12月5日（土） → 2026年12月20日（日）
    url: str


@dataclass(frozen=True)
class OfferItem:
    title: str
    company: str
    kind: str
    amount: str | None
    how_to_apply: str
    url: str


@dataclass(frozen=True)
class CourseItem:
    title: str
    kind: str
    when: str
    place: str | None
    online_url: str | None
    how_to_apply: str


@dataclass
class DigestContext:
    """Everything `templates/mail/digest.txt` and `digest.html` read."""

    site_name: str
    site_url: str
    group_name: str
    week_label: str
    short: bool  # a quiet week: only closing-soon calls and courses
    sections: list[str]
    new: list[CallItem] = field(default_factory=list)
    changes: list[ChangeItem] = field(default_factory=list)
    closing: list[CallItem] = field(default_factory=list)
    predicted: list[CallItem] = field(default_factory=list)
    offers: list[OfferItem] = field(default_factory=list)
    courses: list[CourseItem] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=lambda: dict(DIGEST_SECTIONS))
    settings_url: str = ""
    unsubscribe_url: str = ""


@dataclass(frozen=True)
class Digest:
    group_id: int
    week: IsoWeek
    subject: str
    text: str
    html: str
    counts: dict[str, int]  # section key -> items listed
    empty: bool  # no new calls and no changes
    context: DigestContext  # what was rendered (for previews and checks)


# -- fitting a group --------------------------------------------------------------------------


def is_informal(legal_form: str | None) -> bool:
    return legal_form in INFORMAL_FORMS


def form_allowed(call: CallRow, group: GroupRow) -> bool:
    """Whether the group's legal form may apply.

    An informal group is out when the call says 任意団体不可; when the call names legal forms
    and does not say informal groups may apply, its form must be named. A legal person (NPO法人
    …) must be named when the call names legal persons' forms; 「任意団体可」 alone (forms named
    are all informal) opens a call wider, it does not shut legal persons out.
    """
    forms = list(call.legal_forms or [])
    if is_informal(group.legal_form):
        if call.informal_groups_ok is False:
            return False
        return call.informal_groups_ok is True or not forms or group.legal_form in forms
    return group.legal_form in forms or all(is_informal(f) for f in forms)


def size_allowed(call: CallRow, group: GroupRow, today: date) -> bool:
    """Members and years active at least the call's minimums (unknown group values pass)."""
    members, years = group.members, years_active(group, today)
    if call.min_members is not None and members is not None and members < call.min_members:
        return False
    return not (
        call.min_years_active is not None and years is not None and years < call.min_years_active
    )


def _fitting(session: Session, group: GroupRow, today: date, *where) -> list[CallRow]:
    """Calls in the group's fields and reach, its form and size allowed, not dismissed."""
    fields = list(group.fields or [])
    if not fields:
        return []
    query = select(CallRow).where(
        CallRow.area.in_(reachable_areas(group.prefecture, group.municipality)),
        CallRow.id.in_(select(CallField.call_id).where(CallField.field.in_(fields))),
        CallRow.id.not_in(
            select(DismissedCallRow.call_id).where(DismissedCallRow.group_id == group.id)
        ),
        *where,
    )
    calls = [
        c
        for c in session.scalars(query)
        if form_allowed(c, group) and size_allowed(c, group, today)
    ]
    return sorted(calls, key=lambda c: (c.deadline is None, c.deadline or date.max, c.id))


def area_words(area: str | None) -> str:
    """全国 / 千葉県内 / 鎌ケ谷市内."""
    if not area or area == "national" or ":" not in area:
        return "全国"
    return area.split(":", 1)[1] + "内"


def reason_line(call: CallRow, group: GroupRow) -> str:
    """Why a call fits: 「子どもの健全育成・鎌ケ谷市内の任意団体可」."""
    wanted = set(group.fields or [])
    matched = [FIELD_SHORT_LABELS.get(f.field, f.field) for f in call.fields if f.field in wanted]
    text = "・".join([*matched, area_words(call.area)])
    if is_informal(group.legal_form) and call.informal_groups_ok is True:
        text += "の任意団体可"
    elif group.legal_form in (call.legal_forms or []):
        text += f"の{group.legal_form}可"
    return text


def deadline_words(call: CallRow) -> str:
    if call.deadline is not None:
        return jdate(call.deadline) or ""
    return DEADLINE_KIND_WORDS.get(call.deadline_kind, DEADLINE_KIND_WORDS["unknown"])


def _url(settings: Settings, path: str) -> str:
    return settings.site_url.rstrip("/") + path


def _call_item(call: CallRow, group: GroupRow, settings: Settings) -> CallItem:
    amount = yen(call.max_amount_yen)
    return CallItem(
        call_id=call.id,
        title=call.title,
        organizer=call.organizer,
        amount=f"上限{amount}" if amount else None,
        deadline=deadline_words(call),
        url=_url(settings, f"/calls/{call.id}"),
        reason=reason_line(call, group),
    )


def _change_detail(kind: str, old: str | None, new: str | None) -> str | None:
    def show(value: str | None) -> str | None:
        if value is None:
            return None
        if kind == "deadline_extended":
            try:
                return jdate(date.fromisoformat(value))
            except ValueError:
                return value
        if kind == "amount_changed" and value.isdigit():
            return yen(int(value))
        return None  # closed / withdrawn: the label says it all

    old_text, new_text = show(old), show(new)
    if old_text and new_text:
        return f"{old_text} → {new_text}"
    return new_text


# -- the sections -----------------------------------------------------------------------------


def new_calls(session: Session, group: GroupRow, today: date, since: datetime) -> list[CallRow]:
    """Calls first seen since `since` that fit the group, open or upcoming, by deadline."""
    return _fitting(
        session,
        group,
        today,
        CallRow.first_seen >= since,
        CallRow.predicted.is_(False),
        effective_status(today).in_(("open", "upcoming")),
    )


def closing_calls(session: Session, group: GroupRow, today: date) -> list[CallRow]:
    """Open calls that fit the group with a fixed deadline within CLOSING_DAYS of `today`."""
    return _fitting(
        session,
        group,
        today,
        CallRow.predicted.is_(False),
        CallRow.deadline_kind == "fixed",
        CallRow.deadline >= today,
        CallRow.deadline <= today + timedelta(days=CLOSING_DAYS),
        effective_status(today) == "open",
    )


def predicted_calls(session: Session, group: GroupRow, today: date) -> list[CallRow]:
    """Expected rounds (例年この時期) that fit the group, due within PREDICTED_DAYS."""
    return _fitting(
        session,
        group,
        today,
        CallRow.predicted.is_(True),
        CallRow.deadline >= today,
        CallRow.deadline <= today + timedelta(days=PREDICTED_DAYS),
        effective_status(today) != "closed",
    )


def call_changes(
    session: Session, group: GroupRow, since: datetime
) -> list[tuple[CallHistoryRow, CallRow]]:
    """Changes since `since` to calls the group saved (気になる).

    Calls the group was sent in an earlier digest are not followed yet: that needs the
    outbox to record which calls each digest listed.
    """
    rows = session.execute(
        select(CallHistoryRow, CallRow)
        .join(CallRow, CallRow.id == CallHistoryRow.call_id)
        .join(SavedCallRow, SavedCallRow.call_id == CallRow.id)
        .where(
            SavedCallRow.group_id == group.id,
            CallHistoryRow.kind.in_(CHANGE_LABELS),
            CallHistoryRow.at >= since,
        )
        .order_by(CallHistoryRow.at, CallHistoryRow.id)
    )
    return [(history, call) for history, call in rows]


# -- the digest ---------------------------------------------------------------------------------


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def subject_line(settings: Settings, week: IsoWeek, counts: dict[str, int]) -> str:
    """【かまがや助成情報】12/1週 新着5件・締切間近2件 (parts with nothing are left out)."""
    words = {"new": "新着", "changes": "変更", "closing": "締切間近"}
    parts = [f"{word}{counts[key]}件" for key, word in words.items() if counts.get(key)]
    body = "・".join(parts) if parts else "締切間近と講座のお知らせ"
    if not parts and not counts.get("courses"):
        body = "今週のお知らせ"
    return f"【{settings.site_name}】{week.label} {body}"


def build_digest(
    session: Session,
    group: GroupRow,
    week: IsoWeek,
    settings: Settings,
    *,
    today: date,
    since: datetime | None,
) -> Digest | None:
    """The group's digest for `week`, or None when there is nothing to send.

    `since` is when the group's previous digest was built (None: the week's Monday minus 7
    days). A week with no new calls and no changes is "empty": the group's
    `digest_when_empty` then says skip (None) or short (only closing-soon calls and courses;
    None too when those are empty as well).
    """
    tz = ZoneInfo(settings.timezone)
    if since is None:
        since = datetime.combine(week.monday - timedelta(days=7), time(0), tz)
    chosen = [s for s in DIGEST_SECTIONS if s in (group.digest_sections or DIGEST_SECTIONS)]
    context = DigestContext(
        site_name=settings.site_name,
        site_url=settings.site_url.rstrip("/"),
        group_name=group.name,
        week_label=week.label,
        short=False,
        sections=chosen,
        settings_url=_url(settings, "/my/settings"),
        unsubscribe_url=_url(settings, f"/u/{group.unsubscribe_token}"),
    )
    if "new" in chosen:
        fresh = new_calls(session, group, today, since)
        context.new = [_call_item(c, group, settings) for c in fresh]
    if "changes" in chosen:
        context.changes = [
            ChangeItem(
                call_id=call.id,
                title=call.title,
                label=CHANGE_LABELS[history.kind],
                detail=_change_detail(history.kind, history.old_value, history.new_value),
                url=_url(settings, f"/calls/{call.id}"),
            )
            for history, call in call_changes(session, group, since)
        ]
    empty = not context.new and not context.changes
    if empty and group.digest_when_empty == "skip":
        return None
    if empty:
        context.short = True
        context.sections = [s for s in chosen if s in ("closing", "courses")]
    listed_new = {item.call_id for item in context.new}
    if "closing" in context.sections:
        context.closing = [
            _call_item(c, group, settings)
            for c in closing_calls(session, group, today)
            if c.id not in listed_new  # already in 新着, with its deadline
        ]
    if "predicted" in context.sections:
        context.predicted = [
            _call_item(c, group, settings) for c in predicted_calls(session, group, today)
        ]
    if "offers" in context.sections:
        context.offers = [
            OfferItem(
                title=offer.title,
                company=offer.company.name,
                kind=OFFER_KINDS.get(offer.kind, offer.kind),
                amount=yen(offer.amount_yen),
                how_to_apply=offer.how_to_apply,
                url=_url(settings, f"/offers/{offer.id}"),
            )
            for offer in matching_offers(session, group, today)
        ]
    if "courses" in context.sections:
        start = datetime.combine(today, time(0), tz)
        context.courses = [
            CourseItem(
                title=course.title,
                kind=COURSE_KINDS.get(course.kind, course.kind),
                when=when_text(course.starts_at, course.ends_at, tz),
                place=course.place,
                online_url=course.online_url,
                how_to_apply=course.how_to_apply,
            )
            for course in upcoming_courses(
                session, start, fields=list(group.fields or []), limit=COURSE_LIMIT
            )
        ]
    counts = {key: len(getattr(context, key)) for key in DIGEST_SECTIONS}
    if empty and not any(counts.values()):
        return None  # a short mail with nothing in it helps no one
    env = _environment()
    return Digest(
        group_id=group.id,
        week=week,
        subject=subject_line(settings, week, counts),
        text=env.get_template("mail/digest.txt").render(d=context),
        html=env.get_template("mail/digest.html").render(d=context),
        counts=counts,
        empty=empty,
        context=context,
    )
