"""中央共同募金会（赤い羽根）: the 助成情報 list, then each kept call's own page.

List `https://www.akaihane.or.jp/subsidies/` (WordPress): `ul.cmn-post-list01 li` with
`span.date` (`2026年07月15日`), `span.cat` and `span.title a`, whose text starts with a label
such as `【応募受付中・8/13締切り】`. The label has no year: it is the year of the post date, or
the next year when the month/day falls before the post date (a December post closing
`1/15` closes in January). Posts that are not calls (【助成先決定】, 【応募受付終了】, 義援金)
are skipped.

The detail page's structure is assumed (no captured copy): the post body is
`div.cmn-post-body` inside the post's `article`. When it is missing the list row's facts
arrive, flagged partial.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any, ClassVar
from urllib.parse import urlsplit

from scrapy.http import Response

from spiders.base import KyodoSpider, Row, ShapeError, block_text, clean, date_text, labelled_text

ORGANIZER = "中央共同募金会"

# Posts that are not open calls: results, closed notices, disaster donations.
_SKIP = ("【助成先決定】", "【応募受付終了】", "義援金")
_LABEL = re.compile(r"^【([^】]*)】")
_LABEL_DEADLINE = re.compile(r"(\d{1,2})\s*/\s*(\d{1,2})\s*(?:締切|締め切り|〆切)")
_NUMERIC_ID = re.compile(r"/(\d+)/?$")

# The label's status word → the status word kyodo stores (the source's meaning).
_STATUS = (
    ("受付中", "募集中"),
    ("締切延長", "募集中"),
    ("予定", "募集予定"),
    ("近日", "募集予定"),
)


class AkaihaneSpider(KyodoSpider):
    name = "akaihane"
    start_urls: ClassVar[list[str]] = ["https://www.akaihane.or.jp/subsidies/"]

    def parse(self, response: Response) -> Iterator[Any]:
        items = self.require(
            response.css("ul.cmn-post-list01 li"),
            "記事一覧 ul.cmn-post-list01 li (post list)",
            response,
        )
        for item in items:
            link = item.css("span.title a")
            if not link:
                raise ShapeError(
                    f"題名のリンクがない記事があります (post without span.title a) "
                    f"on {response.url}"
                )
            title = clean(" ".join(link.css("::text").getall()))
            if not title:
                raise ShapeError(
                    f"題名が空の記事があります (post without a title) on {response.url}"
                )
            if any(word in title for word in _SKIP):
                continue
            href = link.attrib.get("href")
            if not href:
                raise ShapeError(
                    f"記事のリンク先がありません (post link without href) on {response.url}"
                )
            url = response.urljoin(href)
            posted = date_text(item.css("span.date::text").get())
            row = self.listing(
                item_id=_item_id(url),
                title=title,
                text=_row_text(item, title, posted),
                url=url,
                published=posted,
                organizer=ORGANIZER,
                status=_parse_status(title),
            )
            yield self.detail(response, url, self.parse_detail, row)

    def parse_detail(self, response: Response, row: Row) -> Iterator[Row]:
        body = response.css("article div.cmn-post-body")
        if not body:
            raise ShapeError(
                f"本文 div.cmn-post-body が見つかりません (post body not found) on {response.url}"
            )
        yield {**row, "text": f"{row['text']}\n{block_text(body[0])}"}


def _item_id(url: str) -> str:
    """The post id of `…/subsidies/<category>/31842/`, else the path."""
    path = urlsplit(url).path
    found = _NUMERIC_ID.search(path)
    return found.group(1) if found else path.strip("/")


def _label(title: str) -> str:
    found = _LABEL.match(title)
    return found.group(1) if found else ""


def _parse_status(title: str) -> str | None:
    label = _label(title)
    for word, status in _STATUS:
        if word in label:
            return status
    return None


def _parse_deadline(title: str, posted: str | None) -> date | None:
    """The label's `8/13締切り` as a date: the post's year, or the next one when earlier."""
    found = _LABEL_DEADLINE.search(_label(title))
    if not found or not posted:
        return None
    month, day = int(found.group(1)), int(found.group(2))
    post_day = date.fromisoformat(posted)
    try:
        deadline = date(post_day.year, month, day)
    except ValueError:
        return None
    if deadline < post_day:
        deadline = deadline.replace(year=post_day.year + 1)
    return deadline


def _row_text(item: Any, title: str, posted: str | None) -> str:
    deadline = _parse_deadline(title, posted)
    pairs = [
        ("締切", f"{deadline.year}年{deadline.month}月{deadline.day}日" if deadline else ""),
        ("掲載日", clean(item.css("span.date::text").get())),
        ("区分", clean(" ".join(item.css("span.cat ::text").getall()))),
        ("", title),
    ]
    return labelled_text((label, value) for label, value in pairs if value)
