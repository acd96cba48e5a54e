"""The JSON API: `GET /api/v1/calls` (a search) and `GET /api/v1/calls/{id}` (one call).

The list items are the contract of `aggregator.search.summary`; the models here write that
contract down for `/openapi.json` and check every answer against it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from aggregator.offers import OFFER_KINDS, search_offers
from aggregator.search import (
    MAX_AMOUNT,
    MAX_PER_PAGE,
    SearchParams,
    SearchResult,
    call_detail,
    search,
)
from api.deps import (
    NO_NUL,
    ApiSearchDep,
    FieldSlug,
    HomeDep,
    InvalidParameter,
    SessionDep,
    SettingsDep,
    TodayDep,
)

router = APIRouter(prefix="/api/v1", tags=["calls"])

# Largest id the databases store (INTEGER): beyond it a query would fail with an overflow
# instead of simply matching nothing. Amounts: `aggregator.search.MAX_AMOUNT`.
MAX_ID = 2**31 - 1
OfferKind = Literal[tuple(OFFER_KINDS)]  # type: ignore[valid-type]


# -- models -------------------------------------------------------------------------------------


class ErrorPublic(BaseModel):
    """An error: `error` is a machine word, `message` names what was wrong."""

    error: str = Field(examples=["invalid_parameter"])
    message: str = Field(examples=["per_page: 100 以下にしてください"])
    errors: list[dict[str, Any]] | None = None


class SourcePublic(BaseModel):
    source: str = Field(description="掲載元の名前 (jgrants, canpan, …)")
    url: str | None = Field(description="掲載元でのページ")


class CallPublic(BaseModel):
    """A call as the list gives it."""

    id: int
    title: str
    organizer: str | None
    deadline: date | None = Field(description="締切日 (YYYY-MM-DD)")
    deadline_kind: str = Field(description="fixed | rolling | recurring | unknown")
    max_amount_yen: int | None = Field(description="1件あたりの上限額（円）")
    fields: list[str] = Field(description="活動分野のスラッグ")
    area: str = Field(description="national | prefecture:千葉県 | municipality:鎌ケ谷市 …")
    status: str = Field(description="open | upcoming | closed（今日の日付で判定）")
    url: str | None = Field(description="募集要項のページ")
    sources: list[SourcePublic]


class CallListPublic(BaseModel):
    """One page of a search."""

    total: int = Field(description="条件に合う件数（全ページ）")
    page: int
    per_page: int
    pages: int
    items: list[CallPublic]


class ListingPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    source: str
    source_label: str
    url: str | None
    title: str | None
    deadline: str | None
    max_amount_yen: int | None
    listed: bool
    partial: bool
    first_seen: str | None
    last_seen: str | None


class HistoryPublic(BaseModel):
    kind: str = Field(description="deadline_extended（締切延長）, deadline_changed, listed, …")
    old_value: str | None
    new_value: str | None
    source: str | None
    at: str | None


class RoundPublic(BaseModel):
    id: int
    title: str
    deadline: str | None
    application_start: str | None
    status: str
    predicted: bool


class EligibilityPublic(BaseModel):
    informal_groups_ok: bool | None = Field(description="任意団体も応募できるか（不明は null）")
    legal_forms: list[Any]
    min_members: int | None
    min_years_active: int | None


class CostsPublic(BaseModel):
    personnel: str = Field(description="人件費: yes | no | not_stated")
    honoraria: str = Field(description="謝金: yes | no | not_stated")
    rent: str = Field(description="家賃: yes | no | not_stated")
    equipment: str = Field(description="備品: yes | no | not_stated")


class CallDetailPublic(CallPublic):
    """The whole call: facts with their evidence, listings, history and the program's rounds."""

    source_url: str | None
    application_start: str | None
    deadline_note: dict[str, Any]
    rounds: list[Any]
    total_budget_yen: int | None
    subsidy_rate: str | None
    field_terms: dict[str, Any]
    eligibility: EligibilityPublic
    costs: CostsPublic
    published: str | None
    first_seen: str | None
    last_seen: str | None
    predicted: bool
    evidence: dict[str, Any] = Field(description="事実ごとの根拠（原文の抜き出し）")
    conflicts: dict[str, Any] = Field(description="掲載元どうしで食い違う事実")
    listings: list[ListingPublic]
    history: list[HistoryPublic]
    program_id: int | None
    program_pattern: str | None
    rounds_of_program: list[RoundPublic]


ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorPublic, "description": "パラメータの値が正しくない（名前を示す）"}
}


# -- shared with the feeds and exports ------------------------------------------------------------


def checked(params: SearchParams) -> SearchParams:
    """`params`, refused (422) where a valid-looking value would still break a query."""
    errors = []
    if params.q and "\x00" in params.q:
        errors.append({"param": "q", "message": "NUL 文字は使えません", "value": None})
    if params.min_amount is not None and params.min_amount > MAX_AMOUNT:
        errors.append(
            {"param": "min_amount", "message": "値が大きすぎます", "value": params.min_amount}
        )
    if errors:
        raise InvalidParameter(errors)
    return params


def run_search(session, params: SearchParams, *, today: date, home) -> SearchResult:
    return search(session, checked(params), today=today, home=home)


# -- routes -------------------------------------------------------------------------------------


@router.get(
    "/calls",
    response_model=CallListPublic,
    responses=ERRORS,
    summary="公募をさがす",
    description=(
        "キーワード・分野・地域・締切・金額・任意団体・対象経費・掲載元の種類で絞り込み、"
        "締切順（締切のないものは最後）・新着順・金額順に並べた1ページ分を返します。"
    ),
)
def list_calls(
    session: SessionDep, params: ApiSearchDep, today: TodayDep, home: HomeDep
) -> dict[str, Any]:
    result = run_search(session, params, today=today, home=home)
    return {
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
        "pages": result.pages,
        "items": result.items,
    }


@router.get(
    "/calls/{id}",
    response_model=CallDetailPublic,
    responses={
        404: {"model": ErrorPublic, "description": "その番号の公募はありません"},
        **ERRORS,
    },
    summary="公募1件のすべて",
)
def get_call(
    call_id: Annotated[int, Path(alias="id", description="公募の番号")],
    session: SessionDep,
    today: TodayDep,
) -> dict[str, Any]:
    call = call_detail(session, call_id, today=today) if 0 < call_id <= MAX_ID else None
    if call is None:
        raise HTTPException(status_code=404, detail=f"公募 {call_id} は見つかりません")
    return call


# -- companies' offers ----------------------------------------------------------------------------


class OfferPublic(BaseModel):
    """A published CSR offer, with only what the company published (no personal data)."""

    id: int
    kind: str = Field(description="money | goods | space | probono | matching_gift | …")
    kind_label: str = Field(description="寄付金・物品寄贈・場所の提供 …")
    title: str
    company: str = Field(description="企業名")
    description: str
    fields: list[str] = Field(description="活動分野のスラッグ（空 = 分野を問わない）")
    area: str = Field(description="national | prefecture:千葉県 | municipality:鎌ケ谷市 …")
    amount_yen: int | None = Field(description="金額（円）: 寄付金・マッチングギフト")
    quantity: str | None = Field(description="数量など")
    period_start: date | None
    period_end: date | None
    how_to_apply: str = Field(description="申し込み方法")
    contact: str = Field(description="企業が公開した問い合わせ先")
    url: str = Field(description="この支援のページ")
    published_at: datetime | None


class OfferListPublic(BaseModel):
    total: int
    page: int
    per_page: int
    pages: int
    items: list[OfferPublic]


@router.get(
    "/offers",
    response_model=OfferListPublic,
    responses=ERRORS,
    tags=["offers"],
    summary="企業からの支援（CSR）をさがす",
    description="公開中の企業からの支援を、キーワード・分野・地域・種類でしぼり、新しい順に返します。",
)
def list_offers(
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    home: HomeDep,
    q: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="キーワード")
    ] = None,
    field: Annotated[list[FieldSlug], Query(description="活動分野のスラッグ（繰り返し可）")] = [],  # noqa: B006
    area: Annotated[
        str | None, Query(description="national | prefecture | municipality | reachable")
    ] = None,
    kind: Annotated[list[OfferKind], Query(description="支援の種類（繰り返し可）")] = [],  # noqa: B006
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20,
) -> dict[str, Any]:
    total, rows = search_offers(
        session,
        q=(q or "").strip() or None,
        fields=field,
        area=(area or "").strip() or None,
        kinds=kind,
        today=today,
        home=home,
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    base = settings.site_url.rstrip("/")
    return {
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-total // per_page)),
        "items": [
            {
                "id": o.id,
                "kind": o.kind,
                "kind_label": OFFER_KINDS.get(o.kind, o.kind),
                "title": o.title,
                "company": o.company.name,
                "description": o.description,
                "fields": list(o.fields or []),
                "area": o.area,
                "amount_yen": o.amount_yen,
                "quantity": o.quantity,
                "period_start": o.period_start,
                "period_end": o.period_end,
                "how_to_apply": o.how_to_apply,
                "contact": o.contact,
                "url": f"{base}/offers/{o.id}",
                "published_at": o.published_at,
            }
            for o in rows
        ],
    }
