"""Browser tests: the real site (`kyodo serve`) in Debian's Chromium, driven by Playwright.

One database per session: the bundled sample mirror crawled by `kyodo crawl --all`, plus a
hostile call whose crawled text tries to run script. `kyodo serve` runs as a subprocess with
the date fixed at 2026-11-28. Playwright launches /usr/bin/chromium (never a downloaded
browser). Outside CI the tests skip when Chromium is absent; in CI (`CI` set) they fail.
Set-up: `bash scripts/browser-deps.sh` (Chromium, fonts-noto-cjk, axe-core).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts"
TODAY = date(2026, 11, 28)
IN_CI = bool(os.environ.get("CI"))
SETUP_HINT = "run `bash scripts/browser-deps.sh` (installs chromium, fonts-noto-cjk, axe-core)"

# Crawled text that tries to run script in three ways; none of it may run (window.__xss).
XSS_MARK = "悪意テスト"
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_LINK = '<a href="javascript:window.__xss=1">応募フォーム</a>'
XSS_URL = "javascript:window.__xss=1"
HOSTILE_LISTING = {
    "id": "xss-1",
    "source": "canpan",
    "url": XSS_URL,
    "title": f"{XSS_MARK}助成{XSS_SCRIPT}{XSS_IMG}",
    "text": (
        f"{XSS_MARK}の募集です。{XSS_SCRIPT}\n"
        "締切: 2026年12月18日\n"
        "助成金額: 上限30万円\n"
        f"詳しくは {XSS_LINK} へ。{XSS_IMG}\n"
        f"問い合わせ先: {XSS_URL}"
    ),
    "organizer": f"{XSS_SCRIPT}財団",
    "published": "2026-11-20",
    "status": "募集中",
}


def _unavailable(what: str) -> None:
    """Skip outside CI; in CI the browser tests must run, so a missing piece fails them."""
    message = f"{what}: {SETUP_HINT}"
    if IN_CI:
        pytest.fail(f"CI is set but {message}", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kyodo(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "kyodo.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"kyodo {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    return proc


def _wait_until_serving(proc: subprocess.Popen, url: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"kyodo serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            pytest.fail(f"kyodo serve answered {exc.code} at {url}:\n{log.read_text()[-3000:]}")
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"kyodo serve did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@dataclass
class Site:
    """The running site: its base URL, the database behind it and the hostile call's id."""

    url: str
    database_url: str
    hostile_id: int

    def href(self, path: str, **params: str | list[str]) -> str:
        query = urlencode(params, doseq=True)
        return f"{self.url}{path}" + (f"?{query}" if query else "")

    def api(self, path: str, **params: str | list[str]) -> dict:
        """GET a JSON API answer (the contract the pages must agree with)."""
        with urllib.request.urlopen(self.href(path, **params), timeout=10) as response:
            return json.load(response)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser-site")
    database_url = f"sqlite:///{folder / 'kyodo.db'}"
    env = {
        **os.environ,
        "KYODO_DATABASE_URL": database_url,
        "KYODO_CRAWL_DELAY": "0",
        "KYODO_RETRY_BACKOFF": "0",
    }
    _kyodo("db", "upgrade", env=env, cwd=folder)
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as mirror:
        _kyodo(
            "crawl", "--all", "--base-url", mirror.url, "--today", TODAY.isoformat(),
            env=env, cwd=folder,
        )  # fmt: skip
    hostile_id = _ingest_hostile_call(database_url)

    port = _free_port()
    with serving(env, folder, port):
        yield Site(url=f"http://127.0.0.1:{port}", database_url=database_url, hostile_id=hostile_id)


@contextmanager
def serving(env: dict[str, str], folder: Path, port: int) -> Iterator[subprocess.Popen]:
    """`kyodo serve` on 127.0.0.1:`port` with today fixed, until the block ends; its output
    goes to `folder/serve.log`."""
    log = folder / "serve.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kyodo.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--today", TODAY.isoformat()],
            env=env, cwd=folder, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_serving(proc, f"http://127.0.0.1:{port}/", log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ingest_listings(database_url: str, listings: list[dict]) -> None:
    """Listings into the database through the real Ingestor, statuses as of TODAY."""
    from aggregator.ingest import Ingestor
    from aggregator.search import refresh_statuses
    from aggregator.storage import make_engine

    engine = make_engine(database_url)
    try:
        report = Ingestor(engine, today=TODAY).ingest(listings)
        assert report.rejected == 0, report.rejections
        with Session(engine) as session:
            refresh_statuses(session, TODAY)
            session.commit()
    finally:
        engine.dispose()


def _ingest_hostile_call(database_url: str) -> int:
    from aggregator.storage import make_engine
    from aggregator.storage.models import CallRow

    ingest_listings(database_url, [HOSTILE_LISTING])
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            ids = session.scalars(select(CallRow.id).where(CallRow.title.contains(XSS_MARK))).all()
    finally:
        engine.dispose()
    assert len(ids) == 1, f"the hostile call was not stored as one call: {ids}"
    return ids[0]


# -- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package playwright is missing (pip install -e '.[dev]')")
    args = ["--lang=ja-JP"]  # Japanese formats in native controls (date inputs)
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did that a test may forbid: dialogs opened, uncaught script errors."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _watched_page(context, watch: Watch) -> object:
    page = context.new_page()

    def on_dialog(dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.set_default_timeout(15_000)
    return page


@pytest.fixture()
def watch() -> Iterator[Watch]:
    """Dialogs and script errors of the test's pages; no page may open a dialog."""
    watch = Watch()
    yield watch
    assert not watch.dialogs, f"a page opened a dialog: {watch.dialogs}"


def _context(browser, site: Site, **options):
    return browser.new_context(base_url=site.url, locale="ja-JP", **options)


@pytest.fixture()
def page(browser, site: Site, watch: Watch) -> Iterator[object]:
    """A fresh page (own cookies and cache) at desktop width, JavaScript on."""
    context = _context(browser, site, viewport={"width": 1280, "height": 900})
    try:
        yield _watched_page(context, watch)
    finally:
        context.close()


@pytest.fixture()
def nojs_page(browser, site: Site, watch: Watch) -> Iterator[object]:
    """A page with JavaScript disabled: the site must work without it."""
    context = _context(browser, site, java_script_enabled=False, accept_downloads=True)
    try:
        yield _watched_page(context, watch)
    finally:
        context.close()


@pytest.fixture()
def phone_page(browser, site: Site, watch: Watch) -> Iterator[object]:
    """A 360 px wide phone screen (touch, 2x pixels)."""
    context = _context(
        browser,
        site,
        viewport={"width": 360, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        yield _watched_page(context, watch)
    finally:
        context.close()


@pytest.fixture(scope="session")
def axe_js() -> Path:
    if not AXE_JS.exists():
        _unavailable(f"{AXE_JS.relative_to(REPO)} is missing")
    return AXE_JS


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# -- helpers for the tests ----------------------------------------------------------------------


def result_ids(page) -> list[int]:
    """The call ids of the results on a search page, in order."""
    hrefs = page.locator("#results article h3 a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    ids = []
    for href in hrefs:
        match = re.fullmatch(r"/calls/(\d+)", href or "")
        assert match, f"a result links elsewhere than a call page: {href!r}"
        ids.append(int(match.group(1)))
    return ids


def result_total(page) -> int:
    """The number of results the page announces (「19件」)."""
    text = page.locator("#results .result-count").inner_text()
    match = re.search(r"(\d[\d,]*)件", text)
    assert match, f"no result count in {text!r}"
    return int(match.group(1).replace(",", ""))
