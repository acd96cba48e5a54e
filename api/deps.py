"""Dependencies of the routes, as `Annotated` aliases: the database session, today, the search."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, Query, Request
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from aggregator.fields import FIELDS
from aggregator.search import (
    MAX_AMOUNT,
    MAX_PER_PAGE,
    Cost,
    Home,
    IsoDate,
    SearchParams,
    Sort,
    StatusFilter,
    refresh_statuses,
)
from aggregator.settings import Settings
from aggregator.sources import SourceKind

logger = logging.getLogger(__name__)


# The 20 field slugs as a type: `/openapi.json` lists them, and FastAPI refuses any other.
FieldSlug = Literal[tuple(FIELDS)]  # type: ignore[valid-type]
# Keywords without NUL (the databases refuse it), said in `/openapi.json` as a pattern.
NO_NUL = r"^[^\x00]*$"


class InvalidParameter(ValueError):
    """A query parameter that cannot be read: answered with 422 and a message naming it."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        names = ", ".join(dict.fromkeys(str(e["param"]) for e in errors))
        super().__init__(f"invalid query parameter: {names}")


_RULES = {
    "greater_than_equal": "{ge} 以上にしてください",
    "greater_than": "{gt} より大きくしてください",
    "less_than_equal": "{le} 以下にしてください",
    "less_than": "{lt} より小さくしてください",
    "int_parsing": "整数で指定してください",
    "int_type": "整数で指定してください",
    "int_from_float": "整数で指定してください",
    "bool_parsing": "true か false で指定してください",
    "bool_type": "true か false で指定してください",
    "string_too_long": "{max_length} 文字以内にしてください",
    "enum": "{expected} のいずれかを指定してください",
    "literal_error": "{expected} のいずれかを指定してください",
    "missing": "指定してください",
}
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def japanese_message(error: Mapping[str, Any]) -> str:
    """A pydantic validation error said in Japanese: what the value should be."""
    kind = str(error.get("type", ""))
    ctx = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    if "expected" in ctx:  # "'open', 'upcoming', 'closed' or 'all'"
        ctx["expected"] = ctx["expected"].replace(" or ", ", ")
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NO_NUL:
        return "NUL 文字は使えません"
    if kind in _RULES:
        try:
            return _RULES[kind].format(**ctx)
        except KeyError:
            pass
    if kind.startswith("date"):
        return "日付は YYYY-MM-DD の形で指定してください"
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    return message if _JAPANESE.search(message) else "値を読み取れませんでした"


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    fresh_statuses(request)
    # Searches made with this session use the process's in-memory index (search.search).
    info = {"search_index": request.app.state.search_index}
    with Session(request.app.state.engine, info=info) as session:
        yield session


def get_today(request: Request) -> date:
    override = request.app.state.today  # tests and demos may fix "today"
    if override is not None:
        return override
    return datetime.now(ZoneInfo(request.app.state.settings.timezone)).date()


_refresh_lock = threading.Lock()


def fresh_statuses(request: Request) -> None:
    """Once a day (and at start), stores the statuses the date has changed: searches seek on
    them (`aggregator.search.refresh_statuses`). A locked database only delays it."""
    today = get_today(request)
    state = request.app.state
    if getattr(state, "statuses_as_of", None) == today:
        return
    with _refresh_lock:
        if getattr(state, "statuses_as_of", None) == today:
            return
        try:
            with Session(state.engine) as session:
                refresh_statuses(session, today)
            state.statuses_as_of = today
        except SQLAlchemyError:
            logger.warning("could not refresh call statuses; will try again", exc_info=True)


def get_home(request: Request) -> Home:
    settings = request.app.state.settings
    return Home(prefecture=settings.home_prefecture, municipality=settings.home_municipality)


_LISTS = ("field", "cost")


def get_search(request: Request) -> SearchParams:
    """The search in the URL's query string; repeated `field` / `cost` give several values.

    Empty values (an unselected form field) count as absent. An invalid value raises
    `InvalidParameter`, answered with 422 (JSON for the API, a page for people).
    """
    query = request.query_params
    data: dict[str, Any] = {}
    for key in SearchParams.model_fields:
        if key in _LISTS:
            values = [v for v in query.getlist(key) if v.strip()]
            if values:
                data[key] = values
        else:
            value = query.get(key)
            if value is not None and value.strip() != "":
                data[key] = value.strip()
    return _validated(data)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


def _validated(data: dict[str, Any]) -> SearchParams:
    try:
        return SearchParams.model_validate(data)
    except ValidationError as exc:
        raise InvalidParameter(
            [
                {
                    "param": e["loc"][0] if e["loc"] else "query",
                    "message": japanese_message(e),
                    "value": None if not e["loc"] else _text(data.get(e["loc"][0])),
                }
                for e in exc.errors(include_url=False)
            ]
        ) from exc


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TodayDep = Annotated[date, Depends(get_today)]
HomeDep = Annotated[Home, Depends(get_home)]
SearchDep = Annotated[SearchParams, Depends(get_search)]


def get_search_api(
    q: Annotated[
        str | None,
        Query(
            max_length=200, pattern=NO_NUL, description="キーワード。空白で区切ると全語を含むもの"
        ),
    ] = None,
    field: Annotated[
        list[FieldSlug], Query(description="活動分野のスラッグ（繰り返し可）。例: children_youth")
    ] = [],  # noqa: B006 (FastAPI copies defaults)
    area: Annotated[
        str | None,
        Query(description="national | prefecture | municipality | reachable（または 千葉県 など）"),
    ] = None,
    status: Annotated[StatusFilter, Query(description="open | upcoming | closed | all")] = (
        StatusFilter.OPEN
    ),
    deadline_before: Annotated[IsoDate | None, Query(description="YYYY-MM-DD")] = None,
    deadline_after: Annotated[IsoDate | None, Query(description="YYYY-MM-DD")] = None,
    within: Annotated[
        int | None, Query(ge=1, le=366, description="締切まで N 日以内（今日から）")
    ] = None,
    min_amount: Annotated[
        int | None, Query(ge=0, le=MAX_AMOUNT, description="上限額の下限（円）")
    ] = None,
    informal_groups_ok: Annotated[bool | None, Query(description="任意団体も応募できる")] = None,
    cost: Annotated[
        list[Cost], Query(description="対象経費: personnel | honoraria | rent（繰り返し可）")
    ] = [],  # noqa: B006
    source_kind: Annotated[
        SourceKind | None,
        Query(description="national | prefecture | municipality | foundation | corporate"),
    ] = None,
    sort: Annotated[Sort, Query(description="deadline | new | amount")] = Sort.DEADLINE,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20,
) -> SearchParams:
    """The search of an API route: typed and documented in OpenAPI; errors name the parameter."""
    data = {
        "q": q,
        "field": field,
        "area": area,
        "status": status,
        "deadline_before": deadline_before,
        "deadline_after": deadline_after,
        "within": within,
        "min_amount": min_amount,
        "informal_groups_ok": informal_groups_ok,
        "cost": cost,
        "source_kind": source_kind,
        "sort": sort,
        "page": page,
        "per_page": per_page,
    }
    return _validated(data)


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TodayDep = Annotated[date, Depends(get_today)]
HomeDep = Annotated[Home, Depends(get_home)]
SearchDep = Annotated[SearchParams, Depends(get_search)]  # pages: lenient with empty values
ApiSearchDep = Annotated[SearchParams, Depends(get_search_api)]  # API, feeds, exports
