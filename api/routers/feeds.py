"""Feeds of any search: Atom for feed readers, iCalendar of deadlines for calendar apps.

`/feeds/calls.ics` is a subscribable calendar (Google Calendar, Outlook): one all-day event
on each deadline with a stable UID, so a refresh updates events instead of duplicating them.
`/calls/{id}.ics` is the deadline of one call, as a download.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response
from icalendar import Calendar, Event, vDuration
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.search import (
    MAX_PER_PAGE,
    STATUS_LABELS,
    SearchParams,
    SearchResult,
    area_label,
    call_detail,
)
from aggregator.settings import Settings
from aggregator.storage.models import CallHistoryRow, CallRow
from api.deps import ApiSearchDep, HomeDep, SessionDep, SettingsDep, TodayDep
from api.routers.calls import ERRORS, MAX_ID, ErrorPublic, run_search
from api.text import safe_url, yen

router = APIRouter(tags=["feeds"])

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
ICS_TYPE = "text/calendar; charset=utf-8"
REFRESH = timedelta(hours=6)  # how often subscribed calendars should fetch again

# Characters XML 1.0 does not allow: crawled text may carry them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def feed_params(request: Request, params: SearchParams) -> SearchParams:
    """The search of a feed: a whole page of 100 unless the URL asks for fewer."""
    if "per_page" in request.query_params:
        return params
    return params.model_copy(update={"per_page": MAX_PER_PAGE})


def call_page_url(settings: Settings, call_id: int) -> str:
    return f"{settings.site_url.rstrip('/')}/calls/{call_id}"


def deadline_text(item: dict[str, Any]) -> str:
    if item.get("deadline"):
        d = date.fromisoformat(item["deadline"])
        return f"{d.year}年{d.month}月{d.day}日"
    return {"rolling": "随時", "recurring": "定期"}.get(item.get("deadline_kind") or "", "不明")


def _clean(text: str | None) -> str:
    return _XML_ILLEGAL.sub("", text or "")


def updated_times(session: Session, ids: list[int]) -> dict[int, datetime]:
    """When each call last changed: its latest history entry, else when it was first seen."""
    if not ids:
        return {}
    out: dict[int, datetime] = {
        call_id: first_seen
        for call_id, first_seen in session.execute(
            select(CallRow.id, CallRow.first_seen).where(CallRow.id.in_(ids))
        ).all()
    }
    changes = session.execute(
        select(CallHistoryRow.call_id, CallHistoryRow.at).where(CallHistoryRow.call_id.in_(ids))
    ).all()
    for call_id, at in changes:
        if at is not None and (call_id not in out or at > out[call_id]):
            out[call_id] = at
    return out


def _feed_items(
    request: Request, session: Session, params: SearchParams, *, today: date, home: Any
) -> tuple[SearchResult, dict[int, datetime]]:
    """A feed's search, and when each of its calls last changed (today's midnight if unknown)."""
    result = run_search(session, feed_params(request, params), today=today, home=home)
    updated = updated_times(session, [item["id"] for item in result.items])
    fallback = datetime.combine(today, time(0), tzinfo=UTC)
    return result, {item["id"]: updated.get(item["id"], fallback) for item in result.items}


def _summary_lines(item: dict[str, Any]) -> list[str]:
    return [
        f"実施団体: {item.get('organizer') or '記載なし'}",
        f"締切: {deadline_text(item)}",
        f"上限額: {yen(item.get('max_amount_yen')) or '記載なし'}",
        f"地域: {area_label(item.get('area'))}",
        f"状態: {STATUS_LABELS.get(item.get('status') or '', item.get('status') or '')}",
    ]


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- Atom ----------------------------------------------------------------------------------------


@router.get(
    "/feeds/calls.atom",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}, **ERRORS},
    summary="検索結果の Atom フィード",
)
def atom_feed(
    request: Request,
    session: SessionDep,
    params: ApiSearchDep,
    settings: SettingsDep,
    today: TodayDep,
    home: HomeDep,
) -> Response:
    result, updated = _feed_items(request, session, params, today=today, home=home)

    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "ja"})

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = _clean(text)
        return element

    site = settings.site_url.rstrip("/")
    query = request.url.query
    self_url = f"{site}{request.url.path}" + (f"?{query}" if query else "")
    sub(feed, "id", self_url)
    sub(feed, "title", f"{settings.site_name} 助成金・補助金の公募")
    sub(feed, "subtitle", f"検索結果 {result.total}件")
    midnight = datetime.combine(today, time(0), tzinfo=UTC)
    sub(feed, "updated", _iso_z(max(updated.values(), default=midnight)))
    sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=f"{site}/" + (f"?{query}" if query else ""))
    author = sub(feed, "author")
    sub(author, "name", settings.site_name)
    sub(feed, "generator", "kyodo")

    for item in result.items:
        page = call_page_url(settings, item["id"])
        entry = sub(feed, "entry")
        sub(entry, "id", page)
        sub(entry, "title", item["title"], type="text")
        sub(entry, "link", rel="alternate", href=page, type="text/html")
        source = safe_url(item.get("url"))
        if source:
            sub(entry, "link", rel="related", href=source, title="募集要項")
        sub(entry, "updated", _iso_z(updated[item["id"]]))
        if item.get("organizer"):
            entry_author = sub(entry, "author")
            sub(entry_author, "name", item["organizer"])
        sub(entry, "summary", "\n".join(_summary_lines(item)), type="text")

    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(content=body, media_type=ATOM_TYPE)


# -- iCalendar -----------------------------------------------------------------------------------


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//kyodo//助成金の締切//JA")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Asia/Tokyo")
    # RFC 7986 (Google Calendar, Apple) and Outlook's own name for the same hint.
    cal.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    return cal


def _event(item: dict[str, Any], settings: Settings, stamp: datetime) -> Event | None:
    if not item.get("deadline"):
        return None
    deadline = date.fromisoformat(item["deadline"])
    page = call_page_url(settings, item["id"])
    lines = [*_summary_lines(item), f"詳細: {page}"]
    source = safe_url(item.get("url"))
    if source:
        lines.append(f"募集要項: {source}")
    event = Event()
    event.add("uid", f"call-{item['id']}@kyodo")
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", deadline)
    event.add("dtend", deadline + timedelta(days=1))
    event.add("summary", f"締切: {item['title']}")
    event.add("url", page)
    event.add("description", "\n".join(lines))
    event.add("transp", "TRANSPARENT")  # a reminder, not a busy day
    event.add("categories", ["助成金締切"])
    return event


def _ics_response(cal: Calendar, filename: str | None = None) -> Response:
    headers = {}
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(content=cal.to_ical(), media_type=ICS_TYPE, headers=headers)


@router.get(
    "/feeds/calls.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **ERRORS},
    summary="検索結果の締切カレンダー（iCalendar、購読用）",
)
def ics_feed(
    request: Request,
    session: SessionDep,
    params: ApiSearchDep,
    settings: SettingsDep,
    today: TodayDep,
    home: HomeDep,
) -> Response:
    result, updated = _feed_items(request, session, params, today=today, home=home)
    cal = _calendar(f"{settings.site_name} 助成金の締切")
    for item in result.items:
        event = _event(item, settings, updated[item["id"]])
        if event is not None:
            cal.add_component(event)
    return _ics_response(cal)


@router.get(
    "/calls/{id}.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}},
        404: {"model": ErrorPublic, "description": "公募がない、または締切日が決まっていない"},
        **ERRORS,
    },
    summary="公募1件の締切（.ics ダウンロード）",
)
def call_ics(
    call_id: Annotated[int, Path(alias="id", description="公募の番号")],
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
) -> Response:
    call = call_detail(session, call_id, today=today) if 0 < call_id <= MAX_ID else None
    if call is None:
        raise HTTPException(status_code=404, detail=f"公募 {call_id} は見つかりません")
    stamp = updated_times(session, [call_id]).get(call_id) or datetime.now(UTC)
    event = _event(call, settings, stamp)
    if event is None:
        raise HTTPException(
            status_code=404, detail=f"公募 {call_id} は締切日が決まっていません（随時・不明）"
        )
    cal = _calendar(f"締切: {call['title']}")
    cal.add_component(event)
    return _ics_response(cal, f"kyodo-call-{call_id}.ics")
