"""The crawl framework without a real source: mirror server, middlewares, base spider, health."""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as tx_error
from twisted.python.failure import Failure

from spiders.base import KyodoSpider, ShapeError, block_text, clean, date_text, labelled_text
from spiders.health import classify_failure
from spiders.middlewares import BackoffRetryMiddleware, CharsetMiddleware, MirrorMiddleware
from spiders.mirror import Mirror, MirrorServer, Route, Site
from tests.spiders.util import errors, make_spider, run_callback


def _get(url: str, host: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"X-Forwarded-Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


# -- the mirror server --------------------------------------------------------------------


@pytest.fixture()
def mirror_folder(tmp_path: Path) -> Path:
    site = tmp_path / "grants.example.jp"
    (site / "list").mkdir(parents=True)
    (site / "list" / "index.html").write_text("<p>一覧</p>", encoding="utf-8")
    (site / "feed.xml").write_text("<rss/>", encoding="utf-8")
    (site / "page2.html").write_text("<p>2ページ目</p>", encoding="utf-8")
    (site / "_routes.toml").write_text(
        '[[route]]\npath = "/list/"\nquery = { page = "2" }\nfile = "page2.html"\n',
        encoding="utf-8",
    )
    other = tmp_path / "other.example.jp"
    other.mkdir()
    (other / "index.html").write_text("<p>別のサイト</p>", encoding="utf-8")
    return tmp_path


def test_mirror_serves_each_host_at_its_real_paths(mirror_folder: Path) -> None:
    with MirrorServer(Mirror.from_folder(mirror_folder)) as server:
        status, body, headers = _get(server.url + "/list/", "grants.example.jp")
        assert (status, body.decode()) == (200, "<p>一覧</p>")
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        status, body, _ = _get(server.url + "/list/?page=2&sort=update", "grants.example.jp")
        assert body.decode() == "<p>2ページ目</p>"
        status, body, headers = _get(server.url + "/feed.xml", "grants.example.jp")
        assert headers["Content-Type"].startswith("application/rss+xml")
        status, body, _ = _get(server.url + "/", "other.example.jp")
        assert body.decode() == "<p>別のサイト</p>"
        assert _get(server.url + "/missing", "grants.example.jp")[0] == 404
        assert _get(server.url + "/_routes.toml", "grants.example.jp")[0] == 404
        assert _get(server.url + "/../other.example.jp/index.html", "grants.example.jp")[0] == 404
        assert ("grants.example.jp", "/list/?page=2&sort=update") in server.mirror.requests


def test_mirror_with_one_site_ignores_the_host() -> None:
    mirror = Mirror({"a.example": Site(routes=[Route(path="/x", body=b"ok")])})
    with MirrorServer(mirror) as server:
        assert _get(server.url + "/x")[1] == b"ok"


def test_mirror_faults() -> None:
    routes = [
        Route(path="/drop", drop=True),
        Route(path="/cut", body=b"x" * 1000, truncate=100),
        Route(path="/slow", body=b"late", delay=0.5),
        Route(path="/gone", body=b"", status=500),
    ]
    with MirrorServer(Mirror({"*": Site(routes=routes)})) as server:
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(server.url + "/drop", timeout=5).read()
        with pytest.raises(http.client.IncompleteRead):  # Content-Length says 1000
            urllib.request.urlopen(server.url + "/cut", timeout=5).read()
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
            urllib.request.urlopen(server.url + "/slow", timeout=0.1).read()
        assert _get(server.url + "/gone")[0] == 500


# -- middlewares --------------------------------------------------------------------------


def test_mirror_middleware_sends_requests_to_the_mirror_and_answers_under_real_urls() -> None:
    mw = MirrorMiddleware("http://127.0.0.1:9999/base/")
    request = Request("https://fields.canpan.info/grant/?page=2&dir=desc", meta={"a": 1})
    mirrored = mw.process_request(request)
    assert mirrored.url == "http://127.0.0.1:9999/base/grant/?page=2&dir=desc"
    assert mirrored.headers["X-Forwarded-Host"] == b"fields.canpan.info"
    assert mirrored.meta["download_slot"] == "fields.canpan.info"
    assert mirrored.meta["kyodo_real_url"] == request.url
    assert mirrored.meta["a"] == 1
    assert mw.process_request(mirrored) is None  # already on the mirror
    response = HtmlResponse(mirrored.url, body=b"<p>x</p>", request=mirrored)
    back = mw.process_response(mirrored, response)
    assert back.url == "https://fields.canpan.info/grant/?page=2&dir=desc"
    # Without a base URL nothing changes.
    assert MirrorMiddleware(None).process_request(request) is None


class _Crawlerish:
    def __init__(self) -> None:
        spider = make_spider(_Spider)
        self.stats = spider.crawler.stats


def test_charset_middleware_repairs_a_wrong_header() -> None:
    crawler = _Crawlerish()
    mw = CharsetMiddleware(crawler)
    body = (
        '<html><head><meta charset="Shift_JIS"></head><body>'
        "<h1>令和8年度 子ども食堂応援助成のご案内</h1><p>募集期間：12月1日から1月15日まで</p>"
        "</body></html>"
    ).encode("cp932")
    response = HtmlResponse(
        "http://x/", body=body, headers={"Content-Type": "text/html; charset=utf-8"}
    )
    assert "子ども食堂" not in response.text
    fixed = mw.process_response(Request("http://x/"), response)
    assert "子ども食堂応援助成" in fixed.text
    assert crawler.stats.get_value("kyodo/errors/encoding") == 1
    # A correct page is left alone.
    good = HtmlResponse("http://x/", body="<p>助成</p>".encode(), encoding="utf-8")
    assert mw.process_response(Request("http://x/"), good) is good


@pytest.mark.parametrize(("tries", "expected"), [(1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)])
def test_backoff_grows_and_is_capped(tries: int, expected: float, monkeypatch) -> None:
    import asyncio

    from scrapy.settings import Settings

    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    mw = BackoffRetryMiddleware(Settings({"KYODO_RETRY_BACKOFF": 2.0}))
    request = Request("http://x/", meta={"retry_times": tries})

    def twice() -> None:
        asyncio.run(mw.process_request(request))
        asyncio.run(mw.process_request(request))  # the same try waits once

    # In a thread of its own: the browser tests' Playwright keeps an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(twice).result()
    assert slept == [expected]


# -- failures and the base spider ----------------------------------------------------------


def _failure(exc: Exception, url: str = "http://x/d/1", meta: dict | None = None) -> Failure:
    failure = Failure(exc)
    failure.request = Request(url, meta=meta or {})
    return failure


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (HttpError(Response("http://x/", status=404)), "http_404"),
        (HttpError(Response("http://x/", status=500)), "http_500"),
        (tx_error.TimeoutError(), "timeout"),
        (tx_error.ConnectionRefusedError(), "connection"),
        (tx_error.DNSLookupError(), "dns"),
    ],
)
def test_failures_are_classified(exc: Exception, kind: str) -> None:
    assert classify_failure(_failure(exc))[0] == kind


class _Spider(KyodoSpider):
    name = "canpan"

    def parse(self, response):
        for a in self.require(response.css("li a"), "list items", response):
            row = self.listing(
                item_id=a.attrib["href"].rsplit("/", 1)[1],
                title=a.css("::text").get(),
                text="一覧の行",
                url=response.urljoin(a.attrib["href"]),
                status="募集中",
            )
            yield self.detail(response, a.attrib["href"], self.parse_detail, row)

    def parse_detail(self, response, row):
        cells = response.css("td::text").getall()
        if not cells:
            raise ShapeError("detail table not found")
        yield {**row, "text": labelled_text([("締切", cells[0])])}


def test_detail_rows_fall_back_to_partial_listings() -> None:
    spider = make_spider(_Spider)
    listing = HtmlResponse(
        "https://x.example/list",
        body='<ul><li><a href="/d/1">助成 A</a></li></ul>'.encode(),
        encoding="utf-8",
    )
    _, requests = run_callback(spider.parse, listing)
    (detail,) = requests
    assert detail.url == "https://x.example/d/1"
    assert detail.meta["kyodo_row"]["title"] == "助成 A"
    assert detail.errback is not None

    good = HtmlResponse(
        detail.url, body="<td>12月1日</td>".encode(), encoding="utf-8", request=detail
    )
    (item,), _ = run_callback(spider._parse_detail, good)
    assert item["text"] == "締切: 12月1日" and "partial" not in item

    changed = HtmlResponse(detail.url, body=b"<p>moved</p>", encoding="utf-8", request=detail)
    (item,), _ = run_callback(spider._parse_detail, changed)
    assert item["partial"] is True and item["title"] == "助成 A" and item["status"] == "募集中"
    assert errors(spider) == {"shape": 1}

    (item,) = list(spider._failed(_failure(tx_error.TimeoutError(), meta=detail.meta)))
    assert item["partial"] is True
    assert errors(spider) == {"shape": 1, "timeout": 1}


def test_a_list_page_of_another_shape_raises() -> None:
    spider = make_spider(_Spider)
    page = HtmlResponse("https://x.example/list", body=b"<div>new site</div>", encoding="utf-8")
    with pytest.raises(ShapeError):
        run_callback(spider.parse, page)


def test_listing_ids_and_cleaning() -> None:
    spider = make_spider(_Spider)
    row = spider.listing(
        item_id="12", title="　令和8年度\n 助成 ", text=" 本文 ", url="https://x/12", organizer=""
    )
    assert row == {
        "id": "canpan/12",
        "title": "令和8年度 助成",
        "text": "本文",
        "url": "https://x/12",
        "published": None,
        "organizer": None,
        "source": "canpan",
        "status": None,
    }
    with pytest.raises(ShapeError):
        spider.listing(item_id="1", title=" ", text="x", url="u")


def test_text_helpers() -> None:
    html = "<div><p>募集期間<br>12月1日～</p><script>x()</script><p> 上限　10万円 </p></div>"
    assert block_text(html) == "募集期間\n12月1日～\n上限 10万円"
    assert clean(" a\u3000 b\n c ") == "a b c"
    assert labelled_text([("締切", "1月15日"), ("", "備考のみ"), ("", "")]) == (
        "締切: 1月15日\n備考のみ"
    )
    assert date_text("2026年1月30日 13:07更新") == "2026-01-30"
    assert date_text("更新日:令和7(2025)年2月14日") == "2025-02-14"
    assert date_text("なし") is None
