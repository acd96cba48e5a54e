"""Source health during a crawl: pages, listings and errors by kind, kept in the crawler's stats.

Spiders, middlewares and the extension below record into `crawler.stats` under `kyodo/…`
keys; `spiders.run` reads them at the end of the crawl and stores one `source_runs` row per
source (`aggregator.health`).
"""

from __future__ import annotations

from typing import Any

from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as tx_error
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

MAX_SAMPLES = 20  # error samples kept per source


def record_error(crawler: Any, kind: str, url: str, message: str) -> None:
    """Count one error of `kind` and keep a sample of it (URL and message)."""
    stats = crawler.stats
    stats.inc_value(f"kyodo/errors/{kind}")
    samples = stats.get_value("kyodo/error_samples") or []
    if len(samples) < MAX_SAMPLES:
        samples.append({"kind": kind, "url": url, "message": message[:300]})
        stats.set_value("kyodo/error_samples", samples)


def errors_by_kind(stats: dict[str, Any]) -> dict[str, int]:
    prefix = "kyodo/errors/"
    return {k[len(prefix) :]: v for k, v in stats.items() if k.startswith(prefix)}


def classify_failure(failure: Any) -> tuple[str, str]:
    """(kind, message) of a failed request: http_404, timeout, connection, truncated, robots …"""
    exc = failure.value
    if "max size" in str(exc) or "DownloadCancelled" in type(exc).__name__:
        return "too_large", "ページが大きすぎます (response exceeds the size limit)"
    if isinstance(exc, HttpError):
        status = exc.response.status
        return f"http_{status}", f"HTTP {status}"
    if isinstance(exc, tx_error.TimeoutError | tx_error.TCPTimedOutError | DownloadTimeoutError):
        return "timeout", "応答がありません (timed out)"
    if isinstance(exc, tx_error.DNSLookupError | CannotResolveHostError):
        return "dns", "ホスト名を解決できません (DNS lookup failed)"
    if isinstance(exc, tx_error.ConnectionRefusedError | DownloadConnectionRefusedError):
        return "connection", "接続を拒否されました (connection refused)"
    if isinstance(
        exc,
        ResponseNeverReceived
        | tx_error.ConnectionLost
        | tx_error.ConnectionDone
        | DownloadFailedError,
    ):
        return "connection", "接続が切れました (connection lost before a response)"
    if isinstance(exc, ResponseFailed | ResponseDataLossError):
        return "truncated", "ページが途中で切れています (response body incomplete)"
    if isinstance(exc, IgnoreRequest):
        text = str(exc)
        if "robots" in text.lower():
            return "robots", "robots.txt で禁止されています (forbidden by robots.txt)"
        if "redirections" in text.lower():  # RedirectMiddleware: "max redirections reached"
            return "redirect_loop", "転送が繰り返されています (max redirections reached)"
        return "ignored", text or "ignored"
    return type(exc).__name__.lower(), str(exc)[:300] or type(exc).__name__


class HealthExtension:
    """Counts pages and listings, and errors that escape the spiders' own error handling."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        crawler.signals.connect(self.response_received, signal=signals.response_received)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)

    @classmethod
    def from_crawler(cls, crawler: Any) -> HealthExtension:
        return cls(crawler)

    def response_received(self, response: Any, request: Any, spider: Any) -> None:
        if request.meta.get("kyodo_page"):
            self.crawler.stats.inc_value("kyodo/pages")

    def item_scraped(self, item: Any, response: Any, spider: Any) -> None:
        self.crawler.stats.inc_value("kyodo/listings")
        if item.get("partial"):
            self.crawler.stats.inc_value("kyodo/partial")

    def item_dropped(self, item: Any, response: Any, exception: Any, spider: Any) -> None:
        url = getattr(response, "url", "") or item.get("url", "")
        record_error(self.crawler, "invalid_listing", url, str(exception))

    def spider_error(self, failure: Any, response: Any, spider: Any) -> None:
        from spiders.base import ShapeError  # base imports this module

        exc = failure.value
        kind = "shape" if isinstance(exc, ShapeError) else "parse"
        message = str(exc) if kind == "shape" else f"{type(exc).__name__}: {exc}"
        record_error(self.crawler, kind, response.url, message)
