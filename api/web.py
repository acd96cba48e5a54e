"""Shared pieces of the signed-in pages: rendering, redirects, notices, mail from a route."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from aggregator.mail import deliver, enqueue
from aggregator.settings import Settings

# ?notice=… after a redirect → the sentence shown at the top of the next page.
NOTICES: dict[str, str] = {
    "signed_in": "ログインしました。",
    "signed_out": "ログアウトしました。",
    "reset_sent": "パスワード再設定のご案内をメールでお送りしました（登録があれば届きます）。",
    "password_set": "パスワードを設定しました。新しいパスワードでログインしてください。",
    "saved": "保存しました。",
    "deleted": "削除しました。",
    "confirm_sent": "確認メールをお送りしました。メールのリンクを開くと登録が完了します。",
    "confirmed": "メールアドレスを確認しました。ログインしてください。",
    "submitted": "承認申請を送りました。センターの確認後に公開されます。",
    "published": "公開しました。",
    "closed": "募集を終了しました。",
    "approved": "承認しました。",
    "rejected": "差し戻しました。",
    "interest_sent": "関心があることを企業とセンターに伝えました。",
    "merged": "統合しました。",
    "split": "分割しました。",
}


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The template `name` with `context`; `notice` from the query string is shown on top."""
    notice = NOTICES.get(request.query_params.get("notice", ""))
    context.setdefault("notice", notice)
    return request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status_code
    )


async def posted(request: Request) -> FormData:
    """The posted form (read once: the CSRF check has read and cached it)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(posted)]


def redirect(url: str, notice: str | None = None) -> RedirectResponse:
    """303 to `url` (after a POST), with an optional notice key from NOTICES."""
    if notice:
        url += ("&" if "?" in url else "?") + f"notice={notice}"
    return RedirectResponse(url, status_code=303)


def absolute(settings: Settings, path: str) -> str:
    return settings.site_url.rstrip("/") + path


def queue_mail(
    request: Request,
    session: Session,
    background: BackgroundTasks,
    *,
    key: str,
    kind: str,
    to: str,
    template: str,
    group_id: int | None = None,
    **context: Any,
) -> None:
    """Renders `templates/mail/<template>.txt` (subject on its first line), stores it in the
    outbox in the caller's transaction, and sends it right after the answer. A failed send
    stays in the outbox for `kyodo mail send` to retry."""
    settings: Settings = request.app.state.settings
    env = request.app.state.templates.env
    rendered = env.get_template(f"mail/{template}.txt").render(
        site_name=settings.site_name, site_url=settings.site_url.rstrip("/"), **context
    )
    subject, _, body = rendered.lstrip().partition("\n")
    row = enqueue(
        session,
        settings,
        key=key,
        kind=kind,
        to=to,
        subject=subject.strip(),
        text=body.strip() + "\n",
        group_id=group_id,
    )
    if row is not None:
        background.add_task(deliver, request.app.state.engine, settings, keys=[key])
