"""Server-rendered pages in Japanese: the search page, a call's page, the printable list, errors.

Every page gets one typed context object (the dataclasses below), so what a template reads is
written down here. Crawled text is untrusted: templates are autoescaped, nothing crawled is
marked safe, and only http(s) URLs become links (`safe_url`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.fields import FIELD_SHORT_LABELS, FIELDS
from aggregator.groups import CallMarks, marks_for_user
from aggregator.search import (
    COST_LABELS,
    SORT_LABELS,
    STATUS_LABELS,
    Home,
    SearchParams,
    Sort,
    StatusFilter,
    area_label,
    call_detail,
    facet_counts,
    search,
)
from aggregator.sources import SOURCE_KIND_LABELS, SOURCES
from aggregator.storage.models import CallRow
from api.auth import ViewerDep
from api.deps import HomeDep, InvalidParameter, SearchDep, SessionDep, SettingsDep, TodayDep
from api.routers.companies import OffersBlock, offers_block
from api.text import safe_url, yen

router = APIRouter(include_in_schema=False)

WEEKDAYS = "月火水木金土日"
WITHIN_CHOICES = {14: "2週間以内", 31: "1か月以内", 92: "3か月以内"}
MIN_AMOUNT_CHOICES = (100_000, 300_000, 500_000, 1_000_000, 3_000_000, 10_000_000)
STATUS_CHOICES = {**STATUS_LABELS, "all": "すべて"}
DEADLINE_KIND_LABELS = {
    "rolling": "随時受付",
    "recurring": "定期的に締切あり",
    "unknown": "要確認（募集要項をご覧ください）",
}
COVERAGE_LABELS = {"yes": "対象", "no": "対象外", "not_stated": "記載なし"}
COST_FACT_LABELS = {**{c.value: label for c, label in COST_LABELS.items()}, "equipment": "備品"}
HISTORY_LABELS = {
    "listed": "掲載",
    "deadline_extended": "締切延長",
    "deadline_changed": "締切変更",
    "amount_changed": "金額変更",
    "closed": "募集終了",
    "reopened": "再開",
    "withdrawn": "取り下げ",
    "no_longer_listed": "掲載終了",
    "merged": "統合",
    "split": "分割",
}
CONFLICT_LABELS = {"deadline": "締切", "max_amount_yen": "上限額"}
PARAM_LABELS = {
    "q": "キーワード",
    "field": "活動分野",
    "area": "地域",
    "status": "募集状況",
    "deadline_before": "締切（この日まで）",
    "deadline_after": "締切（この日から）",
    "within": "締切までの期間",
    "min_amount": "上限額",
    "informal_groups_ok": "任意団体可",
    "cost": "対象経費",
    "source_kind": "情報源の種類",
    "sort": "並び順",
    "page": "ページ",
    "per_page": "1ページの件数",
}
DEFAULT_PER_PAGE = SearchParams().per_page
PRINT_PER_PAGE = 100

# Characters browsers drop from URLs before reading the scheme ("java\nscript:" is javascript:).


# -- formatting ----------------------------------------------------------------------------


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def jdate(value: date | str | None) -> str | None:
    """2026年12月15日（火）."""
    day = _as_date(value)
    if day is None:
        return None
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def days_left_text(deadline: date | str | None, today: date) -> str | None:
    """「あと17日」 / 「本日締切」 for a deadline not yet passed."""
    day = _as_date(deadline)
    if day is None or day < today:
        return None
    days = (day - today).days
    return "本日締切" if days == 0 else f"あと{days}日"


def source_label(name: str | None) -> str:
    if not name:
        return "不明"
    source = SOURCES.get(name)
    return source.label if source else name


def _query(params: SearchParams, *, paging: bool = True, **overrides: Any) -> str:
    """The query string of a search, defaults left out; `paging=False` drops page/per_page."""
    data = params.model_copy(update=overrides) if overrides else params
    pairs: list[tuple[str, str]] = []
    if data.q:
        pairs.append(("q", data.q))
    pairs += [("field", f) for f in data.field]
    if data.area:
        pairs.append(("area", data.area))
    if data.status != StatusFilter.OPEN:
        pairs.append(("status", data.status.value))
    if data.within is not None:
        pairs.append(("within", str(data.within)))
    if data.deadline_after:
        pairs.append(("deadline_after", data.deadline_after.isoformat()))
    if data.deadline_before:
        pairs.append(("deadline_before", data.deadline_before.isoformat()))
    if data.min_amount is not None:
        pairs.append(("min_amount", str(data.min_amount)))
    if data.informal_groups_ok is not None:
        pairs.append(("informal_groups_ok", "true" if data.informal_groups_ok else "false"))
    pairs += [("cost", c.value) for c in data.cost]
    if data.source_kind:
        pairs.append(("source_kind", data.source_kind.value))
    if data.sort != Sort.DEADLINE:
        pairs.append(("sort", data.sort.value))
    if paging:
        if data.page != 1:
            pairs.append(("page", str(data.page)))
        if data.per_page != DEFAULT_PER_PAGE:
            pairs.append(("per_page", str(data.per_page)))
    return urlencode(pairs)


def _with_query(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


# -- search page ---------------------------------------------------------------------------


@dataclass
class Option:
    value: str
    label: str
    selected: bool = False
    count: int | None = None


@dataclass
class SearchForm:
    q: str
    fields: list[Option]
    areas: list[Option]
    within: list[Option]
    deadline_after: str
    deadline_before: str
    min_amounts: list[Option]
    informal: Option
    costs: list[Option]
    source_kinds: list[Option]
    statuses: list[Option]
    sorts: list[Option]
    per_page: int | None  # kept as a hidden input when not the default
    fields_open: bool  # the field list is shown unfolded when one is chosen


@dataclass
class CallSummary:
    id: int
    title: str
    organizer: str | None
    deadline: str | None
    deadline_extra: str | None  # 随時受付 …
    days_left: str | None
    amount: str | None
    fields: list[str]
    area: str
    status: str
    status_label: str
    source_count: int
    predicted: bool = False


@dataclass
class PageLink:
    label: str
    href: str | None  # None: the current page
    current: bool = False


@dataclass
class SearchPage:
    title: str
    form: SearchForm
    items: list[CallSummary]
    total: int
    page: int
    pages: int
    first_index: int
    last_index: int
    summary: str  # the search in words
    prev_href: str | None
    next_href: str | None
    page_links: list[PageLink]
    atom_href: str
    ics_href: str
    csv_href: str
    xlsx_href: str
    print_href: str
    reset_href: str = "/"
    offers: OffersBlock | None = None  # companies' offers matching the search (own block)


def _options(
    choices: dict[str, str], selected: set[str], counts: dict[str, int] | None
) -> list[Option]:
    return [
        Option(
            value=value,
            label=label,
            selected=value in selected,
            count=None if counts is None else counts.get(value, 0),
        )
        for value, label in choices.items()
    ]


def _form(params: SearchParams, counts: dict[str, dict[str, int]], home: Home) -> SearchForm:
    areas = {"": "指定なし", **home.area_choices()}
    area_selected = params.area or ""
    if area_selected and area_selected not in areas:
        # A value the API accepts but the form does not list (千葉県, municipality:…).
        known = {v: k for k, v in home.area_choices().items()}
        if area_selected in known:
            area_selected = known[area_selected]
        else:
            areas[area_selected] = area_label(area_selected)
    within = {"": "指定なし", **{str(k): v for k, v in WITHIN_CHOICES.items()}}
    if params.within is not None and params.within not in WITHIN_CHOICES:
        within[str(params.within)] = f"{params.within}日以内"
    amounts = {"": "指定なし", **{str(a): f"{yen(a)}以上" for a in MIN_AMOUNT_CHOICES}}
    if params.min_amount is not None and params.min_amount not in MIN_AMOUNT_CHOICES:
        amounts[str(params.min_amount)] = f"{yen(params.min_amount)}以上"
    kinds = {"": "指定なし", **{k.value: v for k, v in SOURCE_KIND_LABELS.items()}}
    status_counts = counts.get("status", {})
    return SearchForm(
        q=params.q or "",
        fields=_options(
            dict(FIELDS),  # the law's names, as groups know them from their articles
            set(params.field),
            counts.get("field", {}),
        ),
        areas=[
            Option(
                value=o.value,
                label=o.label,
                selected=o.selected,
                count=counts.get("area", {}).get(o.value) if o.value else None,
            )
            for o in _options(areas, {area_selected}, None)
        ],
        within=_options(within, {str(params.within) if params.within else ""}, None),
        deadline_after=params.deadline_after.isoformat() if params.deadline_after else "",
        deadline_before=params.deadline_before.isoformat() if params.deadline_before else "",
        min_amounts=_options(
            amounts, {str(params.min_amount) if params.min_amount is not None else ""}, None
        ),
        informal=Option(
            value="true",
            label="任意団体（法人格のない団体）も応募できるもの",
            selected=params.informal_groups_ok is True,
            count=counts.get("informal_groups_ok", {}).get("true"),
        ),
        costs=_options(
            {c.value: label for c, label in COST_LABELS.items()},
            {c.value for c in params.cost},
            None,
        ),
        source_kinds=[
            Option(
                value=o.value,
                label=o.label,
                selected=o.selected,
                count=counts.get("source_kind", {}).get(o.value) if o.value else None,
            )
            for o in _options(kinds, {params.source_kind.value if params.source_kind else ""}, None)
        ],
        statuses=_options(STATUS_CHOICES, {params.status.value}, status_counts),
        sorts=_options({s.value: label for s, label in SORT_LABELS.items()}, {params.sort}, None),
        per_page=params.per_page if params.per_page != DEFAULT_PER_PAGE else None,
        fields_open=bool(params.field),
    )


def _summary_of(item: dict[str, Any], today: date, predicted: bool) -> CallSummary:
    kind = item.get("deadline_kind")
    status = item["status"]
    return CallSummary(
        id=item["id"],
        title=item["title"],
        organizer=item.get("organizer"),
        deadline=jdate(item.get("deadline")),
        deadline_extra=DEADLINE_KIND_LABELS.get(kind) if kind != "fixed" else None,
        days_left=days_left_text(item.get("deadline"), today) if status == "open" else None,
        amount=f"上限 {yen(item['max_amount_yen'])}" if item.get("max_amount_yen") else None,
        fields=[FIELD_SHORT_LABELS.get(f, f) for f in item.get("fields") or []],
        area=area_label(item.get("area")),
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        source_count=len({s["source"] for s in item.get("sources") or []}),
        predicted=predicted,
    )


def _search_words(params: SearchParams, home: Home) -> str:
    """The search in words, for the heading of the results (and the printed list)."""
    words: list[str] = []
    if params.q:
        words.append(f"「{params.q}」")
    if params.field:
        words.append("・".join(FIELD_SHORT_LABELS.get(f, f) for f in params.field))
    if params.area:
        words.append(home.area_choices().get(params.area) or area_label(params.area))
    if params.within:
        words.append(WITHIN_CHOICES.get(params.within) or f"{params.within}日以内")
    if params.deadline_after:
        words.append(f"締切 {jdate(params.deadline_after)}から")
    if params.deadline_before:
        words.append(f"締切 {jdate(params.deadline_before)}まで")
    if params.min_amount is not None:
        words.append(f"上限{yen(params.min_amount)}以上")
    if params.informal_groups_ok is True:
        words.append("任意団体可")
    elif params.informal_groups_ok is False:
        words.append("任意団体不可")
    if params.cost:
        words.append("・".join(COST_LABELS[c] for c in params.cost) + "が対象")
    if params.source_kind:
        words.append(f"情報源: {SOURCE_KIND_LABELS[params.source_kind]}")
    words.append(STATUS_CHOICES[params.status.value])
    return "、".join(words)


def _page_links(params: SearchParams, pages: int) -> list[PageLink]:
    current = params.page
    shown = sorted({1, pages, *range(max(1, current - 2), min(pages, current + 2) + 1)})
    links: list[PageLink] = []
    previous = 0
    for number in shown:
        if number - previous > 1:
            links.append(PageLink(label="…", href=None))
        links.append(
            PageLink(
                label=str(number),
                href=None if number == current else _with_query("/", _query(params, page=number)),
                current=number == current,
            )
        )
        previous = number
    return links


@router.get("/", response_class=HTMLResponse, name="search_page")
def search_page(
    request: Request,
    session: SessionDep,
    params: SearchDep,
    today: TodayDep,
    home: HomeDep,
):
    result = search(session, params, today=today, home=home)
    counts = facet_counts(session, params, today=today, home=home)
    extras = _extras_of(session, [item["id"] for item in result.items])
    feed_query = _query(params, paging=False)
    first = (result.page - 1) * result.per_page + 1
    context = SearchPage(
        title="助成金・補助金をさがす",
        form=_form(params, counts, home),
        items=[
            _summary_of(item, today, extras.get(item["id"], _Extras()).predicted)
            for item in result.items
        ],
        total=result.total,
        page=result.page,
        pages=result.pages,
        first_index=first if result.items else 0,
        last_index=first + len(result.items) - 1 if result.items else 0,
        summary=_search_words(params, home),
        prev_href=(
            _with_query("/", _query(params, page=result.page - 1)) if result.page > 1 else None
        ),
        next_href=(
            _with_query("/", _query(params, page=result.page + 1))
            if result.page < result.pages
            else None
        ),
        page_links=_page_links(params, result.pages) if result.pages > 1 else [],
        atom_href=_with_query("/feeds/calls.atom", feed_query),
        ics_href=_with_query("/feeds/calls.ics", feed_query),
        csv_href=_with_query("/exports/calls.csv", feed_query),
        xlsx_href=_with_query("/exports/calls.xlsx", feed_query),
        print_href=_with_query("/print", feed_query),
        offers=offers_block(session, request.query_params, params, today=today, home=home),
    )
    # The calls' paging links keep the choices about offers (they are not SearchParams).
    context.prev_href = context.offers.link(context.prev_href)
    context.next_href = context.offers.link(context.next_href)
    for link in context.page_links:
        link.href = context.offers.link(link.href)
    return _render(request, "search.html", context)


# -- call page -----------------------------------------------------------------------------


@dataclass
class Link:
    label: str
    href: str | None  # None when the URL is not a safe http(s) URL: shown as text, not a link
    text: str | None = None  # the URL as text, shown when `href` is None


@dataclass
class Fact:
    key: str
    label: str
    value: str | None
    evidence: str | None
    source: Link | None


@dataclass
class Listing:
    source: str
    link: Link
    title: str | None
    listed: bool
    partial: bool
    first_seen: str | None
    last_seen: str | None


@dataclass
class Conflict:
    label: str
    values: list[tuple[str, str, Link]]  # (source label, value, link)


@dataclass
class HistoryEntry:
    label: str
    kind: str
    at: str | None
    detail: str | None
    source: str | None


@dataclass
class RoundEntry:
    id: int
    title: str
    deadline: str | None
    status_label: str
    predicted: bool


@dataclass
class CallPage:
    title: str
    id: int
    organizer: str | None
    status: str
    status_label: str
    deadline: str | None
    days_left: str | None
    amount: str | None
    source: Link | None
    facts: list[Fact]
    listings: list[Listing]
    conflicts: list[Conflict]
    history: list[HistoryEntry]
    rounds: list[RoundEntry]
    predicted: bool
    ics_href: str
    print_view: bool
    print_href: str
    first_seen: str | None
    last_seen: str | None
    marks: CallMarks | None = None  # a signed-in group's 気になる / 対象外 on this call


def _link(url: str | None, label: str) -> Link:
    href = safe_url(url)
    return Link(label=label, href=href, text=None if href else url)


def _bool_text(value: bool | None, yes: str = "可", no: str = "不可") -> str | None:
    if value is None:
        return None
    return yes if value else no


def _fact_source(call: dict[str, Any], key: str) -> Link | None:
    """The listing a fact came from: the first one holding the call's value, else the lead."""
    if key in ("deadline", "max_amount_yen"):
        for listing in call["listings"]:
            if listing.get(key) is not None and listing.get(key) == call.get(key):
                return _link(listing["url"], listing["source_label"])
    url = call.get("url")
    return _link(url, _lead_label(call)) if url else None


def _lead_label(call: dict[str, Any]) -> str:
    """The label of the source whose page the call's link goes to."""
    for listing in call.get("listings") or []:
        if listing["url"] == call.get("url"):
            return listing["source_label"]
    return "掲載元"


def _deadline_text(call: dict[str, Any]) -> str | None:
    parts = [jdate(call.get("deadline"))] if call.get("deadline") else []
    note = (call.get("deadline_note") or {}).get("text")
    if note:
        parts.append(note)
    kind = call.get("deadline_kind")
    if kind and kind != "fixed":
        parts.append(DEADLINE_KIND_LABELS.get(kind, kind))
    return " ".join(parts) or None


def _facts(call: dict[str, Any]) -> list[Fact]:
    evidence = call.get("evidence") or {}
    elig = call.get("eligibility") or {}
    costs = call.get("costs") or {}
    rounds = [
        " ".join(
            x
            for x in (
                r.get("label"),
                f"{jdate(r['start'])}から" if r.get("start") else None,
                f"{jdate(r['end'])}まで" if r.get("end") else None,
            )
            if x
        )
        for r in call.get("rounds") or []
    ]
    rows: list[tuple[str, str, str | None]] = [
        ("deadline", "締切", _deadline_text(call)),
        ("application_start", "受付開始", jdate(call.get("application_start"))),
        ("max_amount_yen", "上限額", yen(call.get("max_amount_yen"))),
        ("total_budget_yen", "総額", yen(call.get("total_budget_yen"))),
        ("subsidy_rate", "補助率", call.get("subsidy_rate")),
        (
            "fields",
            "分野",
            "、".join(FIELDS.get(f, f) for f in call.get("fields") or []) or None,
        ),
        ("area", "地域", area_label(call.get("area"))),
        ("informal_groups_ok", "任意団体", _bool_text(elig.get("informal_groups_ok"))),
        ("legal_forms", "法人格", "、".join(elig.get("legal_forms") or []) or None),
        (
            "min_members",
            "人数",
            f"{elig['min_members']}人以上" if elig.get("min_members") else None,
        ),
        (
            "min_years_active",
            "活動年数",
            f"{elig['min_years_active']}年以上" if elig.get("min_years_active") else None,
        ),
    ]
    if rounds:
        rows.insert(2, ("rounds", "募集回", "／".join(rounds)))
    facts = [
        Fact(
            key=key,
            label=label,
            value=value,
            evidence=evidence.get(key),
            source=_fact_source(call, key) if value or evidence.get(key) else None,
        )
        for key, label, value in rows
    ]
    for name, label in COST_FACT_LABELS.items():
        coverage = costs.get(name) or "not_stated"
        key = f"costs.{name}"
        facts.append(
            Fact(
                key=key,
                label=f"対象経費: {label}",
                value=COVERAGE_LABELS.get(coverage, coverage),
                evidence=evidence.get(key),
                source=_fact_source(call, key) if evidence.get(key) else None,
            )
        )
    return facts


def _conflict_value(attr: str, value: Any) -> str:
    if attr == "deadline":
        return jdate(value) or str(value)
    if attr == "max_amount_yen" and isinstance(value, int):
        return yen(value) or str(value)
    return str(value)


def _history_detail(kind: str, old: str | None, new: str | None) -> str | None:
    def show(value: str | None) -> str | None:
        if value is None:
            return None
        if kind in ("deadline_extended", "deadline_changed"):
            return jdate(value) or value
        if kind == "amount_changed" and value.isdigit():
            return yen(int(value))
        if kind in ("closed", "reopened", "withdrawn"):
            return STATUS_LABELS.get(value, value)
        if kind in ("merged", "split"):
            return f"公募 {value}"
        return value

    old_text, new_text = show(old), show(new)
    if old_text and new_text:
        return f"{old_text} → {new_text}"
    return new_text or old_text


@router.get("/calls/{call_id:int}", response_class=HTMLResponse, name="call_page")
def call_page(
    request: Request,
    call_id: int,
    session: SessionDep,
    today: TodayDep,
    viewer: ViewerDep,
    print_view: Annotated[str | None, Query(alias="print")] = None,
):
    call = call_detail(session, call_id, today=today) if call_id < 2**31 else None
    if call is None:
        raise HTTPException(status_code=404, detail=f"公募（番号 {call_id}）は見つかりません。")
    status = call["status"]
    context = CallPage(
        title=call["title"],
        id=call["id"],
        organizer=call.get("organizer"),
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        deadline=_deadline_text(call),
        days_left=days_left_text(call.get("deadline"), today) if status == "open" else None,
        amount=f"上限 {yen(call['max_amount_yen'])}" if call.get("max_amount_yen") else None,
        source=_link(call["url"], _lead_label(call)) if call.get("url") else None,
        facts=_facts(call),
        listings=[
            Listing(
                source=li["source_label"],
                link=_link(li["url"], li["source_label"]),
                title=li.get("title"),
                listed=bool(li.get("listed")),
                partial=bool(li.get("partial")),
                first_seen=jdate(li.get("first_seen")),
                last_seen=jdate(li.get("last_seen")),
            )
            for li in call["listings"]
        ],
        conflicts=[
            Conflict(
                label=CONFLICT_LABELS.get(attr, attr),
                values=[
                    (
                        source_label(v.get("source")),
                        _conflict_value(attr, v.get("value")),
                        _link(v.get("url"), source_label(v.get("source"))),
                    )
                    for v in values
                ],
            )
            for attr, values in (call.get("conflicts") or {}).items()
        ],
        history=[
            HistoryEntry(
                label=HISTORY_LABELS.get(h["kind"], h["kind"]),
                kind=h["kind"],
                at=jdate(h.get("at")),
                detail=_history_detail(h["kind"], h.get("old_value"), h.get("new_value")),
                source=source_label(h["source"]) if h.get("source") else None,
            )
            for h in call.get("history") or []
        ],
        rounds=[
            RoundEntry(
                id=r["id"],
                title=r["title"],
                deadline=jdate(r.get("deadline")),
                status_label=STATUS_LABELS.get(r["status"], r["status"]),
                predicted=bool(r.get("predicted")),
            )
            for r in call.get("rounds_of_program") or []
        ],
        predicted=bool(call.get("predicted")),
        ics_href=f"/calls/{call['id']}.ics",
        print_view=print_view not in (None, "", "0"),
        print_href=f"/calls/{call['id']}?print=1",
        first_seen=jdate(call.get("first_seen")),
        last_seen=jdate(call.get("last_seen")),
        marks=marks_for_user(session, viewer.user_id, call["id"])
        if viewer is not None and viewer.role == "group"
        else None,
    )
    return _render(request, "call.html", context)


# -- printable list (センターだより) ----------------------------------------------------------


@dataclass
class PrintRow:
    id: int
    title: str
    organizer: str | None
    deadline: str | None
    status_note: str | None  # 募集予定 / 終了 / 予測 (open calls need no note)
    amount: str | None
    who: str  # one line of who may apply
    url: str


def _status_note(status: str, predicted: bool) -> str | None:
    if predicted:
        return "募集予定（予測）"
    return None if status == "open" else STATUS_LABELS.get(status, status)


@dataclass
class PrintPage:
    title: str
    site_name: str
    site_url: str
    date: str
    summary: str
    rows: list[PrintRow]
    total: int
    truncated: bool
    search_href: str


def who_may_apply(
    area: str | None,
    informal: bool | None,
    legal_forms: list[str] | None,
    min_members: int | None,
    min_years: int | None,
) -> str:
    """One line of who may apply: 「千葉県の団体・任意団体可・5人以上」."""
    parts = [f"{area_label(area)}の団体" if area and area != "national" else "全国の団体"]
    if informal is True:
        parts.append("任意団体可")
    elif legal_forms:
        parts.append("、".join(legal_forms[:3]) + ("など" if len(legal_forms) > 3 else ""))
    elif informal is False:
        parts.append("法人格が必要")
    if min_members:
        parts.append(f"{min_members}人以上")
    if min_years:
        parts.append(f"活動{min_years}年以上")
    return "・".join(parts)


@dataclass(frozen=True)
class _Extras:
    """What the list contract leaves out but the pages show: who may apply, predicted."""

    area: str | None = None
    informal: bool | None = None
    legal_forms: tuple[str, ...] = ()
    min_members: int | None = None
    min_years: int | None = None
    predicted: bool = False

    def who(self) -> str:
        return who_may_apply(
            self.area, self.informal, list(self.legal_forms), self.min_members, self.min_years
        )


def _extras_of(session: Session, ids: list[int]) -> dict[int, _Extras]:
    if not ids:
        return {}
    rows = session.execute(
        select(
            CallRow.id,
            CallRow.area,
            CallRow.informal_groups_ok,
            CallRow.legal_forms,
            CallRow.min_members,
            CallRow.min_years_active,
            CallRow.predicted,
        ).where(CallRow.id.in_(ids))
    )
    return {
        row[0]: _Extras(
            area=row[1],
            informal=row[2],
            legal_forms=tuple(row[3] or ()),
            min_members=row[4],
            min_years=row[5],
            predicted=bool(row[6]),
        )
        for row in rows
    }


@router.get("/print", response_class=HTMLResponse, name="print_page")
def print_page(
    request: Request,
    session: SessionDep,
    params: SearchDep,
    today: TodayDep,
    home: HomeDep,
    settings: SettingsDep,
):
    if "per_page" not in request.query_params:
        params = params.model_copy(update={"per_page": PRINT_PER_PAGE})
    result = search(session, params, today=today, home=home)
    extras = _extras_of(session, [item["id"] for item in result.items])
    base = settings.site_url.rstrip("/")
    rows = []
    for item in result.items:
        extra = extras.get(item["id"]) or _Extras(area=item.get("area"))
        deadline = jdate(item.get("deadline"))
        kind = item.get("deadline_kind")
        if kind and kind != "fixed":
            deadline = " ".join(x for x in (deadline, DEADLINE_KIND_LABELS.get(kind)) if x)
        rows.append(
            PrintRow(
                id=item["id"],
                title=item["title"],
                organizer=item.get("organizer"),
                deadline=deadline,
                status_note=_status_note(item["status"], extra.predicted),
                amount=yen(item.get("max_amount_yen")),
                who=extra.who(),
                url=f"{base}/calls/{item['id']}",
            )
        )
    context = PrintPage(
        title=f"助成金・補助金情報（{today.year}年{today.month}月{today.day}日現在）",
        site_name=settings.site_name,
        site_url=base,
        date=jdate(today) or "",
        summary=_search_words(params, home),
        rows=rows,
        total=result.total,
        truncated=result.total > len(rows) + (result.page - 1) * result.per_page,
        search_href=_with_query("/", _query(params, page=1, per_page=DEFAULT_PER_PAGE)),
    )
    return _render(request, "print.html", context)


# -- errors --------------------------------------------------------------------------------


@dataclass
class ErrorItem:
    param: str
    label: str
    message: str
    value: str | None


@dataclass
class ErrorPage:
    status: int
    title: str
    message: str
    errors: list[ErrorItem] = field(default_factory=list)


ERROR_TITLES = {
    404: "ページが見つかりません",
    405: "この方法では表示できません",
    422: "検索条件を読み取れませんでした",
}
ERROR_MESSAGES = {
    404: "お探しのページ（または公募）は見つかりませんでした。"
    "URL をお確かめいただくか、検索ページからお探しください。",
    405: "このページはこの方法では表示できません。",
}


def error_page(request: Request, status: int, message: str):
    """A page in Japanese for an HTTP error of a page path."""
    try:
        default_phrase = HTTPStatus(status).phrase
    except ValueError:
        default_phrase = ""
    # Starlette's own messages are English phrases ("Not Found"): say it in Japanese instead.
    shown = message if message and message != default_phrase else ""
    context = ErrorPage(
        status=status,
        title=ERROR_TITLES.get(status, "エラーが発生しました"),
        message=shown or ERROR_MESSAGES.get(status, "ページを表示できませんでした。"),
    )
    return _render(request, "error.html", context, status_code=status)


_PARAM_HINTS = {
    "field": "一覧にある活動分野を選んでください。",
    "status": "募集中・募集予定・終了・すべて のいずれかを選んでください。",
    "deadline_before": "日付は 2026-12-31 の形で入力してください。",
    "deadline_after": "日付は 2026-12-31 の形で入力してください。",
    "within": "1〜366 の日数を指定してください。",
    "min_amount": "0 以上の金額（円、数字のみ）を入力してください。",
    "informal_groups_ok": "true または false を指定してください。",
    "cost": "人件費・謝金・家賃 から選んでください。",
    "source_kind": "国・県・市・財団・企業 から選んでください。",
    "sort": "締切が近い順・新着順・金額が大きい順 から選んでください。",
    "page": "1 以上のページ番号を指定してください。",
    "per_page": "1〜100 の件数を指定してください。",
    "q": "キーワードは200文字以内で入力してください。",
}


def invalid_search_page(request: Request, exc: InvalidParameter):
    """422 page for a search whose parameters cannot be read: names each parameter."""
    items = []
    for error in exc.errors:
        param = str(error.get("param"))
        value = error.get("value")
        items.append(
            ErrorItem(
                param=param,
                label=PARAM_LABELS.get(param, param),
                message=_PARAM_HINTS.get(param, "値を読み取れませんでした。"),
                value=", ".join(value) if isinstance(value, list) else value,
            )
        )
    names = "、".join(dict.fromkeys(f"{i.label}（{i.param}）" for i in items))
    context = ErrorPage(
        status=422,
        title=ERROR_TITLES[422],
        message=f"次の検索条件の値が正しくありません: {names}",
        errors=items,
    )
    return _render(request, "error.html", context, status_code=422)


def _render(request: Request, name: str, context: Any, status_code: int = 200):
    from api.web import NOTICES  # api.web imports nothing of the pages

    templates = request.app.state.templates
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return templates.TemplateResponse(
        request, name, {"page": context, "notice": notice}, status_code=status_code
    )
