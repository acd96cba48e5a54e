"""The staff's register of groups: registering a group on its behalf (and inviting it to sign
in), viewing and editing any group, search with counts, the CSV export, each group's mail
history; and that nobody else may open these pages."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.mail import enqueue
from aggregator.storage.models import GroupRow, OutboxRow, UserRow
from tests.web.conftest import PASSWORD, TODAY, body_text, link_in
from tests.web.test_groups import EMAIL, STAFF, alert_text, make_group, send, soup

NEW_GROUP = [
    ("name", "くぬぎ山を守る会"),
    ("fields", "environment"),
    ("fields", "community_development"),
    ("prefecture", "千葉県"),
    ("municipality", "鎌ケ谷市"),
    ("legal_form", "任意団体"),
    ("members", "12"),
    ("founded_year", "昭和60"),
    ("representative", "田中 正"),
    ("phone", "047-444-5555"),
    ("recipients", "Tanaka@Example.jp\nfukudaihyo@example.jp"),
]


def staff(site):
    site.user("staff", STAFF)
    return site.sign_in(STAFF)


def test_staff_register_a_group_without_an_account(site):
    client = staff(site)
    form = client.get("/staff/groups/new")
    assert form.status_code == 200
    assert soup(form).find(id="f-recipients").has_attr("required")
    response = send(site, client, "/staff/groups/new", NEW_GROUP)
    assert response.status_code == 303, alert_text(response)
    with Session(site.engine) as session:
        group = session.scalars(select(GroupRow)).one()
        assert group.registered_by_staff and group.user_id is None
        assert group.founded_year == 1985 and group.representative == "田中 正"
        assert [r.email for r in group.recipients] == [
            "tanaka@example.jp",
            "fukudaihyo@example.jp",
        ]
        assert session.scalar(select(func.count()).select_from(UserRow)) == 1  # the staff's
    assert response.headers["location"] == f"/staff/groups/{group.id}?notice=group_registered"
    assert site.smtp.messages == []
    page = client.get(f"/staff/groups/{group.id}")
    assert "アカウントなし" in page.text and "ログイン用の案内を送る" in page.text

    # Without any address the register refuses (there would be nobody to write to).
    empty = send(site, client, "/staff/groups/new", [*NEW_GROUP[:-1], ("recipients", "")])
    assert empty.status_code == 400 and "送り先を1つ以上" in alert_text(empty)
    assert soup(empty).find(id="f-name")["value"] == "くぬぎ山を守る会"


def test_staff_register_and_invite_then_the_group_sets_its_password(any_site):
    site = any_site
    client = staff(site)
    response = send(site, client, "/staff/groups/new", [*NEW_GROUP, ("invite", "yes")])
    assert response.status_code == 303, alert_text(response)
    assert response.headers["location"].endswith("?notice=group_invited")
    with Session(site.engine) as session:
        group = session.scalars(select(GroupRow)).one()
        user = session.get(UserRow, group.user_id)
        assert (user.email, user.role, user.email_confirmed_at) == (
            "tanaka@example.jp",
            "group",
            None,
        )
        invite = session.scalars(select(OutboxRow).where(OutboxRow.kind == "invite")).one()
        assert invite.group_id == group.id and invite.status == "sent"
    [mail] = site.smtp.to("tanaka@example.jp")
    assert "くぬぎ山を守る会" in mail["Subject"]
    assert "7日以内" in body_text(mail)
    assert site.smtp.to("fukudaihyo@example.jp") == []

    # Nobody can sign in before the password is set.
    no = send(site, site.client(), "/login", {"email": "tanaka@example.jp", "password": PASSWORD})
    assert no.status_code in (401, 403)
    link = link_in(mail, "/password/reset/")
    browser = site.client()
    assert browser.get(link).status_code == 200
    new_password = "kunugi-yama-1985"
    done = send(site, browser, link, {"password": new_password, "password2": new_password})
    assert done.headers["location"] == "/login?notice=password_set"
    member = site.sign_in("tanaka@example.jp", new_password)
    home = member.get("/my")
    assert home.status_code == 200 and "くぬぎ山を守る会" in home.text
    assert "ログインできます" in client.get(f"/staff/groups/{group.id}").text
    # The link works once.
    assert browser.get(link).status_code == 400


def test_invite_with_a_taken_address_creates_nothing(site):
    client = staff(site)
    site.user("company", "tanaka@example.jp")
    response = send(site, client, "/staff/groups/new", [*NEW_GROUP, ("invite", "yes")])
    assert response.status_code == 400
    assert "すでにアカウントに使われています" in alert_text(response)
    assert soup(response).find(id="f-invite").has_attr("checked")
    with Session(site.engine) as session:
        assert session.scalar(select(func.count()).select_from(GroupRow)) == 0
    assert site.smtp.messages == []


def test_staff_invite_a_group_registered_earlier(site):
    client = staff(site)
    group_id = make_group(site, None, "ほたるの会", extra=("hotaru@example.jp",))
    response = send(site, client, f"/staff/groups/{group_id}/invite")
    assert response.headers["location"] == f"/staff/groups/{group_id}?notice=invite_sent"
    with Session(site.engine) as session:
        group = session.get(GroupRow, group_id)
        assert session.get(UserRow, group.user_id).email == "hotaru@example.jp"
    [mail] = site.smtp.to("hotaru@example.jp")
    link = link_in(mail, "/password/reset/")
    # Sent again (the first mail was lost): the earlier link stops working.
    again = send(site, client, f"/staff/groups/{group_id}/invite")
    assert again.status_code == 303
    assert site.client().get(link).status_code == 400
    new_link = link_in(site.smtp.to("hotaru@example.jp")[-1], "/password/reset/")
    browser = site.client()
    send(site, browser, new_link, {"password": "hotaru-no-hikari", "password2": "hotaru-no-hikari"})
    refused = send(site, client, f"/staff/groups/{group_id}/invite")
    assert refused.status_code == 400 and "すでにログインできます" in alert_text(refused)


def test_staff_view_and_edit_any_group(site):
    client = staff(site)
    group_id = make_group(site, EMAIL, "ひまわり会", extra=("kaikei@example.jp",), phone="047-1")
    page = client.get(f"/staff/groups/{group_id}")
    assert page.status_code == 200
    text = soup(page).get_text(" ", strip=True)
    assert EMAIL in text and "ログインできます" in text
    assert soup(page).find(id="f-recipients").get_text() == "kaikei@example.jp"
    data = [
        ("name", "ひまわり会"),
        ("fields", "children_youth"),
        ("prefecture", "千葉県"),
        ("municipality", "鎌ケ谷市"),
        ("legal_form", "NPO法人"),
        ("members", "30"),
        ("founded_year", "2001"),
        ("phone", "047-222-3333"),
        ("recipients", "kaikei2@example.jp"),
    ]
    saved = send(site, client, f"/staff/groups/{group_id}", data)
    assert saved.headers["location"] == f"/staff/groups/{group_id}?notice=profile_saved"
    with Session(site.engine) as session:
        group = session.get(GroupRow, group_id)
        assert group.legal_form == "NPO法人" and group.phone == "047-222-3333"
        assert [r.email for r in group.recipients] == [EMAIL, "kaikei2@example.jp"]
    bad = send(site, client, f"/staff/groups/{group_id}", [("name", "")])
    assert bad.status_code == 400 and "団体名を入力" in alert_text(bad)

    settings = [("enabled", "off"), ("weekday", "4"), ("when_empty", "skip"),
                ("reminder_days", "1")]  # fmt: skip
    done = send(site, client, f"/staff/groups/{group_id}/settings", settings)
    assert done.headers["location"] == f"/staff/groups/{group_id}?notice=settings_saved"
    with Session(site.engine) as session:
        group = session.get(GroupRow, group_id)
        assert not group.digest_enabled and group.digest_weekday == 4
        assert group.reminder_days == [1]
    wrong = send(site, client, f"/staff/groups/{group_id}/settings", [("enabled", "on")])
    assert wrong.status_code == 400 and "1つ以上" in alert_text(wrong)

    for path in ("/staff/groups/999999", "/staff/groups/999999/history", f"/staff/groups/{2**40}"):
        assert client.get(path).status_code == 404, path
    assert send(site, client, "/staff/groups/999999", data).status_code == 404
    assert send(site, client, "/staff/groups/999999/invite").status_code == 404


def _register(site) -> dict[str, int]:
    return {
        "kodomo": make_group(
            site, "kodomo@example.jp", "こども食堂ひまわり",
            fields=["health_welfare", "children_youth"], legal_form="任意団体", members=15,
        ),
        "npo": make_group(
            site, "npo@example.jp", "NPO法人 みどりの森", fields=["environment"],
            legal_form="NPO法人", municipality="船橋市", founded_year=2005,
        ),
        "kai": make_group(
            site, None, "=HYPERLINK(\"https://evil.example\",\"x\")", extra=("kai@example.jp",),
            fields=["children_youth"], legal_form="自治会", prefecture="東京都",
            municipality="-杉並区",
        ),
    }  # fmt: skip


def test_staff_search_the_register_with_counts(any_site):
    site = any_site
    client = staff(site)
    ids = _register(site)
    page = soup(client.get("/staff/groups"))
    assert page.find(id="group-count").get_text(strip=True) == "3団体（登録は全部で3団体）"
    assert len(page.select("#groups tbody tr")) == 3
    options = {o["value"]: o.get_text() for o in page.find(id="f-field").find_all("option")}
    assert options["children_youth"] == "子どもの健全育成（2）"
    assert options["environment"] == "環境保全（1）"
    assert options["rural"] == "農山漁村・中山間地域（0）"
    areas = {o["value"]: o.get_text() for o in page.find(id="f-area").find_all("option")}
    assert areas["prefecture:千葉県"] == "千葉県（2）"
    assert areas["municipality:鎌ケ谷市"] == "鎌ケ谷市（1）"

    found = soup(client.get("/staff/groups?field=children_youth&legal_form=任意団体"))
    names = [a.get_text() for a in found.select("#groups tbody th a")]
    assert names == ["こども食堂ひまわり"]
    legal = {o["value"]: o.get_text() for o in found.find(id="f-legal_form").find_all("option")}
    assert legal["任意団体"] == "任意団体（1）" and legal["自治会"] == "自治会・町内会（1）"
    assert found.find(id="f-field").find("option", selected=True)["value"] == "children_youth"

    by_name = soup(client.get("/staff/groups?q=みどり"))
    assert [a["href"] for a in by_name.select("#groups tbody th a")] == [
        f"/staff/groups/{ids['npo']}"
    ]
    folded = soup(client.get("/staff/groups?q=ｎｐｏ"))  # full width, lower case
    assert len(folded.select("#groups tbody tr")) == 1
    by_area = soup(client.get("/staff/groups?area=municipality:船橋市"))
    assert [a.get_text() for a in by_area.select("#groups tbody th a")] == ["NPO法人 みどりの森"]
    assert "条件に合う団体はありません" in client.get("/staff/groups?q=存在しない").text
    # Unknown filter values are ignored, not errors.
    assert client.get("/staff/groups?field=nope&legal_form=x").status_code == 200


def test_staff_csv_of_the_register(site):
    client = staff(site)
    ids = _register(site)
    response = client.get("/staff/groups/export.csv?field=children_youth")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="kyodo-groups-{TODAY.isoformat()}.csv"'
    )
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["ID", "団体名", "分野"]
    assert len(body) == 2  # the environment group is not a children's one
    by_id = {int(r[0]): dict(zip(header, r, strict=True)) for r in body}
    kai = by_id[ids["kai"]]
    assert kai["団体名"] == '\'=HYPERLINK("https://evil.example","x")'  # not a formula
    assert kai["市区町村"] == "'-杉並区"
    assert kai["法人格"] == "自治会・町内会" and kai["登録"] == "センター"
    assert kai["メールの送り先"] == "kai@example.jp" and kai["ログイン用アドレス"] == ""
    kodomo = by_id[ids["kodomo"]]
    assert kodomo["分野"] == "保健・医療・福祉、子どもの健全育成"
    assert kodomo["ログイン用アドレス"] == "kodomo@example.jp" and kodomo["会員数"] == "15"
    assert kodomo["活動年数"] == "8"  # founded 2018
    assert kodomo["お知らせメール"] == "受け取る"


def test_history_lists_the_groups_mails(site):
    client = staff(site)
    group_id = make_group(site, EMAIL, "ひまわり会")
    other = make_group(site, "other@example.jp", "ばら会")
    now = datetime.now(UTC)
    with Session(site.engine) as session:
        for key, group, status, error in (
            ("reminder:1", group_id, "sent", None),
            ("digest:1", group_id, "failed", "550 mailbox unavailable"),
            ("digest:2", other, "sent", None),
        ):
            row = enqueue(
                session, site.settings, key=key, kind=key.split(":")[0], to=f"{key}@example.jp",
                subject=f"件名 {key}", text="本文", group_id=group,
            )  # fmt: skip
            row.status, row.attempts, row.last_error = status, 1, error
            row.sent_at = now if status == "sent" else None
        session.commit()
    page = client.get(f"/staff/groups/{group_id}/history")
    assert page.status_code == 200
    rows = [r.get_text(" ", strip=True) for r in soup(page).select("#history tbody tr")]
    assert len(rows) == 2
    text = " ".join(rows)
    assert "締切前のお知らせ" in text and "件名 reminder:1" in text and "送信済み" in text
    assert "週のお知らせ" in text and "送信できませんでした" in text
    assert "550 mailbox unavailable" in text and "digest:1@example.jp" in text
    assert "1回" in text and "件名 digest:2" not in text
    empty = client.get(f"/staff/groups/{other}/history")
    assert "件名 digest:2" in empty.text


STAFF_GETS = ["/staff/groups", "/staff/groups/export.csv", "/staff/groups/new",
              "/staff/groups/{id}", "/staff/groups/{id}/history"]  # fmt: skip
STAFF_POSTS = ["/staff/groups/new", "/staff/groups/{id}", "/staff/groups/{id}/settings",
               "/staff/groups/{id}/invite"]  # fmt: skip


@pytest.mark.parametrize("role", ["group", "company"])
def test_groups_and_companies_may_not_open_the_register(site, role):
    group_id = make_group(site, None, "ほたるの会", extra=("hotaru@example.jp",))
    email = EMAIL if role == "group" else "csr@example.co.jp"
    if role == "group":
        make_group(site, email, "ひまわり会")
    else:
        site.user(role, email)
    client = site.sign_in(email)
    for path in STAFF_GETS:
        response = client.get(path.format(id=group_id))
        assert response.status_code == 403, path
        assert "hotaru@example.jp" not in response.text
    for path in STAFF_POSTS:
        data = [*NEW_GROUP, ("invite", "yes")]
        assert send(site, client, path.format(id=group_id), data).status_code == 403, path
    with Session(site.engine) as session:
        assert session.get(GroupRow, group_id).name == "ほたるの会"
        assert session.scalar(select(func.count()).select_from(GroupRow)) == 1 + (role == "group")
    assert site.smtp.messages == []


def test_anonymous_visitors_may_not_open_the_register(site):
    group_id = make_group(site, None, "ほたるの会", extra=("hotaru@example.jp",))
    client = site.client()
    for path in STAFF_GETS:
        response = client.get(path.format(id=group_id))
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
    for path in STAFF_POSTS:
        response = send(site, client, path.format(id=group_id), NEW_GROUP)
        assert response.status_code == 303, path
    with Session(site.engine) as session:
        assert session.scalar(select(func.count()).select_from(GroupRow)) == 1
