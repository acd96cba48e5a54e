"""Exports of any search for staff: CSV (UTF-8 with BOM, CRLF: opens in Excel) and XLSX.

Every matching call up to `MAX_ROWS`, not one page; when capped, `X-Kyodo-Truncated` says so.
Crawled text is untrusted: a cell starting with = + - @ (or tab / CR) would be a formula in a
spreadsheet, so it gets a leading `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.fields import FIELD_SHORT_LABELS
from aggregator.search import MAX_PER_PAGE, STATUS_LABELS, Home, SearchParams, area_label
from aggregator.settings import Settings
from aggregator.sources import SOURCES
from aggregator.storage.models import CallRow
from api.deps import ApiSearchDep, HomeDep, SessionDep, SettingsDep, TodayDep
from api.routers.calls import ERRORS, run_search
from api.text import safe_url

router = APIRouter(prefix="/exports", tags=["exports"])

MAX_ROWS = 5_000
TRUNCATED_HEADER = "X-Kyodo-Truncated"
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

COLUMNS = [
    "名称",
    "実施団体",
    "締切",
    "上限額(円)",
    "分野",
    "地域",
    "状態",
    "任意団体",
    "URL",
    "掲載元",
    "人件費",
    "謝金",
    "家賃",
    "詳細ページ",
    "ID",
]
INFORMAL_LABELS = {True: "可", False: "不可", None: "記載なし"}
COVERAGE_LABELS = {"yes": "対象", "no": "対象外", "not_stated": "記載なし"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralized(value: str) -> str:
    """`value` made inert in a spreadsheet: a leading formula character gets a `'`."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


@dataclass
class Export:
    rows: list[list[Any]]  # values: str, int, date or None (neutralized strings)
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


def _extras(session: Session, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    rows = session.execute(
        select(
            CallRow.id,
            CallRow.informal_groups_ok,
            CallRow.cost_personnel,
            CallRow.cost_honoraria,
            CallRow.cost_rent,
        ).where(CallRow.id.in_(ids))
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def _matching(
    session: Session, params: SearchParams, *, today: date, home: Home
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(total, items) of each page of the search, in its order, up to MAX_ROWS items."""
    fetched = 0
    page = 1
    while fetched < MAX_ROWS:
        per_page = min(MAX_PER_PAGE, MAX_ROWS - fetched)
        paged = params.model_copy(update={"page": page, "per_page": per_page})
        result = run_search(session, paged, today=today, home=home)
        if not result.items:
            yield result.total, []
            return
        yield result.total, result.items
        fetched += len(result.items)
        if fetched >= result.total or len(result.items) < per_page:
            return
        page += 1


def collect(
    session: Session, params: SearchParams, settings: Settings, *, today: date, home: Home
) -> Export:
    site = settings.site_url.rstrip("/")
    rows: list[list[Any]] = []
    total = 0
    for page_total, items in _matching(session, params, today=today, home=home):
        total = page_total
        extras = _extras(session, [item["id"] for item in items])
        for item in items:
            informal, personnel, honoraria, rent = extras.get(item["id"], (None,) * 4)
            sources = [
                SOURCES[s["source"]].label if s["source"] in SOURCES else s["source"]
                for s in item["sources"]
            ]
            text_cells = [
                item["title"],
                item.get("organizer") or "",
            ]
            rows.append(
                [
                    *(neutralized(t) for t in text_cells),
                    date.fromisoformat(item["deadline"]) if item.get("deadline") else None,
                    item.get("max_amount_yen"),
                    neutralized("、".join(FIELD_SHORT_LABELS.get(f, f) for f in item["fields"])),
                    neutralized(area_label(item.get("area"))),
                    STATUS_LABELS.get(item["status"], item["status"]),
                    INFORMAL_LABELS.get(informal, "記載なし"),
                    neutralized(safe_url(item.get("url")) or ""),  # no javascript:
                    neutralized("、".join(dict.fromkeys(sources))),
                    COVERAGE_LABELS.get(personnel, "記載なし"),
                    COVERAGE_LABELS.get(honoraria, "記載なし"),
                    COVERAGE_LABELS.get(rent, "記載なし"),
                    f"{site}/calls/{item['id']}",
                    item["id"],
                ]
            )
    return Export(rows=rows, total=total)


def _headers(export: Export, filename: str) -> dict[str, str]:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if export.truncated:
        headers[TRUNCATED_HEADER] = f"{len(export.rows)}/{export.total}"
    return headers


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return value


@router.get(
    "/calls.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **ERRORS},
    summary="検索結果の CSV（UTF-8 BOM 付き、Excel で開けます）",
)
def export_csv(
    session: SessionDep,
    params: ApiSearchDep,
    settings: SettingsDep,
    today: TodayDep,
    home: HomeDep,
) -> Response:
    export = collect(session, params, settings, today=today, home=home)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for row in export.rows:
        writer.writerow([_csv_cell(v) for v in row])
    body = "\ufeff" + out.getvalue()
    return Response(
        content=body.encode("utf-8"),
        media_type=CSV_TYPE,
        headers=_headers(export, f"kyodo-calls-{today.isoformat()}.csv"),
    )


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, str):
        # Control characters make openpyxl refuse the whole workbook. Removing them may bring a
        # formula character to the front ("\x01=1+1"): neutralized again after.
        return neutralized(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


@router.get(
    "/calls.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_TYPE: {}}}, **ERRORS},
    summary="検索結果の Excel ファイル（XLSX）",
)
def export_xlsx(
    session: SessionDep,
    params: ApiSearchDep,
    settings: SettingsDep,
    today: TodayDep,
    home: HomeDep,
) -> Response:
    export = collect(session, params, settings, today=today, home=home)
    book = Workbook()
    sheet = book.active
    sheet.title = "公募一覧"
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    deadline_col = COLUMNS.index("締切") + 1
    amount_col = COLUMNS.index("上限額(円)") + 1
    for row in export.rows:
        sheet.append([_xlsx_cell(v) for v in row])
        r = sheet.max_row
        sheet.cell(r, deadline_col).number_format = "yyyy-mm-dd"
        sheet.cell(r, amount_col).number_format = "#,##0"
        for cell in sheet[r]:
            # openpyxl reads a string starting with "=" as a formula: never for our strings.
            if cell.data_type == "f":
                cell.data_type = "s"
    widths = {"名称": 48, "実施団体": 28, "締切": 12, "上限額(円)": 14, "URL": 40, "掲載元": 28}
    for index, name in enumerate(COLUMNS, start=1):
        letter = sheet.cell(1, index).column_letter
        sheet.column_dimensions[letter].width = widths.get(name, 14)
    sheet.auto_filter.ref = sheet.dimensions
    out = io.BytesIO()
    book.save(out)
    return Response(
        content=out.getvalue(),
        media_type=XLSX_TYPE,
        headers=_headers(export, f"kyodo-calls-{today.isoformat()}.xlsx"),
    )
