"""千葉県共同募金会: 現在受付中の助成 (`/publics/index/36/`), then each call's detail page.

No copy of these pages has been captured: the HTML structure below is ASSUMED from the facts
known about the site (a CMS with `/publics/index/<category>/` pages; calls written as
`受付期間:令和2年11月2日(月)から11月25日(水)必着`, `助成上限額 20万円`,
`算定額の最大75%(千円未満切捨)`). Check it against the live site before trusting it; being
fragile, the spider raises `ShapeError` as soon as the real pages differ.

- list: `div.publics-list ul li.publics-item`, each with `span.publics-date` (`2026.11.16`)
  and `a.publics-title[href="/publics/detail/<id>/"]`; with no calls the list holds
  `p.publics-empty` (現在受付中の助成はありません).
- detail: `div.publics-detail` with `div.publics-detail-body` (paragraphs of the call).

Status is left to the dates: every entry sits under the heading 現在受付中, including calls
whose 受付期間 has not begun yet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

from scrapy.http import Response

from spiders.base import KyodoSpider, Row, ShapeError, block_text, clean, date_text, labelled_text

ORGANIZER = "千葉県共同募金会"
_DETAIL_ID = re.compile(r"/publics/detail/(\d+)")


class AkaihaneChibaSpider(KyodoSpider):
    name = "akaihane_chiba"
    start_urls: ClassVar[list[str]] = ["https://akaihane-chiba.jp/publics/index/36/"]

    def parse(self, response: Response) -> Iterator[Any]:
        box = self.require(
            response.css("div.publics-list"), "助成の一覧 div.publics-list (call list)", response
        )
        items = box.css("li.publics-item")
        if not items:
            if box.css("p.publics-empty"):
                return  # the site's own "no calls now"
            raise ShapeError(f"一覧に助成がありません (no li.publics-item) on {response.url}")
        for item in items:
            link = item.css("a.publics-title")
            href = link.attrib.get("href") if link else None
            if not href:
                raise ShapeError(
                    f"リンクのない助成があります (item without a link) on {response.url}"
                )
            url = response.urljoin(href)
            posted = clean(item.css("span.publics-date::text").get())
            row = self.listing(
                item_id=_item_id(url),
                title=" ".join(link.css("::text").getall()),
                text=labelled_text([("掲載日", posted)]) if posted else "",
                url=url,
                published=date_text(posted),
                organizer=ORGANIZER,
            )
            yield self.detail(response, url, self.parse_detail, row)

    def parse_detail(self, response: Response, row: Row) -> Iterator[Row]:
        body = response.css("div.publics-detail div.publics-detail-body")
        if not body:
            raise ShapeError(
                f"詳細の本文 div.publics-detail-body が見つかりません (detail body not found) "
                f"on {response.url}"
            )
        text = block_text(body[0])
        if not text:
            raise ShapeError(f"詳細の本文が空です (empty detail body) on {response.url}")
        yield {**row, "text": f"{row['text']}\n{text}".strip()}


def _item_id(url: str) -> str:
    """The call's number in `/publics/detail/152/`, else its path."""
    path = urlsplit(url).path
    found = _DETAIL_ID.search(path)
    return found.group(1) if found else path.strip("/")
