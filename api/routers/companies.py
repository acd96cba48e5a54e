"""Companies and their CSR offers.

- `/company/signup`: a company registers (double opt-in); staff are told.
- `/company…`: the company's own pages: its state, its offers (draft → 承認申請 → …), the
  interest groups showed (group name, fields, area and message only: the centre coordinates).
- `/staff/companies`, `/staff/offers`, `/staff/interests`: staff approve companies, publish or
  send back offers, and keep the record of each exchange between a group and a company.
- `/offers`: the public list of published offers; a signed-in group can press 関心がある.

Ownership is part of every query (`CompanyRow.user_id == viewer.user_id`): another company's
offer answers 404, like one that does not exist.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from sqlalchemy import case, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, QueryParams

from aggregator import offers as offer_states
from aggregator.accounts import AccountError, Role, create_user
from aggregator.fields import FIELD_SHORT_LABELS, FIELDS
from aggregator.normalize.area import PREFECTURES
from aggregator.offers import (
    COMPANY_STATUS_LABELS,
    INTEREST_STATUS_LABELS,
    OFFER_KINDS,
    OFFER_STATUS_LABELS,
    OfferError,
    OfferForm,
    area_choices,
    offer_search_text,
    search_offers,
    validate_offer,
    visible_offer,
)
from aggregator.search import Home, SearchParams, area_label
from aggregator.storage.models import (
    CompanyRow,
    CoordinationLogRow,
    GroupRow,
    OfferInterestRow,
    OfferRow,
    UserRow,
)
from api.auth import CompanyDep, Csrf, GroupDep, StaffDep, ViewerDep
from api.deps import HomeDep, SessionDep, SettingsDep, TodayDep
from api.routers.account import owned_company, owned_group, send_confirmation
from api.text import safe_url, yen
from api.web import NOTICES, FormDep, absolute, queue_mail, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Csrf])

NOTICES.update(
    {
        "offer_saved": "下書きを保存しました。内容を確かめて「承認を申請する」を押してください。",
        "offer_updated": "変更を保存しました。",
        "offer_resubmitted": (
            "変更を保存しました。公開中だった支援は、センターがもう一度確認するまで"
            "公開を止めています。"
        ),
        "sent_back": "差し戻しました。理由を企業にお知らせしました。",
        "company_rejected": "この企業の登録を承認しないことにしました。企業にお知らせしました。",
        "interest_already": "すでに関心を伝えています。センターからの連絡をお待ちください。",
        "note_added": "記録を追加しました。",
        "status_changed": "対応の状態を変えました。",
    }
)

MAX_ID = 2**31 - 1
PER_PAGE = 20
MAX_MESSAGE_CHARS = 1000
WEEKDAYS = "月火水木金土日"
_PHONE = re.compile(r"^[0-9+()\-]{6,20}$")
NOT_FOUND = "この支援は見つかりません。"


# -- formatting for the templates ---------------------------------------------------------------


class Fmt:
    """How facts read on these pages (labels, dates in the site's time zone, yen)."""

    def __init__(self, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)

    kinds = OFFER_KINDS

    @staticmethod
    def kind(value: str) -> str:
        return OFFER_KINDS.get(value, value)

    @staticmethod
    def status(value: str) -> str:
        return OFFER_STATUS_LABELS.get(value, value)

    @staticmethod
    def company_status(value: str) -> str:
        return COMPANY_STATUS_LABELS.get(value, value)

    @staticmethod
    def interest_status(value: str) -> str:
        return INTEREST_STATUS_LABELS.get(value, value)

    @staticmethod
    def fields(slugs: list[str] | None, empty: str = "分野を問わない") -> str:
        return "、".join(FIELD_SHORT_LABELS.get(s, s) for s in slugs or []) or empty

    @staticmethod
    def area(value: str | None) -> str:
        return area_label(value)

    @staticmethod
    def place(prefecture: str | None, municipality: str | None) -> str:
        return f"{prefecture or ''}{municipality or ''}" or "登録なし"

    @staticmethod
    def day(value: date | None) -> str:
        if value is None:
            return ""
        return f"{value.year}年{value.month}月{value.day}日（{WEEKDAYS[value.weekday()]}）"

    def when(self, value: datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(self.tz)
        return f"{self.day(local.date())} {local:%H:%M}"

    @staticmethod
    def yen(value: int | None) -> str | None:
        return yen(value)

    def period(self, offer: OfferRow) -> str:
        if offer.period_start and offer.period_end:
            return f"{self.day(offer.period_start)}〜{self.day(offer.period_end)}"
        if offer.period_start:
            return f"{self.day(offer.period_start)}から"
        if offer.period_end:
            return f"{self.day(offer.period_end)}まで"
        return "期間の定めなし"

    @staticmethod
    def link(url: str | None) -> str | None:
        return safe_url(url)


def page(request: Request, template: str, title: str, status_code: int = 200, **context: Any):
    fmt = Fmt(request.app.state.settings.timezone)
    return render(request, template, status_code=status_code, title=title, fmt=fmt, **context)


def _text(form: FormData, name: str, limit: int = 5000) -> str:
    """A posted text field, trimmed; NUL characters (which PostgreSQL refuses) dropped."""
    value = form.get(name)
    return value.replace("\x00", "").strip()[:limit] if isinstance(value, str) else ""


def _offer_form(form: FormData) -> OfferForm:
    data: dict[str, Any] = {k: _text(form, k) for k, v in form.items() if isinstance(v, str)}
    data["fields"] = [v for v in form.getlist("fields") if isinstance(v, str)]
    return OfferForm.from_data(data)


def _id_ok(value: int) -> bool:
    return 0 < value <= MAX_ID


def _account_email(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(UserRow, user_id)
    return user.email if user is not None and not user.disabled else None


def _group_emails(session: Session, group: GroupRow) -> list[str]:
    """A group's addresses (its account's, then its recipients'): for staff only."""
    emails = [_account_email(session, group.user_id), *(r.email for r in group.recipients)]
    return list(dict.fromkeys(e for e in emails if e))


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S%f")


# -- the company's profile (sign-up and later) ----------------------------------------------------


@dataclass
class CompanyForm:
    name: str = ""
    department: str = ""
    contact_name: str = ""
    phone: str = ""
    website: str = ""
    description: str = ""
    prefecture: str = ""
    municipality: str = ""

    @classmethod
    def read(cls, form: FormData) -> CompanyForm:
        return cls(
            name=_text(form, "name", 200),
            department=_text(form, "department", 200),
            contact_name=_text(form, "contact_name", 100),
            phone=_text(form, "phone", 40),
            website=_text(form, "website", 500),
            description=_text(form, "description", 3000),
            prefecture=_text(form, "prefecture", 16),
            municipality=_text(form, "municipality", 64),
        )

    @classmethod
    def of(cls, company: CompanyRow) -> CompanyForm:
        return cls(
            name=company.name,
            department=company.department or "",
            contact_name=company.contact_name or "",
            phone=company.phone or "",
            website=company.website or "",
            description=company.description or "",
            prefecture=company.prefecture or "",
            municipality=company.municipality or "",
        )

    def errors(self) -> list[str]:
        errors = []
        if not self.name:
            errors.append("企業名を入力してください。")
        if self.phone and not _PHONE.match(
            unicodedata.normalize("NFKC", self.phone).replace(" ", "")
        ):
            errors.append("電話番号は 047-000-0000 のように数字とハイフンで入力してください。")
        if self.website and safe_url(self.website) is None:
            errors.append("ホームページは https:// から始まるURLで入力してください。")
        if self.prefecture and self.prefecture not in PREFECTURES:
            errors.append("都道府県を一覧から選んでください。")
        return errors

    def apply(self, company: CompanyRow) -> None:
        company.name = self.name
        company.department = self.department or None
        company.contact_name = self.contact_name or None
        company.phone = unicodedata.normalize("NFKC", self.phone).strip() or None
        company.website = self.website or None
        company.description = self.description or None
        company.prefecture = self.prefecture or None
        company.municipality = self.municipality or None


def _company_page(request, template, title, form, status_code=200, **context):
    return page(
        request,
        template,
        title,
        status_code=status_code,
        form=form,
        prefectures=[("", "選んでください"), *((p, p) for p in PREFECTURES)],
        **context,
    )


@router.get("/company/signup")
def signup_form(request: Request, viewer: ViewerDep, home: HomeDep):
    if viewer is not None:
        return redirect("/account")
    form = CompanyForm(prefecture=home.prefecture)
    return _company_page(request, "companies/signup.html", "企業の登録", form, email="")


@router.post("/company/signup")
def signup(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    data: FormDep,
):
    form = CompanyForm.read(data)
    email = _text(data, "email", 300)
    password = data.get("password") if isinstance(data.get("password"), str) else ""
    password2 = data.get("password2") if isinstance(data.get("password2"), str) else ""
    errors = []
    if not email:
        errors.append("メールアドレスを入力してください。")
    if password != password2:
        errors.append("2つのパスワードが一致しません。同じものを入力してください。")
    errors += form.errors()
    user = None
    if not errors:
        try:
            user = create_user(
                session, email, password, Role.COMPANY, name=form.contact_name, confirmed=False
            )
        except AccountError as exc:
            errors.append(str(exc))
    if errors or user is None:
        return _company_page(
            request,
            "companies/signup.html",
            "企業の登録",
            form,
            status_code=400,
            email=email,
            errors=errors,
        )
    now = datetime.now(UTC)
    company = CompanyRow(user_id=user.id, status="pending", created_at=now)
    form.apply(company)
    session.add(company)
    session.flush()
    send_confirmation(request, session, background, user, who="企業")
    if settings.staff_email:
        queue_mail(
            request,
            session,
            background,
            key=f"company-signup:{company.id}",
            kind="company",
            to=settings.staff_email,
            template="company_signup",
            company=company,
            email=user.email,
            link=absolute(settings, "/staff/companies"),
        )
    session.commit()
    return redirect("/login", "confirm_sent")


def _my_company(session: Session, viewer) -> CompanyRow:
    company = owned_company(session, viewer)
    if company is None:
        raise HTTPException(
            status_code=404,
            detail="企業の情報が見つかりません。お手数ですがセンターにご連絡ください。",
        )
    return company


@router.get("/company")
def company_home(request: Request, session: SessionDep, viewer: CompanyDep):
    company = _my_company(session, viewer)
    offers = session.scalars(
        select(OfferRow)
        .where(OfferRow.company_id == company.id)
        .order_by(OfferRow.updated_at.desc(), OfferRow.id.desc())
    ).all()
    by_status = {s: [o for o in offers if o.status == s] for s in OFFER_STATUS_LABELS}
    interests = session.execute(
        select(OfferInterestRow, OfferRow, GroupRow)
        .join(OfferRow, OfferInterestRow.offer_id == OfferRow.id)
        .join(GroupRow, OfferInterestRow.group_id == GroupRow.id)
        .where(OfferRow.company_id == company.id)
        .order_by(OfferInterestRow.created_at.desc(), OfferInterestRow.id.desc())
    ).all()
    return page(
        request,
        "companies/home.html",
        "企業のページ",
        company=company,
        by_status=by_status,
        interests=interests,
    )


@router.get("/company/profile")
def profile_form(request: Request, session: SessionDep, viewer: CompanyDep):
    company = _my_company(session, viewer)
    return _company_page(request, "companies/profile.html", "企業の情報", CompanyForm.of(company))


@router.post("/company/profile")
def profile(request: Request, session: SessionDep, viewer: CompanyDep, data: FormDep):
    company = _my_company(session, viewer)
    form = CompanyForm.read(data)
    errors = form.errors()
    if errors:
        return _company_page(
            request, "companies/profile.html", "企業の情報", form, status_code=400, errors=errors
        )
    renamed = form.name != company.name
    form.apply(company)
    if renamed:  # the company's name is part of its offers' search text
        for offer in session.scalars(select(OfferRow).where(OfferRow.company_id == company.id)):
            offer.search_text = offer_search_text(offer, company.name)
    session.commit()
    return redirect("/company", "saved")


# -- the company's offers -------------------------------------------------------------------------


def _my_offer(session: Session, viewer, offer_id: int) -> OfferRow:
    """The offer if it belongs to the signed-in company; 404 otherwise (no hint it exists)."""
    offer = None
    if _id_ok(offer_id):
        offer = session.scalars(
            select(OfferRow)
            .join(CompanyRow, OfferRow.company_id == CompanyRow.id)
            .where(OfferRow.id == offer_id, CompanyRow.user_id == viewer.user_id)
        ).first()
    if offer is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return offer


def _offer_form_page(
    request, home: Home, form: OfferForm, *, offer=None, errors=None, status_code=200
):
    title = "支援の内容を編集" if offer is not None else "新しい支援を登録"
    return page(
        request,
        "companies/offer_form.html",
        title,
        status_code=status_code,
        form=form,
        offer=offer,
        errors=errors or {},
        areas=area_choices(home, form.area if form.area != "other" else None),
        field_choices=list(FIELDS.items()),
        action=f"/company/offers/{offer.id}/edit" if offer is not None else "/company/offers/new",
    )


@router.get("/company/offers/new")
def new_offer_form(request: Request, session: SessionDep, viewer: CompanyDep, home: HomeDep):
    _my_company(session, viewer)
    return _offer_form_page(request, home, OfferForm(kind=""))


@router.post("/company/offers/new")
def new_offer(
    request: Request,
    session: SessionDep,
    viewer: CompanyDep,
    home: HomeDep,
    today: TodayDep,
    data: FormDep,
):
    company = _my_company(session, viewer)
    form = _offer_form(data)
    values, errors = validate_offer(form, home, today)
    if values is None:
        return _offer_form_page(request, home, form, errors=errors, status_code=400)
    offer = offer_states.create(company, values)
    session.add(offer)
    session.commit()
    return redirect(f"/company/offers/{offer.id}", "offer_saved")


@router.get("/company/offers/{offer_id:int}")
def my_offer(request: Request, session: SessionDep, viewer: CompanyDep, offer_id: int):
    offer = _my_offer(session, viewer, offer_id)
    interests = session.execute(
        select(OfferInterestRow, GroupRow)
        .join(GroupRow, OfferInterestRow.group_id == GroupRow.id)
        .where(OfferInterestRow.offer_id == offer.id)
        .order_by(OfferInterestRow.created_at.desc(), OfferInterestRow.id.desc())
    ).all()
    return page(request, "companies/offer.html", offer.title, offer=offer, interests=interests)


@router.get("/company/offers/{offer_id:int}/edit")
def edit_offer_form(
    request: Request, session: SessionDep, viewer: CompanyDep, home: HomeDep, offer_id: int
):
    offer = _my_offer(session, viewer, offer_id)
    if offer.status == "closed":
        raise HTTPException(
            status_code=409, detail="終了した支援は編集できません。新しく登録してください。"
        )
    return _offer_form_page(request, home, OfferForm.from_offer(offer), offer=offer)


@router.post("/company/offers/{offer_id:int}/edit")
def edit_offer(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    viewer: CompanyDep,
    home: HomeDep,
    today: TodayDep,
    data: FormDep,
    offer_id: int,
):
    offer = _my_offer(session, viewer, offer_id)
    form = _offer_form(data)
    values, errors = validate_offer(form, home, today)
    if values is None:
        return _offer_form_page(request, home, form, offer=offer, errors=errors, status_code=400)
    try:
        resubmitted = offer_states.edit(offer, values)
    except OfferError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    if resubmitted:
        _tell_staff_submitted(request, session, background, settings, offer, again=True)
    session.commit()
    return redirect(
        f"/company/offers/{offer.id}", "offer_resubmitted" if resubmitted else "offer_updated"
    )


def _tell_staff_submitted(request, session, background, settings, offer: OfferRow, again: bool):
    if not settings.staff_email:
        return
    queue_mail(
        request,
        session,
        background,
        key=f"offer-submitted:{offer.id}:{_stamp(offer.submitted_at)}",
        kind="offer",
        to=settings.staff_email,
        template="company_offer_submitted",
        offer=offer,
        company=offer.company,
        kind_label=OFFER_KINDS.get(offer.kind, offer.kind),
        again=again,
        link=absolute(settings, f"/staff/offers/{offer.id}"),
    )


@router.post("/company/offers/{offer_id:int}/submit")
def submit_offer(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    viewer: CompanyDep,
    offer_id: int,
):
    offer = _my_offer(session, viewer, offer_id)
    try:
        offer_states.submit(offer)
    except OfferError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    _tell_staff_submitted(request, session, background, settings, offer, again=False)
    session.commit()
    return redirect(f"/company/offers/{offer.id}", "submitted")


@router.post("/company/offers/{offer_id:int}/close")
def close_my_offer(request: Request, session: SessionDep, viewer: CompanyDep, offer_id: int):
    offer = _my_offer(session, viewer, offer_id)
    try:
        offer_states.close(offer)
    except OfferError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    session.commit()
    return redirect(f"/company/offers/{offer.id}", "closed")


# -- staff: companies -----------------------------------------------------------------------------


def _company_or_404(session: Session, company_id: int) -> CompanyRow:
    company = session.get(CompanyRow, company_id) if _id_ok(company_id) else None
    if company is None:
        raise HTTPException(status_code=404, detail="この企業は見つかりません。")
    return company


@router.get("/staff/companies")
def staff_companies(request: Request, session: SessionDep, viewer: StaffDep):
    pending_first = case((CompanyRow.status == "pending", 0), else_=1)
    rows = session.execute(
        select(CompanyRow, UserRow)
        .outerjoin(UserRow, CompanyRow.user_id == UserRow.id)
        .order_by(pending_first, CompanyRow.created_at.desc(), CompanyRow.id.desc())
    ).all()
    return page(request, "companies/staff_companies.html", "企業の承認", rows=rows)


def _review_company(
    request, background, session, viewer, company_id: int, status: str, template: str, **mail
):
    """Sets the company's review `status` (once) and tells the company with `template`."""
    company = _company_or_404(session, company_id)
    if company.status != status:
        now = datetime.now(UTC)
        company.status = status
        company.reviewed_at = now
        company.reviewed_by = viewer.user_id
        to = _account_email(session, company.user_id)
        if to:
            queue_mail(
                request,
                session,
                background,
                key=f"company-{status}:{company.id}:{_stamp(now)}",
                kind="company",
                to=to,
                template=template,
                company=company,
                **mail,
            )
        session.commit()


@router.post("/staff/companies/{company_id:int}/approve")
def approve_company(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    viewer: StaffDep,
    company_id: int,
):
    link = absolute(settings, "/company")
    _review_company(
        request, background, session, viewer, company_id, "approved", "company_approved", link=link
    )
    return redirect("/staff/companies", "approved")


@router.post("/staff/companies/{company_id:int}/reject")
def reject_company(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    viewer: StaffDep,
    data: FormDep,
    company_id: int,
):
    note = _text(data, "note", 2000)
    _review_company(
        request, background, session, viewer, company_id, "rejected", "company_rejected", note=note
    )
    return redirect("/staff/companies", "company_rejected")


# -- staff: offers --------------------------------------------------------------------------------


def _staff_offer_or_404(session: Session, offer_id: int) -> OfferRow:
    offer = session.get(OfferRow, offer_id) if _id_ok(offer_id) else None
    if offer is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return offer


@router.get("/staff/offers")
def staff_offers(
    request: Request, session: SessionDep, viewer: StaffDep, status: str | None = None
):
    chosen = status if status in OFFER_STATUS_LABELS else None
    pending_first = case((OfferRow.status == "pending", 0), else_=1)
    query = select(OfferRow).order_by(pending_first, OfferRow.updated_at.desc(), OfferRow.id.desc())
    if chosen:
        query = query.where(OfferRow.status == chosen)
    offers = session.scalars(query).all()
    return page(
        request,
        "companies/staff_offers.html",
        "企業からの支援の管理",
        offers=offers,
        chosen=chosen,
    )


def _staff_offer_page(request, session, offer, status_code=200, **context):
    interests = session.execute(
        select(OfferInterestRow, GroupRow)
        .join(GroupRow, OfferInterestRow.group_id == GroupRow.id)
        .where(OfferInterestRow.offer_id == offer.id)
        .order_by(OfferInterestRow.created_at.desc())
    ).all()
    return page(
        request,
        "companies/staff_offer.html",
        offer.title,
        status_code=status_code,
        offer=offer,
        company_email=_account_email(session, offer.company.user_id),
        interests=interests,
        **context,
    )


@router.get("/staff/offers/{offer_id:int}")
def staff_offer(request: Request, session: SessionDep, viewer: StaffDep, offer_id: int):
    return _staff_offer_page(request, session, _staff_offer_or_404(session, offer_id))


def _staff_offer_change(
    request, background, session, settings, offer_id: int, change, *, failed: int,
    template: str, key, notice: str, link, note: str | None = None,
):  # fmt: skip
    """Applies `change` to the offer; on success tells the company by mail (template, key of
    the outbox, link in the mail) and goes back to the offer's staff page with `notice`."""
    offer = _staff_offer_or_404(session, offer_id)
    extra = {} if note is None else {"note": note}
    try:
        change(offer)
    except OfferError as exc:
        return _staff_offer_page(
            request, session, offer, status_code=failed, error=str(exc), **extra
        )
    to = _account_email(session, offer.company.user_id)
    if to:
        queue_mail(
            request,
            session,
            background,
            key=key(offer),
            kind="offer",
            to=to,
            template=template,
            offer=offer,
            company=offer.company,
            link=absolute(settings, link(offer)),
            **extra,
        )
    session.commit()
    return redirect(f"/staff/offers/{offer.id}", notice)


@router.post("/staff/offers/{offer_id:int}/publish")
def publish_offer(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    viewer: StaffDep,
    offer_id: int,
):
    return _staff_offer_change(
        request, background, session, settings, offer_id,
        lambda offer: offer_states.publish(offer, viewer.user_id),
        failed=409,
        template="company_offer_published",
        key=lambda offer: f"offer-published:{offer.id}:{_stamp(offer.published_at)}",
        notice="published",
        link=lambda offer: f"/offers/{offer.id}",
    )  # fmt: skip


@router.post("/staff/offers/{offer_id:int}/sendback")
def send_back_offer(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    viewer: StaffDep,
    data: FormDep,
    offer_id: int,
):
    note = _text(data, "note", 2000)
    return _staff_offer_change(
        request, background, session, settings, offer_id,
        lambda offer: offer_states.send_back(offer, note),
        failed=400,
        template="company_offer_sentback",
        key=lambda offer: f"offer-sentback:{offer.id}:{_stamp(offer.updated_at)}",
        notice="sent_back",
        link=lambda offer: f"/company/offers/{offer.id}",
        note=note,
    )  # fmt: skip


@router.post("/staff/offers/{offer_id:int}/close")
def staff_close_offer(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    viewer: StaffDep,
    offer_id: int,
):
    return _staff_offer_change(
        request, background, session, settings, offer_id, offer_states.close,
        failed=409,
        template="company_offer_closed",
        key=lambda offer: f"offer-closed:{offer.id}",
        notice="closed",
        link=lambda offer: f"/company/offers/{offer.id}",
    )  # fmt: skip


# -- staff: the coordination record ---------------------------------------------------------------


@router.get("/staff/interests")
def staff_interests(
    request: Request, session: SessionDep, viewer: StaffDep, status: str | None = None
):
    chosen = status if status in INTEREST_STATUS_LABELS else None
    query = (
        select(OfferInterestRow, OfferRow, GroupRow)
        .join(OfferRow, OfferInterestRow.offer_id == OfferRow.id)
        .join(GroupRow, OfferInterestRow.group_id == GroupRow.id)
        .order_by(OfferInterestRow.created_at.desc(), OfferInterestRow.id.desc())
    )
    if chosen:
        query = query.where(OfferInterestRow.status == chosen)
    return page(
        request,
        "companies/staff_interests.html",
        "関心の連絡と調整の記録",
        rows=session.execute(query).all(),
        chosen=chosen,
    )


def _interest_or_404(session: Session, interest_id: int) -> OfferInterestRow:
    interest = session.get(OfferInterestRow, interest_id) if _id_ok(interest_id) else None
    if interest is None:
        raise HTTPException(status_code=404, detail="この記録は見つかりません。")
    return interest


def _log(
    session: Session,
    interest: OfferInterestRow,
    author_id: int | None,
    kind: str,
    body: str,
    at: datetime | None = None,
) -> None:
    """Adds a line to the record of the exchange about `interest`."""
    session.add(
        CoordinationLogRow(
            interest_id=interest.id,
            author_id=author_id,
            kind=kind,
            body=body,
            created_at=at or datetime.now(UTC),
        )
    )


def _staff_interest_page(request, session, interest, status_code=200, **context):
    offer = session.get(OfferRow, interest.offer_id)
    group = session.get(GroupRow, interest.group_id)
    log = session.execute(
        select(CoordinationLogRow, UserRow)
        .outerjoin(UserRow, CoordinationLogRow.author_id == UserRow.id)
        .where(CoordinationLogRow.interest_id == interest.id)
        .order_by(CoordinationLogRow.created_at, CoordinationLogRow.id)
    ).all()
    return page(
        request,
        "companies/staff_interest.html",
        f"調整の記録：{group.name}",
        status_code=status_code,
        interest=interest,
        offer=offer,
        company=offer.company,
        company_email=_account_email(session, offer.company.user_id),
        group=group,
        group_emails=_group_emails(session, group),
        log=log,
        statuses=INTEREST_STATUS_LABELS,
        **context,
    )


@router.get("/staff/interests/{interest_id:int}")
def staff_interest(request: Request, session: SessionDep, viewer: StaffDep, interest_id: int):
    return _staff_interest_page(request, session, _interest_or_404(session, interest_id))


@router.post("/staff/interests/{interest_id:int}/note")
def add_note(
    request: Request, session: SessionDep, viewer: StaffDep, data: FormDep, interest_id: int
):
    interest = _interest_or_404(session, interest_id)
    body = _text(data, "body", 5000)
    if not body:
        return _staff_interest_page(
            request,
            session,
            interest,
            status_code=400,
            error="記録する内容（話したこと・したこと）を入力してください。",
        )
    _log(session, interest, viewer.user_id, "note", body)
    if interest.status == "new":
        interest.status = "in_progress"  # someone has started on it
    session.commit()
    return redirect(f"/staff/interests/{interest.id}", "note_added")


@router.post("/staff/interests/{interest_id:int}/status")
def set_interest_status(
    request: Request, session: SessionDep, viewer: StaffDep, data: FormDep, interest_id: int
):
    interest = _interest_or_404(session, interest_id)
    status = _text(data, "status", 20)
    if status not in INTEREST_STATUS_LABELS:
        return _staff_interest_page(
            request, session, interest, status_code=400, error="対応の状態を選んでください。"
        )
    if status != interest.status:
        before = interest.status
        interest.status = status
        _log(
            session,
            interest,
            viewer.user_id,
            "status",
            f"対応の状態を「{INTEREST_STATUS_LABELS[before]}」から"
            f"「{INTEREST_STATUS_LABELS[status]}」に変えました。",
        )
        session.commit()
    return redirect(f"/staff/interests/{interest.id}", "status_changed")


# -- public: the offers ---------------------------------------------------------------------------


@dataclass
class OfferFilters:
    """The public list's search, as the URL holds it."""

    q: str = ""
    kinds: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    area: str = ""
    page: int = 1

    @classmethod
    def read(cls, query: QueryParams, kind_key: str = "kind") -> OfferFilters:
        page_text = query.get("page", "")
        return cls(
            q=(query.get("q") or "").strip()[:200].replace("\x00", ""),
            kinds=[k for k in dict.fromkeys(query.getlist(kind_key)) if k in OFFER_KINDS],
            fields=[f for f in dict.fromkeys(query.getlist("field")) if f in FIELDS],
            area=(query.get("area") or "").strip()[:100],
            page=min(int(page_text), 10_000) if page_text.isdigit() and int(page_text) else 1,
        )

    def query(self, page: int | None = None) -> str:
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        pairs += [("kind", k) for k in self.kinds]
        pairs += [("field", f) for f in self.fields]
        if self.area:
            pairs.append(("area", self.area))
        if page and page > 1:
            pairs.append(("page", str(page)))
        return urlencode(pairs)

    def href(self, page: int | None = None) -> str:
        query = self.query(page)
        return f"/offers?{query}" if query else "/offers"


@router.get("/offers")
def offers_list(request: Request, session: SessionDep, today: TodayDep, home: HomeDep):
    filters = OfferFilters.read(request.query_params)
    total, rows = search_offers(
        session,
        q=filters.q or None,
        fields=filters.fields,
        area=filters.area or None,
        kinds=filters.kinds,
        today=today,
        home=home,
        limit=PER_PAGE,
        offset=(filters.page - 1) * PER_PAGE,
    )
    pages = max(1, -(-total // PER_PAGE))
    areas = {"": "指定なし", **home.area_choices()}
    if filters.area and filters.area not in areas:
        areas[filters.area] = area_label(filters.area)
    return page(
        request,
        "offers/list.html",
        "企業からの支援",
        filters=filters,
        offers=rows,
        total=total,
        page_number=filters.page,
        pages=pages,
        first_index=(filters.page - 1) * PER_PAGE + 1 if rows else 0,
        prev_href=filters.href(filters.page - 1) if filters.page > 1 else None,
        next_href=filters.href(filters.page + 1) if filters.page < pages else None,
        areas=areas,
        field_choices=list(FIELDS.items()),
    )


def _public_offer(session: Session, offer_id: int, today: date) -> OfferRow:
    offer = visible_offer(session, offer_id, today) if _id_ok(offer_id) else None
    if offer is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return offer


def _offer_page(request, session, viewer, offer, status_code=200, **context):
    group = interest = None
    if viewer is not None and viewer.role == Role.GROUP:
        group = owned_group(session, viewer)
        if group is not None:
            interest = session.scalars(
                select(OfferInterestRow).where(
                    OfferInterestRow.offer_id == offer.id, OfferInterestRow.group_id == group.id
                )
            ).first()
    return page(
        request,
        "offers/detail.html",
        offer.title,
        status_code=status_code,
        offer=offer,
        group=group,
        interest=interest,
        **context,
    )


@router.get("/offers/{offer_id:int}")
def offer_detail(
    request: Request, session: SessionDep, viewer: ViewerDep, today: TodayDep, offer_id: int
):
    return _offer_page(request, session, viewer, _public_offer(session, offer_id, today))


@router.post("/offers/{offer_id:int}/interest")
def express_interest(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    viewer: GroupDep,
    today: TodayDep,
    data: FormDep,
    offer_id: int,
):
    offer = _public_offer(session, offer_id, today)
    group = owned_group(session, viewer)
    message = _text(data, "message", MAX_MESSAGE_CHARS + 1000)
    if group is None:
        return _offer_page(
            request,
            session,
            viewer,
            offer,
            status_code=400,
            error="団体の情報がまだ登録されていません。「団体のページ」で登録してから、"
            "もう一度お試しください。",
        )
    if len(message) > MAX_MESSAGE_CHARS:
        return _offer_page(
            request,
            session,
            viewer,
            offer,
            status_code=400,
            error=f"メッセージは{MAX_MESSAGE_CHARS}文字以内にしてください。",
            message=message,
        )
    done = f"/offers/{offer.id}"
    exists = session.scalars(
        select(OfferInterestRow.id).where(
            OfferInterestRow.offer_id == offer.id, OfferInterestRow.group_id == group.id
        )
    ).first()
    if exists is not None:
        return redirect(done, "interest_already")
    now = datetime.now(UTC)
    interest = OfferInterestRow(
        offer_id=offer.id, group_id=group.id, message=message or None, status="new", created_at=now
    )
    session.add(interest)
    try:
        session.flush()
    except IntegrityError:  # pressed twice at the same moment
        session.rollback()
        return redirect(done, "interest_already")
    _log(
        session,
        interest,
        viewer.user_id,
        "interest",
        f"団体が「関心がある」を押しました。メッセージ：{message or '（なし）'}",
        now,
    )
    company = offer.company
    context = {
        "offer": offer,
        "company": company,
        "group": group,
        "group_fields": Fmt.fields(group.fields, "登録なし"),
        "group_place": Fmt.place(group.prefecture, group.municipality),
        "message": message,
        "kind_label": OFFER_KINDS.get(offer.kind, offer.kind),
    }
    told = []
    company_email = _account_email(session, company.user_id)
    if company_email:
        queue_mail(
            request,
            session,
            background,
            key=f"interest:{interest.id}:company",
            kind="interest",
            to=company_email,
            template="interest",
            link=absolute(settings, f"/company/offers/{offer.id}"),
            **context,
        )
        told.append(f"企業（{company_email}）")
    if settings.staff_email:
        queue_mail(
            request,
            session,
            background,
            key=f"interest:{interest.id}:staff",
            kind="interest",
            to=settings.staff_email,
            template="interest_staff",
            link=absolute(settings, f"/staff/interests/{interest.id}"),
            group_emails=_group_emails(session, group),
            company_email=company_email,
            **context,
        )
        told.append(f"センター（{settings.staff_email}）")
    if told:
        sent = "お知らせのメールを送りました：" + "、".join(told)
        _log(session, interest, None, "mail", sent, now)
    session.commit()
    return redirect(done, "interest_sent")


# -- the block of offers on the search page -------------------------------------------------------

SEARCH_BLOCK_ITEMS = 5
OFFERS_SHOW_CHOICES = {"": "検索結果と一緒に表示する", "hide": "表示しない"}


@dataclass
class Choice:
    value: str
    label: str
    selected: bool = False
    count: int | None = None


@dataclass
class OfferSummary:
    id: int
    title: str
    kind: str
    kind_label: str
    company: str
    area: str
    amount: str | None


@dataclass
class OffersBlock:
    """The search page's 企業からの支援: the form's choices and the matching offers."""

    shown: bool
    total: int
    items: list[OfferSummary]
    all_href: str  # the full list (/offers) with the same search
    show_choices: list[Choice]
    kind_choices: list[Choice]
    kinds_open: bool
    query: str  # the choices, for the paging links of the calls

    def link(self, href: str | None) -> str | None:
        """`href` (a link of the search page) keeping the offers' choices."""
        if href is None or not self.query:
            return href
        return f"{href}{'&' if '?' in href else '?'}{self.query}"


def offers_block(
    session: Session, query: QueryParams, params: SearchParams, *, today: date, home: Home
) -> OffersBlock:
    """Published offers matching the search's keyword, fields and area (and the offer kinds
    chosen), for the search page. `offers=hide` in the URL leaves them out."""
    hide = query.get("offers") == "hide"
    kinds = OfferFilters.read(query, kind_key="offer_kind").kinds
    total, rows = 0, []
    if not hide:
        total, rows = search_offers(
            session,
            q=params.q,
            fields=params.field,
            area=params.area,
            kinds=kinds,
            today=today,
            home=home,
            limit=SEARCH_BLOCK_ITEMS,
        )
    full = OfferFilters(q=params.q or "", kinds=kinds, fields=list(params.field))
    full.area = params.area or ""
    keep = [("offers", "hide")] if hide else []
    keep += [("offer_kind", k) for k in kinds]
    return OffersBlock(
        shown=not hide and (total > 0 or bool(kinds)),
        total=total,
        items=[
            OfferSummary(
                id=o.id,
                title=o.title,
                kind=o.kind,
                kind_label=OFFER_KINDS.get(o.kind, o.kind),
                company=o.company.name,
                area=area_label(o.area),
                amount=yen(o.amount_yen),
            )
            for o in rows
        ],
        all_href=full.href(),
        show_choices=[
            Choice(value=v, label=label, selected=(v == "hide") == hide, count=None)
            for v, label in OFFERS_SHOW_CHOICES.items()
        ],
        kind_choices=[
            Choice(value=k, label=label, selected=k in kinds) for k, label in OFFER_KINDS.items()
        ],
        kinds_open=bool(kinds),
        query=urlencode(keep),
    )
