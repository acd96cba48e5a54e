"""One-click unsubscribe from the weekly digest (RFC 8058), without signing in.

The link's random token names one group (`groups.unsubscribe_token`), so it cannot affect
another. Mail clients POST `List-Unsubscribe=One-Click` to the URL from outside the site, so
this router has no CSRF check: the token in the URL is the proof. GET only shows a button —
link scanners open links, and must not unsubscribe anyone.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import select

from aggregator.storage.models import GroupRow
from api.deps import SessionDep
from api.web import render

router = APIRouter(include_in_schema=False)


def _group(session, token: str) -> GroupRow:
    group = session.scalars(
        select(GroupRow).where(GroupRow.unsubscribe_token == token)
    ).one_or_none()
    if group is None or len(token) < 16:
        raise HTTPException(
            status_code=404,
            detail="この配信停止リンクは無効です。メールの最新のリンクをお使いください。",
        )
    return group


@router.get("/u/{token}")
def unsubscribe_form(request: Request, session: SessionDep, token: str):
    group = _group(session, token)
    return render(
        request, "digest/unsubscribe.html", title="お知らせメールの配信停止",
        group_name=group.name, token=token, done=not group.digest_enabled,
    )  # fmt: skip


@router.post("/u/{token}")
def unsubscribe(request: Request, session: SessionDep, token: str):
    group = _group(session, token)
    group.digest_enabled = False
    session.commit()
    return render(
        request, "digest/unsubscribe.html", title="お知らせメールの配信停止",
        group_name=group.name, token=token, done=True,
    )  # fmt: skip
