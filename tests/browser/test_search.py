"""Searching in the browser without JavaScript: the form, the filters, the URL, a call page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.browser.conftest import Site, result_ids, result_total

KEYWORD = "福祉"  # two characters: the short-query path
FIELD = "children_youth"


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_keyword_and_field_through_the_form(nojs_page, site: Site) -> None:
    page = nojs_page
    page.goto("/")
    everything = result_ids(page)
    total_before = result_total(page)
    assert everything, "the search page lists the open calls before any search"

    page.fill("#q", KEYWORD)
    page.locator("form[role=search] summary").first.click()  # the field list is folded
    page.locator(f'input[name="field"][value="{FIELD}"]').check()
    page.get_by_role("button", name="この条件で検索").click()
    page.wait_for_load_state()

    # The URL holds the search, so it can be bookmarked and shared.
    query = query_of(page.url)
    assert query.get("q") == [KEYWORD], page.url
    assert query.get("field") == [FIELD], page.url
    # The results changed, and are those of the API for the same search.
    found = result_ids(page)
    api = site.api("/api/v1/calls", q=KEYWORD, field=FIELD)
    assert 0 < api["total"] < total_before
    assert result_total(page) == api["total"]
    assert found == [item["id"] for item in api["items"]][: len(found)]
    assert found != everything[: len(found)]
    for item in api["items"]:
        assert FIELD in item["fields"], item
    # The form shows the search it made.
    assert page.input_value("#q") == KEYWORD
    assert page.locator(f'input[name="field"][value="{FIELD}"]').is_checked()

    # The bookmarked URL gives the same page in a fresh visit.
    page.goto(page.url)
    assert result_ids(page) == found


def test_keyword_alone_then_changed(nojs_page, site: Site) -> None:
    """Two searches in a row: the second replaces the first (results and URL)."""
    page = nojs_page
    page.goto("/")
    page.fill("#q", KEYWORD)
    page.locator("#q").press("Enter")
    page.wait_for_load_state()
    first = result_ids(page)
    assert query_of(page.url).get("q") == [KEYWORD]
    assert result_total(page) == site.api("/api/v1/calls", q=KEYWORD)["total"]

    page.fill("#q", "まちづくり")
    page.locator("#q").press("Enter")
    page.wait_for_load_state()
    assert query_of(page.url).get("q") == ["まちづくり"]
    second = result_ids(page)
    api = site.api("/api/v1/calls", q="まちづくり")
    assert second == [item["id"] for item in api["items"]][: len(second)]
    assert second and second != first


def test_filter_by_area_and_status(nojs_page, site: Site) -> None:
    page = nojs_page
    page.goto("/")
    page.locator('input[name="area"][value="prefecture"]').check()
    page.locator('input[name="status"][value="upcoming"]').check()
    page.get_by_role("button", name="この条件で検索").click()
    page.wait_for_load_state()

    query = query_of(page.url)
    assert query.get("area") == ["prefecture"], page.url
    assert query.get("status") == ["upcoming"], page.url
    api = site.api("/api/v1/calls", area="prefecture", status="upcoming", per_page="100")
    assert api["total"] >= 2
    assert all(i["status"] == "upcoming" and i["area"] == "prefecture:千葉県" for i in api["items"])
    found = result_ids(page)
    assert result_total(page) == api["total"]
    assert found == [item["id"] for item in api["items"]][: len(found)]
    # What each result says agrees: 募集予定 and 千葉県.
    results = page.locator("#results article")
    assert results.count() == len(found)
    for n in range(results.count()):
        text = results.nth(n).inner_text()
        assert "募集予定" in text, text
        assert "千葉県" in text, text
    # The chosen radio buttons stay chosen.
    assert page.locator('input[name="area"][value="prefecture"]').is_checked()
    assert page.locator('input[name="status"][value="upcoming"]').is_checked()

    # Status 終了 in the same area: other calls.
    page.locator('input[name="status"][value="closed"]').check()
    page.get_by_role("button", name="この条件で検索").click()
    page.wait_for_load_state()
    closed = site.api("/api/v1/calls", area="prefecture", status="closed")
    assert query_of(page.url).get("status") == ["closed"]
    assert result_ids(page) == [item["id"] for item in closed["items"]][: len(result_ids(page))]
    assert not set(result_ids(page)) & set(found)


def test_open_a_call_from_the_results(nojs_page, site: Site) -> None:
    page = nojs_page
    page.goto(site.href("/", q=KEYWORD))
    first = page.locator("#results article h3 a").first
    title = first.inner_text().strip()
    first.click()
    page.wait_for_load_state()

    match = re.fullmatch(rf"{re.escape(site.url)}/calls/(\d+)", page.url)
    assert match, page.url
    call = site.api(f"/api/v1/calls/{match.group(1)}")
    assert page.locator("h1").inner_text().strip() == title == call["title"]
    body = page.locator("main").inner_text()
    # The deadline is shown in Japanese (2026年12月10日 ...), with a source link.
    year, month, day = (int(x) for x in call["deadline"].split("-"))
    assert f"{year}年{month}月{day}日" in body, body[:500]
    hrefs = page.eval_on_selector_all("main a[href]", "links => links.map(a => a.href)")
    assert call["url"] in hrefs
    assert "掲載されている場所" in body
    # Back to the search keeps it.
    page.go_back()
    assert query_of(page.url).get("q") == [KEYWORD]
