"""A listing spider configured by a TOML file: a centre's staff add a site without code.

Each `spiders/configs/*.toml` (and each `*.toml` in `KYODO_SPIDER_CONFIG_DIR`) describes one
source: a list page of calls, how to find each call on it, and optionally how to read the
call's own page. `load_configs()` reads them; `kyodo crawl <name>` runs
`GenericListingSpider(config=...)` for each. A guide for staff, in Japanese, with an annotated
example is in `docs/generic-spider.md`.

Keys (every key not listed here is an error, so a typo is caught when the file is read):

    [source]                    # the source as kyodo shows it (aggregator.sources.Source)
    name = "shimisen"           # required; a-z, 0-9, _; the command-line name and id prefix
    label = "…"                 # required; shown to people
    kind = "municipality"       # required; national / prefecture / municipality /
                                #   foundation / corporate
    home = "municipality:京都市" # optional; where the site is ("prefecture:千葉県" …)
    area = "prefecture:千葉県"   # optional; area of calls that name none ("national" too)
    terms = "link_only"         # optional; reprint / link_only (default link_only)
    site = "https://…"          # optional; the page people read (default: the first list URL)
    credit = "…"                # optional; credit line the source asks for

    [list]
    url = "https://…"           # required; one start URL or a list of them
    item = "div.grid > div.item"  # required; CSS selector of one call on the list page
    next = "a.next"             # optional; the next-page link (its href)
    max_pages = 20              # optional; pages followed per start URL (default 20)
    id = '/subsidy/(\\d+)'       # optional; regex on the call's link: its first group (or
                                #   the whole match) is the call's id; default: the link
    empty_ok = false            # optional; an empty list is normal for this source
    empty_text = "…"            # optional; the page's own "no calls now" wording
    empty_selector = "p.none"   # optional; an element that says "no calls now"

    [list.fields]               # CSS selectors relative to one item
    title = "h2 a::text"        # required
    link = "h2 a::attr(href)"   # required (an element selector takes its href)
    organizer = "…"             # optional: the funder / publisher
    status = "…"                # optional: the source's own word (募集中 / 募集終了 …)
    term = "…"                  # optional: application period or deadline, as written
    published = "…"             # optional: posting date (any written form)
    text = "…"                  # optional: free text (summary)
    categories = "…"            # optional: the source's own field tags, one per match

    # A field may also be a table instead of a selector:
    #   organizer = { css = "p.by::text", regex = '^(?:by\\s*)?(.+)' }
    #   status = { css = "p.ended", map = { "終了" = "受付終了" }, default = "募集中" }
    #   term = { css = "td.term", label = "応募・申請期間" }
    # css (required), regex (keep the first group, or the whole match; no match → empty;
    # for categories: drop tags that do not match), map (first key found in the value → its
    # word), default (when empty), label (term only: the label of its text line,
    # default 募集期間).

    [list.pairs]                # optional: label/value pairs inside one item
    row = "dl"                  #   element holding pairs (a table row, a dl …)
    label = "dt"                #   label elements inside a row
    value = "dd"                #   value elements inside a row (paired in order)
    [list.labels]               # optional: label → title / organizer / status / term /
    "登録団体" = "organizer"     #   published / text / ignore; other pairs become
                                #   `label: value` lines of the text

    [detail]                    # optional: follow each call's link (same site only)
    body = "div.entry"          # optional: free text of the page
    [detail.pairs]              # optional (pairs or body is required): as [list.pairs],
    row = "table tr"            #   relative to the whole page
    label = "th"
    value = "td"
    [detail.labels]             # as [list.labels]
    "主催" = "organizer"
    "応募・申請期間" = "term"

Listing text: the term (`<label>: <term>`), then the pairs as `label: value` lines (term pairs
included), then the free text. A detail page replaces the list row's text with its own, keeping
the row's text in front when the page names no term; its title / organizer / status / published
replace the row's when the page has them.

Shape checks (a `ShapeError` becomes a `shape` error in source health): the item selector
matches nothing on a page without the empty marker (unless `empty_ok`); an item without a title
or link; a detail page without pairs (or without body when only `body` is set). For a detail
page the framework then yields the list row, flagged `partial`.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cssselect import SelectorError
from parsel import Selector, SelectorList
from scrapy.http import Request, Response

from aggregator.normalize.text import normalize_text
from aggregator.sources import Source, SourceKind, Terms, register_source
from spiders.base import KyodoSpider, Row, ShapeError, block_text, clean, date_text, labelled_text

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

LIST_FIELDS = ("title", "link", "organizer", "status", "term", "published", "text", "categories")
REQUIRED_FIELDS = ("title", "link")
# Where a label/value pair may go.
LABEL_TARGETS = ("title", "organizer", "status", "term", "published", "text", "ignore")
DEFAULT_TERM_LABEL = "募集期間"
DEFAULT_MAX_PAGES = 20

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_PLACE_RE = re.compile(r"^(prefecture|municipality):\S+$")
_PSEUDO_RE = re.compile(r"::(text|attr)\b")
_PROBE = Selector(text="<html><body></body></html>")


class ConfigError(ValueError):
    """A generic-spider configuration file that cannot be used (the message names file and key)."""


@dataclass(frozen=True)
class FieldSpec:
    """How to read one field of an item: a CSS selector and optional clean-up."""

    css: str
    regex: re.Pattern[str] | None = None
    map: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    label: str | None = None  # term only: the label of its text line


@dataclass(frozen=True)
class PairSpec:
    """Label/value pairs: rows, and label and value elements inside each row."""

    row: str
    label: str
    value: str


@dataclass(frozen=True)
class DetailSpec:
    pairs: PairSpec | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # normalized label -> target
    body: str | None = None


@dataclass(frozen=True)
class GenericConfig:
    """One source read from a TOML file."""

    name: str
    source: Source
    urls: tuple[str, ...]
    item: str
    fields: Mapping[str, FieldSpec]
    next: str | None = None
    max_pages: int = DEFAULT_MAX_PAGES
    id_pattern: re.Pattern[str] | None = None
    empty_ok: bool = False
    empty_text: str | None = None
    empty_selector: str | None = None
    pairs: PairSpec | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # normalized label -> target
    detail: DetailSpec | None = None
    path: Path | None = None


# -- reading configurations ---------------------------------------------------------------


class _Reader:
    """Checks one parsed TOML document, naming the file and the key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, ja: str, en: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {ja} ({en})")

    def table(self, data: Any, key: str, allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, "表（[…]）で書いてください", "must be a table")
        unknown = [k for k in data if k not in allowed]
        if unknown:
            where = f"{key}.{unknown[0]}" if key else unknown[0]
            raise self.fail(
                where,
                f"知らないキーです（使えるキー: {', '.join(allowed)}）",
                "unknown key",
            )
        return data

    def text(self, data: dict[str, Any], key: str, where: str, *, required: bool = False) -> Any:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(f"{where}.{key}", "必須のキーがありません", "missing required key")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", "空でない文字列にしてください", "must be a string")
        return value.strip()

    def css(self, data: dict[str, Any], key: str, where: str, *, required: bool = False,
            elements: bool = False) -> str | None:  # fmt: skip
        selector = self.text(data, key, where, required=required)
        if selector is None:
            return None
        full = f"{where}.{key}"
        try:
            _PROBE.css(selector)
        except (SelectorError, ValueError) as exc:
            raise self.fail(
                full,
                f"CSS セレクタが正しくありません: {selector!r}",
                f"invalid CSS selector: {exc}",
            ) from exc
        if elements and _PSEUDO_RE.search(selector):
            raise self.fail(
                full,
                "要素を選ぶセレクタに ::text / ::attr() は使えません",
                "must select elements, not text or attributes",
            )
        return selector

    def regex(self, data: dict[str, Any], key: str, where: str) -> re.Pattern[str] | None:
        pattern = self.text(data, key, where)
        if pattern is None:
            return None
        try:
            return re.compile(pattern, re.S)
        except re.error as exc:
            raise self.fail(
                f"{where}.{key}",
                f"正規表現が正しくありません: {pattern!r}",
                f"invalid regex: {exc}",
            ) from exc

    def flag(self, data: dict[str, Any], key: str, where: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "true か false にしてください", "must be true/false")
        return value

    def choice(self, data: dict[str, Any], key: str, where: str, choices: Iterable[str],
               *, required: bool = False) -> str | None:  # fmt: skip
        value = self.text(data, key, where, required=required)
        choices = list(choices)
        if value is not None and value not in choices:
            raise self.fail(
                f"{where}.{key}",
                f"{value!r} は使えません（{' / '.join(choices)} のどれか）",
                f"must be one of {', '.join(choices)}",
            )
        return value

    def place(self, data: dict[str, Any], key: str, where: str, *, national: bool) -> str | None:
        value = self.text(data, key, where)
        if value is None or (national and value == "national") or _PLACE_RE.match(value):
            return value
        example = '"prefecture:千葉県" / "municipality:鎌ケ谷市"' + (' / "national"' * national)
        raise self.fail(
            f"{where}.{key}", f"{value!r} の形が正しくありません（例: {example}）", "bad place"
        )

    # -- sections ------------------------------------------------------------------------

    def source(self, data: Any, first_url: str) -> Source:
        allowed = ("name", "label", "kind", "home", "area", "terms", "site", "credit")
        data = self.table(data, "source", allowed)
        name = self.text(data, "name", "source", required=True)
        if not _NAME_RE.match(name):
            raise self.fail(
                "source.name",
                f"{name!r} は使えません（半角英小文字・数字・_ で、英字で始める）",
                "must match [a-z][a-z0-9_]*",
            )
        kind = self.choice(data, "kind", "source", [k.value for k in SourceKind], required=True)
        terms = self.choice(data, "terms", "source", [t.value for t in Terms])
        site = self.text(data, "site", "source")
        if site is not None and not site.startswith(("http://", "https://")):
            raise self.fail("source.site", "http(s):// で始まる URL にしてください", "not a URL")
        return Source(
            name=name,
            label=self.text(data, "label", "source", required=True),
            kind=SourceKind(kind),
            home=self.place(data, "home", "source", national=False),
            area=self.place(data, "area", "source", national=True),
            terms=Terms(terms) if terms else Terms.LINK_ONLY,
            site=site or first_url,
            credit=self.text(data, "credit", "source"),
        )

    def urls(self, data: dict[str, Any]) -> tuple[str, ...]:
        value = data.get("url")
        if value is None:
            raise self.fail("list.url", "必須のキーがありません", "missing required key")
        urls = [value] if isinstance(value, str) else value
        if not isinstance(urls, list) or not urls:
            raise self.fail("list.url", "URL か URL の配列にしてください", "must be URL(s)")
        for url in urls:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise self.fail(
                    "list.url", f"http(s):// で始まる URL にしてください: {url!r}", "not a URL"
                )
        return tuple(urls)

    def field_spec(self, value: Any, name: str, where: str) -> FieldSpec:
        key = f"{where}.{name}"
        if isinstance(value, str):
            value = {"css": value}
        allowed = ["css", "regex", "map", "default"] + (["label"] if name == "term" else [])
        data = self.table(value, key, allowed)
        css = self.css(data, "css", key, required=True)
        mapping = data.get("map", {})
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise self.fail(f"{key}.map", "「文字 = 置き換え」の表にしてください", "bad map")
        return FieldSpec(
            css=css,
            regex=self.regex(data, "regex", key),
            map=tuple(mapping.items()),
            default=self.text(data, "default", key),
            label=self.text(data, "label", key),
        )

    def fields(self, data: Any) -> dict[str, FieldSpec]:
        if data is None:
            raise self.fail("list.fields", "必須の表がありません", "missing required table")
        data = self.table(data, "list.fields", LIST_FIELDS)
        for name in REQUIRED_FIELDS:
            if name not in data:
                raise self.fail(f"list.fields.{name}", "必須のキーがありません", "missing key")
        return {name: self.field_spec(value, name, "list.fields") for name, value in data.items()}

    def pairs(self, data: Any, where: str) -> PairSpec | None:
        if data is None:
            return None
        data = self.table(data, where, ("row", "label", "value"))
        return PairSpec(
            row=self.css(data, "row", where, required=True, elements=True),
            label=self.css(data, "label", where, required=True, elements=True),
            value=self.css(data, "value", where, required=True, elements=True),
        )

    def labels(self, data: Any, where: str) -> dict[str, str]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self.fail(where, "表（[…]）で書いてください", "must be a table")
        out = {}
        for label, target in data.items():
            if target not in LABEL_TARGETS:
                raise self.fail(
                    f"{where}.{label}",
                    f"{target!r} は使えません（{' / '.join(LABEL_TARGETS)} のどれか）",
                    f"must be one of {', '.join(LABEL_TARGETS)}",
                )
            out[label_key(label)] = target
        return out

    def detail(self, data: Any) -> DetailSpec | None:
        if data is None:
            return None
        data = self.table(data, "detail", ("pairs", "labels", "body"))
        spec = DetailSpec(
            pairs=self.pairs(data.get("pairs"), "detail.pairs"),
            labels=self.labels(data.get("labels"), "detail.labels"),
            body=self.css(data, "body", "detail", elements=True),
        )
        if spec.pairs is None and spec.body is None:
            raise self.fail(
                "detail", "pairs か body のどちらかが必要です", "needs detail.pairs or detail.body"
            )
        if spec.labels and spec.pairs is None:
            raise self.fail("detail.labels", "detail.pairs がありません", "needs detail.pairs")
        return spec

    def config(self, data: dict[str, Any]) -> GenericConfig:
        self.table(data, "", ("source", "list", "detail"))
        if "list" not in data:
            raise self.fail("list", "必須の表がありません", "missing required table [list]")
        allowed = ("url", "item", "next", "max_pages", "id", "empty_ok", "empty_text",
                   "empty_selector", "fields", "pairs", "labels")  # fmt: skip
        listing = self.table(data["list"], "list", allowed)
        urls = self.urls(listing)
        if "source" not in data:
            raise self.fail("source", "必須の表がありません", "missing required table [source]")
        source = self.source(data["source"], urls[0])
        max_pages = listing.get("max_pages", DEFAULT_MAX_PAGES)
        if not isinstance(max_pages, int) or isinstance(max_pages, bool) or max_pages < 1:
            raise self.fail("list.max_pages", "1 以上の整数にしてください", "positive integer")
        pairs = self.pairs(listing.get("pairs"), "list.pairs")
        labels = self.labels(listing.get("labels"), "list.labels")
        if labels and pairs is None:
            raise self.fail("list.labels", "list.pairs がありません", "needs list.pairs")
        return GenericConfig(
            name=source.name,
            source=source,
            urls=urls,
            item=self.css(listing, "item", "list", required=True, elements=True),
            fields=self.fields(listing.get("fields")),
            next=self.css(listing, "next", "list"),
            max_pages=max_pages,
            id_pattern=self.regex(listing, "id", "list"),
            empty_ok=self.flag(listing, "empty_ok", "list"),
            empty_text=self.text(listing, "empty_text", "list"),
            empty_selector=self.css(listing, "empty_selector", "list"),
            pairs=pairs,
            labels=labels,
            detail=self.detail(data.get("detail")),
            path=self.path,
        )


def label_key(label: str) -> str:
    """A label as compared: NFKC, no spaces, no trailing colon (`応募期間：` = `応募 期間`)."""
    text = unicodedata.normalize("NFKC", label)
    return re.sub(r"\s+", "", text).rstrip(":")


def load_config(path: Path | str) -> GenericConfig:
    """One configuration file; `ConfigError` naming the file and key when it is not usable."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: 読めません (cannot read: {exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML の書き方が正しくありません (invalid TOML: {exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: UTF-8 で保存してください (not UTF-8: {exc})") from exc
    return _Reader(path).config(data)


def load_configs(
    extra_dirs: Iterable[Path | str] = (), *, errors: list[ConfigError] | None = None
) -> dict[str, GenericConfig]:
    """The bundled `spiders/configs/*.toml`, then each of `extra_dirs` (a later one wins).

    With `errors`, a bad file is skipped and its error appended there (one staff member's
    broken config must not stop every other source); without it, the first error is raised.
    """
    configs: dict[str, GenericConfig] = {}
    for folder in (CONFIG_DIR, *map(Path, extra_dirs)):
        try:
            if not folder.is_dir():
                raise ConfigError(f"{folder}: フォルダがありません (not a folder)")
        except ConfigError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        seen: dict[str, Path] = {}
        for path in sorted(folder.glob("*.toml")):
            try:
                config = load_config(path)
                if config.name in seen:
                    raise ConfigError(
                        f"{path}: source.name {config.name!r} は {seen[config.name].name} と"
                        f"重複しています (duplicate source name)"
                    )
            except ConfigError as exc:
                if errors is None:
                    raise
                errors.append(exc)
                continue
            seen[config.name] = path
            configs[config.name] = config
    return configs


# -- extraction ---------------------------------------------------------------------------


def _texts(selection: SelectorList) -> list[str]:
    """Text of each match: a text node or attribute as it is, an element as block text."""
    out = []
    for sel in selection:
        value = sel.root if isinstance(sel.root, str) else block_text(sel)
        value = "\n".join(clean(line) for line in value.splitlines())
        value = "\n".join(line for line in value.split("\n") if line)
        if value:
            out.append(value)
    return out


def _refine(value: str, spec: FieldSpec) -> str:
    """A field's regex, map and default applied to its raw value."""
    if value and spec.regex is not None:
        m = spec.regex.search(value)
        value = (m.group(1) if m.groups() else m.group()) if m else ""
        value = (value or "").strip()
    if value:
        for key, word in spec.map:
            if key in value:
                value = word
                break
    return value or spec.default or ""


def extract_field(node: Selector, name: str, spec: FieldSpec) -> str | list[str]:
    """One field of an item (a list for `categories`, text with lines for term/text)."""
    selection = node.css(spec.css)
    if name == "link":
        for sel in selection:
            href = sel.root if isinstance(sel.root, str) else sel.attrib.get("href")
            if href and href.strip():
                return _refine(href.strip(), spec)
        return spec.default or ""
    texts = _texts(selection)
    if name == "categories":
        out = []
        for text in texts:
            value = _refine(clean(text), FieldSpec(spec.css, spec.regex, spec.map))
            if value and value not in out:
                out.append(value)
        return out
    if name in ("term", "text"):
        return _refine("\n".join(texts), spec)
    return clean(_refine(" ".join(clean(t) for t in texts), spec))


def extract_pairs(node: Selector, spec: PairSpec) -> list[tuple[str, str]]:
    """(label, value) pairs under `node`; repeated pairs kept once (the longer value)."""
    pairs: list[tuple[str, str]] = []
    for row in node.css(spec.row):
        labels = [clean(" ".join(t.split("\n"))) for t in _texts(row.css(spec.label))]
        values = _texts(row.css(spec.value))
        if not labels or not values:
            continue
        if len(labels) == 1:
            pairs.append((labels[0], "\n".join(values)))
        else:
            pairs.extend(zip(labels, values, strict=False))
    out: list[tuple[str, str]] = []
    for label, value in pairs:
        for i, (seen_label, seen_value) in enumerate(out):
            if label_key(seen_label) == label_key(label) and (
                value in seen_value or seen_value in value
            ):
                out[i] = (seen_label, max(seen_value, value, key=len))
                break
        else:
            out.append((label, value))
    return out


@dataclass
class _Sorted:
    """Pairs sorted by where their label sends them."""

    values: dict[str, str] = field(default_factory=dict)  # title/organizer/status/published
    lines: list[tuple[str, str]] = field(default_factory=list)  # text lines, terms included
    free: list[str] = field(default_factory=list)
    has_term: bool = False


def sort_pairs(pairs: list[tuple[str, str]], labels: Mapping[str, str]) -> _Sorted:
    out = _Sorted()
    for label, value in pairs:
        target = labels.get(label_key(label))
        if target in ("title", "organizer", "status", "published"):
            out.values.setdefault(target, clean(" ".join(value.split("\n"))))
        elif target == "text":
            out.free.append(value)
        elif target != "ignore":
            out.lines.append((label, value))
            out.has_term = out.has_term or target == "term"
    return out


def _published(value: str | None) -> str | None:
    # base.date_text reads "2026 年 7月 4日" (spaces, as on many pages) as 2027: normalize first.
    return date_text(normalize_text(value)) if value else None


def _same_site(url: str, other: str) -> bool:
    return urlsplit(url).netloc.lower() == urlsplit(other).netloc.lower()


# -- the spider ---------------------------------------------------------------------------


class GenericListingSpider(KyodoSpider):
    """The spider of one `GenericConfig`: `GenericListingSpider(config=cfg)`."""

    name = "generic"  # replaced by the configuration's name

    def __init__(self, config: GenericConfig | None = None, **kwargs: Any) -> None:
        if not isinstance(config, GenericConfig):
            raise ValueError("GenericListingSpider needs config=GenericConfig (load_config())")
        self.config = config
        self.name = config.name
        self.start_urls = list(config.urls)
        self.empty_ok = config.empty_ok
        register_source(config.source)
        super().__init__(**kwargs)

    def start_requests(self) -> Iterator[Request]:
        for url in self.start_urls:
            yield self.request(url, self.parse, meta={"kyodo_generic_page": 1})

    # -- list pages ----------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        # The next page first: a broken item below must not stop the crawl of later pages.
        yield from self._next_page(response)
        items = response.css(self.config.item)
        if not items and not self._empty_is_fine(response):
            raise ShapeError(
                f"一覧の項目が見つかりません (item selector {self.config.item!r} matched nothing)"
            )
        for item in items:
            row, link = self._row(response, item)
            if self.config.detail is not None and _same_site(link, response.url):
                yield self.detail(response, link, self.parse_detail, row)
            else:
                yield row

    def _empty_is_fine(self, response: Response) -> bool:
        config = self.config
        if config.empty_selector and response.css(config.empty_selector):
            return True
        if config.empty_text:
            page = clean(" ".join(response.css("body ::text").getall()))
            if clean(config.empty_text) in page:
                return True
        return config.empty_ok

    def _next_page(self, response: Response) -> Iterator[Request]:
        if not self.config.next:
            return
        page = response.meta.get("kyodo_generic_page", 1)
        if page >= self.page_limit(self.config.max_pages):
            return
        href = extract_field(response, "link", FieldSpec(self.config.next))
        if href and response.urljoin(href) != response.url:
            yield self.follow(response, href, self.parse, meta={"kyodo_generic_page": page + 1})

    def _row(self, response: Response, item: Selector) -> tuple[Row, str]:
        """The listing of one item (from the list page alone) and its absolute link."""
        values = {
            name: extract_field(item, name, spec) for name, spec in self.config.fields.items()
        }
        pairs = sort_pairs(
            extract_pairs(item, self.config.pairs) if self.config.pairs else [],
            self.config.labels,
        )
        title = values.get("title") or pairs.values.get("title", "")
        href = values.get("link", "")
        if not title or not href:
            ja, en = ("タイトル", "title") if not title else ("リンク", "link")
            raise ShapeError(f"一覧の項目に{ja}がありません (an item without a {en})")
        link = response.urljoin(href)

        lines: list[tuple[str, str]] = []
        if values.get("term"):
            term_label = self.config.fields["term"].label or DEFAULT_TERM_LABEL
            lines.append((term_label, values["term"]))
        lines += pairs.lines
        text = "\n".join(filter(None, [labelled_text(lines), *pairs.free, values.get("text")]))
        row = self.listing(
            item_id=self._item_id(link),
            title=title,
            text=text,
            url=link,
            published=_published(values.get("published") or pairs.values.get("published")),
            organizer=values.get("organizer") or pairs.values.get("organizer"),
            status=values.get("status") or pairs.values.get("status"),
            categories=values.get("categories") or None,
        )
        return row, link

    def _item_id(self, link: str) -> str:
        pattern = self.config.id_pattern
        m = pattern.search(link) if pattern is not None else None
        if m is None:
            return link
        return m.group(1) if m.groups() else m.group()

    # -- detail pages --------------------------------------------------------------------

    def parse_detail(self, response: Response, row: Row) -> Iterator[Row]:
        detail = self.config.detail
        assert detail is not None
        sorted_pairs = _Sorted()
        if detail.pairs is not None:
            pairs = extract_pairs(response, detail.pairs)
            if not pairs:
                raise ShapeError(
                    "詳細ページに項目の表がありません "
                    f"(no label/value pairs: {detail.pairs.row!r} matched nothing usable)"
                )
            sorted_pairs = sort_pairs(pairs, detail.labels)
        body = ""
        if detail.body is not None:
            body = "\n".join(_texts(response.css(detail.body)))
            if not body and detail.pairs is None:
                raise ShapeError(
                    f"詳細ページに本文がありません (body selector {detail.body!r} matched nothing)"
                )
        text = "\n".join(
            filter(None, [labelled_text(sorted_pairs.lines), *sorted_pairs.free, body])
        )
        if not sorted_pairs.has_term:
            text = f"{row['text']}\n{text}" if text else row["text"]
        found = sorted_pairs.values
        yield {
            **row,
            "title": found.get("title") or row["title"],
            "organizer": found.get("organizer") or row.get("organizer"),
            "status": found.get("status") or row.get("status"),
            "published": _published(found.get("published")) or row.get("published"),
            "text": text,
        }
