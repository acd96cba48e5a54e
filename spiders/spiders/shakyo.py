"""全国社会福祉協議会 「福祉の助成情報」: the hub's entries, as links only.

Hub `https://www.shakyo.or.jp/guide/sponsor/`: each call is
`<h2><a href="p/260824sompo.html">財団「助成名」</a></h2>` followed by
`<p>（情報掲載2026年8月24日/募集締切2026年10月9日）</p>`; entries disappear when they close.
The hub's items are marked 無断転載禁止: the spider never fetches or reprints the detail pages.
A listing holds only the facts of the hub entry (`掲載日: …`, `募集締切: …`), the link, and
`terms: link_only`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

from scrapy.http import Response

from spiders.base import KyodoSpider, ShapeError, clean, date_text, labelled_text

EMPTY_WORDING = "掲載している助成情報はありません"
_NAMED = re.compile(r"^(?P<organizer>[^「」]*)「(?P<title>[^」]+)」(?P<rest>.*)$")
_FACTS = re.compile(
    r"情報掲載\s*(?P<posted>[^/／）)]+?)\s*(?:[/／]\s*募集締切\s*(?P<deadline>[^）)]+?))?\s*[）)]?$"
)


class ShakyoSpider(KyodoSpider):
    name = "shakyo"
    start_urls: ClassVar[list[str]] = ["https://www.shakyo.or.jp/guide/sponsor/"]

    def parse(self, response: Response) -> Iterator[Any]:
        entries = response.xpath("//h2[a]")
        if not entries:
            if EMPTY_WORDING in clean(" ".join(response.css("body ::text").getall())):
                return
            raise ShapeError(
                f"助成情報の見出し h2 > a がありません (no h2 > a entries) on {response.url}"
            )
        for entry in entries:
            link = entry.css("a")[0]
            href = link.attrib.get("href")
            if not href:
                raise ShapeError(
                    f"リンク先のない見出しがあります (entry link without href) on {response.url}"
                )
            facts = clean(
                " ".join(entry.xpath("following-sibling::*[1][self::p]//text()").getall())
            )
            found = _FACTS.search(facts)
            if not found:
                raise ShapeError(
                    f"情報掲載日の段落がありません (no （情報掲載…/募集締切…） after an entry) "
                    f"on {response.url}"
                )
            url = response.urljoin(href)
            title, organizer = _parse_name(clean(" ".join(link.css("::text").getall())))
            posted = clean(found.group("posted"))
            yield self.listing(
                item_id=_item_id(url),
                title=title,
                text=labelled_text(
                    (label, value)
                    for label, value in (
                        ("掲載日", posted),
                        ("募集締切", clean(found.group("deadline"))),
                    )
                    if value
                ),
                url=url,
                published=date_text(posted),
                organizer=organizer,
                terms="link_only",
            )


def _parse_name(text: str) -> tuple[str, str | None]:
    """`財団「助成名」` → (助成名, 財団); without 「」 the whole text is the title."""
    found = _NAMED.match(text)
    if not found:
        return text, None
    title = clean(f"{found.group('title')} {found.group('rest')}")
    return title, clean(found.group("organizer")) or None


def _item_id(url: str) -> str:
    """`p/260824sompo.html` → `260824sompo`."""
    name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name
