"""Staff pages: the dashboard, source health, calls added by hand, corrections, merge and split.

Every route needs a staff sign-in (`StaffDep`). Corrections are stored as overrides
(`aggregator.overrides`) that ingest applies after every merge, and merge/split decisions are
stored by `aggregator.curation`: a later crawl undoes neither.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from aggregator.curation import CurationError, merge_listings_calls, split_listing
from aggregator.dedupe import compare
from aggregator.fields import FIELD_SHORT_LABELS, FIELDS
from aggregator.health import error_label, latest_runs
from aggregator.ingest import Ingestor
from aggregator.mail import deliver
from aggregator.normalize.pipeline import normalize_call
from aggregator.overrides import (
    COVERAGE_CHOICES,
    DEADLINE_KIND_CHOICES,
    INFORMAL_CHOICES,
    OVERRIDABLE,
    STATUS_CHOICES,
    corrections,
    crawled_values,
    differences,
    evidence_key,
    form_text,
    get_overrides,
    parse_form,
    record_values,
    row_values,
    set_overrides,
)
from aggregator.record import RawCall
from aggregator.search import (
    STATUS_LABELS,
    SearchParams,
    Sort,
    StatusFilter,
    area_label,
    effective_status,
    search,
)
from aggregator.searchtext import fold
from aggregator.sources import SOURCES
from aggregator.storage.models import (
    CallRow,
    CompanyRow,
    ListingRow,
    OfferInterestRow,
    OfferRow,
    OutboxRow,
    SourceRunRow,
)
from aggregator.storage.repository import row_to_call
from api.auth import Csrf, StaffDep
from api.deps import HomeDep, SessionDep, SettingsDep, TodayDep
from api.pages import jdate
from api.text import safe_url, yen
from api.web import NOTICES, FormDep, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Csrf])

NOTICES.update(
    {
        "call_added": "公募を登録しました。",
        "merged_existing": "既存の公募と同じものとしてまとめました。",
        "retry_queued": "メールをもう一度送ります。結果はこの画面で確認できます。",
        "reverted": "元に戻しました。",
    }
)

NEW_CALL_DAYS = 7
CLOSING_SOON_DAYS = 14
LIST_LIMIT = 50
MAX_TEXT_CHARS = 20_000
OUTCOME_LABELS = {"failed": "失敗", "warning": "注意", "ok": "正常"}
_OUTCOME_ORDER = {"failed": 0, "warning": 1, "ok": 2}
# What the staff may correct on the preview of a call added by hand (title and organizer are
# typed above it).
PREVIEW_ATTRS = tuple(a for a in OVERRIDABLE if a not in ("title", "organizer", "status"))
_ITEM_ID = re.compile(r"^[0-9a-f]{32}$")
_TITLE_SPLIT = re.compile(r"[\s\d()（）「」『』【】\[\]<>〈〉《》・、。,.:：/|｜~〜\-]+|年度|第|回")
_LIST_KEYS = ("fields", "revert")


def _form_dict(form: FormData) -> dict[str, Any]:
    data: dict[str, Any] = {key: form.get(key) for key in form}
    for key in _LIST_KEYS:
        if key in form:
            data[key] = form.getlist(key)
    return data


def _tz(settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


def _when(value: datetime | None, tz: ZoneInfo) -> str | None:
    if value is None:
        return None
    local = value.astimezone(tz)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


# -- dashboard --------------------------------------------------------------------------------


@dataclass
class SourceHealth:
    name: str
    label: str
    outcome: str
    outcome_label: str
    finished: str | None
    listings: int
    errors: list[tuple[str, int]]
    warnings: list[str]


@dataclass
class CallLine:
    id: int
    title: str
    organizer: str | None
    deadline: str | None
    first_seen: str | None
    status_label: str | None = None


@dataclass
class FailedMail:
    id: int
    recipient: str
    subject: str
    kind: str
    status_label: str
    attempts: int
    last_error: str | None
    created: str | None


@dataclass
class Dashboard:
    sources: list[SourceHealth]
    new_calls: int
    new_call_list: list[CallLine]
    closing: int
    closing_list: list[CallLine]
    pending_companies: int
    pending_offers: int
    failed_mails: int
    failed_mail_list: list[FailedMail]
    new_interests: int


def _source_health(engine, tz: ZoneInfo) -> list[SourceHealth]:
    runs = latest_runs(engine)
    rows = sorted(runs.values(), key=lambda r: (_OUTCOME_ORDER.get(r.outcome, 3), r.source))
    return [
        SourceHealth(
            name=r.source,
            label=SOURCES[r.source].label if r.source in SOURCES else r.source,
            outcome=r.outcome,
            outcome_label=OUTCOME_LABELS.get(r.outcome, r.outcome),
            finished=_when(r.finished_at, tz),
            listings=r.listings,
            errors=[(error_label(k), n) for k, n in sorted((r.errors or {}).items())],
            warnings=list(r.warnings or []),
        )
        for r in rows
    ]


def _count(session: Session, query) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


@router.get("/staff")
def dashboard(
    request: Request, viewer: StaffDep, session: SessionDep, settings: SettingsDep, today: TodayDep
):
    tz = _tz(settings)
    now = datetime.now(UTC)
    since = now - timedelta(days=NEW_CALL_DAYS)
    new_query = select(CallRow.id).where(CallRow.first_seen >= since, CallRow.predicted.is_(False))
    new_rows = session.execute(
        select(CallRow.id, CallRow.title, CallRow.organizer, CallRow.deadline, CallRow.first_seen)
        .where(CallRow.first_seen >= since, CallRow.predicted.is_(False))
        .order_by(CallRow.first_seen.desc(), CallRow.id.desc())
        .limit(10)
    ).all()
    closing_where = (
        effective_status(today) == "open",
        CallRow.deadline_kind == "fixed",
        CallRow.deadline >= today,
        CallRow.deadline <= today + timedelta(days=CLOSING_SOON_DAYS),
        CallRow.predicted.is_(False),
    )
    closing_rows = session.execute(
        select(CallRow.id, CallRow.title, CallRow.organizer, CallRow.deadline, CallRow.first_seen)
        .where(*closing_where)
        .order_by(CallRow.deadline, CallRow.id)
        .limit(LIST_LIMIT)
    ).all()
    failed_where = or_(
        OutboxRow.status == "failed", (OutboxRow.status == "pending") & (OutboxRow.attempts > 0)
    )
    mails = session.scalars(
        select(OutboxRow).where(failed_where).order_by(OutboxRow.id.desc()).limit(LIST_LIMIT)
    ).all()
    page = Dashboard(
        sources=_source_health(request.app.state.engine, tz),
        new_calls=_count(session, new_query),
        new_call_list=[
            CallLine(r.id, r.title, r.organizer, jdate(r.deadline), _when(r.first_seen, tz))
            for r in new_rows
        ],
        closing=_count(session, select(CallRow.id).where(*closing_where)),
        closing_list=[
            CallLine(r.id, r.title, r.organizer, jdate(r.deadline), _when(r.first_seen, tz))
            for r in closing_rows
        ],
        pending_companies=_count(
            session, select(CompanyRow.id).where(CompanyRow.status == "pending")
        ),
        pending_offers=_count(session, select(OfferRow.id).where(OfferRow.status == "pending")),
        failed_mails=_count(session, select(OutboxRow.id).where(failed_where)),
        failed_mail_list=[
            FailedMail(
                id=m.id,
                recipient=m.recipient,
                subject=m.subject,
                kind=m.kind,
                status_label="送信できませんでした" if m.status == "failed" else "再送待ち",
                attempts=m.attempts,
                last_error=m.last_error,
                created=_when(m.created_at, tz),
            )
            for m in mails
        ],
        new_interests=_count(
            session, select(OfferInterestRow.id).where(OfferInterestRow.status == "new")
        ),
    )
    return render(request, "staff/dashboard.html", title="職員メニュー", page=page)


@router.get("/staff/sources/{name}")
def source_page(
    request: Request, name: str, viewer: StaffDep, session: SessionDep, settings: SettingsDep
):
    runs = session.scalars(
        select(SourceRunRow)
        .where(SourceRunRow.source == name)
        .order_by(SourceRunRow.id.desc())
        .limit(20)
    ).all()
    if not runs:
        raise HTTPException(status_code=404, detail="この情報源の収集記録はありません。")
    tz = _tz(settings)
    label = SOURCES[name].label if name in SOURCES else name
    latest = runs[0]
    return render(
        request,
        "staff/source.html",
        title=f"収集の記録：{label}",
        label=label,
        site=safe_url(SOURCES[name].site) if name in SOURCES else None,
        latest=latest,
        samples=[
            {
                "kind": error_label(s.get("kind", "")),
                "url": s.get("url"),
                "message": s.get("message"),
            }
            for s in latest.error_samples or []
        ],
        runs=[
            {
                "started": _when(r.started_at, tz),
                "outcome": r.outcome,
                "outcome_label": OUTCOME_LABELS.get(r.outcome, r.outcome),
                "duration": f"{r.duration_s:.0f}秒",
                "pages": r.pages,
                "listings": r.listings,
                "partial": r.partial,
                "errors": [(error_label(k), n) for k, n in sorted((r.errors or {}).items())],
                "warnings": list(r.warnings or []),
                "ingest": r.ingest,
            }
            for r in runs
        ],
    )


@router.post("/staff/outbox/{mail_id:int}/retry")
def retry_mail(
    request: Request,
    mail_id: int,
    viewer: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
    background: BackgroundTasks,
):
    row = session.scalars(
        select(OutboxRow).where(OutboxRow.id == mail_id, OutboxRow.status != "sent")
    ).one_or_none()
    if row is None:
        raise HTTPException(status_code=404, detail="再送できるメールが見つかりません。")
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == mail_id)
        .values(status="pending", next_attempt_at=datetime.now(UTC))
    )
    key = row.key
    session.commit()
    background.add_task(deliver, request.app.state.engine, settings, keys=[key])
    return redirect("/staff", "retry_queued")


# -- finding a call ---------------------------------------------------------------------------


@router.get("/staff/calls")
def find_calls(
    request: Request,
    viewer: StaffDep,
    session: SessionDep,
    today: TodayDep,
    home: HomeDep,
    q: str = "",
):
    q = q.strip()[:200]
    items: list[dict[str, Any]] = []
    if q.isdigit() and int(q) < 2**31:
        row = session.get(CallRow, int(q))
        if row is not None:
            return redirect(f"/staff/calls/{row.id}/edit")
    result = search(
        session,
        SearchParams(q=q or None, status=StatusFilter.ALL, sort=Sort.NEW, per_page=LIST_LIMIT),
        today=today,
        home=home,
    )
    items = [
        {
            "id": item["id"],
            "title": item["title"],
            "organizer": item["organizer"],
            "deadline": jdate(item["deadline"]),
            "status": STATUS_LABELS.get(item["status"], item["status"]),
        }
        for item in result.items
    ]
    return render(
        request, "staff/calls.html", title="公募の修正・統合", q=q, items=items, total=result.total
    )


# -- the form pieces of a call's facts ----------------------------------------------------------


def _area_options(settings, *values: str | None) -> list[tuple[str, str]]:
    options = {
        "national": "全国",
        f"prefecture:{settings.home_prefecture}": settings.home_prefecture,
        f"municipality:{settings.home_municipality}": settings.home_municipality,
    }
    for value in values:
        if value and value not in options:
            options[value] = area_label(value)
    return list(options.items())


def display(attr: str, value: Any) -> str:
    """A value as staff read it beside a form input."""
    if value is None or value == [] or value == "":
        return "記載なし" if attr != "status" else "日付から判断"
    if attr in ("deadline", "application_start"):
        return jdate(value) or str(value)
    if attr in ("max_amount_yen", "total_budget_yen"):
        return yen(value) or str(value)
    if attr == "deadline_kind":
        return DEADLINE_KIND_CHOICES.get(value, value)
    if attr == "status":
        return STATUS_CHOICES.get(value, value)
    if attr.startswith("cost_"):
        return COVERAGE_CHOICES.get(value, value)
    if attr == "informal_groups_ok":
        return INFORMAL_CHOICES["yes" if value else "no"]
    if attr == "area":
        return area_label(value)
    if attr == "fields":
        return "、".join(FIELD_SHORT_LABELS.get(f, f) for f in value)
    if attr == "legal_forms":
        return "、".join(value)
    if attr in ("min_members",):
        return f"{value}人以上"
    if attr in ("min_years_active",):
        return f"{value}年以上"
    return str(value)


@dataclass
class FactInput:
    """One correctable fact on a form: its input, the evidence, and what was crawled."""

    attr: str
    label: str
    kind: str  # text | date | amount | count | select | fields | area
    value: Any  # as the input shows it
    options: list[tuple[str, str]] = field(default_factory=list)
    evidence: str | None = None
    crawled: str | None = None  # the value from the listings, when corrected
    overridden: bool = False
    reverted: bool = False
    error: str | None = None
    area_other: str = ""


_KINDS = {
    "deadline": "date",
    "application_start": "date",
    "max_amount_yen": "amount",
    "total_budget_yen": "amount",
    "min_members": "count",
    "min_years_active": "count",
    "fields": "fields",
    "area": "area",
}
_SELECTS = {
    "deadline_kind": DEADLINE_KIND_CHOICES,
    "status": STATUS_CHOICES,
    "informal_groups_ok": INFORMAL_CHOICES,
    **{attr: COVERAGE_CHOICES for attr in OVERRIDABLE if attr.startswith("cost_")},
}


def _fact_inputs(
    attrs: tuple[str, ...] | list[str],
    values: dict[str, Any],
    *,
    settings,
    evidence: dict[str, str] | None = None,
    typed: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    crawled: dict[str, Any] | None = None,
    overridden: set[str] | frozenset[str] = frozenset(),
    reverted: set[str] | frozenset[str] = frozenset(),
) -> list[FactInput]:
    """Inputs for `attrs` showing `values` (or, after an error, what was `typed`)."""
    out = []
    for attr in attrs:
        kind = _KINDS.get(attr) or ("select" if attr in _SELECTS else "text")
        if typed is not None:
            shown = typed.get(attr) if attr != "fields" else typed.get("fields", [])
            shown = "" if shown is None else shown
        else:
            shown = form_text(attr, values.get(attr))
        options: list[tuple[str, str]] = []
        if attr in _SELECTS:
            options = list(_SELECTS[attr].items())
        elif attr == "area":
            options = _area_options(
                settings, values.get("area"), (crawled or {}).get("area") if crawled else None
            )
        elif attr == "fields":
            options = [(slug, FIELD_SHORT_LABELS.get(slug, name)) for slug, name in FIELDS.items()]
        out.append(
            FactInput(
                attr=attr,
                label=OVERRIDABLE[attr],
                kind=kind,
                value=shown,
                options=options,
                evidence=(evidence or {}).get(evidence_key(attr)),
                crawled=(
                    display(attr, crawled.get(attr))
                    if crawled is not None and attr in overridden
                    else None
                ),
                overridden=attr in overridden,
                reverted=attr in reverted,
                error=(errors or {}).get(attr),
                area_other=str((typed or {}).get("area_other") or "") if attr == "area" else "",
            )
        )
    return out


# -- adding a call by hand -----------------------------------------------------------------------


@dataclass
class NewCallForm:
    title: str = ""
    organizer: str = ""
    url: str = ""
    text: str = ""
    default_area: str = ""  # the area of a call whose text names none (RawCall.area)
    item_id: str = ""


def _new_call_form(data: dict[str, Any]) -> NewCallForm:
    def text(name: str) -> str:
        return str(data.get(name) or "").strip()

    item_id = text("item_id")
    return NewCallForm(
        title=text("title"),
        organizer=text("organizer"),
        url=text("url"),
        text=str(data.get("text") or "").strip(),
        default_area=text("default_area"),
        item_id=item_id if _ITEM_ID.match(item_id) else uuid.uuid4().hex,
    )


def _check_new_call(form: NewCallForm, settings) -> list[str]:
    errors = []
    if not form.title:
        errors.append("公募の名称を入力してください。")
    elif len(form.title) > 300:
        errors.append("公募の名称は300文字以内で入力してください。")
    if not form.text:
        errors.append("チラシや電話で聞いた内容（本文）を入力してください。")
    elif len(form.text) > MAX_TEXT_CHARS:
        errors.append(f"本文は{MAX_TEXT_CHARS:,}文字以内で入力してください。")
    if form.url and not safe_url(form.url):
        errors.append(
            "URLは http:// か https:// で始まるアドレスを入力してください（なければ空欄）。"
        )
    if form.default_area and form.default_area not in dict(_area_options(settings)):
        errors.append("地域は一覧から選んでください。")
    return errors


def _listing_of(form: NewCallForm, today: date) -> dict[str, Any]:
    """The raw listing of a call typed by staff, as a spider would give it."""
    listing: dict[str, Any] = {
        "id": form.item_id,
        "source": "centre",
        "title": form.title,
        "text": form.text,
        "url": form.url or None,
        "organizer": form.organizer or None,
        "published": today.isoformat(),
    }
    if form.default_area:
        listing["area"] = form.default_area
    return listing


def _extract(form: NewCallForm, today: date):
    return normalize_call(RawCall.model_validate(_listing_of(form, today)), today=today)


def _new_call_page(
    request: Request,
    settings,
    form: NewCallForm,
    *,
    status_code: int = 200,
    errors: list[str] | None = None,
    facts: list[FactInput] | None = None,
):
    return render(
        request,
        "staff/call_new.html",
        status_code=status_code,
        title="公募を手で登録する",
        form=form,
        errors=errors or [],
        facts=facts,
        area_options=_area_options(settings),
    )


@router.get("/staff/calls/new")
def new_call_form(request: Request, viewer: StaffDep, settings: SettingsDep):
    return _new_call_page(request, settings, NewCallForm(item_id=uuid.uuid4().hex))


@router.post("/staff/calls/new")
def new_call(
    request: Request,
    viewer: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    form_data: FormDep,
):
    data = _form_dict(form_data)
    form = _new_call_form(data)
    errors = _check_new_call(form, settings)
    if errors:
        # After a preview, what was corrected is shown again as typed: nothing is lost.
        facts = (
            _fact_inputs(PREVIEW_ATTRS, {}, settings=settings, typed=data)
            if data.get("action") == "save"
            else None
        )
        return _new_call_page(request, settings, form, status_code=400, errors=errors, facts=facts)
    extracted = _extract(form, today)
    base = record_values(extracted)
    if data.get("action") != "save":
        facts = _fact_inputs(PREVIEW_ATTRS, base, settings=settings, evidence=extracted.evidence)
        return _new_call_page(request, settings, form, facts=facts)

    values, field_errors = parse_form(data, PREVIEW_ATTRS)
    if field_errors:
        facts = _fact_inputs(
            PREVIEW_ATTRS,
            base,
            settings=settings,
            evidence=extracted.evidence,
            typed=data,
            errors=field_errors,
        )
        return _new_call_page(
            request,
            settings,
            form,
            status_code=400,
            errors=list(field_errors.values()),
            facts=facts,
        )
    fixes = differences(values, base)
    listing = _listing_of(form, today)
    stored_raw = session.scalar(
        select(ListingRow.raw).where(
            ListingRow.source == "centre", ListingRow.source_key == form.item_id
        )
    )
    if stored_raw is not None and stored_raw != listing:
        # The same form sent again with other content (back button, a second call typed
        # over the first): a new listing, never a change to the one already saved.
        form.item_id = listing["id"] = uuid.uuid4().hex
    session.commit()  # no transaction of ours stays open while ingest writes
    report = Ingestor(request.app.state.engine, today=today).ingest([listing])
    call_id = session.scalar(
        select(ListingRow.call_id).where(
            ListingRow.source == "centre", ListingRow.source_key == form.item_id
        )
    )
    if call_id is None:  # ingest refused it (the form was checked above: not expected)
        reason = report.rejections[0][1] if report.rejections else ""
        return _new_call_page(
            request,
            settings,
            form,
            status_code=400,
            errors=[f"登録できませんでした。{reason}"],
        )
    if fixes:
        stored = get_overrides(session, call_id)
        set_overrides(
            session,
            call_id,
            {**(stored.values if stored else {}), **fixes},
            viewer.user_id,
            note="手で登録したときの修正",
        )
        session.commit()
    merged = report.inserted == 1 and report.calls_created == 0
    return redirect(f"/calls/{call_id}", "merged_existing" if merged else "call_added")


# -- editing a call -----------------------------------------------------------------------------


def _call_or_404(session: Session, call_id: int) -> CallRow:
    row = session.get(CallRow, call_id) if 0 < call_id < 2**31 else None
    if row is None:
        raise HTTPException(status_code=404, detail=f"公募（番号 {call_id}）は見つかりません。")
    return row


def _edit_page(
    request: Request,
    session: Session,
    settings,
    row: CallRow,
    *,
    status_code: int = 200,
    typed: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    note: str | None = None,
):
    stored = get_overrides(session, row.id)
    overridden = set(stored.values) if stored and stored.values else set()
    crawled = crawled_values(session, row.id)
    facts = _fact_inputs(
        tuple(OVERRIDABLE),
        row_values(row),
        settings=settings,
        evidence=row.evidence or {},
        typed=typed,
        errors=errors,
        crawled=crawled,
        overridden=overridden,
        reverted=set((typed or {}).get("revert") or []),
    )
    return render(
        request,
        "staff/call_edit.html",
        status_code=status_code,
        title=f"公募の修正：{row.title}",
        call=row,
        facts=facts,
        errors=list((errors or {}).values()),
        note=note if note is not None else (stored.note if stored else "") or "",
        updated=_when(stored.updated_at, _tz(settings)) if stored else None,
    )


@router.get("/staff/calls/{call_id:int}/edit")
def edit_call_form(
    request: Request, call_id: int, viewer: StaffDep, session: SessionDep, settings: SettingsDep
):
    row = _call_or_404(session, call_id)
    return _edit_page(request, session, settings, row)


@router.post("/staff/calls/{call_id:int}/edit")
def edit_call(
    request: Request,
    call_id: int,
    viewer: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
    form_data: FormDep,
):
    row = _call_or_404(session, call_id)
    data = _form_dict(form_data)
    reverted = [a for a in data.get("revert") or [] if a in OVERRIDABLE]
    values, errors = parse_form(data)
    errors = {a: e for a, e in errors.items() if a not in reverted}
    note = str(data.get("note") or "").strip()[:1000]
    if errors:
        return _edit_page(
            request, session, settings, row, status_code=400, typed=data, errors=errors, note=note
        )
    values = {a: v for a, v in values.items() if a not in reverted}
    stored = get_overrides(session, call_id)
    new = corrections(
        values,
        current=row_values(row),
        crawled=crawled_values(session, call_id),
        stored=dict(stored.values) if stored and stored.values else {},
        reverted=reverted,
    )
    set_overrides(session, call_id, new, viewer.user_id, note)
    session.commit()
    return redirect(f"/staff/calls/{call_id}/edit", "reverted" if reverted and not new else "saved")


# -- merge and split ----------------------------------------------------------------------------


def _title_chunk(title: str) -> str:
    """A distinctive piece of a title (its longest word, at most 6 characters)."""
    words = [w for w in _TITLE_SPLIT.split(fold(title)) if len(w) >= 3]
    if not words:
        return ""
    return max(words, key=len)[:6]


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def likely_duplicates(session: Session, row: CallRow, limit: int = 10) -> list[CallRow]:
    """Other calls that may be the same: same organizer or a shared piece of the title, the
    most similar first (by the matcher's score)."""
    conditions = []
    if row.organizer:
        conditions.append(CallRow.organizer == row.organizer)
    chunk = _title_chunk(row.title)
    if chunk:
        conditions.append(CallRow.search_text.like(_like(chunk), escape="\\"))
    if not conditions:
        return []
    rows = session.scalars(
        select(CallRow)
        .where(CallRow.id != row.id, CallRow.predicted.is_(False), or_(*conditions))
        .order_by(CallRow.id.desc())
        .limit(100)
    ).all()
    mine = row_to_call(row)
    scored = sorted(rows, key=lambda r: (-compare(mine, row_to_call(r)).score, -r.id))
    return scored[:limit]


def _merge_page(
    request: Request,
    session: Session,
    settings,
    row: CallRow,
    *,
    status_code: int = 200,
    error: str | None = None,
    other: str = "",
):
    tz = _tz(settings)
    listings = session.scalars(
        select(ListingRow).where(ListingRow.call_id == row.id).order_by(ListingRow.id)
    ).all()
    candidates = [
        {
            "id": c.id,
            "title": c.title,
            "organizer": c.organizer,
            "deadline": jdate(c.deadline),
        }
        for c in likely_duplicates(session, row)
    ]
    return render(
        request,
        "staff/call_merge.html",
        status_code=status_code,
        title=f"重複の整理：{row.title}",
        call=row,
        listings=[
            {
                "id": li.id,
                "source": SOURCES[li.source].label if li.source in SOURCES else li.source,
                "url": li.url,
                "href": safe_url(li.url),
                "title": li.record.get("title"),
                "first_seen": _when(li.first_seen, tz),
                "listed": li.listed,
            }
            for li in listings
        ],
        candidates=candidates,
        error=error,
        other=other,
    )


@router.get("/staff/calls/{call_id:int}/merge")
def merge_form(
    request: Request, call_id: int, viewer: StaffDep, session: SessionDep, settings: SettingsDep
):
    row = _call_or_404(session, call_id)
    return _merge_page(request, session, settings, row)


def _first_listing(session: Session, call_id: int) -> int | None:
    return session.scalar(select(func.min(ListingRow.id)).where(ListingRow.call_id == call_id))


@router.post("/staff/calls/{call_id:int}/merge")
def merge_call(
    request: Request,
    call_id: int,
    viewer: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    form_data: FormDep,
):
    row = _call_or_404(session, call_id)
    raw = str(form_data.get("other_call_id") or "").strip()
    digits = raw.translate(str.maketrans("０１２３４５６７８９", "0123456789"))

    def again(message: str):
        return _merge_page(
            request, session, settings, row, status_code=400, error=message, other=raw
        )

    if not digits.isdigit() or not 0 < int(digits) < 2**31:
        return again("まとめる公募の番号を数字で入力するか、候補から選んでください。")
    other_id = int(digits)
    if other_id == call_id:
        return again("同じ公募です。別の公募の番号を入力してください。")
    if session.get(CallRow, other_id) is None:
        return again(f"公募（番号 {other_id}）は見つかりません。番号をご確認ください。")
    mine, theirs = _first_listing(session, call_id), _first_listing(session, other_id)
    if mine is None or theirs is None:
        return again("掲載のない公募（予測の募集回）はまとめられません。")
    session.commit()  # no transaction of ours stays open while curation writes
    merge_listings_calls(
        request.app.state.engine,
        mine,
        theirs,
        note=f"職員画面で公募 {other_id} を公募 {call_id} にまとめました",
        today=today,
    )
    return redirect(f"/staff/calls/{call_id}/merge", "merged")


@router.post("/staff/calls/{call_id:int}/split")
def split_call(
    request: Request,
    call_id: int,
    viewer: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    form_data: FormDep,
):
    row = _call_or_404(session, call_id)
    raw = str(form_data.get("listing_id") or "").strip()
    listing_id = int(raw) if raw.isdigit() and int(raw) < 2**31 else None
    listing = (
        session.scalars(
            select(ListingRow.id).where(ListingRow.id == listing_id, ListingRow.call_id == call_id)
        ).one_or_none()
        if listing_id is not None
        else None
    )
    if listing is None:
        raise HTTPException(status_code=404, detail="この公募の掲載が見つかりません。")
    session.commit()
    try:
        split_listing(
            request.app.state.engine,
            listing,
            note=f"職員画面で公募 {call_id} から分けました",
            today=today,
        )
    except CurationError:
        session.expire_all()
        return _merge_page(
            request,
            session,
            settings,
            row,
            status_code=400,
            error="掲載が1つだけの公募は分けられません。",
        )
    return redirect(f"/staff/calls/{call_id}/merge", "split")
