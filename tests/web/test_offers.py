"""Offers in public: the list and its filters, the block on the search page, the JSON API,
関心がある (mails to the company and the centre, the coordination record), and the offers a
group's digest gets (`matching_offers`)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator import offers as offer_states
from aggregator.offers import (
    OfferForm,
    matching_offers,
    parse_place,
    read_amount,
    search_offers,
    validate_offer,
)
from aggregator.search import Home
from aggregator.storage.models import (
    CompanyRow,
    CoordinationLogRow,
    GroupRow,
    OfferInterestRow,
    OfferRow,
)
from tests.web.conftest import TODAY, body_text, ingest_calls
from tests.web.test_companies import CENTRE, STAFF, make_company, make_group, soup

PUBLISHED_AT = datetime(2026, 11, 1, tzinfo=UTC)


def add_offer(site, company_id: int, *, status: str = "published", **values) -> int:
    """An offer made through aggregator.offers (create → submit → publish), like the pages do."""
    form = OfferForm(
        kind=values.pop("kind", "goods"),
        title=values.pop("title", "ノートパソコンの寄贈"),
        description=values.pop("description", "使わなくなったパソコンをお譲りします。"),
        fields=values.pop("fields", ["children_youth"]),
        area=values.pop("area", "national"),
        amount=values.pop("amount", ""),
        quantity=values.pop("quantity", ""),
        period_start=values.pop("period_start", ""),
        period_end=values.pop("period_end", ""),
        how_to_apply=values.pop("how_to_apply", "メールでお知らせください。"),
        contact=values.pop("contact", "CSR窓口 csr@example.co.jp"),
    )
    assert not values, values
    checked, errors = validate_offer(form, Home(), TODAY)
    assert checked is not None, errors
    with Session(site.engine) as session:
        company = session.get(CompanyRow, company_id)
        offer = offer_states.create(company, checked)
        session.add(offer)
        session.flush()
        if status != "draft":
            offer_states.submit(offer)
        if status in ("published", "closed"):
            offer_states.publish(offer, staff_user_id=None, now=PUBLISHED_AT)
        if status == "closed":
            offer_states.close(offer)
        session.commit()
        return offer.id


# -- 関心がある ------------------------------------------------------------------------------------


def test_a_group_expresses_interest_and_staff_keep_the_record(any_site):
    site = any_site
    site.user("staff", STAFF)
    company_id = make_company(site, "csr@midori.example.co.jp", "みどり商事")
    group_id = make_group(
        site,
        "kaikei@himawari.example.jp",
        "ひまわり子ども会",
        fields=["children_youth", "health_welfare"],
        recipients=["daihyo@himawari.example.jp"],
    )
    make_group(site, "other@example.jp", "あさがお会")
    offer_id = add_offer(site, company_id, title="子ども向けノートパソコンの寄贈")
    group = site.sign_in("kaikei@himawari.example.jp")

    page = soup(group.get(f"/offers/{offer_id}"))
    form = page.select_one(f"form[action='/offers/{offer_id}/interest']")
    assert form is not None and form.find("button").get_text(strip=True) == "関心がある"
    assert page.find("label", attrs={"for": "f-message"})

    message = "子ども食堂の宿題コーナーで使いたいです。"
    response = site.post(group, f"/offers/{offer_id}/interest", {"message": message})
    assert response.headers["location"] == f"/offers/{offer_id}?notice=interest_sent"
    shown = group.get(response.headers["location"]).text
    assert "企業とセンターに伝えました" in shown and "すでに関心を伝えています" in shown

    with Session(site.engine) as session:
        interest = session.scalars(select(OfferInterestRow)).one()
        assert (interest.offer_id, interest.group_id, interest.message, interest.status) == (
            offer_id,
            group_id,
            message,
            "new",
        )
        interest_id = interest.id
        log = session.scalars(select(CoordinationLogRow).order_by(CoordinationLogRow.id)).all()
        assert [entry.kind for entry in log] == ["interest", "mail"]
        assert message in log[0].body

    # The company: the group's name, fields, area and message; no addresses, no people.
    [to_company] = site.smtp.to("csr@midori.example.co.jp")
    text = body_text(to_company)
    assert (
        "関心" in to_company["Subject"]
        and "子ども向けノートパソコンの寄贈" in to_company["Subject"]
    )
    for fact in ("ひまわり子ども会", "子どもの健全育成", "保健・医療・福祉", "千葉県鎌ケ谷市"):
        assert fact in text, fact
    assert message in text and "センターが間に入り" in text
    for private in ("kaikei@", "daihyo@", "鈴木", "047-333-4444"):
        assert private not in text, private
    # The centre: the group's contacts too, and the link to the record.
    [to_staff] = site.smtp.to(CENTRE)
    staff_text = body_text(to_staff)
    for fact in (
        "kaikei@himawari.example.jp",
        "daihyo@himawari.example.jp",
        "鈴木 一郎",
        "047-333-4444",
        "csr@midori.example.co.jp",
        f"/staff/interests/{interest_id}",
        message,
    ):
        assert fact in staff_text, fact

    # Pressing again: said once is enough; no second mail.
    site.smtp.clear()
    again = site.post(group, f"/offers/{offer_id}/interest", {"message": "もう一度"})
    assert again.headers["location"] == f"/offers/{offer_id}?notice=interest_already"
    assert "すでに関心を伝えています" in group.get(again.headers["location"]).text
    assert site.smtp.messages == []
    with Session(site.engine) as session:
        assert len(session.scalars(select(OfferInterestRow)).all()) == 1

    # The company sees who, without personal data.
    company = site.sign_in("csr@midori.example.co.jp")
    for path in (f"/company/offers/{offer_id}", "/company"):
        seen = company.get(path).text
        assert "ひまわり子ども会" in seen and message in seen
        for private in ("kaikei@", "daihyo@", "鈴木", "047-333-4444"):
            assert private not in seen, (path, private)

    # Staff: the list, the record with everyone's contacts, notes and status.
    staff = site.sign_in(STAFF)
    listing = staff.get("/staff/interests").text
    assert "ひまわり子ども会" in listing and f"/staff/interests/{interest_id}" in listing
    record = staff.get(f"/staff/interests/{interest_id}").text
    for fact in ("kaikei@himawari.example.jp", "daihyo@himawari.example.jp", "047-111-2222"):
        assert fact in record, fact
    empty = site.post(staff, f"/staff/interests/{interest_id}/note", {"body": ""})
    assert empty.status_code == 400
    note = "団体に電話し、企業へ連絡先を伝える了承を得た。"
    added = site.post(staff, f"/staff/interests/{interest_id}/note", {"body": note})
    assert added.headers["location"] == f"/staff/interests/{interest_id}?notice=note_added"
    changed = site.post(staff, f"/staff/interests/{interest_id}/status", {"status": "done"})
    assert changed.headers["location"] == f"/staff/interests/{interest_id}?notice=status_changed"
    bad = site.post(staff, f"/staff/interests/{interest_id}/status", {"status": "lost"})
    assert bad.status_code == 400
    with Session(site.engine) as session:
        interest = session.get(OfferInterestRow, interest_id)
        assert interest.status == "done"
        log = session.scalars(
            select(CoordinationLogRow)
            .where(CoordinationLogRow.interest_id == interest_id)
            .order_by(CoordinationLogRow.id)
        ).all()
        assert [entry.kind for entry in log] == ["interest", "mail", "note", "status"]
        staff_id = log[2].author_id
        assert staff_id is not None and log[3].author_id == staff_id
        assert log[2].body == note and log[2].created_at is not None
        assert "「対応中」から「完了」" in log[3].body  # a note started the work
    record = staff.get(f"/staff/interests/{interest_id}").text
    assert note in record and STAFF in record  # who wrote it
    done_only = staff.get("/staff/interests", params={"status": "new"}).text
    assert "ひまわり子ども会" not in done_only


def test_interest_is_for_groups_and_published_offers_only(site):
    site.user("staff", STAFF)
    company_id = make_company(site, "csr@midori.example.co.jp", "みどり商事")
    make_group(site, "group@example.jp", "ひまわり会")
    published = add_offer(site, company_id)
    draft = add_offer(site, company_id, status="draft", title="下書き")
    pending = add_offer(site, company_id, status="pending", title="申請中")
    closed = add_offer(site, company_id, status="closed", title="終了")
    group = site.sign_in("group@example.jp")
    for offer_id in (draft, pending, closed, 999999):
        assert group.get(f"/offers/{offer_id}").status_code == 404
        assert site.post(group, f"/offers/{offer_id}/interest").status_code == 404
    company = site.sign_in("csr@midori.example.co.jp")
    staff = site.sign_in(STAFF)
    assert site.post(company, f"/offers/{published}/interest").status_code == 403
    assert site.post(staff, f"/offers/{published}/interest").status_code == 403
    anonymous = site.client()
    redirect = site.post(anonymous, f"/offers/{published}/interest")
    assert redirect.headers["location"].startswith("/login?next=")
    page = anonymous.get(f"/offers/{published}").text
    assert f"/login?next=/offers/{published}" in page and "関心がある</button>" not in page
    long = site.post(group, f"/offers/{published}/interest", {"message": "あ" * 1001})
    assert long.status_code == 400 and "1000文字以内" in long.text
    assert "あ" * 1001 in long.text  # what was typed is kept
    with Session(site.engine) as session:
        assert session.scalars(select(OfferInterestRow)).all() == []
        assert session.scalars(select(CoordinationLogRow)).all() == []


def test_staff_interest_record_of_another_id_is_404(site):
    site.user("staff", STAFF)
    staff = site.sign_in(STAFF)
    assert staff.get("/staff/interests/12345").status_code == 404
    assert site.post(staff, "/staff/interests/12345/note", {"body": "x"}).status_code == 404
    make_group(site, "group@example.jp", "ひまわり会")
    group_client = site.sign_in("group@example.jp")
    assert group_client.get("/staff/interests").status_code == 403
    assert site.client().get("/staff/interests").headers["location"].startswith("/login")


# -- the public list, the search page, the API ----------------------------------------------------


@pytest.fixture
def offers(any_site):
    """Published offers of several kinds, fields and areas, and some that are not public."""
    site = any_site
    green = make_company(site, "csr@midori.example.co.jp", "みどり商事")
    pending = make_company(site, "new@example.co.jp", "申請中工業", status="pending")
    ids = {
        "pc": add_offer(
            site, green, kind="goods", title="ノートパソコンの寄贈", area="prefecture:千葉県",
            fields=["children_youth", "it_society"], quantity="10台",
        ),
        "room": add_offer(
            site, green, kind="space", title="会議室を無料でお貸しします",
            area="municipality:鎌ケ谷市", fields=[],
        ),
        "fund": add_offer(
            site, green, kind="money", title="福祉活動への寄付金", amount="50万円",
            area="national", fields=["health_welfare"],
        ),
        "tokyo": add_offer(
            site, green, kind="probono", title="ウェブサイト制作のプロボノ",
            area="prefecture:東京都", fields=["it_society"],
        ),
        "ended": add_offer(
            site, green, kind="goods", title="期間が終わった机の寄贈",
            period_end=(TODAY - timedelta(days=1)).isoformat(),
        ),
        "draft": add_offer(site, green, status="draft", title="下書きのパソコン"),
        "closed": add_offer(site, green, status="closed", title="終了したパソコン"),
    }  # fmt: skip
    with Session(site.engine) as session:
        # Published while its company was approved, then the company's approval withdrawn.
        session.get(CompanyRow, pending).status = "approved"
        session.commit()
    ids["unapproved"] = add_offer(site, pending, title="承認のないパソコン")
    with Session(site.engine) as session:
        session.get(CompanyRow, pending).status = "pending"
        session.commit()
    return ids


def listed(response) -> list[str]:
    return [a.get_text(strip=True) for a in soup(response).select("ol.offer-results h3 a")]


def test_public_list_shows_only_published_and_filters(any_site, offers):
    site = any_site
    client = site.client()
    everything = listed(client.get("/offers"))
    assert sorted(everything) == sorted(
        [
            "ノートパソコンの寄贈",
            "会議室を無料でお貸しします",
            "福祉活動への寄付金",
            "ウェブサイト制作のプロボノ",
        ]
    )
    # Keyword folded like the calls' (katakana ↔ hiragana, full width).
    assert listed(client.get("/offers", params={"q": "のーとぱそこん"})) == ["ノートパソコンの寄贈"]
    assert listed(client.get("/offers", params={"q": "ﾉｰﾄ"})) == ["ノートパソコンの寄贈"]
    assert listed(client.get("/offers", params={"q": "会議室 無料"})) == [
        "会議室を無料でお貸しします"
    ]
    assert listed(client.get("/offers", params={"q": "物品"})) == ["ノートパソコンの寄贈"]
    by_kind = listed(client.get("/offers", params={"kind": ["money", "space"]}))
    assert sorted(by_kind) == ["会議室を無料でお貸しします", "福祉活動への寄付金"]
    # An offer for no particular field matches every field.
    by_field = listed(client.get("/offers", params={"field": "it_society"}))
    assert sorted(by_field) == sorted(
        ["ノートパソコンの寄贈", "ウェブサイト制作のプロボノ", "会議室を無料でお貸しします"]
    )
    reachable = listed(client.get("/offers", params={"area": "reachable"}))
    assert "ウェブサイト制作のプロボノ" not in reachable and len(reachable) == 3
    assert listed(client.get("/offers", params={"area": "municipality"})) == [
        "会議室を無料でお貸しします"
    ]
    page = soup(client.get("/offers", params={"kind": "money", "area": "national"}))
    assert page.select_one("input[name=kind][value=money]").has_attr("checked")
    assert page.select_one("input[name=area][value=national]").has_attr("checked")
    assert listed(client.get("/offers", params={"page": "abc", "kind": "nonsense"})) != []
    detail = client.get(f"/offers/{offers['fund']}").text
    assert "50万円" in detail and "寄付金" in detail and "全国" in detail
    for hidden in ("ended", "draft", "closed", "unapproved"):
        assert client.get(f"/offers/{offers[hidden]}").status_code == 404, hidden


def test_public_list_pages(site):
    company = make_company(site, "csr@midori.example.co.jp", "みどり商事")
    for n in range(23):
        add_offer(site, company, title=f"寄贈品 その{n}")
    client = site.client()
    first = client.get("/offers")
    assert len(listed(first)) == 20 and "23件" in first.text
    next_href = soup(first).select_one(".pagination a[rel=next]")["href"]
    second = client.get(next_href)
    assert len(listed(second)) == 3 and not set(listed(second)) & set(listed(first))


def test_search_page_shows_matching_offers_in_their_own_block(any_site, offers):
    site = any_site
    ingest_calls(
        site.engine,
        [
            {
                "id": f"c{n}",
                "source": "canpan",
                "title": f"子どものノートパソコン教室助成 第{n}回",
                "text": "締切: 2026年12月20日\n助成金額: 上限30万円\n対象: 子どもの育成",
                "url": f"https://grants.example.jp/c{n}",
                "organizer": "公益財団法人 いろは財団",
            }
            for n in (1, 2)
        ],
    )
    client = site.client()
    page = soup(client.get("/", params={"q": "ノートパソコン"}))
    block = page.select_one(".offers-block")
    assert block.h3.get_text(strip=True) == "企業からの支援 1件"
    links = [a["href"] for a in block.select("li a")]
    assert links == [f"/offers/{offers['pc']}"]
    assert "物品寄贈" in block.get_text() and "みどり商事" in block.get_text()
    full = block.select("p a")[-1]["href"]
    assert urlsplit(full).path == "/offers" and parse_qs(urlsplit(full).query) == {
        "q": ["ノートパソコン"]
    }
    # The calls are still the results, and they come after the block.
    assert [a.get_text(strip=True) for a in page.select("ol.results h3 a")]
    text = str(page)
    assert text.index("offers-block") < text.index('class="results"')

    # Same fields and area as the calls.
    block = soup(client.get("/", params={"field": "health_welfare", "area": "reachable"}))
    titles = {a.get_text(strip=True) for a in block.select(".offers-block li a")}
    assert titles == {"福祉活動への寄付金", "会議室を無料でお貸しします"}
    # A kind filter; and none matching says so.
    kinds = soup(client.get("/", params={"offer_kind": "space"}))
    assert [a.get_text(strip=True) for a in kinds.select(".offers-block li a")] == [
        "会議室を無料でお貸しします"
    ]
    assert kinds.select_one("input[name=offer_kind][value=space]").has_attr("checked")
    none = soup(client.get("/", params={"offer_kind": "sponsorship"}))
    assert "企業からの支援 0件" in none.select_one(".offers-block").get_text()
    # Hidden on request, and the calls' paging keeps that choice.
    hidden = soup(
        client.get("/", params={"q": "ノートパソコン", "offers": "hide", "per_page": "1"})
    )
    assert hidden.select_one(".offers-block") is None
    assert hidden.select_one("input[name=offers][value=hide]").has_attr("checked")
    next_href = hidden.select_one(".pagination a[rel=next]")["href"]
    assert parse_qs(urlsplit(next_href).query)["offers"] == ["hide"]
    # Nothing matching, nothing chosen: no block at all.
    assert (
        soup(client.get("/", params={"q": "存在しないことば"})).select_one(".offers-block") is None
    )


def test_api_lists_published_offers_without_personal_data(any_site, offers):
    site = any_site
    client = site.client()
    data = client.get("/api/v1/offers").json()
    assert data["total"] == 4 and data["page"] == 1
    fund = next(item for item in data["items"] if item["id"] == offers["fund"])
    assert fund == {
        "id": offers["fund"],
        "kind": "money",
        "kind_label": "寄付金",
        "title": "福祉活動への寄付金",
        "company": "みどり商事",
        "description": "使わなくなったパソコンをお譲りします。",
        "fields": ["health_welfare"],
        "area": "national",
        "amount_yen": 500_000,
        "quantity": None,
        "period_start": None,
        "period_end": None,
        "how_to_apply": "メールでお知らせください。",
        "contact": "CSR窓口 csr@example.co.jp",
        "url": f"http://testserver/offers/{offers['fund']}",
        "published_at": fund["published_at"],
    }
    assert fund["published_at"].startswith("2026-11-01")
    raw = client.get("/api/v1/offers").text
    assert "山田" not in raw and "047-111-2222" not in raw and "midori.example" not in raw
    only = client.get("/api/v1/offers", params={"kind": "space", "area": "municipality"}).json()
    assert [i["id"] for i in only["items"]] == [offers["room"]]
    found = client.get("/api/v1/offers", params={"q": "ぷろぼの", "field": "it_society"}).json()
    assert [i["id"] for i in found["items"]] == [offers["tokyo"]]
    paged = client.get("/api/v1/offers", params={"per_page": 3, "page": 2}).json()
    assert (paged["total"], paged["pages"], len(paged["items"])) == (4, 2, 1)
    bad = client.get("/api/v1/offers", params={"kind": "cash"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["param"] == "kind"
    assert client.get("/api/v1/offers", params={"field": "nope"}).status_code == 422
    assert "/api/v1/offers" in client.get("/openapi.json").json()["paths"]


# -- the digest's offers --------------------------------------------------------------------------


def test_matching_offers_by_fields_area_and_needs(any_site, offers):
    site = any_site
    tokens = itertools.count()
    with Session(site.engine) as session:
        now = datetime.now(UTC)

        def group(**values) -> GroupRow:
            row = GroupRow(
                name="テスト団体",
                unsubscribe_token=f"token-{next(tokens)}",
                created_at=now,
                updated_at=now,
                **values,
            )
            session.add(row)
            session.flush()
            return row

        def titles(row: GroupRow) -> set[str]:
            return {o.title for o in matching_offers(session, row, TODAY)}

        kamagaya_kids = group(
            fields=["children_youth"], prefecture="千葉県", municipality="鎌ケ谷市"
        )
        assert titles(kamagaya_kids) == {"ノートパソコンの寄贈", "会議室を無料でお貸しします"}
        welfare_elsewhere = group(
            fields=["health_welfare"], prefecture="埼玉県", municipality="川口市"
        )
        assert titles(welfare_elsewhere) == {"福祉活動への寄付金"}
        it_tokyo = group(fields=["it_society"], prefecture="東京都", municipality="八王子市")
        assert titles(it_tokyo) == {"ウェブサイト制作のプロボノ"}
        needs_funds = group(
            fields=["health_welfare", "children_youth"],
            prefecture="千葉県",
            municipality="鎌ケ谷市",
            needs=["funds"],
        )
        assert titles(needs_funds) == {"福祉活動への寄付金"}
        needs_space_people = group(
            fields=["it_society"], prefecture="東京都", municipality=None, needs=["space", "people"]
        )
        assert titles(needs_space_people) == {"ウェブサイト制作のプロボノ"}
        anything = group(fields=[], prefecture="千葉県", municipality="鎌ケ谷市")
        assert titles(anything) == {
            "ノートパソコンの寄贈",
            "会議室を無料でお貸しします",
            "福祉活動への寄付金",
        }
        # Offers are given newest first.
        session.get(OfferRow, offers["room"]).published_at = PUBLISHED_AT + timedelta(days=3)
        session.flush()
        assert matching_offers(session, kamagaya_kids, TODAY)[0].id == offers["room"]
        # When the period ends, the offer leaves the digest.
        session.get(OfferRow, offers["room"]).period_end = TODAY
        assert offers["room"] in [o.id for o in matching_offers(session, anything, TODAY)]
        later = TODAY + timedelta(days=1)
        assert offers["room"] not in [o.id for o in matching_offers(session, anything, later)]


def test_search_offers_directly(any_site, offers):
    site = any_site
    with Session(site.engine) as session:
        total, rows = search_offers(session, q="寄贈", today=TODAY, limit=10)
        assert total == 1 and rows[0].id == offers["pc"]
        total, rows = search_offers(session, area="千葉県", today=TODAY)
        assert [r.id for r in rows] == [offers["pc"]]
        total, rows = search_offers(session, area="somewhere", today=TODAY)
        assert (total, rows) == (0, [])
        total, rows = search_offers(session, today=TODAY, limit=2, offset=2)
        assert total == 4 and len(rows) == 2


# -- the form's rules and the states --------------------------------------------------------------


def test_reading_amounts_places_and_dates():
    assert read_amount("50万円") == 500_000
    assert read_amount("５０万") == 500_000
    assert read_amount("1,200,000") == 1_200_000
    assert read_amount("百二十万円") == 1_200_000
    assert read_amount("0") == 0
    for bad in ("-5", "たくさん", "−3万円"):
        with pytest.raises(ValueError):
            read_amount(bad)
    assert parse_place("東京都") == "prefecture:東京都"
    assert parse_place("千葉県 船橋市") == "municipality:船橋市"
    assert parse_place("鎌ケ谷市") == "municipality:鎌ケ谷市"
    assert parse_place("全国") == "national"
    assert parse_place("どこか") is None and parse_place("") is None
    form = OfferForm(
        kind="money",
        title="寄付",
        description="説明",
        area="prefecture:千葉県",
        amount="10万円",
        period_start="令和8年12月1日",
        period_end="2027/3/31",
        how_to_apply="電話で",
        contact="総務部",
    )
    values, errors = validate_offer(form, Home(), TODAY)
    assert errors == {}
    assert (values.period_start, values.period_end) == (date(2026, 12, 1), date(2027, 3, 31))
    assert values.amount_yen == 100_000 and values.fields == []
    forged = OfferForm(**{**form.__dict__, "area": "prefecture:どこでも"})
    assert "area" in validate_offer(forged, Home(), TODAY)[1]
    unknown = OfferForm(**{**form.__dict__, "kind": "cash"})
    assert "kind" in validate_offer(unknown, Home(), TODAY)[1]


def test_state_machine_guards(site):
    company_id = make_company(site, "csr@midori.example.co.jp", "みどり商事", status="pending")
    offer_id = add_offer(site, company_id, status="pending")
    with Session(site.engine) as session:
        offer = session.get(OfferRow, offer_id)
        with pytest.raises(offer_states.OfferError, match="企業の登録がまだ承認されていません"):
            offer_states.publish(offer, staff_user_id=None)
        with pytest.raises(offer_states.OfferError, match="承認を申請できません"):
            offer_states.submit(offer)
        offer_states.send_back(offer, "写真を加えてください")
        assert (offer.status, offer.review_note) == ("draft", "写真を加えてください")
        with pytest.raises(offer_states.OfferError, match="承認待ちの支援だけ"):
            offer_states.send_back(offer, "もう一度")
        offer_states.close(offer)
        assert offer.status == "closed" and offer.closed_at is not None
        with pytest.raises(offer_states.OfferError, match="すでに終了"):
            offer_states.close(offer)
