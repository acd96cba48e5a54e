"""The weekly digest's HTML part as a phone's mail app shows it (real Chromium, 360 px): one
column with no sideways scroll, large type, tappable links, nothing loaded from outside and
nothing run; the crawled hostile call's text stays text.

The digest is built from a copy of the browser tests' database (the sample mirror crawled by
`kyodo crawl`, plus a call full of markup) for a Kamagaya group working for children.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from aggregator.groups import GroupProfile, create_group
from aggregator.settings import Settings
from aggregator.storage import make_engine
from digest.build import IsoWeek, build_digest

PHONE_WIDTH = 360
WEEK = IsoWeek.parse("2026-W49")


@pytest.fixture(scope="module")
def digest_html(site, tmp_path_factory: pytest.TempPathFactory) -> str:
    source = Path(site.database_url.removeprefix("sqlite:///"))
    copy = tmp_path_factory.mktemp("digest-mail") / "kyodo.db"
    shutil.copy(source, copy)
    engine = make_engine(f"sqlite:///{copy}")
    settings = Settings(database_url=f"sqlite:///{copy}", site_url="https://kyodo.example.jp")
    try:
        with Session(engine) as session:
            group = create_group(
                session,
                GroupProfile(
                    name="こども広場の会",
                    fields=["children_youth", "social_welfare", "community"],
                    prefecture="千葉県",
                    municipality="鎌ケ谷市",
                    legal_form="任意団体",
                    members=None,
                    founded_year=None,
                    needs=[],
                    recipients=["kids@example.jp"],
                ),
                user_id=None,
                registered_by_staff=True,
            )
            session.commit()
            digest = build_digest(
                session, group, WEEK, settings, today=date(2026, 11, 30), since=None
            )
    finally:
        engine.dispose()
    assert digest is not None and digest.counts["new"] >= 3, digest and digest.counts
    return digest.html


def test_the_digest_reads_on_a_phone_without_sideways_scroll(browser, digest_html: str):
    context = browser.new_context(
        viewport={"width": PHONE_WIDTH, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    requests: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.set_content(digest_html, wait_until="load")

        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH, f"the digest scrolls sideways at 360 px ({width} px)"
        # Large type: body text at least 18 px, section headings larger, every link 18 px+.
        sizes = page.evaluate(
            """() => {
                const px = (el) => parseFloat(getComputedStyle(el).fontSize);
                const texts = [...document.querySelectorAll('p')].map(px);
                const links = [...document.querySelectorAll('a')].map(px);
                const heads = [...document.querySelectorAll('h2')].map(px);
                return {text: Math.min(...texts), link: Math.min(...links),
                        head: Math.min(...heads), count: links.length};
            }"""
        )
        assert sizes["text"] >= 18 and sizes["link"] >= 18 and sizes["head"] > 18, sizes
        # Every link goes to the site over https (call pages, settings, unsubscribe).
        hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.href)")
        assert len(hrefs) == sizes["count"] >= 5
        assert all(h.startswith("https://kyodo.example.jp/") for h in hrefs), hrefs
        # Links are tall enough to tap: the call titles' line boxes are at least 24 px.
        heights = page.eval_on_selector_all(
            "a", "els => els.map(e => e.getBoundingClientRect().height)"
        )
        assert min(heights) >= 24, heights
        # Nothing is fetched (no tracking pixel, no web font, no stylesheet) or run.
        assert [r for r in requests if not r.startswith(("about:", "data:"))] == []
        assert dialogs == []
        assert page.evaluate("document.images.length") == 0
        assert page.evaluate("document.scripts.length") == 0
    finally:
        context.close()


def test_the_digest_is_one_readable_column_on_a_desktop_mail_reader(browser, digest_html: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_content(digest_html, wait_until="load")
        column = page.evaluate("document.querySelector('body > div').getBoundingClientRect().width")
        assert column <= 640 + 2 * 16  # 640 px of text (plus padding): short lines on a wide screen
        assert page.evaluate("document.documentElement.lang") == "ja"
    finally:
        context.close()
