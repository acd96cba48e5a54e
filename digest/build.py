"""Building one group's weekly digest: what fits it, why, rendered to text and HTML.

Only calls that fit the group's profile are listed (fields, area, legal form, size, years
active, not marked 対象外); each new call carries one line saying why it fits. Nothing here
sends mail: `digest.send` stores the result in the outbox.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from aggregator.courses import COURSE_KINDS, courses_for, upcoming_courses, when_text
from aggregator.fields import FIELD_SHORT_LABELS
from aggregator.groups import DIGEST_SECTIONS, jdate, years_active
from aggregator.offers import OFFER_KINDS, offer_fits, published_offers, reachable_areas
from aggregator.search import effective_status
from aggregator.settings import Settings
from aggregator.storage.models import (
    CallHistoryRow,
    CallRow,
    CourseRow,
    DigestCallRow,
    DismissedCallRow,
    GroupRow,
    OfferRow,
    SavedCallRow,
)
from aggregator.wording import yen

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CLOSING_DAYS = 14
PREDICTED_DAYS = 60
COURSE_LIMIT = 5
# At most this many items per section, so a first digest or a broad profile stays short; the
# rest is counted (「ほか N件」) with a link to the search.
NEW_LIMIT = 10
CLOSING_LIMIT = 10
PREDICTED_LIMIT = 5
OFFER_LIMIT = 5
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
    more_new: int = 0  # new calls not listed (over NEW_LIMIT)
    more_closing: int = 0
    settings_url: str = ""
    unsubscribe_url: str = ""
    search_url: str = ""  # the search, in the group's fields


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
    return _form_ok(tuple(call.legal_forms or ()), call.informal_groups_ok, group.legal_form)


def _form_ok(forms: tuple[str, ...], informal_ok: bool | None, legal_form: str | None) -> bool:
    if is_informal(legal_form):
        if informal_ok is False:
            return False
        return informal_ok is True or not forms or legal_form in forms
    return legal_form in forms or all(is_informal(f) for f in forms)


def size_allowed(call: CallRow, group: GroupRow, today: date) -> bool:
    """Members and years active at least the call's minimums (unknown group values pass)."""
    return _size_ok(
        call.min_members, call.min_years_active, group.members, years_active(group, today)
    )


def _size_ok(
    min_members: int | None, min_years: int | None, members: int | None, years: int | None
) -> bool:
    if min_members is not None and members is not None and members < min_members:
        return False
    return not (min_years is not None and years is not None and years < min_years)


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


# -- what digests are built from, loaded once per run -------------------------------------------


def default_since(week: IsoWeek, tz: ZoneInfo) -> datetime:
    """Where a group's first digest starts looking for new calls: a week before the Monday."""
    return datetime.combine(week.monday - timedelta(days=7), time(0), tz)


def _deadline_order(call: CallRow) -> tuple:
    return (call.deadline is None, call.deadline or date.max, call.id)


class _Candidate:
    """A call a digest of this run may list, with what the fit checks read copied out of the
    ORM row once (attribute reads on ORM rows are slow at 10,000 groups)."""

    __slots__ = (
        "call",
        "closing",
        "first_seen",
        "forms",
        "id",
        "informal_ok",
        "min_members",
        "min_years",
        "new_ok",
        "order",
        "predicted",
    )  # fmt: skip

    def __init__(self, call: CallRow, status: str, today: date) -> None:
        due = call.deadline is not None and today <= call.deadline
        self.call = call
        self.id = call.id
        self.order = _deadline_order(call)
        self.first_seen = call.first_seen
        self.forms = tuple(call.legal_forms or ())
        self.informal_ok = call.informal_groups_ok
        self.min_members = call.min_members
        self.min_years = call.min_years_active
        # may be listed as new: not predicted, open or upcoming (first_seen checked per group)
        self.new_ok = not call.predicted and status in ("open", "upcoming")
        self.closing = (
            not call.predicted
            and call.deadline_kind == "fixed"
            and due
            and call.deadline <= today + timedelta(days=CLOSING_DAYS)
            and status == "open"
        )
        self.predicted = bool(
            call.predicted and due and call.deadline <= today + timedelta(days=PREDICTED_DAYS)
        )


@dataclass
class DigestData:
    """Every call, change, offer and course a digest of this run can list, loaded once.

    Building 10,000 groups' digests then costs no query per group: each group's digest picks
    what fits it from these in memory (`DigestData.load`, then `build_digest(..., data=)`).
    Candidates are indexed by (field, area) and kept in deadline order.
    """

    today: date
    earliest: datetime  # no group's window starts before this
    by_field_area: dict[tuple[str, str], list[_Candidate]]
    changes: dict[int, list[tuple[CallHistoryRow, CallRow]]]  # group id -> its calls' changes
    dismissed: dict[int, set[int]]  # group id -> calls it marked 対象外
    offers: list[OfferRow]
    courses: list[CourseRow]

    @classmethod
    def load(
        cls,
        session: Session,
        settings: Settings,
        *,
        today: date,
        earliest: datetime,
        group_ids: Collection[int] | None = None,
    ) -> DigestData:
        """Loads what digests of `group_ids` (None: all groups) could list as of `today`."""
        tz = ZoneInfo(settings.timezone)
        status = effective_status(today)
        not_predicted = CallRow.predicted.is_(False)
        closing = and_(
            not_predicted,
            CallRow.deadline_kind == "fixed",
            CallRow.deadline >= today,
            CallRow.deadline <= today + timedelta(days=CLOSING_DAYS),
            status == "open",
        )
        predicted = and_(
            CallRow.predicted.is_(True),
            CallRow.deadline >= today,
            CallRow.deadline <= today + timedelta(days=PREDICTED_DAYS),
            status != "closed",
        )
        fresh = and_(
            not_predicted, CallRow.first_seen >= earliest, status.in_(("open", "upcoming"))
        )
        rows = session.execute(
            select(CallRow, status.label("status"))
            .options(selectinload(CallRow.fields))
            .where(or_(fresh, closing, predicted))
        )
        by_field_area: dict[tuple[str, str], list[_Candidate]] = {}
        for call, call_status in rows:
            candidate = _Candidate(call, call_status, today)
            for call_field in call.fields:
                by_field_area.setdefault((call_field.field, call.area), []).append(candidate)
        for candidates in by_field_area.values():
            candidates.sort(key=lambda c: c.order)

        query = select(DismissedCallRow.group_id, DismissedCallRow.call_id)
        if group_ids is not None:
            query = query.where(DismissedCallRow.group_id.in_(group_ids))
        dismissed: dict[int, set[int]] = {}
        for group_id, call_id in session.execute(query):
            dismissed.setdefault(group_id, set()).add(call_id)
        return cls(
            today=today,
            earliest=earliest,
            by_field_area=by_field_area,
            changes=_changes_by_group(session, earliest, group_ids, dismissed),
            dismissed=dismissed,
            offers=published_offers(session, today),
            courses=upcoming_courses(session, datetime.combine(today, time(0), tz)),
        )

    def fitting(self, group: GroupRow) -> list[_Candidate]:
        """Candidates in the group's fields and reach, its form and size allowed, not dismissed,
        by deadline."""
        areas = reachable_areas(group.prefecture, group.municipality)
        lists = [
            self.by_field_area[key]
            for key in ((f, a) for f in group.fields or () for a in areas)
            if key in self.by_field_area
        ]
        dismissed = self.dismissed.get(group.id, ())
        legal_form, members = group.legal_form, group.members
        years = years_active(group, self.today)
        seen: set[int] = set()
        fits: list[_Candidate] = []
        for candidate in (
            heapq.merge(*lists, key=lambda c: c.order)
            if len(lists) > 1
            else (lists[0] if lists else ())
        ):
            if candidate.id in seen:
                continue
            seen.add(candidate.id)
            if (
                candidate.id not in dismissed
                and _form_ok(candidate.forms, candidate.informal_ok, legal_form)
                and _size_ok(candidate.min_members, candidate.min_years, members, years)
            ):
                fits.append(candidate)
        return fits

    def changes_for(self, group: GroupRow, since: datetime) -> list[tuple[CallHistoryRow, CallRow]]:
        """Changes since `since` to calls the group saved (気になる) or an earlier digest listed,
        not marked 対象外."""
        return [(h, c) for h, c in self.changes.get(group.id, ()) if h.at >= since]


def _changes_by_group(
    session: Session,
    earliest: datetime,
    group_ids: Collection[int] | None,
    dismissed: dict[int, set[int]],
) -> dict[int, list[tuple[CallHistoryRow, CallRow]]]:
    changes = list(
        session.execute(
            select(CallHistoryRow, CallRow)
            .join(CallRow, CallRow.id == CallHistoryRow.call_id)
            .where(CallHistoryRow.kind.in_(CHANGE_LABELS), CallHistoryRow.at >= earliest)
            .order_by(CallHistoryRow.at, CallHistoryRow.id)
        )
    )
    changed = {call.id for _, call in changes}
    followers: dict[int, set[int]] = {}
    for table in (SavedCallRow, DigestCallRow):
        if not changed:
            break
        query = select(table.call_id, table.group_id).where(table.call_id.in_(changed))
        if group_ids is not None:
            query = query.where(table.group_id.in_(group_ids))
        for call_id, group_id in session.execute(query):
            followers.setdefault(call_id, set()).add(group_id)
    by_group: dict[int, list[tuple[CallHistoryRow, CallRow]]] = {}
    for history, call in changes:
        for group_id in followers.get(call.id, ()):
            if call.id not in dismissed.get(group_id, ()):
                by_group.setdefault(group_id, []).append((history, call))
    return by_group


# -- the digest ---------------------------------------------------------------------------------


@cache
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
    data: DigestData | None = None,
) -> Digest | None:
    """The group's digest for `week`, or None when there is nothing to send.

    `since` is when the group's previous digest was built (None: a week before the week's
    Monday). New calls are those first seen since then; at most NEW_LIMIT are listed (by
    deadline), the rest counted with a link to the search. A week with no new calls and no
    changes is "empty": the group's `digest_when_empty` then says skip (None) or short (only
    closing-soon calls and courses; None too when those are empty as well). `data` is what a
    run loaded once for every group (`DigestData.load`); without it, it is loaded here.
    """
    tz = ZoneInfo(settings.timezone)
    if since is None:
        since = default_since(week, tz)
    if data is None or data.earliest > since or data.today != today:
        data = DigestData.load(session, settings, today=today, earliest=since, group_ids=[group.id])
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
        search_url=_url(settings, "/?" + urlencode([("field", f) for f in group.fields or []])),
    )
    fitting = data.fitting(group)
    if "new" in chosen:
        fresh = [c.call for c in fitting if c.new_ok and c.first_seen >= since]
        context.new = [_call_item(c, group, settings) for c in fresh[:NEW_LIMIT]]
        context.more_new = len(fresh) - len(context.new)
    if "changes" in chosen:
        context.changes = [
            ChangeItem(
                call_id=call.id,
                title=call.title,
                label=CHANGE_LABELS[history.kind],
                detail=_change_detail(history.kind, history.old_value, history.new_value),
                url=_url(settings, f"/calls/{call.id}"),
            )
            for history, call in data.changes_for(group, since)
        ]
    empty = not context.new and not context.changes
    if empty and group.digest_when_empty == "skip":
        return None
    if empty:
        context.short = True
        context.sections = [s for s in chosen if s in ("closing", "courses")]
    listed_new = {item.call_id for item in context.new}
    if "closing" in context.sections:
        closing = [c.call for c in fitting if c.closing and c.id not in listed_new]
        context.closing = [_call_item(c, group, settings) for c in closing[:CLOSING_LIMIT]]
        context.more_closing = len(closing) - len(context.closing)
    if "predicted" in context.sections:
        predicted = [c.call for c in fitting if c.predicted]
        context.predicted = [_call_item(c, group, settings) for c in predicted[:PREDICTED_LIMIT]]
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
            for offer in [o for o in data.offers if offer_fits(o, group)][:OFFER_LIMIT]
        ]
    if "courses" in context.sections:
        context.courses = [
            CourseItem(
                title=course.title,
                kind=COURSE_KINDS.get(course.kind, course.kind),
                when=when_text(course.starts_at, course.ends_at, tz),
                place=course.place,
                online_url=course.online_url,
                how_to_apply=course.how_to_apply,
            )
            for course in courses_for(data.courses, group.fields or [], COURSE_LIMIT)
        ]
    counts = {key: len(getattr(context, key)) for key in DIGEST_SECTIONS}
    if empty and not any(counts.values()):
        return None  # a short mail with nothing in it helps no one
    totals = {**counts, "new": counts["new"] + context.more_new}
    totals["closing"] += context.more_closing
    env = _environment()
    return Digest(
        group_id=group.id,
        week=week,
        subject=subject_line(settings, week, totals),
        text=env.get_template("mail/digest.txt").render(d=context),
        html=env.get_template("mail/digest.html").render(d=context),
        counts=counts,
        empty=empty,
        context=context,
    )


def listed_call_ids(digest: Digest) -> set[int]:
    """The calls a digest lists by name (what `digest_calls` records for the group)."""
    context = digest.context
    return {item.call_id for item in [*context.new, *context.closing, *context.predicted]}
