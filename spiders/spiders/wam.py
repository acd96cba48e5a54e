"""WAM助成 (独立行政法人福祉医療機構 社会福祉振興助成事業): welfare calls, national.

The index `/hp/wamjosei_boshu/` has, in `div.ContentPane`, an `h3` 現在の募集 (the calls open or
announced now; out of season only the sentence 現在の募集はありません。) and an `h3` 過去の募集内容
(every past round, newest first, grouped under `h4` headings by fiscal year). Each call is a
`p.arrow_s`: a link, then `(募集期間:令和7年12月26日から令和8年1月26日まで)`.

Current calls are listed with no status word (their 募集期間 decides: announced or open);
past ones with 募集終了. Detail pages are fetched for the current calls and the newest past
group only: the older rounds (back to 平成22年度) are long closed and their pages use an older
layout. A detail page is a run of `h3` headings: 助成総額, 助成の対象となる事業 (a table of
助成区分 / 助成金額), 助成対象となる事業実施期間, 応募締切 …
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

from bs4 import BeautifulSoup
from parsel import Selector
from scrapy.http import Response

from spiders.base import KyodoSpider, Row, ShapeError, clean, labelled_text

ORGANIZER = "独立行政法人福祉医療機構"
CURRENT = "現在の募集"
PAST = "過去の募集"
CLOSED = "募集終了"
_PERIOD = re.compile(r"募集期間\s*[:：]\s*(.+?)\s*[)）]?\s*$")
_CLOSED_NOTICE = re.compile(r"募集は終了")
# Detail sections kept in the text, in this order (the deadline first: the normalizer reads it).
_DETAIL_SECTIONS = (
    "応募締切",
    "助成総額",
    "助成対象となる事業実施期間",
    "助成の目的",
    "助成の対象となる団体",
)
_AMOUNT_TABLE_SECTION = "助成の対象となる事業"


def _text(node: Selector) -> str:
    return clean(" ".join(node.css("::text").getall()))


_BREAK = "\x00"
_BLOCKS = ("p", "div", "li", "ul", "ol", "table", "tr", "th", "td", "h4", "h5", "dt", "dd")


def _lines(html: str) -> str:
    """Visible text, one line per block (paragraph, list item, row) or `<br>`; inline tags
    (`strong`, `span`, `a`) stay inside their line, unlike `block_text`."""
    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style"]):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with(_BREAK)
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before(_BREAK)
        tag.append(_BREAK)
    parts = (clean(part) for part in soup.get_text("").split(_BREAK))
    return "\n".join(part for part in parts if part)


def _item_id(url: str) -> str:
    """The call's page path under /hp/: `r8_wamjyosei`, `guide-…-tabid-975/tabid-887`."""
    path = urlsplit(url).path.strip("/")
    return path.removeprefix("hp/") or url


class WamSpider(KyodoSpider):
    name = "wam"
    empty_ok = True  # calls open once a year (December–January)
    start_urls: ClassVar[list[str]] = ["https://www.wam.go.jp/hp/wamjosei_boshu/"]
    # Past groups (h4 headings under 過去の募集内容) whose detail pages are fetched.
    past_groups_with_detail = 1

    # -- the index -----------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from self.each_row(
            response, self._entries(response), lambda e: self._entry_request(response, *e)
        )

    def _entry_request(
        self, response: Response, entry: Selector, section: str, group: int
    ) -> Iterator[Any]:
        row = self._parse_entry(response, entry, section)
        if section == CURRENT or group < self.past_groups_with_detail:
            yield self.detail(response, row["url"], self.parse_detail, row)
        else:
            yield row

    def _entries(self, response: Response) -> Iterator[tuple[Selector, str, int]]:
        """Each call paragraph with its section (現在の募集 / 過去の募集) and past group (0 …)."""
        pane = response.css("div.ContentPane")
        if not pane:
            raise ShapeError("本文が見つかりません (div.ContentPane not found)")
        section: str | None = None
        group = -1
        headings: set[str] = set()
        stray_links = False
        current_entries = 0
        for node in pane[0].xpath("./*"):
            tag = node.root.tag
            if tag == "h3":
                heading = _text(node)
                section = CURRENT if CURRENT in heading else PAST if PAST in heading else None
                if section:
                    headings.add(section)
            elif tag == "h4" and section == PAST:
                group += 1
            elif section is None:
                continue
            elif tag == "p" and "arrow_s" in node.attrib.get("class", "").split():
                if section == CURRENT:
                    current_entries += 1
                yield node, section, max(group, 0)
            elif section == CURRENT and node.css("a[href]"):
                stray_links = True
        if CURRENT not in headings:
            raise ShapeError(f"「{CURRENT}」の見出しがありません (heading {CURRENT} not found)")
        if stray_links and not current_entries:
            raise ShapeError(
                f"「{CURRENT}」のリンクの形式が違います "
                "(links under 現在の募集, but no p.arrow_s call paragraphs)"
            )

    def _parse_entry(self, response: Response, entry: Selector, section: str) -> Row:
        link = entry.css("a[href]")
        if not link:
            raise ShapeError("募集の項目にリンクがありません (a call paragraph without a link)")
        url = response.urljoin(link[0].attrib["href"])
        # The period follows the link, after a <br>: "(募集期間:令和7年12月26日から…まで)".
        after = clean(
            " ".join(entry.xpath("./a[1]/following-sibling::node()//self::text()").getall())
        )
        m = _PERIOD.search(after)
        return self.listing(
            item_id=_item_id(url),
            title=_text(link[0]),
            text=labelled_text([("募集期間", m.group(1))]) if m else "",
            url=url,
            organizer=ORGANIZER,
            status=CLOSED if section == PAST else None,
        )

    # -- detail pages --------------------------------------------------------------------

    def parse_detail(self, response: Response, row: Row) -> Iterator[Row]:
        pane = response.css("div.ContentPane")
        if not pane:
            raise ShapeError("本文が見つかりません (div.ContentPane not found)")
        sections = self._sections(pane[0])
        if "応募締切" not in sections:
            raise ShapeError("「応募締切」の見出しがありません (heading 応募締切 not found)")
        texts = {label: _lines(node_html) for label, node_html in sections.items()}
        lines = [(label, texts[label]) for label in _DETAIL_SECTIONS[:2] if texts.get(label)]
        amounts = self._amounts(sections.get(_AMOUNT_TABLE_SECTION, ""))
        if amounts:
            lines.append(("助成金額", amounts))
        lines += [(label, texts[label]) for label in _DETAIL_SECTIONS[2:] if texts.get(label)]
        closed = any(_CLOSED_NOTICE.search(_text(p)) for p in pane[0].css("p.NormalRed"))
        yield {
            **row,
            "text": labelled_text([*self._row_lines(row), *lines]),
            "status": CLOSED if closed else row.get("status"),
        }

    def _row_lines(self, row: Row) -> list[tuple[str, str]]:
        """The index's 募集期間 line, kept above the detail's sections."""
        line = row["text"] if row["text"] != row["title"] else ""
        label, _, value = line.partition(": ")
        return [(label, value)] if value else []

    def _sections(self, pane: Selector) -> dict[str, str]:
        """HTML of what follows each `h3` up to the next `h1`–`h3`, by the heading's text."""
        sections: dict[str, list[str]] = {}
        current: list[str] | None = None
        for node in pane.xpath("./*"):
            tag = node.root.tag
            if tag == "h3":
                current = sections.setdefault(_text(node), [])
            elif tag in ("h1", "h2"):
                current = None
            elif current is not None:
                current.append(node.get())
        return {label: "\n".join(parts) for label, parts in sections.items()}

    def _amounts(self, html: str) -> str:
        """The 助成区分 / 助成金額 table: one `区分 金額` line per row (its notes left out)."""
        if not html:
            return ""
        lines = []
        for tr in Selector(text=html).css("table tr"):
            head = tr.xpath("./th")
            amount = tr.xpath("./td")
            if not head or not amount:
                continue
            name = _text(head[0].css("strong")) or _text(head[0])
            lines.append(f"{name} {_text(amount[0])}")
        return "\n".join(lines)
