"""Searching calls: one set of parameters for the API, the pages, the feeds and the exports.

Keywords are matched in `calls.search_text` (folded: widths, kana, case; see
`aggregator.searchtext`), every word of the query must match. On SQLite a word of 3+ characters
goes through the FTS5 trigram table `calls_fts`, shorter words (福祉, 子) through LIKE, which
FTS5 trigram cannot answer; on PostgreSQL `ILIKE` uses the pg_trgm GIN index.

Status is decided at query time: a fixed deadline that has passed makes a call closed even when
it was stored as open, and an upcoming call whose start has come is open.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session, load_only

from aggregator.fields import FIELDS
from aggregator.programs import pattern
from aggregator.searchindex import Loading, SearchIndex, Unsupported
from aggregator.searchtext import fold
from aggregator.sources import SOURCE_KIND_LABELS, SOURCES, SourceKind
from aggregator.storage.models import CallField, CallHistoryRow, CallRow, ListingRow

log = logging.getLogger(__name__)

MAX_PER_PAGE = 100
MAX_QUERY_CHARS = 200
# The largest amount the databases store (BIGINT): beyond it a query fails with an overflow.
MAX_AMOUNT = 2**63 - 1


class Sort(StrEnum):
    DEADLINE = "deadline"  # soonest first, undated last
    NEW = "new"  # newest first
    AMOUNT = "amount"  # largest cap first


class StatusFilter(StrEnum):
    OPEN = "open"
    UPCOMING = "upcoming"
    CLOSED = "closed"
    ALL = "all"


class Cost(StrEnum):
    PERSONNEL = "personnel"  # 人件費
    HONORARIA = "honoraria"  # 謝金
    RENT = "rent"  # 家賃


COST_LABELS = {Cost.PERSONNEL: "人件費", Cost.HONORARIA: "謝金", Cost.RENT: "家賃"}
STATUS_LABELS = {"open": "募集中", "upcoming": "募集予定", "closed": "終了"}
SORT_LABELS = {Sort.DEADLINE: "締切が近い順", Sort.NEW: "新着順", Sort.AMOUNT: "金額が大きい順"}


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    """Only YYYY-MM-DD: pydantic alone also reads `0` or `1700000000` as a Unix time."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value.strip())):
        return value.strip() if isinstance(value, str) else value
    raise PydanticCustomError("date_format", "日付は YYYY-MM-DD の形で指定してください")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class SearchParams(BaseModel):
    """A search, as the URL holds it (`/`, `/api/v1/calls`, feeds and exports alike)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    q: str | None = Field(default=None, max_length=MAX_QUERY_CHARS)
    field: tuple[str, ...] = ()
    area: str | None = None
    status: StatusFilter = StatusFilter.OPEN
    deadline_before: IsoDate | None = None
    deadline_after: IsoDate | None = None
    within: int | None = Field(default=None, ge=1, le=366)  # deadline within N days
    min_amount: int | None = Field(default=None, ge=0)
    informal_groups_ok: bool | None = None
    cost: tuple[Cost, ...] = ()
    source_kind: SourceKind | None = None
    sort: Sort = Sort.DEADLINE
    page: int = Field(default=1, ge=1, le=10_000)
    per_page: int = Field(default=20, ge=1, le=MAX_PER_PAGE)

    @field_validator("field")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in FIELDS]
        if unknown:
            raise ValueError(f"unknown field {', '.join(unknown)}; one of {', '.join(FIELDS)}")
        return tuple(dict.fromkeys(value))

    @field_validator("q")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None

    @field_validator("area")
    @classmethod
    def _area_given(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None


@dataclass(frozen=True)
class Home:
    """The centre's home area (settings): what 千葉県 / 鎌ケ谷市 in the area filter mean."""

    prefecture: str = "千葉県"
    municipality: str = "鎌ケ谷市"

    def area_choices(self) -> dict[str, str]:
        """Area filter values → labels."""
        return {
            "national": "全国",
            "prefecture": self.prefecture,
            "municipality": self.municipality,
            "reachable": f"{self.municipality}の団体が応募できるもの",
        }

    def area_values(self, area: str) -> list[str] | None:
        """The stored `calls.area` values an area filter value stands for; None if unknown."""
        pref = f"prefecture:{self.prefecture}"
        city = f"municipality:{self.municipality}"
        aliases = {
            "national": ["national"],
            "全国": ["national"],
            "prefecture": [pref],
            self.prefecture: [pref],
            pref: [pref],
            "municipality": [city],
            self.municipality: [city],
            city: [city],
            "reachable": ["national", pref, city],
        }
        if area in aliases:
            return aliases[area]
        if area.startswith(("prefecture:", "municipality:")):
            return [area]
        return None


def area_label(area: str | None) -> str:
    if not area or area == "national":
        return "全国"
    return area.split(":", 1)[1] if ":" in area else area


# -- query building --------------------------------------------------------------------------


def _passed(today: date) -> ColumnElement[bool]:
    return and_(
        CallRow.deadline_kind == "fixed", CallRow.deadline.is_not(None), CallRow.deadline < today
    )


def effective_status(today: date) -> ColumnElement[str]:
    """open / upcoming / closed of each call as of `today` (SQL expression)."""
    return case(
        (or_(CallRow.status == "closed", _passed(today)), literal("closed")),
        (
            and_(
                CallRow.status == "upcoming",
                or_(CallRow.application_start.is_(None), CallRow.application_start > today),
            ),
            literal("upcoming"),
        ),
        else_=literal("open"),
    )


def _status_condition(status: StatusFilter, today: date) -> ColumnElement[bool]:
    passed = _passed(today)
    if status == StatusFilter.ALL:
        return true()
    if status == StatusFilter.CLOSED:
        return or_(CallRow.status == "closed", passed)
    started = and_(CallRow.application_start.is_not(None), CallRow.application_start <= today)
    not_passed = or_(
        CallRow.deadline_kind != "fixed", CallRow.deadline.is_(None), CallRow.deadline >= today
    )
    if status == StatusFilter.UPCOMING:
        return and_(CallRow.status == "upcoming", not_(started), not_passed)
    # The stored status (an index seek; `refresh_statuses` keeps it current each day), and the
    # deadline checked again in case the day changed since.
    return and_(CallRow.status == "open", not_passed)


def refresh_statuses(session: Session, today: date) -> int:
    """Stores what the date has changed: deadline passed → closed, start reached → open, no
    status known → open (shown with the open calls). Searches seek on the stored status; run
    this daily (ingest and `kyodo serve` do). Returns the number of calls changed."""
    changed = 0
    for where, value in (
        ((or_(CallRow.status.is_(None), CallRow.status != "closed"), _passed(today)), "closed"),
        (
            (
                CallRow.status == "upcoming",
                CallRow.application_start.is_not(None),
                CallRow.application_start <= today,
            ),
            "open",
        ),
        ((CallRow.status.is_(None),), "open"),
    ):
        result = session.execute(
            update(CallRow)
            .where(*where)
            .values(status=value)
            .execution_options(synchronize_session=False)
        )
        changed += result.rowcount or 0
    session.commit()
    return changed


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# A keyword matching at most this many calls is looked up call by call (by id); one matching
# more is checked while scanning the covering index (reading that many rows would cost more).
_SELECTIVE_MATCHES = 20_000


def _fts_table(term: str) -> str | None:
    """The SQLite full-text table that answers `term`, if any.

    3+ characters: the trigram index. 1–2 characters: the index of single characters and pairs
    (a short term with punctuation would be split by its tokenizer: LIKE instead).
    """
    if len(term) >= 3:
        return "calls_fts"
    return "calls_grams" if term.isalnum() else None


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _keyword_condition(term: str, dialect: str, session: Session | None) -> ColumnElement[bool]:
    pattern = f"%{_like_escape(term)}%"
    table = _fts_table(term) if dialect == "sqlite" else None
    if table:
        # A bound name of its own per term: two keywords must not share one value.
        name = f"phrase_{abs(hash(term)) % 10**8}"
        match = text(f"{table} MATCH :{name}").bindparams(**{name: _fts_phrase(term)})
        ids = select(text("rowid")).select_from(text(table)).where(match)
        if session is not None:
            count = select(func.count()).select_from(text(table)).where(match)
            if (session.scalar(count) or 0) <= _SELECTIVE_MATCHES:
                return CallRow.id.in_(ids)
        # `id + 0`: a filter on the covering index scan, not a loop over whole rows by id.
        return (CallRow.id + 0).in_(ids)
    if dialect == "postgresql":
        if len(term) < 3 and term.isalnum():
            # The GIN index on the array of characters and pairs (migration 0004).
            # Written as the index's own expression, so the planner uses the index.
            name = f"gram_{abs(hash(term)) % 10**8}"
            return text(
                f"string_to_array(calls.search_grams, ' ') @> ARRAY[CAST(:{name} AS text)]"
            ).bindparams(**{name: term})
        return CallRow.search_text.ilike(pattern, escape="\\")
    return CallRow.search_text.like(pattern, escape="\\")


def _source_kind_condition(kind: SourceKind) -> ColumnElement[bool]:
    names = [name for name, source in SOURCES.items() if source.kind == kind]
    if not names:
        return false()
    return exists().where(ListingRow.call_id == CallRow.id, ListingRow.source.in_(names))


def conditions(
    params: SearchParams,
    *,
    today: date,
    home: Home,
    dialect: str,
    skip: str | tuple[str, ...] = (),
    session: Session | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE conditions of a search; `skip` leaves facets out (for their counts).

    With `session`, SQLite keywords are planned by how many calls they match.
    """
    skips = (skip,) if isinstance(skip, str) else skip
    where: list[ColumnElement[bool]] = []
    if params.q:
        for term in fold(params.q).split():
            where.append(_keyword_condition(term, dialect, session))
    if params.field and "field" not in skips:
        where.append(
            exists().where(CallField.call_id == CallRow.id, CallField.field.in_(params.field))
        )
    if params.area and "area" not in skips:
        values = home.area_values(params.area) or []
        where.append(CallRow.area.in_(values) if values else false())
    if "status" not in skips:
        where.append(_status_condition(params.status, today))
    before = params.deadline_before
    if params.within:
        limit = date.fromordinal(today.toordinal() + params.within)
        before = min(before, limit) if before else limit
    if before:
        where.append(CallRow.deadline <= before)
    if params.deadline_after:
        where.append(CallRow.deadline >= params.deadline_after)
    if params.min_amount is not None:
        where.append(CallRow.max_amount_yen >= params.min_amount)
    if params.informal_groups_ok is not None and "informal" not in skips:
        where.append(CallRow.informal_groups_ok.is_(params.informal_groups_ok))
    for cost in params.cost:
        where.append(getattr(CallRow, f"cost_{cost.value}") == "yes")
    if params.source_kind and "source_kind" not in skips:
        where.append(_source_kind_condition(params.source_kind))
    return where


def _order(sort: Sort) -> list[Any]:
    if sort == Sort.NEW:
        return [CallRow.first_seen.desc(), CallRow.id.desc()]
    if sort == Sort.AMOUNT:
        return [CallRow.max_amount_yen.is_(None), CallRow.max_amount_yen.desc(), CallRow.id]
    return [CallRow.deadline.is_(None), CallRow.deadline, CallRow.id]


# -- results ----------------------------------------------------------------------------------


@dataclass
class SearchResult:
    total: int
    page: int
    per_page: int
    items: list[dict[str, Any]]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _sources_of(session: Session, ids: list[int]) -> dict[int, list[dict[str, str | None]]]:
    out: dict[int, list[dict[str, str | None]]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(ListingRow.call_id, ListingRow.source, ListingRow.url)
        .where(ListingRow.call_id.in_(ids))
        .order_by(ListingRow.call_id, ListingRow.precedence, ListingRow.id)
    )
    for call_id, source, url in rows:
        out[call_id].append({"source": source, "url": url})
    return out


# The columns `summary` reads (besides `fields`, loaded with the call).
_SUMMARY_COLUMNS = (
    "id",
    "title",
    "organizer",
    "deadline",
    "deadline_kind",
    "max_amount_yen",
    "area",
    "source_url",
    "status",
    "application_start",
)


def summary(row: CallRow, status: str, sources: list[dict[str, str | None]]) -> dict[str, Any]:
    """A call as the list API gives it (the contract of `GET /api/v1/calls`)."""
    return {
        "id": row.id,
        "title": row.title,
        "organizer": row.organizer,
        "deadline": row.deadline.isoformat() if row.deadline else None,
        "deadline_kind": row.deadline_kind,
        "max_amount_yen": row.max_amount_yen,
        "fields": [f.field for f in row.fields],
        "area": row.area,
        "status": status,
        "url": row.source_url or (sources[0]["url"] if sources else None),
        "sources": sources,
    }


def _gram_index_only(session: Session, params: SearchParams, dialect: str, on: bool) -> None:
    """PostgreSQL, a 1–2 character keyword: read it through its GIN index, never a table scan.

    A word in nearly every call (地域) makes the planner prefer a scan that splits every call's
    text into characters and pairs: 0.3–1 s at 20,000 calls, against 6 ms through the index.
    Local to the transaction; `on=False` restores the setting after the queries.
    """
    if dialect != "postgresql" or not params.q:
        return
    if any(len(term) < 3 and term.isalnum() for term in fold(params.q).split()):
        value = "off" if on else "DEFAULT"
        session.execute(text(f"SET LOCAL enable_seqscan TO {value}"))


def keyword_ids_query(term: str, dialect: str) -> tuple[Any, ...]:
    """Arguments of `Connection.execute` for the ids of the calls matching one folded keyword,
    through the same index `conditions` uses (the in-memory search index's first read)."""
    table = _fts_table(term) if dialect == "sqlite" else None
    if table:
        statement = text(f"SELECT rowid FROM {table} WHERE {table} MATCH :phrase")
        return (statement, {"phrase": _fts_phrase(term)})
    return (select(CallRow.id).where(_keyword_condition(term, dialect, None)),)


def _indexed(index: SearchIndex | None, method: str, *args: Any, **kwargs: Any) -> Any:
    """`index.<method>(…)`, or None when there is no index or it cannot answer (then SQL)."""
    if index is None:
        return None
    try:
        return getattr(index, method)(*args, **kwargs)
    except Loading:
        return None
    except Unsupported as exc:
        log.warning("search index unavailable, searching in SQL: %s", exc)
        return None


def search(
    session: Session,
    params: SearchParams,
    *,
    today: date,
    home: Home | None = None,
    index: SearchIndex | None = None,
) -> SearchResult:
    """One page of calls matching `params`, with the total.

    With `index` (the web processes' in-memory facts), the total and the page's ids come from
    it; the calls themselves are always read from the database.
    """
    home = home or Home()
    dialect = session.get_bind().dialect.name
    index = index if index is not None else session.info.get("search_index")
    # One read of the index's journal per request: the page's counts follow its results.
    fresh = not session.info.get("search_index_read")
    found_ids = _indexed(index, "search", params, today=today, home=home, refresh=fresh)
    if found_ids is not None:
        session.info["search_index_read"] = True
        total, ids = found_ids
    else:
        _gram_index_only(session, params, dialect, on=True)
        where = conditions(params, today=today, home=home, dialect=dialect, session=session)
        total = session.scalar(select(func.count()).select_from(CallRow).where(*where)) or 0
        # Ids first (from the covering index), then only those rows: sorting whole rows would
        # read every matching call's text.
        ids = session.scalars(
            select(CallRow.id)
            .where(*where)
            .order_by(*_order(params.sort))
            .limit(params.per_page)
            .offset((params.page - 1) * params.per_page)
        ).all()
        _gram_index_only(session, params, dialect, on=False)
    status = effective_status(today).label("effective_status")
    # Only what `summary` shows: a call's text, evidence and history stay unread.
    shown = load_only(*(getattr(CallRow, name) for name in _SUMMARY_COLUMNS))
    found = {
        row.id: (row, st)
        for row, st in session.execute(
            select(CallRow, status).options(shown).where(CallRow.id.in_(ids))
        ).all()
    }
    rows = [found[i] for i in ids if i in found]
    sources = _sources_of(session, [row.id for row, _ in rows])
    items = [summary(row, st, sources[row.id]) for row, st in rows]
    return SearchResult(total=total, page=params.page, per_page=params.per_page, items=items)


def facet_counts(
    session: Session,
    params: SearchParams,
    *,
    today: date,
    home: Home | None = None,
    index: SearchIndex | None = None,
) -> dict[str, dict[str, int]]:
    """Counts per filter value, each with the other filters of `params` applied."""
    home = home or Home()
    index = index if index is not None else session.info.get("search_index")
    fresh = not session.info.get("search_index_read")
    indexed = _indexed(index, "facet_counts", params, today=today, home=home, refresh=fresh)
    if indexed is not None:
        session.info["search_index_read"] = True
        return indexed
    dialect = session.get_bind().dialect.name
    _gram_index_only(session, params, dialect, on=True)
    counts: dict[str, dict[str, int]] = {}

    def others(*facets: str) -> list[ColumnElement[bool]]:
        return conditions(params, today=today, home=home, dialect=dialect, skip=facets)

    where = others("field")
    rows = session.execute(
        select(CallField.field, func.count())
        .join(CallRow, CallRow.id == CallField.call_id)
        .where(*where)
        .group_by(CallField.field)
    )
    counts["field"] = {field: n for field, n in rows}

    # Status, one stored status at a time (an index range; with a keyword, PostgreSQL joins it
    # with the keyword's index, where a query over all statuses reads the whole table): stored
    # closed is closed whatever the date; the others are split by the date as
    # `effective_status` does. Grouping every row by that expression cost most of a search
    # page's time at 100,000 calls.
    where = others("status")
    passed = _passed(today)
    started = and_(CallRow.application_start.is_not(None), CallRow.application_start <= today)
    by_status = {"open": 0, "upcoming": 0, "closed": 0}
    for stored in ("closed", "open", "upcoming", None):
        is_stored = CallRow.status.is_(None) if stored is None else CallRow.status == stored
        if stored == "closed":
            n = session.scalar(select(func.count()).select_from(CallRow).where(*where, is_stored))
            by_status["closed"] += n or 0
            continue
        n, n_passed, n_started = session.execute(
            select(
                func.count(),
                func.sum(case((passed, 1), else_=0)),
                func.sum(case((and_(started, not_(passed)), 1), else_=0)),
            ).where(*where, is_stored)
        ).one()
        n_passed, n_started = n_passed or 0, n_started or 0
        by_status["closed"] += n_passed
        if stored == "upcoming":
            by_status["open"] += n_started
            by_status["upcoming"] += n - n_passed - n_started
        else:
            by_status["open"] += n - n_passed
    counts["status"] = {**by_status, "all": sum(by_status.values())}

    # Area and 任意団体可 from one grouping: each facet applies the other's filter to it.
    groups = session.execute(
        select(CallRow.area, CallRow.informal_groups_ok, func.count())
        .where(*others("area", "informal"))
        .group_by(CallRow.area, CallRow.informal_groups_ok)
    ).all()
    areas = home.area_values(params.area) if params.area else None
    wanted = params.informal_groups_ok
    by_area: dict[str, int] = {}
    informal = 0
    for area, ok, n in groups:
        if wanted is None or ok is wanted:
            by_area[area] = by_area.get(area, 0) + n
        if ok is True and (params.area is None or (areas and area in areas)):
            informal += n
    counts["area"] = {
        key: sum(by_area.get(v, 0) for v in home.area_values(key) or [])
        for key in home.area_choices()
    }

    # Source kinds from one join (read from the (call_id, source) index); a call counts once
    # per kind (two 財団 listings: one 財団 call).
    kinds = {
        kind: names
        for kind in SOURCE_KIND_LABELS
        if (names := [name for name, src in SOURCES.items() if src.kind == kind])
    }
    kind_of = case(
        *[(ListingRow.source.in_(names), literal(kind.value)) for kind, names in kinds.items()],
        else_=literal(None),
    )
    by_kind = dict(
        session.execute(
            select(kind_of, func.count(ListingRow.call_id.distinct()))
            .join(CallRow, CallRow.id == ListingRow.call_id)
            .where(*others("source_kind"))
            .group_by(kind_of)
        ).all()
    )
    counts["source_kind"] = {kind.value: by_kind.get(kind.value, 0) for kind in SOURCE_KIND_LABELS}
    counts["informal_groups_ok"] = {"true": informal}
    _gram_index_only(session, params, dialect, on=False)
    return counts


# -- one call ----------------------------------------------------------------------------------


def call_detail(session: Session, call_id: int, *, today: date) -> dict[str, Any] | None:
    """The whole call: facts with evidence, listings, history, the program's rounds."""
    found = session.execute(
        select(CallRow, effective_status(today)).where(CallRow.id == call_id)
    ).one_or_none()
    if found is None:
        return None
    row, status = found
    listings = session.scalars(
        select(ListingRow)
        .where(ListingRow.call_id == call_id)
        .order_by(ListingRow.precedence, ListingRow.id)
    ).all()
    sources = [{"source": li.source, "url": li.url} for li in listings]
    out = summary(row, status, sources)
    out.update(
        {
            "source_url": row.source_url,
            "application_start": _iso(row.application_start),
            "deadline_note": row.deadline_note,
            "rounds": row.rounds,
            "total_budget_yen": row.total_budget_yen,
            "subsidy_rate": row.subsidy_rate,
            "field_terms": row.field_terms,
            "eligibility": {
                "informal_groups_ok": row.informal_groups_ok,
                "legal_forms": row.legal_forms,
                "min_members": row.min_members,
                "min_years_active": row.min_years_active,
            },
            "costs": {
                "personnel": row.cost_personnel,
                "honoraria": row.cost_honoraria,
                "rent": row.cost_rent,
                "equipment": row.cost_equipment,
            },
            "published": _iso(row.published),
            "first_seen": _iso(row.first_seen),
            "last_seen": _iso(row.last_seen),
            "predicted": row.predicted,
            "evidence": row.evidence,
            "conflicts": row.conflicts,
            "listings": [
                {
                    "source": li.source,
                    "source_label": SOURCES[li.source].label if li.source in SOURCES else li.source,
                    "url": li.url,
                    "title": li.record.get("title"),
                    "deadline": li.record.get("deadline"),
                    "max_amount_yen": li.record.get("max_amount_yen"),
                    "listed": li.listed,
                    "partial": bool(li.raw.get("partial")),
                    "first_seen": _iso(li.first_seen),
                    "last_seen": _iso(li.last_seen),
                }
                for li in listings
            ],
            "history": [
                {
                    "kind": h.kind,
                    "old_value": h.old_value,
                    "new_value": h.new_value,
                    "source": h.source,
                    "at": _iso(h.at),
                }
                for h in session.scalars(
                    select(CallHistoryRow)
                    .where(CallHistoryRow.call_id == call_id)
                    .order_by(CallHistoryRow.at, CallHistoryRow.id)
                )
            ],
            "program_id": row.program_id,
            "program_pattern": (
                pattern(session, row.program_id).phrase() if row.program_id is not None else None
            ),
            "rounds_of_program": _program_rounds(session, row, today),
        }
    )
    return out


def _program_rounds(session: Session, row: CallRow, today: date) -> list[dict[str, Any]]:
    """Other rounds of the same program (past and predicted), oldest first."""
    if row.program_id is None:
        return []
    others = session.execute(
        select(CallRow, effective_status(today))
        .where(CallRow.program_id == row.program_id, CallRow.id != row.id)
        .order_by(CallRow.deadline.is_(None), CallRow.deadline, CallRow.id)
    ).all()
    return [
        {
            "id": other.id,
            "title": other.title,
            "deadline": _iso(other.deadline),
            "application_start": _iso(other.application_start),
            "status": status,
            "predicted": other.predicted,
        }
        for other, status in others
    ]


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value else None
