"""Running spiders for `kyodo crawl`: settings, one process for all sources, results per source.

Every source runs in one Twisted reactor (each with its own crawler, one request at a time per
site); their listings are collected per source and handed back with a `SourceRun` (pages,
listings, errors by kind) read from the crawler's stats. Storing them is the caller's job.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from scrapy import signals
from scrapy.settings import Settings as ScrapySettings

from aggregator.health import SourceRun
from aggregator.settings import Settings
from aggregator.sources import register_source
from spiders.health import errors_by_kind

SPIDERS_PACKAGE = "spiders.spiders"


@dataclass(frozen=True)
class SpiderSpec:
    """How to start the spider of one source."""

    name: str
    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    empty_ok: bool = False


def available_spiders(
    settings: Settings | None = None, *, config_errors: list[Exception] | None = None
) -> dict[str, SpiderSpec]:
    """Every source kyodo can crawl: the spider modules, then the generic configurations.

    A generic configuration that cannot be read is left out and its error appended to
    `config_errors` (raised when that is None).
    """
    from scrapy.spiderloader import SpiderLoader

    from spiders.generic import GenericListingSpider, load_configs

    scrapy_settings = ScrapySettings()
    scrapy_settings.setmodule("spiders.settings", priority="project")
    loader = SpiderLoader.from_settings(scrapy_settings)
    specs: dict[str, SpiderSpec] = {}
    for name in sorted(loader.list()):
        cls = loader.load(name)
        specs[name] = SpiderSpec(name, cls, empty_ok=bool(getattr(cls, "empty_ok", False)))
    extra = [settings.spider_config_dir] if settings and settings.spider_config_dir else []
    for name, config in load_configs(extra, errors=config_errors).items():
        register_source(config.source)
        specs[name] = SpiderSpec(
            name, GenericListingSpider, {"config": config}, empty_ok=config.empty_ok
        )
    return dict(sorted(specs.items()))


def crawler_settings(
    settings: Settings, *, base_url: str | None = None, log_level: str = "CRITICAL"
) -> ScrapySettings:
    """Scrapy settings: the project's polite defaults with kyodo's settings applied."""
    from kyodo import __version__

    s = ScrapySettings()
    s.setmodule("spiders.settings", priority="project")
    s.set(
        "USER_AGENT",
        f"kyodo/{__version__} (grant information for citizen groups; "
        f"contact: {settings.crawl_contact})",
        priority="cmdline",
    )
    delay = settings.crawl_delay
    s.set("DOWNLOAD_DELAY", delay, priority="cmdline")
    # AutoThrottle only slows down from the delay; with no delay (a local mirror) it is off.
    s.set("AUTOTHROTTLE_ENABLED", delay > 0, priority="cmdline")
    s.set("AUTOTHROTTLE_START_DELAY", max(delay, 0.1), priority="cmdline")
    s.set("DOWNLOAD_TIMEOUT", settings.crawl_timeout, priority="cmdline")
    s.set("RETRY_TIMES", settings.crawl_retries, priority="cmdline")
    s.set("KYODO_RETRY_BACKOFF", settings.retry_backoff, priority="cmdline")
    s.set("KYODO_MAX_PAGES", settings.crawl_max_pages, priority="cmdline")
    s.set("HTTPCACHE_ENABLED", settings.crawl_http_cache, priority="cmdline")
    s.set("HTTPCACHE_DIR", str(Path(settings.crawl_cache_dir).resolve()), priority="cmdline")
    s.set("KYODO_BASE_URL", base_url, priority="cmdline")
    s.set("LOG_LEVEL", log_level, priority="cmdline")
    s.set("TELNETCONSOLE_ENABLED", False, priority="cmdline")
    return s


class _Collector:
    """Listings and timing of one source's crawl (signal handlers must stay referenced)."""

    def __init__(self, spec: SpiderSpec, progress: Progress) -> None:
        self.spec = spec
        self.progress = progress
        self.items: list[dict[str, Any]] = []
        self.started_at = datetime.now(UTC)
        self.finished_at: datetime | None = None
        self.start_error: str | None = None
        self.close_reason: str | None = None
        self.crawler: Any = None

    def connect(self, crawler: Any) -> None:
        self.crawler = crawler
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)
        crawler.signals.connect(self.item, signal=signals.item_scraped)
        crawler.signals.connect(self.response, signal=signals.response_received)

    def opened(self, spider: Any) -> None:
        self.started_at = datetime.now(UTC)
        self.progress.running.add(self.spec.name)

    def closed(self, spider: Any, reason: str) -> None:
        self.finished_at = datetime.now(UTC)
        self.close_reason = reason
        self.progress.running.discard(self.spec.name)

    def item(self, item: Any, response: Any, spider: Any) -> None:
        self.items.append(dict(item))
        self.progress.listings += 1

    def response(self, response: Any, request: Any, spider: Any) -> None:
        if request.meta.get("kyodo_page"):
            self.progress.pages += 1

    def failed(self, failure: Any) -> None:
        self.start_error = f"{type(failure.value).__name__}: {failure.value}"
        self.progress.running.discard(self.spec.name)

    def result(self, base_url: str | None) -> SourceRun:
        stats = self.crawler.stats.get_stats() if self.crawler else {}
        errors = errors_by_kind(stats)
        samples = list(stats.get("kyodo/error_samples") or [])
        if self.start_error:
            errors["start"] = errors.get("start", 0) + 1
            samples.append({"kind": "start", "url": "", "message": self.start_error[:300]})
        if self.close_reason not in (None, "finished"):
            # Stopped before the end (SIGTERM, Ctrl-C: reason "shutdown"): the list was not
            # seen whole, so the run must not count as complete (no "no longer listed").
            errors["stopped"] = errors.get("stopped", 0) + 1
            samples.append(
                {
                    "kind": "stopped",
                    "url": "",
                    "message": f"収集が途中で止められました (spider closed: {self.close_reason})",
                }
            )
        return SourceRun(
            source=self.spec.name,
            started_at=self.started_at,
            finished_at=self.finished_at or datetime.now(UTC),
            pages=int(stats.get("kyodo/pages", 0)),
            listings=len(self.items),
            partial=sum(1 for item in self.items if item.get("partial")),
            errors=errors,
            error_samples=samples,
            empty_ok=self.spec.empty_ok,
            base_url=base_url,
        )


class Progress:
    """One progress line on standard error: pages and listings so far, sources running."""

    def __init__(self, stream: TextIO | None = None, interval: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else (0.5 if self.tty else 5.0)
        self.pages = 0
        self.listings = 0
        self.running: set[str] = set()
        self._start = time.monotonic()

    def line(self) -> str:
        running = "、".join(sorted(self.running)) or "-"
        elapsed = time.monotonic() - self._start
        return (
            f"収集中 {elapsed:5.0f}秒  ページ {self.pages}  募集 {self.listings}  実行中: {running}"
        )

    def show(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(
            f"収集完了: ページ {self.pages}、募集 {self.listings} 件"
            f"（{time.monotonic() - self._start:.1f}秒）\n"
        )
        self.stream.flush()


def crawl(
    specs: list[SpiderSpec],
    scrapy_settings: ScrapySettings,
    *,
    progress: Progress | None = None,
    on_start: Callable[[], None] | None = None,
) -> list[tuple[SourceRun, list[dict[str, Any]]]]:
    """Crawls every source in `specs` at once; (run, listings) per source, in order.

    Blocks until all are done. A source that fails to start or whose pages fail is recorded in
    its run and does not stop the others. Only once per process (Twisted's reactor).
    """
    from scrapy.crawler import CrawlerProcess
    from twisted.internet import task

    progress = progress or Progress()
    process = CrawlerProcess(scrapy_settings)
    collectors = []
    for spec in specs:
        collector = _Collector(spec, progress)
        try:
            crawler = process.create_crawler(spec.cls)
        except Exception as exc:  # a spider that cannot even be built
            collector.start_error = f"{type(exc).__name__}: {exc}"
            collectors.append(collector)
            continue
        collector.connect(crawler)
        deferred = process.crawl(crawler, **spec.kwargs)
        deferred.addErrback(collector.failed)
        collectors.append(collector)

    ticker = task.LoopingCall(progress.show)
    ticker.start(progress.interval, now=False)
    if on_start:
        on_start()
    process.start()
    if ticker.running:
        ticker.stop()
    progress.done()
    base_url = scrapy_settings.get("KYODO_BASE_URL")
    return [(c.result(base_url), c.items) for c in collectors]
