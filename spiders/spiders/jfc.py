"""助成財団センター (JFC): the RSS feed 「助成金募集ニュース」, one listing per item.

Item titles start with a label (`【助成先募集】`, `【研究助成】`, `【奨学生募集】` …) followed by
the funder and the program; the body says `応募期間（締切） 2026/08/19～2026/09/30` and amounts
in thousands of yen (`3,000千円/1件`). About 70% of items are research grants or scholarships:
they are kept, tagged in `categories` (研究 / 奨学金), and left to the normalizer and search.

Feed helpers shared with the むすびえ spider are in `spiders/feeds.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from parsel import Selector
from scrapy.http import Request, Response

from spiders.base import KyodoSpider, Row
from spiders.feeds import (
    external_link,
    feed_channel,
    item_id,
    item_text,
    item_title_link,
    organizer_in_title,
    rss_date,
)

_RESEARCH = re.compile(r"研究")
_SCHOLARSHIP = re.compile(r"奨学")


class JfcSpider(KyodoSpider):
    name = "jfc"
    start_urls: ClassVar[list[str]] = ["https://www.jfc.or.jp/news_subsidy/feed/"]

    def parse(self, response: Response) -> Iterator[Row | Request]:
        channel = feed_channel(response)
        for item in channel.xpath("item"):
            yield self._listing(item, response)

    def _listing(self, item: Selector, response: Response) -> Row:
        title, link = item_title_link(item, response)
        text = item_text(item)
        funder_page = external_link(item, "jfc.or.jp")
        if funder_page:
            text = f"{text}\n関連URL: {funder_page}"
        return self.listing(
            item_id=item_id(item, link),
            title=title,
            text=text,
            url=link,
            published=rss_date(item.xpath("pubDate/text()").get()),
            organizer=organizer_in_title(title),
            status=None,  # the label (助成先募集 …) is not a status word; the dates decide
            categories=_kinds(title),
        )


def _kinds(title: str) -> list[str]:
    """研究 / 奨学金 for research grants and scholarships, as the title (or its label) says."""
    kinds = []
    if _RESEARCH.search(title):
        kinds.append("研究")
    if _SCHOLARSHIP.search(title):
        kinds.append("奨学金")
    return kinds
