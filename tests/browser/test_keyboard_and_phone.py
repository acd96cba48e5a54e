"""Keyboard use with a visible focus, and a 360 px phone screen (no sideways scroll, Japanese
glyphs from a CJK font, a screenshot kept as a test artifact)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import Site, result_ids

FOCUS_STATE = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(), id: el.id, type: el.type || null,
    href: el.getAttribute('href'),
    text: (el.innerText || el.value || '').trim(),
    focusVisible: el.matches(':focus-visible'),
    outline: parseFloat(style.outlineWidth) || 0, outlineStyle: style.outlineStyle,
    shadow: style.boxShadow,
  };
}"""


def tab_until(page, wanted, limit: int = 40) -> tuple[dict, int]:
    """Press Tab until `wanted(focus state)` holds; returns the state and the presses used."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STATE)
        if wanted(state):
            return state, presses
    pytest.fail(f"{limit} presses of Tab did not reach the element (last: {state})")


def assert_visible_focus(state: dict) -> None:
    assert state["focusVisible"], state
    ring = state["outline"] >= 2 and state["outlineStyle"] != "none"
    assert ring or state["shadow"] not in ("none", ""), f"focus is not visible: {state}"


def test_keyboard_reaches_the_search_field_and_submits(page, site: Site) -> None:
    page.goto("/")
    field, presses = tab_until(page, lambda s: s["id"] == "q")
    # skip link, site name, the navigation (search, offers, courses, sign-in, sign-up), field
    assert presses <= 9, f"the search field is {presses} Tab presses away"
    # The skip link (first stop) jumps over the header and navigation.
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "本文へ移動"
    page.keyboard.press("Enter")
    field, presses = tab_until(page, lambda s: s["id"] == "q")
    assert presses <= 2, f"after the skip link the search field is {presses} presses away"
    assert_visible_focus(field)
    page.keyboard.type("子ども")
    button, _ = tab_until(page, lambda s: s["tag"] == "button" and s["type"] == "submit", 3)
    assert_visible_focus(button)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert parse_qs(urlsplit(page.url).query).get("q") == ["子ども"], page.url
    assert (
        result_ids(page)
        == [i["id"] for i in site.api("/api/v1/calls", q="子ども")["items"]][
            : len(result_ids(page))
        ]
    )


def test_keyboard_opens_a_result(page, site: Site) -> None:
    page.goto(site.href("/", q="福祉"))
    first = result_ids(page)[0]
    link, _ = tab_until(page, lambda s: (s["href"] or "").startswith("/calls/"), 80)
    assert_visible_focus(link)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/calls/{first}")


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """() => Array.from(document.querySelectorAll('body *'))
            .filter(el => el.getBoundingClientRect().right > 361)
            .slice(0, 5).map(el => el.tagName + '.' + el.className)"""
    )
    assert width <= 360, f"{page.url}: scrollWidth {width} > 360; too wide: {wide}"


def rendering_fonts(page, selector: str) -> dict[str, int]:
    """The fonts Chromium actually drew an element's text with (family → glyph count)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return {f["familyName"]: f["glyphCount"] for f in fonts}


def test_phone_width_search_page_and_screenshot(phone_page, site: Site, artifacts) -> None:
    page = phone_page
    page.goto("/")
    no_sideways_scroll(page)
    # Japanese text comes from a CJK font (fonts-noto-cjk), not boxes of a fallback.
    fonts = rendering_fonts(page, "h1")
    assert any("CJK" in family for family in fonts), f"h1 drawn with {fonts} (fonts-noto-cjk?)"
    # Large type: body text at least 16 px.
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 16
    shot = artifacts / "search-360.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize(
    "path",
    ["/?q=福祉&status=all", "/?q=こども食堂&field=children_youth", "/print?q=福祉", "CALL"],
)
def test_phone_width_other_pages(phone_page, site: Site, path: str) -> None:
    page = phone_page
    if path == "CALL":
        # The call with the longest title among the open ones.
        items = site.api("/api/v1/calls", per_page="100")["items"]
        path = f"/calls/{max(items, key=lambda i: len(i['title']))['id']}"
    page.goto(path)
    assert page.locator("h1").is_visible()
    no_sideways_scroll(page)


def test_phone_width_hostile_call(phone_page, site: Site) -> None:
    phone_page.goto(f"/calls/{site.hostile_id}")
    no_sideways_scroll(phone_page)
