"""Sign-in, sign-out and password reset, for every role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from sqlalchemy import select

from aggregator.accounts import (
    AccountError,
    Role,
    authenticate,
    find_user,
    issue_token,
    normalize_email,
    peek_token,
    set_password,
    use_token,
)
from aggregator.storage.models import CompanyRow, GroupRow
from api.auth import (
    Csrf,
    SignedInDep,
    ViewerDep,
    clear_failures,
    clear_session_cookie,
    client_key,
    end_sessions,
    record_failure,
    safe_next,
    set_session_cookie,
    start_session,
    throttled,
)
from api.deps import SessionDep, SettingsDep
from api.web import absolute, queue_mail, redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Csrf])

HOME_BY_ROLE = {Role.STAFF: "/staff", Role.GROUP: "/my", Role.COMPANY: "/company"}


def home_of(role: str) -> str:
    return HOME_BY_ROLE.get(Role(role), "/")


@router.get("/login")
def login_form(request: Request, viewer: ViewerDep, next: str | None = None):
    if viewer is not None:
        return redirect(safe_next(next) or home_of(viewer.role))
    return render(request, "account/login.html", title="ログイン", next=safe_next(next), email="")


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=300)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str | None, Form()] = None,
):
    def again(message: str, status: int):
        return render(
            request,
            "account/login.html",
            status_code=status,
            title="ログイン",
            next=safe_next(next),
            email=email,
            error=message,
        )

    try:
        address = normalize_email(email)
    except AccountError:
        address = email.strip().lower()[:254]
    client = client_key(request)
    if throttled(session, settings, address, client):
        minutes = int(settings.signin_window_minutes)
        return again(
            f"ログインの失敗が続いたため、一時的に受け付けを止めています。"
            f"{minutes}分ほど待ってから、もう一度お試しください。",
            429,
        )
    user = authenticate(session, address, password)
    if user is None:
        record_failure(session, settings, address, client)
        session.commit()
        return again("メールアドレスかパスワードが違います。", 401)
    if user.email_confirmed_at is None:
        session.commit()
        return again(
            "メールアドレスの確認がまだです。登録時にお送りしたメールのリンクを開いてください。"
            "（メールが見つからないときは、もう一度ご登録いただくか、センターにご連絡ください）",
            403,
        )
    clear_failures(session, address)
    token = start_session(session, user, settings)
    session.commit()
    response = redirect(safe_next(next) or home_of(user.role), "signed_in")
    set_session_cookie(request, response, token)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, viewer: ViewerDep):
    if viewer is not None:
        from aggregator.storage.models import SessionRow

        row = session.get(SessionRow, viewer.session_hash)
        if row is not None:
            session.delete(row)
            session.commit()
    response = redirect("/login", "signed_out")
    clear_session_cookie(request, response)
    return response


@router.get("/account")
def account_home(viewer: SignedInDep):
    return redirect(home_of(viewer.role))


# -- password reset ------------------------------------------------------------------------


@router.get("/password/forgot")
def forgot_form(request: Request):
    return render(request, "account/forgot.html", title="パスワードを忘れたとき", email="")


@router.post("/password/forgot")
def forgot(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=300)] = "",
):
    user = find_user(session, email)
    # The same answer whether or not the address is registered: no hint of who has an account.
    if user is not None and not user.disabled:
        lifetime = timedelta(minutes=settings.reset_token_minutes)
        token = issue_token(session, user, "reset", lifetime)
        queue_mail(
            request,
            session,
            background,
            key=f"reset:{token[:16]}",
            kind="reset",
            to=user.email,
            template="reset",
            link=absolute(settings, f"/password/reset/{token}"),
            minutes=int(settings.reset_token_minutes),
        )
        session.commit()
    return redirect("/login", "reset_sent")


@router.get("/password/reset/{token}")
def reset_form(request: Request, session: SessionDep, token: str):
    try:
        peek_token(session, token, "reset")
    except AccountError as exc:
        return render(
            request,
            "account/reset.html",
            status_code=400,
            title="パスワードの再設定",
            error=str(exc),
            token=None,
        )
    return render(request, "account/reset.html", title="パスワードの再設定", token=token)


@router.post("/password/reset/{token}")
def reset(
    request: Request,
    session: SessionDep,
    token: str,
    password: Annotated[str, Form(max_length=1000)] = "",
    password2: Annotated[str, Form(max_length=1000)] = "",
):
    def again(message: str, status: int = 400, token_ok: bool = True):
        return render(
            request,
            "account/reset.html",
            status_code=status,
            title="パスワードの再設定",
            error=message,
            token=token if token_ok else None,
        )

    if password != password2:
        return again("2つのパスワードが一致しません。")
    try:
        user = peek_token(session, token, "reset")
        set_password(user, password)
        use_token(session, token, "reset")
    except AccountError as exc:
        session.rollback()
        return again(str(exc), token_ok="パスワードは" in str(exc))
    if user.email_confirmed_at is None:
        user.email_confirmed_at = datetime.now(UTC)  # the link proved the address
    end_sessions(session, user.id)  # a new password signs every old session out
    clear_failures(session, user.email)
    session.commit()
    return redirect("/login", "password_set")


# -- address confirmation (double opt-in), for groups and companies -------------------------------


def send_confirmation(
    request: Request, session, background: BackgroundTasks, user, *, who: str
) -> None:
    """Mails `user` a single-use link that confirms the address (and so the registration).

    `who` names the registration in the mail (団体 / 企業). Call before committing.
    """
    settings = request.app.state.settings
    lifetime = timedelta(hours=settings.confirm_token_hours)
    token = issue_token(session, user, "confirm", lifetime)
    queue_mail(
        request,
        session,
        background,
        key=f"confirm:{token[:16]}",
        kind="confirm",
        to=user.email,
        template="confirm",
        link=absolute(settings, f"/signup/confirm/{token}"),
        hours=int(settings.confirm_token_hours),
        who=who,
    )


def _confirm_page(request: Request, status_code: int = 200, **context):
    return render(
        request,
        "account/confirm.html",
        status_code=status_code,
        title="メールアドレスの確認",
        **context,
    )


@router.get("/signup/confirm/{token}")
def confirm_form(request: Request, session: SessionDep, token: str):
    """The link in the mail shows a button; the POST confirms (mail scanners only GET links)."""
    try:
        user = peek_token(session, token, "confirm")
    except AccountError as exc:
        return _confirm_page(request, status_code=400, error=str(exc), token=None)
    return _confirm_page(request, token=token, email=user.email)


@router.post("/signup/confirm/{token}")
def confirm(request: Request, session: SessionDep, token: str):
    try:
        user = use_token(session, token, "confirm")
    except AccountError as exc:
        return _confirm_page(request, status_code=400, error=str(exc), token=None)
    if user.email_confirmed_at is None:
        user.email_confirmed_at = datetime.now(UTC)
    session.commit()
    return redirect("/login", "confirmed")


def owned_group(session, viewer) -> GroupRow | None:
    """The group the signed-in group account manages."""
    return session.scalars(select(GroupRow).where(GroupRow.user_id == viewer.user_id)).first()


def owned_company(session, viewer) -> CompanyRow | None:
    """The company the signed-in company account manages."""
    return session.scalars(select(CompanyRow).where(CompanyRow.user_id == viewer.user_id)).first()
