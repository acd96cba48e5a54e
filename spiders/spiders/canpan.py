"""CANPAN 助成制度 (日本財団): foundations' and companies' calls, national.

List pages `/grant/?page=N&sort=update&dir=desc` (20 rows a page, newest update first) are
followed through the `次へ ＞` link of `ul.paging` (plain text on the last page). Each row of
`#search-results table` gives the call's title, 実施団体 (the organizer), status, 募集時期 and
update date; its detail page `/grant/detail/{id}` is one table of label/value cells (募集時期,
助成金額, 対象分野, 内容／対象 …). Every page also links to 日本財団 (CANPAN's operator) in its
footer: that is never the funder, so only the result table and the detail table are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from bs4 import BeautifulSoup
from parsel import Selector
from scrapy.http import Request, Response

from spiders.base import KyodoSpider, Row, ShapeError, clean, date_text, labelled_text

HOST = "https://fields.canpan.info"
_DETAIL_ID = re.compile(r"/grant/detail/(\d+)")
_NEXT = "次へ"
_BR = "\x00"  # stands for <br> while a cell's text is read
_COLON_SPACE = re.compile(r"\s*([：:])\s*")
_CATEGORY_SPLIT = re.compile(r"[、,，／/\s]+")

# Detail labels kept in the listing's text, in this order: the period and the amount first
# (what the normalizer reads), 昨年度実績 last (last year's totals are not this call's amount).
_DETAIL_LABELS = (
    "募集時期",
    "助成金額",
    "対象分野",
    "対象事業",
    "内容／対象",
    "応募制限",
    "応募方法",
    "選考方法",
    "決定時期",
    "備考",
    "関連URL",
    "お問い合わせ先",
    "昨年度実績",
)


def _cell_text(cell: Selector) -> str:
    """A cell's text, one line per `<br>`: the line breaks inside the HTML source are spaces."""
    soup = BeautifulSoup(cell.get(), "lxml")
    for br in soup.find_all("br"):
        br.replace_with(_BR)
    lines = (clean(part) for part in soup.get_text("").split(_BR))
    # 「助成金総額：\n3,200,000円」 is one value: no space after its colon.
    return "\n".join(_COLON_SPACE.sub(r"\1", line) for line in lines if line)


def _text(node: Selector | None) -> str:
    """All text of an element, on one line."""
    return clean(" ".join(node.css("::text").getall())) if node is not None else ""


def _parse_id(href: str) -> str:
    m = _DETAIL_ID.search(href)
    if m is None:
        raise ShapeError(f"助成制度のリンクの形式が違います (unexpected call link {href!r})")
    return m.group(1)


def _row_pairs(cell: Selector) -> dict[str, Selector]:
    """The `dl` of a list row's first cell: label (dt) → value (dd)."""
    labels = [_text(dt) for dt in cell.css("dl > dt")]
    values = cell.css("dl > dd")
    return dict(zip(labels, values, strict=False))


class CanpanSpider(KyodoSpider):
    name = "canpan"
    start_urls: ClassVar[list[str]] = [f"{HOST}/grant/?page=1&sort=update&dir=desc"]
    # About 5 pages (92 calls); the cap stops a paging loop should the site start one.
    max_pages = 20

    # -- list pages ----------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        table = response.css("#search-results table")
        if not table:
            raise ShapeError("一覧の表が見つかりません (results table #search-results not found)")
        # The next page first: a broken row below must not stop the crawl of later pages.
        yield from self._next_page(response)
        rows = [tr for tr in table[0].css("tr") if tr.css("td")]
        if not rows:
            raise ShapeError("一覧に助成制度がありません (results table has no rows)")
        yield from self.each_row(response, rows, lambda tr: self._row_request(response, tr))

    def _row_request(self, response: Response, tr: Selector) -> Iterator[Request]:
        row = self._parse_row(response, tr)
        yield self.detail(response, row["url"], self.parse_detail, row)

    def _next_page(self, response: Response) -> Iterator[Request]:
        paging = response.css("ul.paging")
        if not paging:
            raise ShapeError("ページ送りが見つかりません (ul.paging not found)")
        page = response.meta.get("canpan_page", 1)
        for link in paging[0].css("a"):
            if _NEXT in _text(link):
                href = link.attrib.get("href", "")
                limit = self.page_limit(self.max_pages)
                if href and page < limit and response.urljoin(href) != response.url:
                    yield self.follow(response, href, self.parse, meta={"canpan_page": page + 1})
                return

    def _parse_row(self, response: Response, tr: Selector) -> Row:
        cells = tr.xpath("./td")
        if len(cells) < 2:
            raise ShapeError(f"一覧の行の列が足りません (a row with {len(cells)} cells, not 2)")
        pairs = _row_pairs(cells[0])
        title, href = self._parse_title(pairs)
        url = response.urljoin(href)
        status = _text(cells[1].css("p.status"))
        term = _text(cells[1].css("p.term"))
        if not status and not term:
            raise ShapeError(
                "一覧の行に募集ステータス・募集時期がありません (a row without p.status / p.term)"
            )
        update = _text(cells[1].css("p.update"))
        target = _text(pairs.get("対象事業"))
        return self.listing(
            item_id=_parse_id(href),
            title=title,
            text=labelled_text([("募集時期", term), ("対象事業", target)]),
            url=url,
            published=date_text(update),
            organizer=self._parse_organizer(pairs),
            status=status,
        )

    def _parse_title(self, pairs: dict[str, Selector]) -> tuple[str, str]:
        cell = pairs.get("助成制度名")
        link = cell.css("h3 a") if cell is not None else None
        if not link:
            raise ShapeError(
                "一覧の行に助成制度名のリンクがありません (a row without a title link)"
            )
        return _text(link[0]), link[0].attrib.get("href", "")

    def _parse_organizer(self, pairs: dict[str, Selector]) -> str | None:
        cell = pairs.get("実施団体")
        if cell is None:
            raise ShapeError("一覧の行に実施団体がありません (a row without 実施団体)")
        return _text(cell) or None

    # -- detail pages --------------------------------------------------------------------

    def parse_detail(self, response: Response, row: Row) -> Iterator[Row]:
        values = self._detail_pairs(response)
        if "助成制度名" not in values or "募集時期" not in values:
            raise ShapeError(
                "詳細の表に助成制度名・募集時期がありません "
                "(detail table lacks 助成制度名/募集時期)"
            )
        lines = [(label, values[label]) for label in _DETAIL_LABELS if values.get(label)]
        update = _text(response.css("#page-title p.update"))
        categories = [c for c in _CATEGORY_SPLIT.split(values.get("対象分野", "")) if c]
        yield {
            **row,
            "title": clean(values["助成制度名"]) or row["title"],
            "organizer": clean(values.get("実施団体")) or row.get("organizer"),
            "status": clean(values.get("募集ステータス")) or row.get("status"),
            "published": date_text(update) or row.get("published"),
            "text": labelled_text(lines),
            **({"categories": categories} if categories else {}),
        }

    def _detail_pairs(self, response: Response) -> dict[str, str]:
        """The detail table: `td.h h3` label → the text of the next cell's `div.cell-wrapper`."""
        values: dict[str, str] = {}
        for tr in response.css("#detail table tr"):
            label = clean(" ".join(tr.css("td.h h3 ::text").getall()))
            cell = tr.css("td:not(.h) div.cell-wrapper")
            if label and cell:
                values[label] = _cell_text(cell[0])
        if not values:
            raise ShapeError("詳細の表が見つかりません (detail table #detail not found)")
        return values
