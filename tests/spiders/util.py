"""Helpers for spider tests: saved responses, spiders with a real crawler, CLI crawls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scrapy.http import HtmlResponse, Request, Response, TextResponse, XmlResponse
from scrapy.utils.test import get_crawler

from spiders.health import errors_by_kind
from spiders.mirror import SAMPLE_MIRROR

REPO = Path(__file__).resolve().parents[2]
FILES = REPO / "tests" / "files"


def sample_file(host: str, relative: str) -> Path:
    """A page of the bundled sample mirror: samples/mirror/<host>/<relative>."""
    return SAMPLE_MIRROR / host / relative


def response_from_file(
    path: Path,
    url: str,
    *,
    meta: dict[str, Any] | None = None,
    encoding: str | None = None,
    cls: type[Response] | None = None,
) -> Response:
    """A Scrapy response for a saved page, as if downloaded from `url`."""
    body = path.read_bytes()
    if cls is None:
        suffix = path.suffix.lower()
        cls = XmlResponse if suffix in (".xml", ".rss") else TextResponse
        cls = HtmlResponse if suffix in (".html", ".htm") else cls
    request = Request(url, meta=meta or {})
    kwargs: dict[str, Any] = {"url": url, "body": body, "request": request}
    if encoding:
        kwargs["encoding"] = encoding
    return cls(**kwargs)


def make_spider(cls: type, **kwargs: Any) -> Any:
    """A spider bound to a real (unstarted) crawler, so its stats and health work."""
    crawler = get_crawler(cls, {"EXTENSIONS": {}})
    return cls.from_crawler(crawler, **kwargs)


def run_callback(callback: Any, response: Response, *args: Any) -> tuple[list[dict], list[Request]]:
    """Items and requests a spider callback yields for `response`."""
    items: list[dict] = []
    requests: list[Request] = []
    for out in callback(response, *args) or ():
        if isinstance(out, Request):
            requests.append(out)
        else:
            items.append(dict(out))
    return items, requests


def errors(spider: Any) -> dict[str, int]:
    """Source-health error counts a spider recorded, by kind."""
    return errors_by_kind(spider.crawler.stats.get_stats())


def crawl_cli(
    sources: Iterable[str] | str,
    base_url: str,
    tmp_path: Path,
    *,
    env: dict[str, str] | None = None,
    extra_args: Iterable[str] = (),
    timeout: float = 120,
) -> tuple[list[dict], subprocess.CompletedProcess]:
    """Runs `kyodo crawl … --base-url … -o out.jsonl` in a subprocess; returns its listings."""
    names = [sources] if isinstance(sources, str) else list(sources)
    out = tmp_path / "out.jsonl"
    full_env = {
        **os.environ,
        "KYODO_DATABASE_URL": f"sqlite:///{tmp_path / 'crawl.db'}",
        "KYODO_CRAWL_DELAY": "0",
        "KYODO_RETRY_BACKOFF": "0",
        **(env or {}),
    }
    args = [sys.executable, "-m", "kyodo.cli", "crawl", *names, "--base-url", base_url]
    args += ["-o", str(out), *extra_args]
    proc = subprocess.run(
        args, env=full_env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout
    )
    items = []
    if out.exists():
        items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]
    return items, proc
