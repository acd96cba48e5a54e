"""Downloader middlewares: a mirror for every request, charset repair, retries with backoff."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response, TextResponse

from spiders.health import record_error


class MirrorMiddleware:
    """With the setting `KYODO_BASE_URL`, sends every request to that mirror instead.

    `https://fields.canpan.info/grant/?page=2` becomes `{base}/grant/?page=2`: the mirror has
    the real site's paths. The real host goes along in `X-Forwarded-Host` (one mirror can hold
    several sites) and each real host keeps its own download slot, so politeness is per site.
    Responses come back under their real URLs, so spiders and listings never see the mirror.
    Runs after robots.txt (robots.txt of the real host is fetched, through the mirror).
    """

    def __init__(self, base_url: str | None) -> None:
        self.base = base_url.rstrip("/") if base_url else None
        self.netloc = urlsplit(self.base).netloc if self.base else None

    @classmethod
    def from_crawler(cls, crawler: Any) -> MirrorMiddleware:
        return cls(crawler.settings.get("KYODO_BASE_URL"))

    def process_request(self, request: Request, spider: Any = None) -> Request | None:
        if not self.base:
            return None
        parts = urlsplit(request.url)
        if parts.netloc == self.netloc:
            return None
        target = self.base + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = request.headers.copy()
        headers["X-Forwarded-Host"] = parts.netloc
        return request.replace(
            url=target,
            headers=headers,
            dont_filter=True,  # the real URL passed the duplicate filter already
            meta={
                **request.meta,
                "kyodo_real_origin": f"{parts.scheme}://{parts.netloc}",
                "kyodo_real_url": request.url,
                "download_slot": parts.netloc,
                # robots.txt was checked on the real URL; the mirror URL is the same page
                "dont_obey_robotstxt": True,
            },
        )

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        origin = request.meta.get("kyodo_real_origin")
        if not self.base or not origin or not response.url.startswith(self.base):
            return response
        return response.replace(url=origin + (response.url[len(self.base) :] or "/"))


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.IGNORECASE)
# Letters that appear when UTF-8 or Shift_JIS Japanese is read as Latin-1 / cp1252.
_MOJIBAKE = re.compile("[\u00c0-\u00ff][\u0080-\u00ff\u2018-\u203a]")
_CANDIDATES = ("utf-8", "cp932", "euc_jp")


class CharsetMiddleware:
    """Repairs pages whose HTTP header names the wrong charset (the header wins in Scrapy).

    When the text read with the header's charset is broken (replacement characters or
    Latin-1 mojibake) and the bytes decode cleanly as the `<meta>` charset or as UTF-8,
    Shift_JIS (cp932) or EUC-JP, the page is re-read that way and the fault is recorded
    (`encoding`) in source health.
    """

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> CharsetMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        if not isinstance(response, TextResponse) or not response.body:
            return response
        text = response.text
        if not _garbled(text):
            return response
        head = response.body[:4096]
        declared = _META_CHARSET.search(head)
        candidates = ([declared.group(1).decode("ascii")] if declared else []) + list(_CANDIDATES)
        for charset in candidates:
            try:
                fixed = response.body.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
            if not _garbled(fixed):
                record_error(
                    self.crawler,
                    "encoding",
                    request.meta.get("kyodo_real_url", response.url),
                    f"文字コードの指定が誤っています (charset header says {response.encoding}, "
                    f"page is {charset})",
                )
                return response.replace(encoding=charset)
        record_error(
            self.crawler,
            "encoding",
            response.url,
            "文字化けしたページです (page text is garbled in every known charset)",
        )
        return response


def _garbled(text: str) -> bool:
    sample = text[:20000]
    if sample.count("\ufffd") >= 3:
        return True
    return len(_MOJIBAKE.findall(sample)) >= 10


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, waiting longer before each new try (base × 2^(try−1), at most 60 s)."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("KYODO_RETRY_BACKOFF", 2.0)

    async def process_request(self, request: Request, spider: Any = None) -> None:
        tries = request.meta.get("retry_times", 0)
        if tries and self.backoff_base > 0 and request.meta.get("kyodo_backed_off") != tries:
            request.meta["kyodo_backed_off"] = tries
            await asyncio.sleep(min(60.0, self.backoff_base * 2 ** (tries - 1)))
        return None
