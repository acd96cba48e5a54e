"""Helpers for RSS 2.0 feeds (JFC, むすびえ) and the funders their items name."""

from __future__ import annotations

import re
from datetime import timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bs4 import BeautifulSoup
from parsel import Selector
from scrapy.http import Response, TextResponse

from spiders.base import ShapeError, block_text, clean

JST = timezone(timedelta(hours=9), "JST")
NAMESPACES = {"content": "http://purl.org/rss/1.0/modules/content/"}

# A leading label of the title: 【助成先募集】, [研究助成] …
_LABEL = re.compile(r"^\s*[【\[［]([^】\]］]{1,20})[】\]］]")
# The funder named in a title: a legal form and its name, or a name ending in a funder's word.
_LEGAL_FORMS = (
    "公益財団法人|一般財団法人|公益社団法人|一般社団法人|社会福祉法人|認定特定非営利活動法人"
    "|特定非営利活動法人|認定NPO法人|NPO法人|独立行政法人|国立研究開発法人|学校法人|株式会社"
    "|有限会社|[（(](?:公財|一財|公社|一社|福|特非|株)[）)]"
)
_NAME_END = r"[^\s\u3000「『【〈《（(）)」』】〉》、，,:：×]+"
_WITH_FORM = re.compile(rf"(?:{_LEGAL_FORMS})\s?{_NAME_END}")
_FUNDER_WORD = re.compile(
    r"(?:^|(?<=[\s\u3000】\]］]))([^\s\u3000「『【】〈《（(、，,:：]{2,30}?"
    r"(?:財団|基金|育英会|奨学会|共同募金会|株式会社))(?=[\s\u3000「『（(]|$)"
)


def feed_channel(response: Response) -> Selector:
    """The `<channel>` of an RSS 2.0 feed; a page without one is a ShapeError."""
    if isinstance(response, TextResponse):
        text = response.text
    else:
        text = response.body.decode("utf-8", errors="replace")
    channel = Selector(text=text, type="xml").xpath("/rss/channel")
    if not channel:
        raise ShapeError(f"RSS の channel がありません (not an RSS 2.0 feed) at {response.url}")
    return channel[0]


def rss_date(value: str | None) -> str | None:
    """An RSS `pubDate` (`Fri, 03 Jul 2026 00:32:55 +0000`) as the date in Japan (YYYY-MM-DD)."""
    if not value or not value.strip():
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.astimezone(JST).date().isoformat()


def title_label(title: str) -> str | None:
    """The leading label of a title, without brackets: `助成先募集`."""
    m = _LABEL.match(title)
    return clean(m.group(1)) if m else None


def legal_name_in(text: str) -> str | None:
    """An organization named with its legal form: `公益財団法人○○財団`, `株式会社○○`."""
    m = _WITH_FORM.search(text)
    return clean(m.group()) if m else None


def organizer_in_title(title: str) -> str | None:
    """The funder a title names (`公益財団法人○○財団`, `○○基金`), or None when it names none."""
    body = _LABEL.sub("", title, count=1)
    named = legal_name_in(body)
    if named:
        return named
    m = _FUNDER_WORD.search(body.strip())
    return clean(m.group(1)) if m else None


def plain_text(html: str) -> str:
    """An HTML fragment as text, one block a line; inline tags do not break a line, and a table
    of `th`/`td` rows becomes `label: value` lines (the form the normalizer reads best)."""
    soup = BeautifulSoup(html, "lxml")
    for table in soup.find_all("table"):
        pairs = [_row_pair(tr) for tr in table.find_all("tr")]
        if pairs and all(pairs):
            lines = soup.new_tag("div")
            for label, value in pairs:  # type: ignore[misc]
                line = soup.new_tag("p")
                line.string = f"{label}: {value}"
                lines.append(line)
            table.replace_with(lines)
    return block_text(str(soup))


def _row_pair(tr: Any) -> tuple[str, str] | None:
    """(label, value) of a table row with one `th` and its `td`s; None for another row."""
    heads, cells = tr.find_all("th"), tr.find_all("td")
    if len(heads) != 1 or not cells:
        return None
    label = clean(heads[0].get_text(" "))
    value = clean(" ".join(cell.get_text(" ") for cell in cells))
    return (label, value) if label else None


def item_text(item: Selector) -> str:
    """The body of a feed item: `content:encoded` when it has text, else `description`."""
    for query in ("content:encoded/text()", "description/text()"):
        html = "".join(item.xpath(query, namespaces=NAMESPACES).getall())
        if html.strip():
            text = plain_text(html)
            if text:
                return text
    return ""


def external_link(item: Selector, own_host: str) -> str | None:
    """The first link of an item's body that leaves the publishing site (the funder's page)."""
    for query in ("content:encoded/text()", "description/text()"):
        html = "".join(item.xpath(query, namespaces=NAMESPACES).getall())
        for a in BeautifulSoup(html, "lxml").find_all("a", href=True):
            host = urlsplit(a["href"]).netloc
            if host and not host.endswith(own_host):
                return a["href"].strip()
    return None


def item_id(item: Selector, link: str) -> str:
    """A WordPress item's post id (`?p=12345` in its guid), else the last segment of its link."""
    guid = clean(item.xpath("guid/text()").get())
    post = parse_qs(urlsplit(guid).query).get("p") if guid else None
    if post and post[0].isdigit():
        return post[0]
    segments = [s for s in urlsplit(link).path.split("/") if s]
    return segments[-1] if segments else ""


def item_title_link(item: Selector, response: Response) -> tuple[str, str]:
    """(title, link) of a feed item; an item without either is a ShapeError."""
    title = clean(item.xpath("title/text()").get())
    link = clean(item.xpath("link/text()").get())
    if not title or not link:
        raise ShapeError(
            f"title か link のない item があります (item without title or link) at {response.url}"
        )
    return title, link
