"""むすびえ (全国こども食堂支援センター): the subsidy news feed, one listing per item.

The feed (`/news_cat/subsidy/feed`, RSS 2.0 from WordPress) lists むすびえ's own funds (むすびえ・
こども食堂基金, programs with partner companies) and calls it relays. Items are short; when an
item carries no text at all, its page is read instead (`parse_detail`). Between rounds the feed
has no items (as in the copy captured on 2026-07-05): an empty feed is normal here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from parsel import Selector
from scrapy.http import Request, Response

from spiders.base import KyodoSpider, Row, ShapeError
from spiders.feeds import (
    feed_channel,
    item_id,
    item_text,
    item_title_link,
    legal_name_in,
    plain_text,
    rss_date,
)

MUSUBIE = "認定NPO法人全国こども食堂支援センター・むすびえ"
# The body of a news page, most specific first.
DETAIL_BODY = ("article .post-content", "article .entry-content", ".post-content", ".entry-content")


class MusubieSpider(KyodoSpider):
    name = "musubie"
    start_urls: ClassVar[list[str]] = ["https://musubie.org/news_cat/subsidy/feed"]
    empty_ok: ClassVar[bool] = True  # no items between rounds

    def parse(self, response: Response) -> Iterator[Row | Request]:
        channel = feed_channel(response)
        yield from self.each_row(response, channel.xpath("item"), lambda i: self._item(i, response))

    def _item(self, item: Selector, response: Response) -> Iterator[Row | Request]:
        row, has_text = self._row(item, response)
        if has_text:
            yield row
        else:
            yield self.detail(response, row["url"], self.parse_detail, row)

    def parse_detail(self, response: Response, row: Row) -> Iterator[Row]:
        for selector in DETAIL_BODY:
            body = response.css(selector)
            if body:
                text = plain_text(body[0].get())
                if text:
                    yield {**row, "text": text}
                    return
        raise ShapeError(f"記事の本文が見つかりません (post body not found) at {response.url}")

    def _row(self, item: Selector, response: Response) -> tuple[Row, bool]:
        """The listing of one feed item, and whether the item had text of its own."""
        title, link = item_title_link(item, response)
        text = item_text(item)
        row = self.listing(
            item_id=item_id(item, link),
            title=title,
            text=text,  # the title when empty: the detail page replaces it
            url=link,
            published=rss_date(item.xpath("pubDate/text()").get()),
            organizer=_organizer(title),
            status=None,  # the feed states no status; title marks (【受付終了】) and dates do
        )
        return row, bool(text)


def _organizer(title: str) -> str | None:
    """The funder the title names with its legal form; むすびえ for its own funds; else None."""
    named = legal_name_in(title)
    if named:
        return named
    return MUSUBIE if "むすびえ" in title else None
