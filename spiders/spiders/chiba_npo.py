"""千葉県 「ちばNPO・ボランティア情報マガジン」: the grant calls of its newest issues.

The index `https://www.pref.chiba.lg.jp/kkbunka/npo/mailmagazine/` links the issues
(`r8/npom599.html`, …); the spider reads the newest `ISSUES` of them, by issue number. An issue
page (the prefecture's CMS: `div#tmp_contents`, `更新日:令和7(2025)年2月14日`, an `h1` with the
magazine's name) has numbered sections as `h2`; only the section 「民間団体等からの助成情報の
更新(新着情報)」 becomes listings, one per call: an `h3` with the call's name, then lines such as
`助成元:…`, `期間:6月1日(土曜日)~8月1日(木曜日)`, `締切:令和7年3月10日(月曜日)午後5時【必着】`,
`詳細:<link>`. The issue's 更新日 is `published` (the normalizer takes a yearless 期間 from it).

The entry layout inside the section (`h3` + paragraphs) is assumed from the facts, not from a
captured page. An issue without that section has no calls this time (fine); a page without
the magazine's structure raises `ShapeError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from parsel import Selector
from scrapy.http import Response

from spiders.base import KyodoSpider, ShapeError, block_text, clean, date_text, labelled_text

ISSUES = 2  # how many of the newest issues to read
MAGAZINE = "ちばNPO・ボランティア情報マガジン"
GRANT_SECTION = "民間団体等からの助成情報の更新"

_ISSUE_LINK = re.compile(r"npom(\d+)\.html$")
_UPDATED = re.compile(r"更新日\s*[:：]\s*(\S+)")
_ENTRY_NUMBER = re.compile(r"^\s*(?:[(（]\s*\d+\s*[)）]|[◆■●・]|\d+[.．、])\s*")
# A Japanese label before a colon (not `https:` of a bare link).
_LABELLED = re.compile(r"^([^\x00-\x7f:：][^:：]{0,9})[:：]\s*(.*)$")


class ChibaNpoSpider(KyodoSpider):
    name = "chiba_npo"
    start_urls: ClassVar[list[str]] = ["https://www.pref.chiba.lg.jp/kkbunka/npo/mailmagazine/"]

    def parse(self, response: Response) -> Iterator[Any]:
        content = self.require(
            response.css("div#tmp_contents"), "本文 div#tmp_contents (page content)", response
        )
        issues: dict[int, str] = {}
        for href in content.css("a::attr(href)").getall():
            found = _ISSUE_LINK.search(href.strip())
            if found:
                issues.setdefault(int(found.group(1)), href.strip())
        if not issues:
            raise ShapeError(
                f"メルマガの号へのリンクがありません (no links to issues npomNNN.html) "
                f"on {response.url}"
            )
        for number in sorted(issues, reverse=True)[:ISSUES]:
            yield self.follow(response, issues[number], self.parse_issue)

    def parse_issue(self, response: Response) -> Iterator[Any]:
        content = response.css("div#tmp_contents")
        heading = clean(" ".join(content.css("h1 ::text").getall()))
        updated = _UPDATED.search(clean(" ".join(content.css("::text").getall())))
        if not content or MAGAZINE not in heading or not updated:
            raise ShapeError(
                f"メルマガの形ではありません (no magazine heading or 更新日) on {response.url}"
            )
        published = date_text(updated.group(1))
        section = _grant_section(content[0])
        if section is None:
            return  # no calls in this issue
        issue = _ISSUE_LINK.search(response.url)
        issue_id = f"npom{issue.group(1)}" if issue else response.url.rsplit("/", 1)[-1]
        for number, (name, blocks) in enumerate(_entries(section), start=1):
            if not name:
                raise ShapeError(
                    f"名称のない助成があります (call without a name) on {response.url}"
                )
            pairs = _pairs(blocks)
            link = next(
                (
                    href
                    for block in blocks
                    for href in block.css("a::attr(href)").getall()
                    if href.strip().startswith("http")
                ),
                None,
            )
            yield self.listing(
                item_id=f"{issue_id}-{number}",
                title=name,
                text=labelled_text([*pairs, ("掲載号", heading)]),
                url=link.strip() if link else response.url,
                published=published,
                organizer=dict(pairs).get("助成元"),
            )


def _grant_section(content: Selector) -> list[Selector] | None:
    """The elements after the 助成情報 heading, up to the next `h2` (None: no such section)."""
    for h2 in content.css("h2"):
        if GRANT_SECTION in clean(" ".join(h2.css("::text").getall())):
            out = []
            for sibling in h2.xpath("following-sibling::*"):
                if sibling.root.tag == "h2":
                    break
                out.append(sibling)
            return out
    return None


def _entries(section: list[Selector]) -> Iterator[tuple[str, list[Selector]]]:
    """(name, the elements under it) for every `h3` of the section."""
    name: str | None = None
    blocks: list[Selector] = []
    for element in section:
        if element.root.tag == "h3":
            if name is not None:
                yield name, blocks
            name = _parse_name(clean(" ".join(element.css("::text").getall())))
            blocks = []
        elif name is not None:
            blocks.append(element)
    if name is not None:
        yield name, blocks


def _parse_name(heading: str) -> str:
    """`(1)「地域の助成」` → `地域の助成`: the entry number and enclosing brackets dropped."""
    name = _ENTRY_NUMBER.sub("", heading).strip()
    if name.startswith("「") and name.endswith("」") and name.count("「") == 1:
        name = name[1:-1].strip()
    return name


def _pairs(blocks: list[Selector]) -> list[tuple[str, str]]:
    """The entry's lines as (label, value); a line without a label keeps an empty label.

    A label whose value is a link (`詳細:<a>…</a>`) comes out of `block_text` as two lines:
    the line after an empty value is that value.
    """
    pairs: list[tuple[str, str]] = []
    for block in blocks:
        for line in block_text(block).split("\n"):
            found = _LABELLED.match(line)
            if found:
                pairs.append((found.group(1).strip(), found.group(2).strip()))
            elif pairs and pairs[-1][0] and not pairs[-1][1]:
                pairs[-1] = (pairs[-1][0], line)
            else:
                pairs.append(("", line))
    return pairs
