"""Groups: sign-up, their own pages (`/my…`), 気になる / 対象外 on calls, and the staff's
register of groups (`/staff/groups…`).

A group sees only its own group: every `/my` page reads the group of the signed-in account
(`GroupRow.user_id == viewer.user_id`), and there is no group id in those URLs to guess.
Staff pages take a group id; an unknown one answers 404.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from aggregator.accounts import (
    AccountError,
    Role,
    authenticate,
    check_password,
    create_user,
    find_user,
    issue_token,
    normalize_email,
)
from aggregator.fields import FIELD_SHORT_LABELS, FIELDS
from aggregator.groups import (
    DIGEST_SECTIONS,
    DIGEST_WHEN_EMPTY,
    LEGAL_FORMS,
    NEEDS,
    REMINDER_DAY_CHOICES,
    WEEKDAY_LABELS,
    GroupFilter,
    ProfileForm,
    SettingsForm,
    apply_settings,
    create_group,
    delete_group_and_account,
    dismiss_call,
    group_export,
    jdate,
    save_call,
    search_groups,
    undismiss_call,
    unsave_call,
    update_group,
    years_active,
)
from aggregator.normalize.area import PREFECTURES
from aggregator.search import STATUS_LABELS, effective_status
from aggregator.storage.models import (
    CallRow,
    DismissedCallRow,
    GroupRow,
    OutboxRow,
    SavedCallRow,
    UserRow,
)
from api.auth import (
    Csrf,
    GroupDep,
    StaffDep,
    ViewerDep,
    clear_session_cookie,
    safe_next,
)
from api.deps import HomeDep, SessionDep, SettingsDep, TodayDep
from api.routers.account import owned_group, send_confirmation
from api.routers.exports import neutralized
from api.web import NOTICES, FormDep, absolute, queue_mail, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Csrf])

NOTICES.update(
    {
        "profile_saved": "団体の情報を保存しました。",
        "settings_saved": "お知らせメールの設定を保存しました。",
        "call_saved": "「気になる」に保存しました。締切が近づくとメールでお知らせします。",
        "call_unsaved": "「気になる」から外しました。",
        "call_dismissed": "「対象外」にしました。お知らせメールにはもう載りません。",
        "call_undismissed": "「対象外」を取り消しました。",
        "group_registered": "団体を登録しました。",
        "group_invited": "団体を登録し、ログイン用のご案内をメールで送りました。",
        "invite_sent": "ログイン用のご案内をメールで送りました。",
    }
)

MAX_ID = 2**31 - 1
INVITE_DAYS = 7
HISTORY_LIMIT = 500
CSV_TYPE = "text/csv; charset=utf-8"
NO_GROUP = "団体の情報が見つかりません。お手数ですが市民活動推進センターにご連絡ください。"
NOT_FOUND_CALL = "この公募は見つかりません。"
NOT_FOUND_GROUP = "この団体は見つかりません。"
_LISTS = ("fields", "needs", "sections", "reminder_days")


# -- shared pieces ---------------------------------------------------------------------------------


class Fmt:
    """How a group's facts read on these pages."""

    fields_short = FIELD_SHORT_LABELS
    legal_forms = LEGAL_FORMS
    needs_labels = NEEDS
    sections = DIGEST_SECTIONS
    when_empty = DIGEST_WHEN_EMPTY
    weekdays = WEEKDAY_LABELS

    def __init__(self, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)

    @staticmethod
    def fields(slugs: list[str] | None) -> str:
        return "、".join(FIELD_SHORT_LABELS.get(s, s) for s in slugs or []) or "登録なし"

    @staticmethod
    def place(group: GroupRow) -> str:
        return f"{group.prefecture or ''}{group.municipality or ''}" or "登録なし"

    @staticmethod
    def legal_form(value: str) -> str:
        return LEGAL_FORMS.get(value, value)

    @staticmethod
    def needs(keys: list[str] | None) -> str:
        return "、".join(NEEDS.get(k, k) for k in keys or []) or "登録なし"

    @staticmethod
    def day(value: date | None) -> str:
        return jdate(value) or ""

    def when(self, value: datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(self.tz)
        return f"{jdate(local.date())} {local:%H:%M}"

    @staticmethod
    def digest(group: GroupRow) -> str:
        if not group.digest_enabled:
            return "お知らせメールは止めています。"
        sections = group.digest_sections or list(DIGEST_SECTIONS)
        names = "、".join(DIGEST_SECTIONS.get(s, s) for s in sections)
        return f"毎週{WEEKDAY_LABELS.get(group.digest_weekday, '')}にお届けします（{names}）。"

    @staticmethod
    def reminders(group: GroupRow) -> str:
        days = sorted(group.reminder_days or [], reverse=True)
        if not days:
            return "締切前のお知らせは止めています。"
        when = "と".join(f"{d}日前" for d in days)
        return f"「気になる」の公募の締切の{when}にお届けします。"


def _page(request: Request, template: str, title: str, status_code: int = 200, **context: Any):
    fmt = Fmt(request.app.state.settings.timezone)
    return render(request, template, status_code=status_code, title=title, fmt=fmt, **context)


def _mapping(form: FormData) -> dict[str, Any]:
    """The form as a dict: repeated fields (checkboxes) as lists."""
    return {key: form.getlist(key) if key in _LISTS else form.get(key) for key in form}


def _text(form: FormData, name: str, limit: int = 1000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _raw(form: FormData, name: str, limit: int = 1000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _choices() -> dict[str, Any]:
    """The options of the profile form."""
    return {
        "field_options": list(FIELD_SHORT_LABELS.items()),
        "prefecture_options": [(p, p) for p in PREFECTURES],
        "legal_form_options": list(LEGAL_FORMS.items()),
        "need_options": list(NEEDS.items()),
    }


def _settings_choices() -> dict[str, Any]:
    return {
        "weekday_options": [(str(k), v) for k, v in WEEKDAY_LABELS.items()],
        "section_options": list(DIGEST_SECTIONS.items()),
        "when_empty_options": list(DIGEST_WHEN_EMPTY.items()),
        "reminder_options": [(str(d), f"{d}日前") for d in REMINDER_DAY_CHOICES],
    }


def _my_group(session: Session, viewer) -> GroupRow:
    group = owned_group(session, viewer)
    if group is None:
        raise HTTPException(status_code=404, detail=NO_GROUP)
    return group


def _account(session: Session, group: GroupRow) -> UserRow | None:
    return session.get(UserRow, group.user_id) if group.user_id is not None else None


def _days_left(deadline: date | None, status: str, today: date) -> str:
    if deadline is None:
        return ""
    if deadline < today or status == "closed":
        return "受付終了"
    days = (deadline - today).days
    return "本日締切" if days == 0 else f"あと{days}日"


@dataclass
class MarkedCall:
    """A call on a group's lists."""

    id: int
    title: str
    organizer: str | None
    deadline: str
    days_left: str
    status: str
    status_label: str
    marked: str  # when it was saved or dismissed


def _marked_calls(session: Session, model, group: GroupRow, today: date, fmt: Fmt):
    """The group's saved (or dismissed) calls: open ones by deadline, then those with no fixed
    deadline, then the closed ones."""
    status = effective_status(today).label("status")
    rows = session.execute(
        select(
            CallRow.id,
            CallRow.title,
            CallRow.organizer,
            CallRow.deadline,
            CallRow.deadline_kind,
            status,
            model.created_at,
        )
        .join(model, model.call_id == CallRow.id)
        .where(model.group_id == group.id)
    ).all()

    def order(r) -> tuple:
        closed = r.status == "closed"
        return (closed, r.deadline is None, r.deadline or date.max, r.id)

    return [
        MarkedCall(
            id=r.id,
            title=r.title,
            organizer=r.organizer,
            deadline=jdate(r.deadline) if r.deadline else "記載なし・随時",
            days_left=_days_left(r.deadline, r.status, today),
            status=r.status,
            status_label=STATUS_LABELS.get(r.status, r.status),
            marked=fmt.when(r.created_at),
        )
        for r in sorted(rows, key=order)
    ]


# -- sign-up -------------------------------------------------------------------------------------


def _signup_page(request, form: ProfileForm, email: str, errors=None, status_code=200):
    return _page(
        request,
        "groups/signup.html",
        "団体の登録",
        status_code=status_code,
        form=form,
        email=email,
        errors=errors or {},
        **_choices(),
    )


@router.get("/signup")
def signup_form(request: Request, viewer: ViewerDep, home: HomeDep):
    if viewer is not None:
        return redirect("/account")
    return _signup_page(request, ProfileForm(prefecture=home.prefecture), "")


@router.post("/signup")
def signup(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    today: TodayDep,
    data: FormDep,
):
    form = ProfileForm.from_mapping(_mapping(data))
    email = _text(data, "email", 300)
    password = _raw(data, "password")
    password2 = _raw(data, "password2")
    errors: dict[str, str] = {}
    address = None
    try:
        address = normalize_email(email)
    except AccountError:
        errors["email"] = (
            "ログインに使うメールアドレスを、name@example.jp のような形で入力してください。"
        )
    try:
        check_password(password)
    except AccountError as exc:
        errors["password"] = str(exc) + "。"
    if password != password2:
        errors["password2"] = "2つのパスワードが一致しません。同じものを入力してください。"
    profile, profile_errors = form.validate(today, account_email=address)
    if address is None and not form.recipients.strip():
        profile_errors.pop("recipients", None)  # the account's address will be the recipient
    errors.update(profile_errors)
    if address and find_user(session, address) is not None:
        errors["email"] = (
            "このメールアドレスはすでに登録されています。ログインするか、"
            "「パスワードを忘れたとき」から再設定してください。"
        )
    user = None
    if not errors and profile is not None:
        try:
            user = create_user(session, address, password, Role.GROUP, name=profile.representative)
        except AccountError as exc:  # registered meanwhile by another request
            errors["email"] = str(exc)
    if errors or user is None or profile is None:
        return _signup_page(request, form, email, errors, status_code=400)
    create_group(session, profile, user_id=user.id)
    send_confirmation(request, session, background, user, who="団体")
    session.commit()
    return redirect("/login", "confirm_sent")


# -- the group's own pages ------------------------------------------------------------------------


@router.get("/my")
def my_home(request: Request, session: SessionDep, viewer: GroupDep, today: TodayDep):
    group = _my_group(session, viewer)
    fmt = Fmt(request.app.state.settings.timezone)
    return _page(
        request,
        "groups/home.html",
        "団体のページ",
        group=group,
        years=years_active(group, today),
        saved=_marked_calls(session, SavedCallRow, group, today, fmt),
        dismissed_count=session.scalar(
            select(func.count())
            .select_from(DismissedCallRow)
            .where(DismissedCallRow.group_id == group.id)
        ),
        account_email=viewer.email,
    )


def _profile_page(request, form, account_email, errors=None, status_code=200):
    return _page(
        request,
        "groups/profile.html",
        "団体の情報",
        status_code=status_code,
        form=form,
        account_email=account_email,
        errors=errors or {},
        **_choices(),
    )


@router.get("/my/profile")
def my_profile_form(request: Request, session: SessionDep, viewer: GroupDep):
    group = _my_group(session, viewer)
    return _profile_page(request, ProfileForm.of(group, account_email=viewer.email), viewer.email)


@router.post("/my/profile")
def my_profile(
    request: Request, session: SessionDep, viewer: GroupDep, today: TodayDep, data: FormDep
):
    group = _my_group(session, viewer)
    form = ProfileForm.from_mapping(_mapping(data))
    profile, errors = form.validate(today, account_email=viewer.email)
    if profile is None:
        return _profile_page(request, form, viewer.email, errors, status_code=400)
    update_group(session, group, profile)
    session.commit()
    return redirect("/my", "profile_saved")


def _settings_page(request, form: SettingsForm, errors=None, status_code=200, **context):
    return _page(
        request,
        "groups/settings.html",
        "お知らせメールの設定",
        status_code=status_code,
        form=form,
        errors=errors or {},
        **_settings_choices(),
        **context,
    )


@router.get("/my/settings")
def my_settings_form(request: Request, session: SessionDep, viewer: GroupDep):
    group = _my_group(session, viewer)
    return _settings_page(request, SettingsForm.of(group), action="/my/settings")


@router.post("/my/settings")
def my_settings(request: Request, session: SessionDep, viewer: GroupDep, data: FormDep):
    group = _my_group(session, viewer)
    form = SettingsForm.from_mapping(_mapping(data))
    values, errors = form.validate()
    if values is None:
        return _settings_page(request, form, errors, status_code=400, action="/my/settings")
    apply_settings(group, values)
    session.commit()
    return redirect("/my", "settings_saved")


@router.get("/my/saved")
def my_saved(request: Request, session: SessionDep, viewer: GroupDep, today: TodayDep):
    group = _my_group(session, viewer)
    fmt = Fmt(request.app.state.settings.timezone)
    return _page(
        request,
        "groups/saved.html",
        "気になる・対象外の公募",
        saved=_marked_calls(session, SavedCallRow, group, today, fmt),
        dismissed=_marked_calls(session, DismissedCallRow, group, today, fmt),
    )


# -- 気になる / 対象外 on a call ------------------------------------------------------------------


def _mark(session: Session, viewer, call_id: int, data: FormData, action, notice: str):
    group = _my_group(session, viewer)
    if not 0 < call_id <= MAX_ID or session.get(CallRow, call_id) is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND_CALL)
    action(session, group, call_id)
    session.commit()
    back = safe_next(_text(data, "next", 500)) or f"/calls/{call_id}"
    return redirect(back, notice)


@router.post("/calls/{call_id:int}/save")
def mark_saved(session: SessionDep, viewer: GroupDep, data: FormDep, call_id: int):
    return _mark(session, viewer, call_id, data, save_call, "call_saved")


@router.post("/calls/{call_id:int}/unsave")
def mark_unsaved(session: SessionDep, viewer: GroupDep, data: FormDep, call_id: int):
    return _mark(session, viewer, call_id, data, unsave_call, "call_unsaved")


@router.post("/calls/{call_id:int}/dismiss")
def mark_dismissed(session: SessionDep, viewer: GroupDep, data: FormDep, call_id: int):
    return _mark(session, viewer, call_id, data, dismiss_call, "call_dismissed")


@router.post("/calls/{call_id:int}/undismiss")
def mark_undismissed(session: SessionDep, viewer: GroupDep, data: FormDep, call_id: int):
    return _mark(session, viewer, call_id, data, undismiss_call, "call_undismissed")


# -- export and deletion -------------------------------------------------------------------------


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content=body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",  # personal data: not kept by caches
        },
    )


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    """UTF-8 with BOM and CRLF (Excel opens it); text cells made inert (`neutralized`)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [neutralized(v) if isinstance(v, str) else ("" if v is None else v) for v in row]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@router.get("/my/export")
def my_export(session: SessionDep, viewer: GroupDep, settings: SettingsDep):
    group = _my_group(session, viewer)
    data = {
        "exported_at": datetime.now(UTC).isoformat(),
        "site": settings.site_name,
        **group_export(session, group),
    }
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return _download(body, "application/json; charset=utf-8", f"kyodo-group-{group.id}.json")


@router.get("/my/export.csv")
def my_export_csv(
    request: Request, session: SessionDep, viewer: GroupDep, settings: SettingsDep, today: TodayDep
):
    group = _my_group(session, viewer)
    fmt = Fmt(settings.timezone)
    site = settings.site_url.rstrip("/")
    rows = [
        [c.title, c.organizer or "", c.deadline, c.days_left, c.status_label,
         f"{site}/calls/{c.id}", c.marked]
        for c in _marked_calls(session, SavedCallRow, group, today, fmt)
    ]  # fmt: skip
    header = ["公募名", "主催", "締切", "残り", "状態", "詳細ページ", "保存した日時"]
    return _download(_csv(header, rows), CSV_TYPE, f"kyodo-group-{group.id}-saved.csv")


@router.get("/my/delete")
def my_delete_form(request: Request, session: SessionDep, viewer: GroupDep):
    group = _my_group(session, viewer)
    return _page(request, "groups/delete.html", "団体の登録の削除", group=group)


@router.post("/my/delete")
def my_delete(request: Request, session: SessionDep, viewer: GroupDep, data: FormDep):
    group = _my_group(session, viewer)
    password = _raw(data, "password")
    if authenticate(session, viewer.email, password) is None:
        return _page(
            request,
            "groups/delete.html",
            "団体の登録の削除",
            status_code=400,
            group=group,
            error="パスワードが違います。ログインに使っているパスワードを入力してください。",
        )
    delete_group_and_account(session, group)
    session.commit()
    response = redirect("/", "deleted")
    clear_session_cookie(request, response)
    return response


# -- staff: the register of groups -----------------------------------------------------------------


def _filter(request: Request) -> GroupFilter:
    query = request.query_params

    def value(name: str, limit: int = 100) -> str:
        return (query.get(name) or "").strip()[:limit]

    field = value("field")
    legal_form = value("legal_form")
    return GroupFilter(
        q=value("q", 200),
        field=field if field in FIELDS else "",
        area=value("area", 200),
        legal_form=legal_form if legal_form in LEGAL_FORMS else "",
    )


def _area_label(value: str) -> str:
    return value.split(":", 1)[1] if ":" in value else value


@router.get("/staff/groups")
def staff_groups(request: Request, session: SessionDep, viewer: StaffDep, today: TodayDep):
    where = _filter(request)
    found = search_groups(session, where)
    counts = found.counts
    areas = sorted(
        {*counts["area"], *([where.area] if where.area else [])},
        key=lambda a: (not a.startswith("prefecture:"), a),
    )
    export_query = request.url.query
    return _page(
        request,
        "groups/staff_list.html",
        "団体の名簿",
        where=where,
        found=found,
        years={g.id: years_active(g, today) for g in found.groups},
        field_options=[("", "すべて")]
        + [
            (s, f"{label}（{counts['field'].get(s, 0)}）")
            for s, label in FIELD_SHORT_LABELS.items()
        ],
        area_options=[("", "すべて")]
        + [(a, f"{_area_label(a)}（{counts['area'].get(a, 0)}）") for a in areas],
        legal_form_options=[("", "すべて")]
        + [(k, f"{label}（{counts['legal_form'].get(k, 0)}）") for k, label in LEGAL_FORMS.items()],
        csv_href="/staff/groups/export.csv" + (f"?{export_query}" if export_query else ""),
    )


@router.get("/staff/groups/export.csv")
def staff_groups_csv(
    request: Request, session: SessionDep, viewer: StaffDep, settings: SettingsDep, today: TodayDep
):
    found = search_groups(session, _filter(request))
    fmt = Fmt(settings.timezone)
    accounts = {
        u.id: u
        for u in session.scalars(
            select(UserRow).where(
                UserRow.id.in_([g.user_id for g in found.groups if g.user_id is not None])
            )
        )
    }
    header = [
        "ID", "団体名", "分野", "都道府県", "市区町村", "法人格", "会員数", "設立年", "活動年数",
        "必要な支援", "代表者", "電話", "メールの送り先", "ログイン用アドレス",
        "お知らせメール", "登録", "登録日",
    ]  # fmt: skip
    rows = []
    for g in found.groups:
        account = accounts.get(g.user_id) if g.user_id is not None else None
        rows.append(
            [
                g.id,
                g.name,
                fmt.fields(g.fields),
                g.prefecture or "",
                g.municipality or "",
                fmt.legal_form(g.legal_form),
                g.members,
                g.founded_year,
                years_active(g, today),
                fmt.needs(g.needs),
                g.representative or "",
                g.phone or "",
                " ".join(r.email for r in g.recipients),
                account.email if account else "",
                "受け取る" if g.digest_enabled else "止めている",
                "センター" if g.registered_by_staff else "団体",
                fmt.when(g.created_at),
            ]
        )
    return _download(_csv(header, rows), CSV_TYPE, f"kyodo-groups-{today.isoformat()}.csv")


def _staff_form_page(
    request, form: ProfileForm, *, group=None, account=None, errors=None, status_code=200, **ctx
):
    title = "団体を登録する（センターが代理で）"
    if group is not None:
        title = f"団体の情報：{group.name}"
    return _page(
        request,
        "groups/staff_group.html" if group is not None else "groups/staff_new.html",
        title,
        status_code=status_code,
        form=form,
        group=group,
        account=account,
        errors=errors or {},
        **_choices(),
        **ctx,
    )


def _invite(
    request: Request,
    session: Session,
    background: BackgroundTasks,
    group: GroupRow,
    user: UserRow,
) -> None:
    """Mails `user` a link to set the password of the group's new account (7 days)."""
    settings = request.app.state.settings
    token = issue_token(session, user, "reset", timedelta(days=INVITE_DAYS))
    queue_mail(
        request,
        session,
        background,
        key=f"invite:{token[:16]}",
        kind="invite",
        to=user.email,
        template="invite",
        group_id=group.id,
        group_name=group.name,
        days=INVITE_DAYS,
        link=absolute(settings, f"/password/reset/{token}"),
    )


@router.get("/staff/groups/new")
def staff_new_group_form(request: Request, viewer: StaffDep, home: HomeDep):
    return _staff_form_page(request, ProfileForm(prefecture=home.prefecture), invite=False)


@router.post("/staff/groups/new")
def staff_new_group(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    viewer: StaffDep,
    today: TodayDep,
    data: FormDep,
):
    form = ProfileForm.from_mapping(_mapping(data))
    invite = _text(data, "invite") == "yes"
    profile, errors = form.validate(today)
    if profile is not None and invite and find_user(session, profile.recipients[0]) is not None:
        errors["invite"] = (
            f"{profile.recipients[0]} はすでにアカウントに使われています。"
            "ログイン用の案内を送らずに登録するか、1行目に別のアドレスを入力してください。"
        )
    user = None
    if profile is not None and invite and not errors:
        try:
            user = create_user(session, profile.recipients[0], None, Role.GROUP, confirmed=False)
        except AccountError as exc:
            errors["invite"] = str(exc)
    if errors or profile is None:
        return _staff_form_page(request, form, errors=errors, status_code=400, invite=invite)
    group = create_group(
        session, profile, user_id=user.id if user else None, registered_by_staff=True
    )
    if user is not None:
        _invite(request, session, background, group, user)
    session.commit()
    return redirect(f"/staff/groups/{group.id}", "group_invited" if user else "group_registered")


def _staff_group(session: Session, group_id: int) -> GroupRow:
    group = session.get(GroupRow, group_id) if 0 < group_id <= MAX_ID else None
    if group is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND_GROUP)
    return group


def _staff_group_page(
    request, session, group, today, *, form=None, settings_form=None, settings_errors=None, **ctx
):
    account = _account(session, group)
    account_email = account.email if account else None
    return _staff_form_page(
        request,
        form or ProfileForm.of(group, account_email=account_email),
        group=group,
        account=account,
        years=years_active(group, today),
        settings_form=settings_form or SettingsForm.of(group),
        settings_errors=settings_errors or {},
        **_settings_choices(),
        **ctx,
    )


@router.get("/staff/groups/{group_id:int}")
def staff_group(
    request: Request, session: SessionDep, viewer: StaffDep, today: TodayDep, group_id: int
):
    return _staff_group_page(request, session, _staff_group(session, group_id), today)


@router.post("/staff/groups/{group_id:int}")
def staff_group_save(
    request: Request,
    session: SessionDep,
    viewer: StaffDep,
    today: TodayDep,
    data: FormDep,
    group_id: int,
):
    group = _staff_group(session, group_id)
    account = _account(session, group)
    form = ProfileForm.from_mapping(_mapping(data))
    profile, errors = form.validate(today, account_email=account.email if account else None)
    if profile is None:
        return _staff_group_page(
            request, session, group, today, form=form, errors=errors, status_code=400
        )
    update_group(session, group, profile)
    session.commit()
    return redirect(f"/staff/groups/{group.id}", "profile_saved")


@router.post("/staff/groups/{group_id:int}/settings")
def staff_group_settings(
    request: Request,
    session: SessionDep,
    viewer: StaffDep,
    today: TodayDep,
    data: FormDep,
    group_id: int,
):
    group = _staff_group(session, group_id)
    form = SettingsForm.from_mapping(_mapping(data))
    values, errors = form.validate()
    if values is None:
        return _staff_group_page(
            request, session, group, today, settings_form=form, settings_errors=errors,
            status_code=400,
        )  # fmt: skip
    apply_settings(group, values)
    session.commit()
    return redirect(f"/staff/groups/{group.id}", "settings_saved")


@router.post("/staff/groups/{group_id:int}/invite")
def staff_group_invite(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    viewer: StaffDep,
    today: TodayDep,
    group_id: int,
):
    """Sends the group a link to set its password: a new account for its first recipient, or
    the existing account while its address is not yet confirmed."""
    group = _staff_group(session, group_id)
    account = _account(session, group)
    error = None
    if account is not None and account.email_confirmed_at is not None:
        error = (
            "この団体はすでにログインできます。パスワードを忘れたときは、ログイン画面の"
            "「パスワードを忘れたとき」から再設定できます。"
        )
    elif account is None and not group.recipients:
        error = "メールの送り先が登録されていません。先に送り先を登録してください。"
    elif account is None and find_user(session, group.recipients[0].email) is not None:
        error = (
            f"{group.recipients[0].email} はすでに別のアカウントに使われています。"
            "送り先の1行目を別のアドレスにしてから、もう一度お試しください。"
        )
    if error:
        return _staff_group_page(request, session, group, today, status_code=400, error=error)
    if account is None:
        account = create_user(session, group.recipients[0].email, None, Role.GROUP)
        group.user_id = account.id
    _invite(request, session, background, group, account)
    session.commit()
    return redirect(f"/staff/groups/{group.id}", "invite_sent")


@dataclass
class HistoryLine:
    kind: str
    subject: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    created: str
    sent: str


MAIL_KINDS = {
    "digest": "週のお知らせ",
    "reminder": "締切前のお知らせ",
    "invite": "ログインのご案内",
    "confirm": "アドレスの確認",
    "reset": "パスワード再設定",
    "interest": "関心のお知らせ",
}
MAIL_STATUS = {"pending": "送信待ち", "sent": "送信済み", "failed": "送信できませんでした"}


@router.get("/staff/groups/{group_id:int}/history")
def staff_group_history(
    request: Request, session: SessionDep, viewer: StaffDep, settings: SettingsDep, group_id: int
):
    group = _staff_group(session, group_id)
    fmt = Fmt(settings.timezone)
    rows = session.scalars(
        select(OutboxRow)
        .where(OutboxRow.group_id == group.id)
        .order_by(OutboxRow.created_at.desc(), OutboxRow.id.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    lines = [
        HistoryLine(
            kind=MAIL_KINDS.get(m.kind, m.kind),
            subject=m.subject,
            recipient=m.recipient,
            status=MAIL_STATUS.get(m.status, m.status),
            attempts=m.attempts,
            last_error=m.last_error,
            created=fmt.when(m.created_at),
            sent=fmt.when(m.sent_at),
        )
        for m in rows
    ]
    return _page(
        request,
        "groups/staff_history.html",
        f"お知らせの履歴：{group.name}",
        group=group,
        lines=lines,
        limit=HISTORY_LIMIT,
    )
