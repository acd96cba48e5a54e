"""jGrants (デジタル庁): national, prefectural and municipal subsidies through the public API.

The API has no paging and no "list everything": the list endpoint is asked for a union of
keywords (some also limited to 千葉県), each answer's ids are deduplicated across keywords, and
the detail endpoint is fetched once per id. Datetimes are UTC ISO 8601; the normalizer reads
Japanese dates, so the listing text states them in JST with Japanese labels.

A detail answer embeds whole files (募集要領, 交付要綱, 申請様式) in base64: only their names are
kept (`添付資料: …`); the data is never stored or logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import urlencode

from scrapy.http import Request, Response

from spiders.base import KyodoSpider, Row, ShapeError, clean, labelled_text
from spiders.feeds import plain_text

API = "https://api.jgrants-portal.go.jp/exp/v1/public/subsidies"
PAGE = "https://www.jgrants-portal.go.jp/subsidy/{id}"
JST = timezone(timedelta(hours=9), "JST")

# The union of keywords asked for (2+ characters, no spaces); (keyword, target_area_search).
KEYWORDS: tuple[tuple[str, str | None], ...] = (
    ("助成", None),
    ("補助金", None),
    ("支援", None),
    ("地域", None),
    ("NPO", None),
    ("子ども", None),
    ("福祉", None),
    ("まちづくり", None),
    ("市民活動", None),
    ("ボランティア", None),
    ("補助金", "千葉県"),
    ("支援", "千葉県"),
)
# Attachments: arrays of {name, data}; `data` is a whole file in base64.
ATTACHMENT_FIELDS = ("application_guidelines", "outline_of_grant", "application_form")
_MULTI = re.compile(r"\s*/\s*")  # jGrants joins several values with " / "


def list_url(keyword: str, area: str | None = None) -> str:
    """The list (search) URL of one keyword, open calls only, newest first."""
    params = {"keyword": keyword, "sort": "created_date", "order": "DESC", "acceptance": "1"}
    if area:
        params["target_area_search"] = area
    return f"{API}?{urlencode(params)}"


def detail_url(subsidy_id: str) -> str:
    return f"{API}/id/{subsidy_id}"


class JgrantsSpider(KyodoSpider):
    name = "jgrants"
    start_urls: ClassVar[list[str]] = [list_url(k, a) for k, a in KEYWORDS]
    # A detail answer carries its files in base64 (several MB each): allow large answers. The
    # delay between requests stays the global one (about 1 request a second per site).
    custom_settings: ClassVar[dict[str, Any]] = {
        "DOWNLOAD_MAXSIZE": 128 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 64 * 1024 * 1024,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen_ids: set[str] = set()  # ids repeat across keywords

    def parse(self, response: Response) -> Iterator[Row | Request]:
        for item in _results(response):
            subsidy_id = clean(str(item.get("id") or ""))
            if not subsidy_id:
                raise ShapeError(f"id のない補助金があります (result without id) at {response.url}")
            if subsidy_id in self.seen_ids:
                continue
            self.seen_ids.add(subsidy_id)
            row = self._row(item, subsidy_id)
            # dont_cache: the answer embeds files in base64, never kept on disk (HTTP cache)
            yield self.detail(
                response,
                detail_url(subsidy_id),
                self.parse_detail,
                row,
                meta={"dont_cache": True},
            )

    def parse_detail(self, response: Response, row: Row) -> Iterator[Row]:
        results = _results(response)
        if len(results) != 1:
            raise ShapeError(
                f"詳細の件数が1件ではありません (detail has {len(results)} results) "
                f"at {response.url}"
            )
        item = results[0]
        subsidy_id = clean(str(item.get("id") or ""))
        if subsidy_id and subsidy_id != row["id"].split("/", 1)[1]:
            raise ShapeError(f"別の補助金の詳細です (detail of {subsidy_id}) at {response.url}")
        full = self._row(item, row["id"].split("/", 1)[1], detail=True)
        for key in ("published", "organizer", "area"):  # what only the list result said
            if not full.get(key) and row.get(key):
                full[key] = row[key]
        yield full

    # -- one subsidy ------------------------------------------------------------------

    def _row(self, item: dict[str, Any], subsidy_id: str, *, detail: bool = False) -> Row:
        title = _text(item.get("title"))
        if not title:
            raise ShapeError(f"タイトルのない補助金です (subsidy {subsidy_id} has no title)")
        area = _text(item.get("target_area_search"))
        return self.listing(
            item_id=subsidy_id,
            title=title,
            text=_detail_text(item) if detail else _summary_text(item),
            url=PAGE.format(id=subsidy_id),
            published=_jst_date(item.get("created_date")),
            organizer=_text(item.get("institution_name")) or None,
            status=None,  # the API states no status word; the normalizer reads the dates
            area=_area_hint(area),
            categories=_split(_text(item.get("use_purpose"))),
        )


# -- the API's answers ------------------------------------------------------------------------


def _results(response: Response) -> list[dict[str, Any]]:
    """The `result` array of an answer; an error envelope or another shape is a ShapeError."""
    try:
        data = json.loads(response.body)
    except ValueError as exc:
        raise ShapeError(f"JSON ではありません (answer is not JSON) at {response.url}") from exc
    if not isinstance(data, dict):
        raise ShapeError(f"JSON の形が違います (answer is not an object) at {response.url}")
    result = data.get("result")
    if result is None:
        raise ShapeError(f"API エラーです (API error: {_error_of(data)}) at {response.url}")
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise ShapeError(f"result が一覧ではありません (result is not a list) at {response.url}")
    return result


def _error_of(data: dict[str, Any]) -> str:
    """What an error envelope says: `{"message"}` or `{"errorCode", "title"}`; else its keys."""
    parts = [clean(str(data[k])) for k in ("errorCode", "title", "message") if data.get(k)]
    return " ".join(parts)[:200] if parts else f"no result, keys {sorted(data)[:8]}"


def _text(value: Any) -> str:
    return clean(str(value)) if value not in (None, "") else ""


def _split(value: str) -> list[str]:
    return [part for part in _MULTI.split(value) if part] if value else []


def _area_hint(area: str) -> str | None:
    """`target_area_search` as the listing's area hint: 全国 → national, else as written."""
    if not area:
        return None
    return "national" if "全国" in _split(area) else area


# -- datetimes --------------------------------------------------------------------------------


def _jst(value: Any) -> datetime | None:
    """A UTC ISO 8601 datetime (`2026-08-14T00:45:00.000Z`, `2026-07-24T08:30Z`) in JST."""
    if not value or not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(JST)


def _jst_date(value: Any) -> str | None:
    moment = _jst(value)
    return moment.date().isoformat() if moment else None


def _japanese(moment: datetime, *, time: bool) -> str:
    day = f"{moment.year}年{moment.month}月{moment.day}日"
    return f"{day} {moment.hour}時{moment.minute:02d}分" if time else day


def _period(item: dict[str, Any]) -> tuple[str, str] | None:
    """(label, text) of the application period in JST: `2026年12月1日〜2027年1月15日 23時59分`."""
    start = _jst(item.get("acceptance_start_datetime"))
    end = _jst(item.get("acceptance_end_datetime"))
    if start is None and end is None:
        return None
    note = "（日本時間）"
    start_text = _japanese(start, time=(start.hour, start.minute) != (0, 0)) if start else ""
    if end is None:
        return "受付開始", start_text + note
    end_text = _japanese(end, time=True)
    if start is None:
        return "受付締切", end_text + note
    return "受付期間", f"{start_text}〜{end_text}{note}"


# -- listing text -----------------------------------------------------------------------------


def _amount(value: Any) -> str:
    """`subsidy_max_limit` (yen) as `5,000,000円`; zero or absent → empty."""
    try:
        yen = int(float(value))
    except (TypeError, ValueError):
        return ""
    return f"{yen:,}円" if yen > 0 else ""


def _summary_pairs(item: dict[str, Any]) -> list[tuple[str, str]]:
    """The facts a list result and a detail share, as (label, value)."""
    pairs: list[tuple[str, str]] = []
    period = _period(item)
    if period:
        pairs.append(period)
    if amount := _amount(item.get("subsidy_max_limit")):
        pairs.append(("補助上限額", amount))
    if area := _text(item.get("target_area_search")):
        pairs.append(("対象地域", area))
    if employees := _text(item.get("target_number_of_employees")):
        pairs.append(("対象従業員数", employees))
    return pairs


def _summary_text(item: dict[str, Any]) -> str:
    return labelled_text(_summary_pairs(item))


def _detail_text(item: dict[str, Any]) -> str:
    """Catch phrase, the labelled facts, the `detail` HTML as plain text, attachment names."""
    pairs = _summary_pairs(item)
    for key, label in (
        ("subsidy_rate", "補助率"),
        ("target_area_detail", "地域の条件"),
        ("use_purpose", "利用目的"),
        ("institution_name", "実施機関"),
    ):
        if value := _text(item.get(key)):
            pairs.append((label, value))
    lines = []
    if catch := _text(item.get("subsidy_catch_phrase")):
        lines.append(catch)
    lines.append(labelled_text(pairs))
    if isinstance(item.get("detail"), str) and item["detail"].strip():
        lines.append(plain_text(item["detail"]))
    if names := _attachment_names(item):
        lines.append(f"添付資料: {'、'.join(names)}")
    return "\n".join(line for line in lines if line)


def _attachment_names(item: dict[str, Any]) -> list[str]:
    """The names of the attached files, never their data."""
    names: list[str] = []
    for key in ATTACHMENT_FIELDS:
        files = item.get(key)
        if not isinstance(files, list):
            continue
        for entry in files:
            name = _text(entry.get("name")) if isinstance(entry, dict) else ""
            if name and name not in names:
                names.append(name)
    return names
