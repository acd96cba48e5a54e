"""What every kyodo spider shares: raw listings, requests with error handling, partial rows.

A spider only fetches and extracts. It yields raw listings (`listing()`), the `kyodo normalize`
input plus `status` and `partial`. Every request goes through `request()` / `follow()` /
`detail()`, so a failed download is recorded in source health and, for a detail page, the list
row's facts still arrive, flagged `partial`. A page that does not have the expected shape raises
`ShapeError`: it is recorded as a `shape` error, never passed on as quiet garbage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any, ClassVar

import scrapy
from bs4 import BeautifulSoup
from scrapy.http import Request, Response

from aggregator.normalize.dates import parse_date
from aggregator.normalize.text import normalize_text
from aggregator.sources import SOURCES, Source
from spiders.health import classify_failure, record_error

Row = dict[str, Any]


class ShapeError(Exception):
    """The page does not have the shape the spider was written for (the site changed)."""


# Inline elements stay inside their line: `…行う<strong>支え合い</strong>の…` is one line.
_INLINE = ("a", "b", "strong", "em", "i", "u", "span", "font", "small", "big", "sup", "sub")
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def clean(value: str | None) -> str:
    """One line of page text: spaces folded (full-width too), trimmed."""
    if not value:
        return ""
    return _SPACES.sub(" ", value.replace("\r", " ").replace("\n", " ")).strip()


def block_text(html: str | Any) -> str:
    """The visible text of an HTML fragment (a string or a parsel selector), one block a line."""
    if not isinstance(html, str):
        html = html.get()
    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    for tag in soup.find_all(_INLINE):
        tag.unwrap()
    soup.smooth()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    text = soup.get_text("\n")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def labelled_text(pairs: Iterable[tuple[str, str]]) -> str:
    """`label: value` lines (the form the normalizer reads best) from a page's label/value pairs."""
    out = []
    for label, value in pairs:
        label, value = clean(label), value.strip()
        if not label and not value:
            continue
        out.append(f"{label}: {value}" if label else value)
    return "\n".join(out)


def date_text(text: str | None, *, reference: date | None = None) -> str | None:
    """A posting or update date written on a page (`2026年1月30日 13:07更新`) as YYYY-MM-DD."""
    if not text:
        return None
    found = parse_date(normalize_text(text), reference=reference)
    return found.isoformat() if found else None


class KyodoSpider(scrapy.Spider):
    """Base of kyodo's spiders. Subclasses set `name` (a key of `aggregator.sources.SOURCES`)
    and `start_urls` (real URLs: `--base-url` sends them to a mirror), and implement `parse`."""

    # An empty result is normal for this source (WAM out of season): no warning.
    empty_ok: ClassVar[bool] = False
    start_urls: ClassVar[list[str]] = []

    @property
    def source(self) -> Source | None:
        return SOURCES.get(self.name)

    def page_limit(self, default: int) -> int:
        """How many list pages to follow: the spider's own limit, or `KYODO_MAX_PAGES`."""
        override = self.crawler.settings.getint("KYODO_MAX_PAGES", 0) if self.crawler else 0
        return override or default

    # -- requests -----------------------------------------------------------------------

    async def start(self):  # type: ignore[override]
        for request in self.start_requests():
            yield request

    def start_requests(self) -> Iterator[Request]:
        for url in self.start_urls:
            yield self.request(url, self.parse)

    def request(
        self,
        url: str,
        callback: Callable[..., Any],
        *,
        meta: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Request:
        """A request whose failures are recorded in source health."""
        meta = {**(meta or {}), "kyodo_page": True}
        return Request(url, callback=callback, errback=self._failed, meta=meta, **kwargs)

    def follow(
        self, response: Response, url: Any, callback: Callable[..., Any], **kwargs: Any
    ) -> Request:
        """`response.follow` with the same error handling as `request()`."""
        meta = {**kwargs.pop("meta", {}), "kyodo_page": True}
        return response.follow(url, callback=callback, errback=self._failed, meta=meta, **kwargs)

    def detail(
        self,
        response: Response,
        url: Any,
        callback: Callable[[Response, Row], Iterable[Any]],
        row: Row,
        *,
        meta: dict[str, Any] | None = None,
    ) -> Request:
        """Fetch a detail page for the list row `row` (a finished `listing()` of the row alone).

        `callback(response, row)` yields the full listing. When the page fails to download or
        does not have the expected shape, `row` arrives instead, with `partial: true`.
        """
        return self.follow(
            response,
            url,
            self._parse_detail,
            meta={**(meta or {}), "kyodo_row": row, "kyodo_detail": callback.__name__},
        )

    def each_row(
        self, response: Response, entries: Iterable[Any], parse: Callable[[Any], Iterable[Any]]
    ) -> Iterator[Any]:
        """What `parse(entry)` yields for each entry of a list page. One entry of the wrong shape
        (a link that is not a call's, a missing cell) is recorded as a `shape` error and
        skipped: the rest of the page still counts. None of a page's entries right: the
        page's shape changed (ShapeError)."""
        tried = good = 0
        first: ShapeError | None = None
        for entry in entries:
            tried += 1
            try:
                results = list(parse(entry))
            except ShapeError as exc:
                first = first or exc
                record_error(self.crawler, "shape", response.url, str(exc))
                continue
            good += 1
            yield from results
        if tried and not good and first is not None:
            raise first

    def _parse_detail(self, response: Response) -> Iterator[Any]:
        row = response.meta["kyodo_row"]
        callback = getattr(self, response.meta["kyodo_detail"])
        try:
            results = list(callback(response, row))
        except ShapeError as exc:
            record_error(self.crawler, "shape", response.url, str(exc))
            yield {**row, "partial": True}
            return
        yield from results

    def _failed(self, failure: Any) -> Iterator[Any]:
        request = failure.request
        kind, message = classify_failure(failure)
        url = request.meta.get("kyodo_real_url", request.url)
        record_error(self.crawler, kind, url, message)
        row = request.meta.get("kyodo_row")
        if row is not None:
            yield {**row, "partial": True}

    # -- listings -----------------------------------------------------------------------

    def listing(
        self,
        *,
        item_id: str,
        title: str,
        text: str,
        url: str,
        published: str | None = None,
        organizer: str | None = None,
        status: str | None = None,
        partial: bool = False,
        **extra: Any,
    ) -> Row:
        """One raw listing. `item_id` is the source's own id of the call (deterministic)."""
        title = clean(title)
        if not title:
            raise ShapeError(f"a listing without a title at {url}")
        if not item_id:
            raise ShapeError(f"a listing without an id at {url}")
        row: Row = {
            "id": f"{self.name}/{item_id}",
            "title": title,
            "text": text.strip() or title,
            "url": url,
            "published": published,
            "organizer": clean(organizer) or None,
            "source": self.name,
            "status": clean(status) or None,
        }
        if partial:
            row["partial"] = True
        for key, value in extra.items():
            if value not in (None, "", [], {}):
                row[key] = value
        return row

    def require(self, selection: Any, what: str, response: Response) -> Any:
        """`selection` (a selector list or a value), or a `ShapeError` naming `what`."""
        if selection is None or (hasattr(selection, "__len__") and len(selection) == 0):
            raise ShapeError(f"{what} not found on {response.url}")
        return selection
