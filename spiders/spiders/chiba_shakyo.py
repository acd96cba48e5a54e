"""千葉市社会福祉協議会: its reposts of grant calls (`/vc/subsidy-vc/`), then each repost.

The repost pages are `/vc/subsidy-vc/{slug}` (WordPress; the slug is the percent-encoded
Japanese title) with the call as label/value rows: `助成金額 1団体10万円を上限として助成`,
`受付期間 2025年4月1日(火)~5月12日…`. Titles read `【助成金のご案内】名称(助成元)`.

No copy of these pages has been captured: the list and detail markup below is ASSUMED from
the facts (a WordPress archive; the call's labels and values as table rows). Being fragile,
the spider raises `ShapeError` as soon as the real pages differ.

- list: `ul.post-list li.post-item` with `time.post-date` and `a.post-title`; paging by
  `a.next.page-numbers` (`/vc/subsidy-vc/page/2/`).
- detail: `article div.entry-content`, the call in `table tr` rows of `th` label / `td` value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from scrapy.http import Response

from spiders.base import KyodoSpider, Row, ShapeError, block_text, clean, date_text, labelled_text

MAX_PAGES = 5  # the archive is newest first; older pages hold closed calls
_LABELS = re.compile(r"^\s*((?:【[^】]*】\s*)+)")
_ORGANIZER = re.compile(r"[(（]([^()（）]+)[)）]\s*$")


class ChibaShakyoSpider(KyodoSpider):
    name = "chiba_shakyo"
    start_urls: ClassVar[list[str]] = ["https://chiba-shakyo.jp/vc/subsidy-vc/"]

    def parse(self, response: Response) -> Iterator[Any]:
        items = self.require(
            response.css("ul.post-list li.post-item"),
            "助成金情報の一覧 ul.post-list li.post-item (post list)",
            response,
        )
        for item in items:
            link = item.css("a.post-title")
            href = link.attrib.get("href") if link else None
            if not href:
                raise ShapeError(
                    f"リンクのない記事があります (post without a link) on {response.url}"
                )
            url = response.urljoin(href)
            heading = clean(" ".join(link.css("::text").getall()))
            title, organizer, status = _parse_title(heading)
            posted = clean(item.css("time.post-date::text").get())
            published = date_text(item.css("time.post-date::attr(datetime)").get() or posted)
            row = self.listing(
                item_id=_item_id(url),
                title=title,
                text=labelled_text([("掲載日", posted), ("", heading)]),
                url=url,
                published=published,
                organizer=organizer,
                status=status,
            )
            yield self.detail(response, url, self.parse_detail, row)

        page = response.meta.get("kyodo_list_page", 1)
        next_href = response.css("a.next.page-numbers::attr(href)").get()
        if next_href and page < self.page_limit(MAX_PAGES):
            yield self.follow(response, next_href, self.parse, meta={"kyodo_list_page": page + 1})

    def parse_detail(self, response: Response, row: Row) -> Iterator[Row]:
        content = response.css("article div.entry-content")
        pairs = [
            (clean(" ".join(tr.css("th ::text").getall())), block_text(tr.css("td")[0]))
            for tr in content.css("table tr")
            if tr.css("th") and tr.css("td")
        ]
        if not pairs:
            raise ShapeError(
                f"助成の項目表 (th/td) が見つかりません (no label/value table) on {response.url}"
            )
        # `◆名称(助成元)` repeats the title: the other paragraphs are the notes.
        notes = [n for n in (block_text(p) for p in content.xpath("./p")) if not n.startswith("◆")]
        text = "\n".join(
            part for part in (row["text"], labelled_text(pairs), *notes) if part.strip()
        )
        yield {**row, "text": text}


def _parse_title(heading: str) -> tuple[str, str | None, str | None]:
    """`【受付終了】【助成金のご案内】名称(助成元)` → (名称, 助成元, 募集終了)."""
    labels = ""
    found = _LABELS.match(heading)
    if found:
        labels = found.group(1)
        heading = heading[found.end() :]
    organizer = None
    owner = _ORGANIZER.search(heading)
    if owner:
        organizer = owner.group(1).strip()
        heading = heading[: owner.start()]
    status = "募集終了" if "終了" in labels else None
    return heading.strip(), organizer, status


def _item_id(url: str) -> str:
    """The post's slug, decoded (`/vc/subsidy-vc/<slug>/`)."""
    path = unquote(urlsplit(url).path).strip("/")
    return path.rsplit("/", 1)[-1]
