"""The automated accessibility check: axe-core (npm, node_modules/) run in Chromium on each kind
of page, at desktop and phone width. No violation of impact serious or critical may remain."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import Site

BLOCKING = ("serious", "critical")


def axe_violations(page, axe_js) -> list[dict]:
    page.add_script_tag(path=str(axe_js))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return {violations: r.violations, version: axe.version};
        }"""
    )
    assert result["version"], "axe-core did not load"
    return result["violations"]


def assert_no_blocking(page, axe_js, where: str) -> None:
    """No axe-core violation of impact serious or critical; all of them listed if there are."""
    blocking = [v for v in axe_violations(page, axe_js) if v["impact"] in BLOCKING]
    if blocking:
        pytest.fail(f"axe-core on {where} ({page.url}):\n{describe(blocking)}", pytrace=False)


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    {json.dumps(node['target'], ensure_ascii=False)}")
            lines.append(f"      {node['failureSummary'].replace(chr(10), ' / ')}")
            lines.append(f"      {node['html'][:200]}")
    return "\n".join(lines)


def pages(site: Site) -> dict[str, str]:
    """The pages checked: the search page, results, two call pages, the print list, an error."""
    open_calls = site.api("/api/v1/calls", per_page="100")["items"]
    merged = max(open_calls, key=lambda item: len(item["sources"]))
    return {
        "search": "/",
        "results": site.href("/", q="福祉", field="health_welfare", area="reachable"),
        "no results": site.href("/", q="該当なしのことば"),
        "call": f"/calls/{merged['id']}",
        "call print view": f"/calls/{merged['id']}?print=1",
        "hostile call": f"/calls/{site.hostile_id}",
        "print list": site.href("/print", q="福祉"),
        "invalid search": site.href("/", deadline_before="2026-13-45"),
        "not found": "/calls/999999",
    }


KINDS = [
    "search",
    "results",
    "no results",
    "call",
    "call print view",
    "hostile call",
    "print list",
    "invalid search",
    "not found",
]


@pytest.mark.parametrize("kind", KINDS)
def test_no_serious_violations(page, site: Site, axe_js, kind: str) -> None:
    page.goto(pages(site)[kind])
    assert_no_blocking(page, axe_js, f"the {kind} page")


@pytest.mark.parametrize("kind", ["search", "call", "print list"])
def test_no_serious_violations_at_phone_width(phone_page, site: Site, axe_js, kind) -> None:
    phone_page.goto(pages(site)[kind])
    assert_no_blocking(phone_page, axe_js, f"the {kind} page at 360 px")


def test_print_list_in_print_media(page, site: Site, axe_js) -> None:
    page.goto(pages(site)["print list"])
    page.emulate_media(media="print")
    assert_no_blocking(page, axe_js, "the print list in print media")


def test_axe_finds_a_planted_violation(page, site: Site, axe_js) -> None:
    """The check itself works: an image without alt text and a nameless button are found."""
    page.goto("/")
    page.evaluate(
        """() => {
            const img = document.createElement('img'); img.src = '/static/site.css';
            const button = document.createElement('button');
            document.querySelector('main').append(img, button);
        }"""
    )
    ids = {v["id"] for v in axe_violations(page, axe_js) if v["impact"] in BLOCKING}
    assert {"image-alt", "button-name"} <= ids, ids
