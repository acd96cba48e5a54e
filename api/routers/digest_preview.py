"""Staff preview of any group's weekly digest, exactly as `kyodo digest send` would build it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from aggregator.storage.models import GroupRow
from api.auth import StaffDep
from api.deps import SessionDep, SettingsDep, TodayDep
from api.web import render
from digest.build import IsoWeek, build_digest
from digest.send import last_digest_at

router = APIRouter(include_in_schema=False)


def _digest(session, settings, today, group_id: int, week: str | None):
    group = session.get(GroupRow, group_id)
    if group is None:
        raise HTTPException(status_code=404, detail="この団体は見つかりません。")
    try:
        iso_week = IsoWeek.parse(week) if week else IsoWeek.of(today)
    except ValueError as exc:
        raise HTTPException(
            status_code=422, detail=f"週は 2026-W49 の形で指定してください。（{exc}）"
        ) from exc
    since = last_digest_at(session, group.id, iso_week)
    built = build_digest(session, group, iso_week, settings, today=today, since=since)
    return group, iso_week, built


@router.get("/staff/groups/{group_id:int}/digest")
def staff_digest_preview(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    viewer: StaffDep,
    group_id: int,
    week: str | None = None,
):
    group, iso_week, built = _digest(session, settings, today, group_id, week)
    return render(
        request,
        "digest/staff_preview.html",
        title=f"お知らせメールの下見：{group.name}",
        group=group,
        week=str(iso_week),
        week_label=iso_week.label,
        digest=built,
    )


@router.get("/staff/groups/{group_id:int}/digest.html")
def staff_digest_preview_html(
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    viewer: StaffDep,
    group_id: int,
    week: str | None = None,
):
    """The mail's HTML part as the group would see it (rendered by our autoescaped template)."""
    _, _, built = _digest(session, settings, today, group_id, week)
    if built is None:
        raise HTTPException(status_code=404, detail="この週に送る内容はありません。")
    return HTMLResponse(built.html)
