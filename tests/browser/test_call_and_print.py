"""A call's .ics download, and the print layouts (the センターだより list and the search page)."""

from __future__ import annotations

from tests.browser.conftest import Site, result_ids

KEYWORD = "福祉"


def visible_controls(page) -> list[str]:
    """Form controls a reader would see (tag and name)."""
    return page.locator("form, input, select, textarea, button").evaluate_all(
        """els => els
            .filter(el => el.type !== 'hidden' && el.getClientRects().length > 0
                          && getComputedStyle(el).visibility !== 'hidden')
            .map(el => `${el.tagName.toLowerCase()} ${el.name || el.id || ''}`)"""
    )


def test_download_the_deadline_as_ics(page, site: Site) -> None:
    page.goto(site.href("/", q=KEYWORD))
    call_id = result_ids(page)[0]
    call = site.api(f"/api/v1/calls/{call_id}")
    assert call["deadline"], "the first result (deadline order) has a deadline"
    page.goto(f"/calls/{call_id}")

    with page.expect_download() as info:
        page.get_by_role("link", name="締切をカレンダーに追加").click()
    download = info.value
    assert download.suggested_filename.endswith(".ics"), download.suggested_filename
    ics = download.path().read_bytes().decode("utf-8")
    lines = ics.replace("\r\n ", "").splitlines()  # unfold continuation lines
    assert lines[0] == "BEGIN:VCALENDAR", lines[:3]
    assert "BEGIN:VEVENT" in lines and lines[-1] == "END:VCALENDAR"
    compact = call["deadline"].replace("-", "")
    assert f"DTSTART;VALUE=DATE:{compact}" in lines, ics  # an all-day event on the deadline
    url_lines = [line for line in lines if line.startswith("URL")]
    assert len(url_lines) == 1 and url_lines[0].endswith(f"/calls/{call_id}"), ics


def test_print_list_in_print_media(page, site: Site, artifacts) -> None:
    api = site.api("/api/v1/calls", q=KEYWORD, per_page="100")
    assert 0 < api["total"] <= 100
    page.goto("/")
    page.fill("#q", KEYWORD)
    page.locator("#q").press("Enter")
    page.wait_for_load_state()
    # The search page links to its printable list with the same search.
    page.get_by_role("link", name="印刷用の一覧（センターだより用）").click()
    page.wait_for_load_state()
    assert "/print?" in page.url and "q=" in page.url, page.url

    page.emulate_media(media="print")
    assert page.evaluate("matchMedia('print').matches")
    assert visible_controls(page) == []
    assert not page.get_by_text("検索ページに戻る").is_visible()  # screen-only line
    rows = page.locator("main table tbody tr")
    assert rows.count() == api["total"]
    titles = [rows.nth(n).locator(".print-title").inner_text().strip() for n in range(3)]
    assert titles == [item["title"] for item in api["items"][:3]]
    for n in range(rows.count()):
        assert rows.nth(n).is_visible()
        cells = rows.nth(n).locator("th, td")
        assert cells.count() == 4  # title+organizer, deadline, amount, who may apply
        assert all(cells.nth(c).inner_text().strip() for c in range(4))

    # A4 as Chromium prints it; kept as an artifact to look at.
    pdf = page.pdf(format="A4", print_background=False)
    assert pdf.startswith(b"%PDF")
    (artifacts / "print-list.pdf").write_bytes(pdf)


def test_search_page_prints_without_its_form(page, site: Site) -> None:
    page.goto(site.href("/", q=KEYWORD))
    assert visible_controls(page), "on screen the form is there"
    page.emulate_media(media="print")
    assert visible_controls(page) == []
    results = page.locator("#results article")
    assert results.count() == len(result_ids(page)) > 0
    assert results.first.is_visible()


def test_call_page_print_layout(page, site: Site) -> None:
    page.goto(site.href("/", q=KEYWORD))
    call_id = result_ids(page)[0]
    page.goto(f"/calls/{call_id}")
    page.get_by_role("link", name="印刷用に表示").click()
    page.wait_for_load_state()
    page.emulate_media(media="print")
    assert not page.get_by_role("link", name="締切をカレンダーに追加").is_visible()
    assert page.locator("h1").is_visible()
    assert page.locator("table.facts tbody tr").count() >= 3
