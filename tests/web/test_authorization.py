"""Route by route: who may open what. Every page route of the app is classified here, so a
new route without a rule fails this test until someone decides who may use it.

- public routes answer everyone;
- member routes send anonymous visitors to the sign-in page (POST too, with a valid token)
  and answer 403 to the other roles;
- every POST route refuses a request without the browser's CSRF token (403), even from the
  right role.

Ownership (another group's or company's ids) is tested beside each feature; here every path
parameter points at an object that exists (id 1 of each table), so a 303/403 is the role check
and not a 404.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from aggregator.mail import enqueue
from aggregator.storage.models import (
    CompanyRow,
    CourseRow,
    GroupRow,
    OfferInterestRow,
    OfferRow,
)
from tests.web.conftest import ingest_calls

# path -> who may use it: "public", "staff", "group", "company", "signed_in"
PUBLIC_PREFIXES = ("/api/", "/feeds/", "/exports/")
RULES: list[tuple[str, str]] = [
    (r"^/staff(/|$)", "staff"),
    (r"^/my(/|$)", "group"),
    (r"^/calls/\{[a-z_]+\}/(save|unsave|dismiss|undismiss)$", "group"),
    (r"^/offers/\{[a-z_]+\}/interest$", "group"),
    (r"^/company/signup$", "public"),
    (r"^/company(/|$)", "company"),
    (r"^/account$", "signed_in"),
    (r"^/logout$", "public"),  # signing out when not signed in is harmless
    (r"^/(login|signup|password/forgot)$", "public"),
    (r"^/(password/reset|signup/confirm)/\{token\}$", "public"),
    (r"^/u/\{token\}$", "public"),
    (r"^/$", "public"),
    (r"^/print$", "public"),
    (r"^/calls/\{[a-z_]+\}(\.ics)?$", "public"),
    (r"^/offers(/\{[a-z_]+\})?$", "public"),
    (r"^/courses(/\{[a-z_]+\}(\.ics)?)?$", "public"),
    (r"^/healthz$", "public"),  # for load balancers: the database answers, the index's state
]
ROLES = ("staff", "group", "company")
# Mail clients POST here from outside the site (RFC 8058 one-click); the URL's token is the proof.
CSRF_EXEMPT = {"/u/{token}"}
EMAILS = {role: f"{role}@example.jp" for role in ROLES}


def _rule(path: str) -> str:
    for pattern, who in RULES:
        if re.search(pattern, path):
            return who
    raise AssertionError(f"route {path} has no authorization rule: add one to RULES")


def _all_routes(routes) -> list:
    """Routes, including those of included routers (FastAPI wraps them; none has a prefix)."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found.extend(_all_routes(inner.routes))
        else:
            found.append(route)
    return found


def _page_routes(app) -> list[tuple[str, str]]:
    routes = []
    for route in _all_routes(app.routes):
        if not isinstance(route, APIRoute) or route.path.startswith(PUBLIC_PREFIXES):
            continue
        for method in sorted(route.methods - {"HEAD"}):
            routes.append((method, _plain(route.path)))
    assert len(routes) > 40, "the app's routes were not found"
    return routes


def _plain(path: str) -> str:
    """`/calls/{call_id:int}` → `/calls/{call_id}`: the rules read parameter names only."""
    return re.sub(r"\{([a-z_]+):[a-z]+\}", r"{\1}", path)


def _fill(path: str) -> str:
    path = path.replace("{token}", "not-a-real-token")
    return re.sub(r"\{[a-z_]+\}", "1", path)


@pytest.fixture
def world(site):
    """One of everything, each with id 1, and a signed-in client per role."""
    now = datetime.now(UTC)
    ingest_calls(
        site.engine,
        [
            {
                "id": "a1",
                "source": "canpan",
                "title": "地域の子ども応援助成",
                "text": "締切: 2026年12月20日\n助成金額: 上限30万円",
                "url": "https://grants.example.jp/a1",
                "organizer": "公益財団法人 いろは財団",
            }
        ],
    )
    users = {role: site.user(role, EMAILS[role]) for role in ROLES}
    with Session(site.engine) as session:
        group = GroupRow(
            user_id=users["group"], name="ひまわり会", fields=["children_youth"],
            prefecture="千葉県", municipality="鎌ケ谷市", legal_form="任意団体",
            unsubscribe_token="u1", created_at=now, updated_at=now,
        )  # fmt: skip
        company = CompanyRow(
            user_id=users["company"], name="みどり商事", status="approved", created_at=now
        )
        session.add_all([group, company])
        session.flush()
        offer = OfferRow(
            company_id=company.id, kind="goods", title="ノートパソコン寄贈", description="10台",
            status="published", created_at=now, updated_at=now, published_at=now,
        )  # fmt: skip
        session.add(offer)
        session.add(
            CourseRow(
                kind="fundraising", title="寄付集め入門", starts_at=now + timedelta(days=10),
                place="センター会議室", how_to_apply="電話で", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        session.flush()
        session.add(OfferInterestRow(offer_id=offer.id, group_id=group.id, created_at=now))
        enqueue(
            session, site.settings, key="k1", kind="test", to="x@example.jp", subject="s", text="t"
        )
        session.commit()
    clients = {role: site.sign_in(EMAILS[role]) for role in ROLES}
    return clients


def test_every_route_has_a_rule(site):
    unclassified = []
    for _, path in _page_routes(site.app):
        try:
            _rule(path)
        except AssertionError:
            unclassified.append(path)
    assert unclassified == []


def test_anonymous_visitors_are_sent_to_sign_in(site, world):
    anonymous = site.client()
    token = site.token(anonymous)
    checked = 0
    for method, path in _page_routes(site.app):
        who = _rule(path)
        if who == "public":
            continue
        url = _fill(path)
        if method == "GET":
            response = anonymous.get(url)
        else:
            response = anonymous.request(method, url, data={"csrf_token": token})
        assert response.status_code == 303, (method, path, response.status_code)
        assert response.headers["location"].startswith("/login?next="), (method, path)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("role", ROLES)
def test_other_roles_are_refused(site, world, role):
    client = world[role]
    token = site.token(client, "/")
    checked = 0
    for method, path in _page_routes(site.app):
        who = _rule(path)
        if who in ("public", "signed_in", role):
            continue
        url = _fill(path)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.request(method, url, data={"csrf_token": token})
        assert response.status_code == 403, (role, method, path, response.status_code)
        assert "権限がありません" in response.text
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("role", ROLES)
def test_every_post_needs_the_csrf_token(site, world, role):
    client = world[role]
    checked = 0
    for method, path in _page_routes(site.app):
        if method == "GET":
            continue
        who = _rule(path)
        if who not in ("public", "signed_in", role):
            continue
        if path in CSRF_EXEMPT:
            continue
        if path == "/logout" and role != "staff":
            continue  # checked once is enough; it would sign this client out
        response = client.request(method, _fill(path), data={"something": "1"})
        assert response.status_code == 403, (role, method, path, response.status_code)
        assert "有効期限" in response.text
        checked += 1
    assert checked >= 2


def test_pages_need_no_token_to_be_read(site, world):
    """GET never changes anything, so it needs no token; all public GET pages answer."""
    anonymous = site.client()
    for method, path in _page_routes(site.app):
        if method != "GET" or _rule(path) != "public" or "{token}" in path:
            continue
        response = anonymous.get(_fill(path))
        assert response.status_code in (200, 303), (path, response.status_code)
