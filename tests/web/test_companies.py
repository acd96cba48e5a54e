"""Companies: sign-up with confirmation, staff approval, offers from draft to published and
closed, send-back, re-approval after an edit, and who may do what (ids guessed included)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.accounts import Role, create_user
from aggregator.storage.models import CompanyRow, GroupRow, OfferRow
from tests.web.conftest import PASSWORD, body_text, link_in, soup

STAFF = "staff@kyodo.example.jp"
CENTRE = "center@kyodo.example.jp"  # settings.staff_email in the test site


def alert_text(response) -> str:
    alert = soup(response).select_one("[role=alert]")
    return alert.get_text(" ", strip=True) if alert else ""


def make_company(site, email: str, name: str, *, status: str = "approved") -> int:
    """A confirmed company account with its company row; returns the company id."""
    with Session(site.engine) as session:
        user = create_user(session, email, PASSWORD, Role.COMPANY, confirmed=True)
        company = CompanyRow(
            user_id=user.id,
            name=name,
            contact_name="山田 花子",
            phone="047-111-2222",
            status=status,
            created_at=datetime.now(UTC),
        )
        session.add(company)
        session.commit()
        return company.id


def make_group(
    site,
    email: str,
    name: str,
    *,
    fields=("children_youth",),
    prefecture="千葉県",
    municipality="鎌ケ谷市",
    needs=(),
    recipients=(),
) -> int:
    """A confirmed group account with its profile; returns the group id."""
    from aggregator.storage.models import GroupRecipientRow

    now = datetime.now(UTC)
    with Session(site.engine) as session:
        user = create_user(session, email, PASSWORD, Role.GROUP, confirmed=True)
        group = GroupRow(
            user_id=user.id,
            name=name,
            representative="鈴木 一郎",
            phone="047-333-4444",
            fields=list(fields),
            prefecture=prefecture,
            municipality=municipality,
            needs=list(needs),
            unsubscribe_token=f"u-{email}",
            created_at=now,
            updated_at=now,
        )
        group.recipients = [GroupRecipientRow(email=r, created_at=now) for r in recipients]
        session.add(group)
        session.commit()
        return group.id


def offer_data(**overrides) -> dict[str, str | list[str]]:
    """The offer form as a browser posts it (`fields` repeated: a list)."""
    values = {
        "kind": "goods",
        "title": "ノートパソコンの寄贈",
        "description": "使わなくなったノートパソコンを団体にお譲りします。",
        "area": "prefecture:千葉県",
        "area_other": "",
        "amount": "",
        "quantity": "ノートパソコン10台",
        "period_start": "2026-12-01",
        "period_end": "2027-03-31",
        "how_to_apply": "メールで活動内容と必要な台数をお知らせください。",
        "contact": "みどり商事 総務部 CSR窓口 csr@midori.example.co.jp",
    }
    fields = overrides.pop("fields", ["children_youth", "it_society"])
    values.update(overrides)
    return {**values, "fields": fields}


def post_offer(site, client, **overrides) -> int:
    response = site.post(client, "/company/offers/new", offer_data(**overrides))
    assert response.status_code == 303, alert_text(response) or response.text[:500]
    match = re.match(r"^/company/offers/(\d+)\?notice=offer_saved$", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


def offer_status(site, offer_id: int) -> str:
    with Session(site.engine) as session:
        return session.get(OfferRow, offer_id).status


def published_offer(site, staff, company_client, **overrides) -> int:
    """An offer the company posted and submitted and staff published."""
    offer_id = post_offer(site, company_client, **overrides)
    assert site.post(company_client, f"/company/offers/{offer_id}/submit").status_code == 303
    assert site.post(staff, f"/staff/offers/{offer_id}/publish").status_code == 303
    assert offer_status(site, offer_id) == "published"
    return offer_id


def is_public(site, offer_id: int, title: str) -> bool:
    """Whether the offer shows anywhere public: its page, the list, the API, the search page."""
    anonymous = site.client()
    page = anonymous.get(f"/offers/{offer_id}").status_code == 200
    listed = f'href="/offers/{offer_id}"' in anonymous.get("/offers").text
    api = offer_id in [o["id"] for o in anonymous.get("/api/v1/offers").json()["items"]]
    search = f'href="/offers/{offer_id}"' in anonymous.get("/", params={"q": title}).text
    assert page == listed == api == search, (page, listed, api, search)
    return page


# -- sign-up and approval -----------------------------------------------------------------------


def signup_data(**overrides) -> dict[str, str]:
    return {
        "email": "csr@midori.example.co.jp",
        "password": "midori-pass-2026",
        "password2": "midori-pass-2026",
        "name": "みどり商事株式会社",
        "department": "総務部 CSR推進室",
        "contact_name": "山田 花子",
        "phone": "047-111-2222",
        "website": "https://midori.example.co.jp/",
        "description": "鎌ケ谷市の文具卸売業です。",
        "prefecture": "千葉県",
        "municipality": "鎌ケ谷市",
        **overrides,
    }


def test_company_signs_up_confirms_and_staff_approve(any_site):
    site = any_site
    site.user("staff", STAFF)
    client = site.client()
    form = soup(client.get("/company/signup"))
    for name in ("email", "password", "password2", "name", "contact_name", "phone", "website"):
        control = form.find(attrs={"name": name})
        assert form.find("label", attrs={"for": control["id"]}).get_text(strip=True), name
    assert "（必須）" in form.find("label", attrs={"for": "f-name"}).get_text()

    # Mistakes: the form again, with what was typed (but never the password).
    wrong = site.post(
        client,
        "/company/signup",
        signup_data(password2="something-else", website="javascript:alert(1)", phone="abc"),
    )
    assert wrong.status_code == 400
    message = alert_text(wrong)
    assert "2つのパスワードが一致しません" in message
    assert "https://" in message and "電話番号" in message
    page = soup(wrong)
    assert page.find(attrs={"name": "name"})["value"] == "みどり商事株式会社"
    assert page.find(attrs={"name": "email"})["value"] == "csr@midori.example.co.jp"
    assert page.find(attrs={"name": "password"})["value"] == ""
    assert site.smtp.messages == []

    response = site.post(client, "/company/signup", signup_data())
    assert response.status_code == 303
    assert response.headers["location"] == "/login?notice=confirm_sent"
    with Session(site.engine) as session:
        company = session.scalars(select(CompanyRow)).one()
        assert (company.name, company.status, company.contact_name) == (
            "みどり商事株式会社",
            "pending",
            "山田 花子",
        )
        company_id = company.id

    [confirmation] = site.smtp.to("csr@midori.example.co.jp")
    assert "企業の登録" in confirmation["Subject"]
    [to_staff] = site.smtp.to(CENTRE)
    assert "企業の登録申請" in to_staff["Subject"]
    assert "みどり商事株式会社" in body_text(to_staff)
    assert "csr@midori.example.co.jp" in body_text(to_staff)

    # Not confirmed yet: no sign-in.
    refused = site.post(
        site.client(),
        "/login",
        {"email": "csr@midori.example.co.jp", "password": "midori-pass-2026"},
    )
    assert refused.status_code == 403
    link = link_in(confirmation, "/signup/confirm/")
    assert site.post(client, link).headers["location"] == "/login?notice=confirmed"

    company_client = site.sign_in("csr@midori.example.co.jp", "midori-pass-2026")
    home = company_client.get("/company")
    assert home.status_code == 200
    assert "承認待ち" in home.text and "センターが登録内容を確認しています" in home.text

    staff = site.sign_in(STAFF)
    listing = staff.get("/staff/companies")
    assert listing.status_code == 200
    assert "みどり商事株式会社" in listing.text and "csr@midori.example.co.jp" in listing.text
    approved = site.post(staff, f"/staff/companies/{company_id}/approve")
    assert approved.headers["location"] == "/staff/companies?notice=approved"
    with Session(site.engine) as session:
        company = session.get(CompanyRow, company_id)
        assert company.status == "approved" and company.reviewed_at is not None
    [mail] = [m for m in site.smtp.to("csr@midori.example.co.jp") if "承認" in m["Subject"]]
    assert "/company" in body_text(mail)
    assert "承認済み" in company_client.get("/company").text


def test_pending_companies_are_listed_first_and_can_be_rejected(site):
    site.user("staff", STAFF)
    make_company(site, "old@example.co.jp", "承認済み商事", status="approved")
    pending_id = make_company(site, "new@example.co.jp", "申請中工業", status="pending")
    staff = site.sign_in(STAFF)
    text = staff.get("/staff/companies").text
    assert text.index("申請中工業") < text.index("承認済み商事")

    page = soup(staff.get("/staff/companies"))
    note_box = page.find("textarea", attrs={"name": "note"})
    assert page.find("label", attrs={"for": note_box["id"]}).get_text(strip=True)
    reason = "事業内容を確認できませんでした。"
    response = site.post(staff, f"/staff/companies/{pending_id}/reject", {"note": reason})
    assert response.headers["location"] == "/staff/companies?notice=company_rejected"
    with Session(site.engine) as session:
        assert session.get(CompanyRow, pending_id).status == "rejected"
    [mail] = site.smtp.to("new@example.co.jp")
    assert "登録について" in mail["Subject"] and reason in body_text(mail)
    company = site.sign_in("new@example.co.jp")
    assert "承認されませんでした" in company.get("/company").text
    assert site.post(staff, "/staff/companies/999999/approve").status_code == 404


def test_company_profile_is_its_own(site):
    make_company(site, "a@example.co.jp", "あおば物産")
    client = site.sign_in("a@example.co.jp")
    form = soup(client.get("/company/profile"))
    assert form.find(attrs={"name": "name"})["value"] == "あおば物産"
    bad = site.post(client, "/company/profile", {"name": "", "department": "広報部"})
    assert bad.status_code == 400 and "企業名を入力してください" in alert_text(bad)
    assert soup(bad).find(attrs={"name": "department"})["value"] == "広報部"
    ok = site.post(
        client, "/company/profile", {"name": "あおば物産株式会社", "prefecture": "千葉県"}
    )
    assert ok.headers["location"] == "/company?notice=saved"
    with Session(site.engine) as session:
        assert session.scalars(select(CompanyRow.name)).one() == "あおば物産株式会社"


# -- the offer's life -----------------------------------------------------------------------------


def test_offer_from_draft_to_published_edited_and_closed(any_site):
    site = any_site
    site.user("staff", STAFF)
    make_company(site, "csr@midori.example.co.jp", "みどり商事")
    company = site.sign_in("csr@midori.example.co.jp")
    staff = site.sign_in(STAFF)

    form = soup(company.get("/company/offers/new"))
    kinds = [o["value"] for o in form.select("select[name=kind] option") if o["value"]]
    assert kinds == [
        "money",
        "goods",
        "space",
        "probono",
        "matching_gift",
        "volunteer_leave",
        "sponsorship",
    ]
    areas = [o["value"] for o in form.select("select[name=area] option")]
    assert areas[:3] == ["national", "prefecture:千葉県", "municipality:鎌ケ谷市"]

    offer_id = post_offer(site, company, title="ノートパソコンの寄贈")
    assert offer_status(site, offer_id) == "draft"
    page = company.get(f"/company/offers/{offer_id}")
    assert page.status_code == 200 and "下書き" in page.text
    assert not is_public(site, offer_id, "ノートパソコン")

    submitted = site.post(company, f"/company/offers/{offer_id}/submit")
    assert submitted.headers["location"] == f"/company/offers/{offer_id}?notice=submitted"
    assert offer_status(site, offer_id) == "pending"
    [to_staff] = site.smtp.to(CENTRE)
    assert "承認申請" in to_staff["Subject"]
    assert f"/staff/offers/{offer_id}" in body_text(to_staff)
    assert not is_public(site, offer_id, "ノートパソコン")
    # Submitting twice is refused with a reason.
    again = site.post(company, f"/company/offers/{offer_id}/submit")
    assert again.status_code == 409 and "承認待ち" in again.text

    queue = staff.get("/staff/offers").text
    assert "ノートパソコンの寄贈" in queue
    published = site.post(staff, f"/staff/offers/{offer_id}/publish")
    assert published.headers["location"] == f"/staff/offers/{offer_id}?notice=published"
    [mail] = [m for m in site.smtp.to("csr@midori.example.co.jp") if "公開しました" in m["Subject"]]
    assert f"/offers/{offer_id}" in body_text(mail)
    assert is_public(site, offer_id, "ノートパソコン")
    public = site.client().get(f"/offers/{offer_id}").text
    for fact in (
        "物品寄贈",
        "みどり商事",
        "ノートパソコン10台",
        "子どもの健全育成",
        "千葉県",
        "2027年3月31日",
        "メールで活動内容",
        "csr@midori.example.co.jp",  # the contact the company chose to publish
    ):
        assert fact in public, fact
    assert "山田 花子" not in public and "047-111-2222" not in public  # contact person: private

    # Editing a published offer takes it off until staff check it again.
    form = soup(company.get(f"/company/offers/{offer_id}/edit"))
    assert "再承認" in form.get_text()
    assert form.find(attrs={"name": "title"})["value"] == "ノートパソコンの寄贈"
    site.smtp.clear()
    edited = site.post(
        company, f"/company/offers/{offer_id}/edit", offer_data(title="ノートパソコン15台の寄贈")
    )
    assert edited.headers["location"] == f"/company/offers/{offer_id}?notice=offer_resubmitted"
    assert offer_status(site, offer_id) == "pending"
    assert not is_public(site, offer_id, "ノートパソコン")
    [to_staff] = site.smtp.to(CENTRE)
    assert "公開中の支援の変更" in to_staff["Subject"]
    assert site.post(staff, f"/staff/offers/{offer_id}/publish").status_code == 303
    assert is_public(site, offer_id, "15台")

    closed = site.post(company, f"/company/offers/{offer_id}/close")
    assert closed.headers["location"] == f"/company/offers/{offer_id}?notice=closed"
    assert offer_status(site, offer_id) == "closed"
    assert not is_public(site, offer_id, "ノートパソコン")
    assert company.get(f"/company/offers/{offer_id}/edit").status_code == 409
    assert site.post(company, f"/company/offers/{offer_id}/close").status_code == 409


def test_offer_form_errors_keep_what_was_typed(site):
    make_company(site, "csr@midori.example.co.jp", "みどり商事")
    company = site.sign_in("csr@midori.example.co.jp")
    response = site.post(
        company,
        "/company/offers/new",
        offer_data(
            kind="goods",
            title="",
            description="説明です",
            amount="30万円",  # not for goods
            period_start="2027-04-01",
            period_end="2027-03-01",
            how_to_apply="",
            contact="",
            area="other",
            area_other="どこか",
            fields=["children_youth", "made_up"],
        ),
    )
    assert response.status_code == 400
    message = alert_text(response)
    for expected in (
        "タイトルを入力してください",
        "金額は「寄付金」と「マッチングギフト」のときだけ",
        "期間の終わりは、始まりと同じ日かそれより後",
        "申し込み方法を入力してください",
        "問い合わせ先を入力してください",
        "都道府県名（例：東京都）か市区町村名",
        "活動分野は一覧から選んでください",
    ):
        assert expected in message, expected
    page = soup(response)
    assert page.find("textarea", attrs={"name": "description"}).get_text() == "説明です"
    assert page.find(attrs={"name": "amount"})["value"] == "30万円"
    assert page.find(attrs={"name": "area_other"})["value"] == "どこか"
    assert page.select_one("input[name=fields][value=children_youth]").has_attr("checked")
    with Session(site.engine) as session:
        assert session.scalars(select(OfferRow)).all() == []

    long_title = site.post(company, "/company/offers/new", offer_data(title="あ" * 121))
    assert "120文字以内" in alert_text(long_title)

    offer_id = post_offer(
        site,
        company,
        kind="money",
        amount="５０万円",
        area="other",
        area_other="千葉県船橋市",
        fields=[],
    )
    with Session(site.engine) as session:
        offer = session.get(OfferRow, offer_id)
        assert (offer.amount_yen, offer.area, offer.fields) == (500_000, "municipality:船橋市", [])
    # The stored "other" place is offered again when editing.
    form = soup(company.get(f"/company/offers/{offer_id}/edit"))
    assert form.select_one("select[name=area] option[selected]")["value"] == "municipality:船橋市"


def test_staff_send_back_with_a_note(site):
    site.user("staff", STAFF)
    make_company(site, "csr@midori.example.co.jp", "みどり商事")
    company = site.sign_in("csr@midori.example.co.jp")
    staff = site.sign_in(STAFF)
    offer_id = post_offer(site, company)
    site.post(company, f"/company/offers/{offer_id}/submit")

    empty = site.post(staff, f"/staff/offers/{offer_id}/sendback", {"note": " "})
    assert empty.status_code == 400 and "差し戻す理由を入力してください" in alert_text(empty)
    assert offer_status(site, offer_id) == "pending"

    note = "問い合わせ先に電話番号も加えてください。"
    response = site.post(staff, f"/staff/offers/{offer_id}/sendback", {"note": note})
    assert response.headers["location"] == f"/staff/offers/{offer_id}?notice=sent_back"
    with Session(site.engine) as session:
        offer = session.get(OfferRow, offer_id)
        assert (offer.status, offer.review_note) == ("draft", note)
    [mail] = [m for m in site.smtp.to("csr@midori.example.co.jp") if "お願い" in m["Subject"]]
    assert note in body_text(mail)
    assert note in company.get(f"/company/offers/{offer_id}").text
    assert "差し戻し" in company.get("/company").text
    # A draft cannot be published: only what the company submitted.
    refused = site.post(staff, f"/staff/offers/{offer_id}/publish")
    assert refused.status_code == 409 and "承認待ちのものだけ" in alert_text(refused)
    # Staff can end any offer.
    assert site.post(staff, f"/staff/offers/{offer_id}/close").status_code == 303
    assert offer_status(site, offer_id) == "closed"


def test_offer_of_an_unapproved_company_cannot_be_published(site):
    site.user("staff", STAFF)
    company_id = make_company(site, "new@example.co.jp", "申請中工業", status="pending")
    company = site.sign_in("new@example.co.jp")
    staff = site.sign_in(STAFF)
    offer_id = post_offer(site, company)
    assert site.post(company, f"/company/offers/{offer_id}/submit").status_code == 303
    page = staff.get(f"/staff/offers/{offer_id}").text
    assert "企業の登録がまだ承認されていないため、公開できません" in page
    refused = site.post(staff, f"/staff/offers/{offer_id}/publish")
    assert refused.status_code == 409
    assert "先に企業を承認してください" in alert_text(refused)
    assert offer_status(site, offer_id) == "pending"

    site.post(staff, f"/staff/companies/{company_id}/approve")
    assert site.post(staff, f"/staff/offers/{offer_id}/publish").status_code == 303
    assert is_public(site, offer_id, "ノートパソコン")
    # A company rejected later: its offers leave the public pages.
    site.post(staff, f"/staff/companies/{company_id}/reject")
    assert offer_status(site, offer_id) == "published"
    assert not is_public(site, offer_id, "ノートパソコン")


def test_staff_offer_list_puts_pending_first_and_filters_by_state(site):
    site.user("staff", STAFF)
    make_company(site, "csr@midori.example.co.jp", "みどり商事")
    company = site.sign_in("csr@midori.example.co.jp")
    staff = site.sign_in(STAFF)
    draft = post_offer(site, company, title="下書きの支援")
    pending = post_offer(site, company, title="申請中の支援")
    site.post(company, f"/company/offers/{pending}/submit")
    text = staff.get("/staff/offers").text
    assert text.index("申請中の支援") < text.index("下書きの支援")
    only_drafts = staff.get("/staff/offers", params={"status": "draft"}).text
    assert "下書きの支援" in only_drafts and "申請中の支援" not in only_drafts
    assert staff.get(f"/staff/offers/{draft}").status_code == 200
    assert staff.get("/staff/offers/999999").status_code == 404


# -- who may do what ------------------------------------------------------------------------------


def test_a_company_cannot_see_or_change_another_companys_offer(site):
    site.user("staff", STAFF)
    make_company(site, "a@example.co.jp", "あおば物産")
    make_company(site, "b@example.co.jp", "ぶなの木工房")
    a = site.sign_in("a@example.co.jp")
    b = site.sign_in("b@example.co.jp")
    offer_id = post_offer(site, a, title="あおばの会議室")

    assert b.get(f"/company/offers/{offer_id}").status_code == 404
    assert b.get(f"/company/offers/{offer_id}/edit").status_code == 404
    assert (
        site.post(b, f"/company/offers/{offer_id}/edit", offer_data(title="乗っ取り")).status_code
        == 404
    )
    assert site.post(b, f"/company/offers/{offer_id}/submit").status_code == 404
    assert site.post(b, f"/company/offers/{offer_id}/close").status_code == 404
    assert "あおばの会議室" not in b.get("/company").text
    with Session(site.engine) as session:
        offer = session.get(OfferRow, offer_id)
        assert (offer.title, offer.status) == ("あおばの会議室", "draft")
    # The owner can; a made-up id is 404 too, not an error.
    assert a.get(f"/company/offers/{offer_id}").status_code == 200
    assert a.get("/company/offers/99999999999").status_code == 404
    assert a.get("/company/offers/abc").status_code == 404


def test_roles_on_company_and_staff_pages(site):
    site.user("staff", STAFF)
    company_id = make_company(site, "a@example.co.jp", "あおば物産")
    make_group(site, "group@example.jp", "ひまわり会")
    a = site.sign_in("a@example.co.jp")
    offer_id = post_offer(site, a)
    site.post(a, f"/company/offers/{offer_id}/submit")
    staff = site.sign_in(STAFF)
    group = site.sign_in("group@example.jp")
    anonymous = site.client()

    staff_gets = ["/staff/companies", "/staff/offers", f"/staff/offers/{offer_id}"]
    staff_gets += ["/staff/interests"]
    staff_posts = [
        f"/staff/companies/{company_id}/approve",
        f"/staff/companies/{company_id}/reject",
        f"/staff/offers/{offer_id}/publish",
        f"/staff/offers/{offer_id}/sendback",
        f"/staff/offers/{offer_id}/close",
    ]
    company_gets = ["/company", "/company/profile", "/company/offers/new"]
    company_gets += [f"/company/offers/{offer_id}", f"/company/offers/{offer_id}/edit"]
    company_posts = [f"/company/offers/{offer_id}/submit", f"/company/offers/{offer_id}/close"]
    for path in staff_gets:
        assert a.get(path).status_code == 403, path
        assert group.get(path).status_code == 403, path
        assert anonymous.get(path).headers["location"].startswith("/login?next="), path
    for path in staff_posts:
        assert site.post(a, path, {"note": "x"}).status_code == 403, path  # no self-publishing
        assert site.post(group, path, {"note": "x"}).status_code == 403, path
        assert site.post(anonymous, path).headers["location"].startswith("/login?next=")
    for path in company_gets:
        assert staff.get(path).status_code == 403, path
        assert group.get(path).status_code == 403, path
        assert anonymous.get(path).headers["location"].startswith("/login?next="), path
    for path in company_posts:
        assert site.post(staff, path).status_code == 403, path
        assert site.post(group, path).status_code == 403, path
        assert site.post(anonymous, path).headers["location"].startswith("/login?next=")
    # A company has no route of its own to publish.
    assert site.post(a, f"/company/offers/{offer_id}/publish").status_code in (404, 405)
    assert offer_status(site, offer_id) == "pending"
    # And a POST without the form token is refused even from staff.
    assert staff.post(f"/staff/offers/{offer_id}/publish").status_code == 403
    assert offer_status(site, offer_id) == "pending"
