"""Groups: sign-up with confirmation, the group's own pages (profile, recipients, digest
settings, 気になる / 対象外), export and deletion of everything, and who may do what."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aggregator.accounts import Role, create_user
from aggregator.groups import (
    LEGAL_FORMS,
    GroupProfile,
    ProfileForm,
    create_group,
    years_active,
)
from aggregator.mail import enqueue
from aggregator.normalize.eligibility import _FORMS
from aggregator.storage.models import (
    CallRow,
    CompanyRow,
    CoordinationLogRow,
    DismissedCallRow,
    GroupRecipientRow,
    GroupRow,
    OfferInterestRow,
    OfferRow,
    OutboxRow,
    SavedCallRow,
    SessionRow,
    UserRow,
)
from tests.web.conftest import PASSWORD, TODAY, ingest_calls, link_in, soup

EMAIL = "hiroko@example.jp"
STAFF = "staff@kyodo.example.jp"


def as_form(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Form pairs as httpx wants them: a repeated field (checkboxes) as a list."""
    data: dict[str, list[str]] = {}
    for key, value in pairs:
        data.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in data.items()}


def send(site, client, path: str, data=None):
    """POST a form like a browser (with its token); `data` may be a list of pairs."""
    return site.post(client, path, as_form(data) if isinstance(data, list) else data)


def alert_text(response) -> str:
    alerts = soup(response).select("[role=alert]")
    return " ".join(a.get_text(" ", strip=True) for a in alerts)


def profile(name: str = "鎌ケ谷子ども食堂の会", **values) -> GroupProfile:
    return GroupProfile(
        name=name,
        fields=values.pop("fields", ["children_youth"]),
        prefecture=values.pop("prefecture", "千葉県"),
        municipality=values.pop("municipality", "鎌ケ谷市"),
        legal_form=values.pop("legal_form", "任意団体"),
        members=values.pop("members", 20),
        founded_year=values.pop("founded_year", 2018),
        needs=values.pop("needs", ["funds"]),
        recipients=values.pop("recipients"),
        representative=values.pop("representative", None),
        phone=values.pop("phone", None),
    )


def make_group(site, email: str | None, name: str, *, extra=(), **values) -> int:
    """A group (with a confirmed account when `email` is given); returns the group id."""
    with Session(site.engine) as session:
        user_id = None
        if email is not None:
            user_id = create_user(session, email, PASSWORD, Role.GROUP, confirmed=True).id
        recipients = [e for e in (email, *extra) if e]
        group = create_group(
            session,
            profile(name, recipients=recipients, **values),
            user_id=user_id,
            registered_by_staff=email is None,
        )
        session.commit()
        return group.id


CALLS = [
    {
        "id": "kodomo",
        "source": "canpan",
        "title": "地域の子ども応援助成",
        "text": "締切: 2026年12月20日\n助成金額: 上限30万円",
        "url": "https://grants.example.jp/kodomo",
        "organizer": "公益財団法人 いろは財団",
    },
    {
        "id": "fukushi",
        "source": "canpan",
        "title": "高齢者の見守り活動助成",
        "text": "締切: 2027年1月15日\n助成金額: 上限50万円",
        "url": "https://grants.example.jp/fukushi",
        "organizer": "公益財団法人 ほほえみ基金",
    },
    {
        "id": "owari",
        "source": "canpan",
        "title": "終わった環境活動助成",
        "text": "締切: 2026年10月31日\n助成金額: 上限10万円",
        "url": "https://grants.example.jp/owari",
        "organizer": "環境みらい財団",
        "status": "募集終了",
    },
]


def call_ids(site) -> dict[str, int]:
    ingest_calls(site.engine, CALLS)
    with Session(site.engine) as session:
        rows = session.execute(select(CallRow.id, CallRow.title)).all()
    by_title = {title: id_ for id_, title in rows}
    return {c["id"]: by_title[c["title"]] for c in CALLS}


SIGNUP = [
    ("email", "Hiroko@Example.jp"),
    ("password", PASSWORD),
    ("password2", PASSWORD),
    ("name", "鎌ケ谷子ども食堂の会"),
    ("fields", "children_youth"),
    ("fields", "health_welfare"),
    ("prefecture", "千葉県"),
    ("municipality", "鎌ケ谷市"),
    ("legal_form", "任意団体"),
    ("members", "２５"),
    ("founded_year", "平成27"),
    ("needs", "funds"),
    ("needs", "space"),
    ("representative", "佐藤 弘子"),
    ("phone", "047-000-1111"),
    ("recipients", "Treasurer@Example.jp\nsecretary@example.jp\nhiroko@example.jp"),
]


# -- the profile's rules ---------------------------------------------------------------------------


def test_legal_forms_are_the_names_the_normalizer_gives():
    assert set(LEGAL_FORMS) <= set(_FORMS.values())
    assert LEGAL_FORMS["自治会"] == "自治会・町内会"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"name": ""}, "name", "団体名を入力"),
        ({"name": "あ" * 101}, "name", "100文字以内"),
        ({"fields": []}, "fields", "1つ以上"),
        ({"fields": ["children_youth", "cooking"]}, "fields", "一覧から"),
        ({"prefecture": "東京"}, "prefecture", "都道府県"),
        ({"municipality": "か" * 41}, "municipality", "40文字以内"),
        ({"legal_form": "株式会社"}, "legal_form", "法人格"),
        ({"members": "0"}, "members", "1から"),
        ({"members": "100001"}, "members", "1から"),
        ({"members": "たくさん"}, "members", "数字"),
        ({"founded_year": "1899"}, "founded_year", "1900年から2026年"),
        ({"founded_year": "2027"}, "founded_year", "1900年から2026年"),
        ({"needs": ["money"]}, "needs", "一覧から"),
        ({"recipients": "not-an-address"}, "recipients", "not-an-address"),
        ({"recipients": ""}, "recipients", "1つ以上"),
        ({"recipients": "\n".join(f"r{i}@example.jp" for i in range(6))}, "recipients", "5件"),
        ({"phone": "でんわ"}, "phone", "電話番号"),
    ],
)
def test_profile_errors_name_the_field_and_say_what_to_do(values, field, message):
    base = dict(name="ひまわり会", fields=["children_youth"], recipients="a@example.jp")
    checked, errors = ProfileForm(**{**base, **values}).validate(TODAY)
    assert checked is None
    assert list(errors) == [field]
    assert message in errors[field]


def test_profile_reads_what_people_type():
    form = ProfileForm(
        name="  ひまわり　会 ",
        fields=["health_welfare", "children_youth"],
        municipality="鎌ケ谷市",
        legal_form="自治会",
        members="1,200人",
        founded_year="令和元年",
        needs=["space", "funds"],
        recipients="B@example.jp, b@example.jp\n\nＣ＠example.jp",
    )
    checked, errors = form.validate(TODAY, account_email="a@example.jp")
    assert errors == {}
    assert checked.name == "ひまわり　会"
    assert checked.fields == ["health_welfare", "children_youth"]  # the law's order
    assert checked.members == 1200 and checked.founded_year == 2019
    assert checked.needs == ["funds", "space"]
    assert checked.recipients == ["a@example.jp", "b@example.jp", "c@example.jp"]
    # With an account the other addresses may be empty; 5 in all at most.
    ok, _ = ProfileForm(name="x", fields=["rural"]).validate(TODAY, account_email="a@example.jp")
    assert ok.recipients == ["a@example.jp"]
    four = "\n".join(f"r{i}@example.jp" for i in range(5))
    _, errors = ProfileForm(name="x", fields=["rural"], recipients=four).validate(
        TODAY, account_email="a@example.jp"
    )
    assert "5件" in errors["recipients"]


def test_years_active():
    group = GroupRow(founded_year=2015)
    assert years_active(group, TODAY) == 11
    assert years_active(GroupRow(founded_year=None), TODAY) is None


# -- sign-up ---------------------------------------------------------------------------------------


def test_sign_up_confirm_sign_in_and_see_the_profile(any_site):
    site = any_site
    client = site.client()
    form = client.get("/signup")
    assert form.status_code == 200
    page = soup(form)
    for name in ("email", "password", "password2", "name", "municipality", "recipients"):
        field = page.find(attrs={"name": name})
        assert field is not None and page.find("label", attrs={"for": field["id"]}), name
    assert len(page.find_all("input", attrs={"name": "fields"})) == 20
    assert page.find(id="f-prefecture").find("option", selected=True)["value"] == "千葉県"

    response = send(site, client, "/signup", SIGNUP)
    assert response.status_code == 303, alert_text(response)
    assert response.headers["location"] == "/login?notice=confirm_sent"
    with Session(site.engine) as session:
        user = session.scalars(select(UserRow)).one()
        assert (user.email, user.role, user.email_confirmed_at) == (EMAIL, "group", None)
        group = session.scalars(select(GroupRow)).one()
        assert group.user_id == user.id and not group.registered_by_staff
        assert group.name == "鎌ケ谷子ども食堂の会"
        assert group.fields == ["health_welfare", "children_youth"]
        assert (group.prefecture, group.municipality, group.legal_form) == (
            "千葉県",
            "鎌ケ谷市",
            "任意団体",
        )
        assert (group.members, group.founded_year) == (25, 2015)
        assert group.needs == ["funds", "space"]
        assert [r.email for r in group.recipients] == [
            EMAIL,
            "treasurer@example.jp",
            "secretary@example.jp",
        ]
        assert group.reminder_days == [7, 1] and group.digest_enabled
        assert len(group.unsubscribe_token) >= 32

    # Not confirmed yet: no sign-in.
    blocked = send(site, site.client(), "/login", {"email": EMAIL, "password": PASSWORD})
    assert blocked.status_code == 403

    [mail] = site.smtp.to(EMAIL)
    assert "団体" in mail["Subject"]
    link = link_in(mail, "/signup/confirm/")
    visitor = site.client()
    assert visitor.get(link).status_code == 200
    confirmed = send(site, visitor, link)
    assert confirmed.headers["location"] == "/login?notice=confirmed"

    member = site.sign_in(EMAIL)
    home = member.get("/my")
    assert home.status_code == 200
    text = soup(home).get_text(" ", strip=True)
    assert "鎌ケ谷子ども食堂の会" in text
    assert "保健・医療・福祉、子どもの健全育成" in text
    assert "千葉県鎌ケ谷市" in text and "25人" in text and "11年（2015年設立）" in text
    assert "資金、場所" in text and "treasurer@example.jp" in text
    assert "毎週月曜日にお届けします" in text and "締切の7日前と1日前" in text


def test_sign_up_errors_keep_what_was_typed_and_create_nothing(site):
    client = site.client()
    data = [
        ("email", "hiroko@"),
        ("password", "short"),
        ("password2", "different"),
        ("name", ""),
        ("prefecture", "千葉県"),
        ("municipality", "鎌ケ谷市初富"),
        ("legal_form", "NPO法人"),
        ("members", "abc"),
        ("founded_year", "1800"),
        ("needs", "goods"),
        ("description", "毎週土曜日に食堂を開いています。"),
        ("recipients", "bad-address\nok@example.jp"),
    ]
    response = send(site, client, "/signup", data)
    assert response.status_code == 400
    alert = alert_text(response)
    for words in (
        "メールアドレスを",
        "10文字以上",
        "一致しません",
        "団体名を入力",
        "活動分野を1つ以上",
        "会員数は",
        "設立年は",
        "bad-address",
    ):
        assert words in alert, words
    page = soup(response)
    assert page.find(id="f-email")["value"] == "hiroko@"
    assert page.find(id="f-password")["value"] == ""  # passwords are never sent back
    assert page.find(id="f-municipality")["value"] == "鎌ケ谷市初富"
    assert page.find(id="f-legal_form").find("option", selected=True)["value"] == "NPO法人"
    assert page.find(id="f-members")["value"] == "abc"
    assert page.find(id="f-recipients").get_text() == "bad-address\nok@example.jp"
    assert page.find(id="f-description").get_text() == "毎週土曜日に食堂を開いています。"
    assert page.find("input", attrs={"name": "needs", "value": "goods"}).has_attr("checked")
    with Session(site.engine) as session:
        assert session.scalar(select(func.count()).select_from(UserRow)) == 0
        assert session.scalar(select(func.count()).select_from(GroupRow)) == 0
    assert site.smtp.messages == []


def test_a_wrong_address_is_one_error_not_two(site):
    data = [(k, v) for k, v in SIGNUP if k not in ("email", "recipients")]
    response = send(site, site.client(), "/signup", [*data, ("email", "hiroko.example.jp")])
    assert response.status_code == 400
    alert = alert_text(response)
    assert "ログインに使うメールアドレス" in alert and "送り先" not in alert


def test_a_taken_address_is_refused_and_nothing_is_created(site):
    site.user("company", EMAIL)
    client = site.client()
    response = send(site, client, "/signup", SIGNUP)
    assert response.status_code == 400
    assert "すでに登録されています" in alert_text(response)
    with Session(site.engine) as session:
        assert session.scalar(select(func.count()).select_from(UserRow)) == 1
        assert session.scalar(select(func.count()).select_from(GroupRow)) == 0
    assert site.smtp.messages == []


def test_signed_in_people_are_sent_home_from_sign_up(site):
    site.user("staff", STAFF)
    assert site.sign_in(STAFF).get("/signup").headers["location"] == "/account"


# -- the group's pages -----------------------------------------------------------------------------


def test_edit_profile_and_recipients(site):
    group_id = make_group(site, EMAIL, "ひまわり会", extra=("old@example.jp", "keep@example.jp"))
    client = site.sign_in(EMAIL)
    form = soup(client.get("/my/profile"))
    assert form.find(id="f-name")["value"] == "ひまわり会"
    # The account's address is always a recipient, so only the others are in the box.
    assert form.find(id="f-recipients").get_text() == "old@example.jp\nkeep@example.jp"
    assert EMAIL in form.get_text()
    data = [
        ("name", "ひまわり会（鎌ケ谷）"),
        ("fields", "environment"),
        ("prefecture", "千葉県"),
        ("municipality", "船橋市"),
        ("legal_form", "NPO法人"),
        ("members", "40"),
        ("founded_year", "2010"),
        ("needs", "people"),
        ("recipients", "keep@example.jp\nnew@example.jp"),
    ]
    response = send(site, client, "/my/profile", data)
    assert response.status_code == 303
    assert response.headers["location"] == "/my?notice=profile_saved"
    with Session(site.engine) as session:
        group = session.get(GroupRow, group_id)
        assert group.name == "ひまわり会（鎌ケ谷）" and group.fields == ["environment"]
        assert (group.municipality, group.legal_form, group.members) == ("船橋市", "NPO法人", 40)
        assert group.needs == ["people"]
        assert [r.email for r in group.recipients] == [EMAIL, "keep@example.jp", "new@example.jp"]
    assert "団体の情報を保存しました" in client.get("/my?notice=profile_saved").text

    bad = send(site, client, "/my/profile", [("name", ""), ("recipients", "x@")])
    assert bad.status_code == 400
    assert "団体名を入力" in alert_text(bad) and "x@" in alert_text(bad)
    with Session(site.engine) as session:
        assert session.get(GroupRow, group_id).name == "ひまわり会（鎌ケ谷）"


def test_digest_settings(site):
    group_id = make_group(site, EMAIL, "ひまわり会")
    client = site.sign_in(EMAIL)
    page = soup(client.get("/my/settings"))
    assert page.find(id="f-enabled-on").has_attr("checked")
    checked = [i["value"] for i in page.select("input[name=sections][checked]")]
    assert len(checked) == 6  # all sections by default
    assert [i["value"] for i in page.select("input[name=reminder_days][checked]")] == ["7", "1"]

    data = [
        ("enabled", "on"),
        ("weekday", "3"),
        ("sections", "new"),
        ("sections", "closing"),
        ("when_empty", "skip"),
        ("reminder_days", "14"),
        ("reminder_days", "3"),
    ]
    assert send(site, client, "/my/settings", data).status_code == 303
    with Session(site.engine) as session:
        group = session.get(GroupRow, group_id)
        assert group.digest_enabled and group.digest_weekday == 3
        assert group.digest_sections == ["new", "closing"]
        assert group.digest_when_empty == "skip" and group.reminder_days == [14, 3]
    text = soup(client.get("/my")).get_text(" ", strip=True)
    assert "毎週木曜日にお届けします（新着の助成金、締切間近）" in text
    assert "締切の14日前と3日前" in text

    none = [("enabled", "on"), ("weekday", "3"), ("when_empty", "short")]
    refused = send(site, client, "/my/settings", none)
    assert refused.status_code == 400 and "1つ以上" in alert_text(refused)
    assert soup(refused).find(id="f-weekday").find("option", selected=True)["value"] == "3"
    bad = send(site, client, "/my/settings", [*none, ("sections", "new"), ("weekday", "9")])
    assert bad.status_code == 400 and "曜日" in alert_text(bad)

    off = [("enabled", "off"), ("weekday", "0"), ("when_empty", "short")]
    assert send(site, client, "/my/settings", off).status_code == 303
    with Session(site.engine) as session:
        group = session.get(GroupRow, group_id)
        assert not group.digest_enabled and group.reminder_days == []
    text = soup(client.get("/my")).get_text(" ", strip=True)
    assert "お知らせメールは止めています" in text and "締切前のお知らせは止めています" in text


def test_save_and_dismiss_calls(any_site):
    site = any_site
    ids = call_ids(site)
    group_id = make_group(site, EMAIL, "ひまわり会")
    client = site.sign_in(EMAIL)
    kodomo = ids["kodomo"]

    page = soup(client.get(f"/calls/{kodomo}"))
    buttons = [b.get_text() for b in page.select(".call-marks button")]
    assert buttons == ["気になる", "対象外にする"]

    saved = send(site, client, f"/calls/{kodomo}/save", {"next": f"/calls/{kodomo}"})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/calls/{kodomo}?notice=call_saved"
    page = soup(client.get(f"/calls/{kodomo}"))
    assert [b.get_text() for b in page.select(".call-marks button")] == [
        "気になるを外す",
        "対象外にする",
    ]
    # Saving twice changes nothing.
    assert send(site, client, f"/calls/{kodomo}/save").status_code == 303
    for key in ("fukushi", "owari"):
        send(site, client, f"/calls/{ids[key]}/save")

    # /my and /my/saved: by deadline, the closed one last.
    home = soup(client.get("/my"))
    titles = [a.get_text() for a in home.select(".group-calls td a")]
    assert titles == ["地域の子ども応援助成", "高齢者の見守り活動助成", "終わった環境活動助成"]
    rows = [r.get_text(" ", strip=True) for r in home.select(".group-calls tbody tr")]
    assert "2026年12月20日（日）" in rows[0] and "あと22日" in rows[0]
    assert "受付終了" in rows[2]

    # 対象外 removes 気になる, and the other way round.
    assert send(site, client, f"/calls/{kodomo}/dismiss").status_code == 303
    with Session(site.engine) as session:
        assert session.get(SavedCallRow, (group_id, kodomo)) is None
        assert session.get(DismissedCallRow, (group_id, kodomo)) is not None
    page = soup(client.get(f"/calls/{kodomo}"))
    assert [b.get_text() for b in page.select(".call-marks button")] == [
        "気になる",
        "対象外を取り消す",
    ]
    assert "（対象外 1件）" in client.get("/my").text
    lists = soup(client.get("/my/saved"))
    dismissed = lists.find(id="dismissed-heading").find_next("table")
    assert "地域の子ども応援助成" in dismissed.get_text()
    undo = send(site, client, f"/calls/{kodomo}/undismiss", {"next": "/my/saved"})
    assert undo.headers["location"] == "/my/saved?notice=call_undismissed"
    assert send(site, client, f"/calls/{kodomo}/save").status_code == 303
    assert send(site, client, f"/calls/{ids['fukushi']}/dismiss").status_code == 303
    with Session(site.engine) as session:
        assert session.get(DismissedCallRow, (group_id, kodomo)) is None
        assert session.get(SavedCallRow, (group_id, kodomo)) is not None
        assert session.get(SavedCallRow, (group_id, ids["fukushi"])) is None
    out = send(site, client, f"/calls/{ids['owari']}/unsave", {"next": "/my/saved"})
    assert out.headers["location"] == "/my/saved?notice=call_unsaved"
    with Session(site.engine) as session:
        saved_ids = session.scalars(
            select(SavedCallRow.call_id).where(SavedCallRow.group_id == group_id)
        ).all()
    assert saved_ids == [kodomo]

    # Only local paths to go back to; unknown calls are 404.
    evil = send(site, client, f"/calls/{kodomo}/save", {"next": "//evil.example/"})
    assert evil.headers["location"] == f"/calls/{kodomo}?notice=call_saved"
    assert send(site, client, "/calls/999999/save").status_code == 404
    assert send(site, client, f"/calls/{2**40}/dismiss").status_code == 404


def test_call_page_for_staff_visitors_and_companies(site):
    ids = call_ids(site)
    call = ids["kodomo"]
    anonymous = site.client().get(f"/calls/{call}")
    text = soup(anonymous).get_text(" ", strip=True)
    assert "ログインすると『気になる』に保存できます" in text
    assert soup(anonymous).find("a", href=f"/login?next=/calls/{call}") is not None
    assert not soup(anonymous).select(".call-marks button")

    site.user("staff", STAFF)
    staff = soup(site.sign_in(STAFF).get(f"/calls/{call}"))
    assert staff.find("a", href=f"/staff/calls/{call}/edit").get_text() == "編集"
    assert staff.find("a", href=f"/staff/calls/{call}/merge").get_text() == "重複の統合・分割"
    assert not staff.select(".call-marks button")

    site.user("company", "csr@example.co.jp")
    company = site.sign_in("csr@example.co.jp")
    page = soup(company.get(f"/calls/{call}"))
    assert not page.select(".call-marks") and "気になる" not in page.get_text()
    assert send(site, company, f"/calls/{call}/save").status_code == 403
    assert send(site, site.client(), f"/calls/{call}/save").status_code == 303
    printed = soup(site.sign_in(STAFF).get(f"/calls/{call}?print=1"))
    assert not printed.select(".call-marks")


# -- another group's things ------------------------------------------------------------------------


def test_each_group_sees_and_changes_only_its_own(site):
    ids = call_ids(site)
    a = make_group(site, "a@example.jp", "あおぞら会", extra=("a2@example.jp",))
    b = make_group(site, "b@example.jp", "ばら会", extra=("b2@example.jp",))
    client_a = site.sign_in("a@example.jp")
    client_b = site.sign_in("b@example.jp")
    send(site, client_a, f"/calls/{ids['kodomo']}/save")
    send(site, client_a, f"/calls/{ids['fukushi']}/dismiss")

    for path in ("/my", "/my/saved", "/my/profile", "/my/settings", "/my/delete"):
        page = client_b.get(path).text
        assert "あおぞら会" not in page and "a2@example.jp" not in page, path
        assert "地域の子ども応援助成" not in page, path
    assert "ばら会" in client_b.get("/my").text
    # B's buttons act on B's own lists only.
    send(site, client_b, f"/calls/{ids['kodomo']}/unsave")
    send(site, client_b, f"/calls/{ids['fukushi']}/undismiss")
    with Session(site.engine) as session:
        assert session.get(SavedCallRow, (a, ids["kodomo"])) is not None
        assert session.get(DismissedCallRow, (a, ids["fukushi"])) is not None
        assert session.scalars(select(SavedCallRow).where(SavedCallRow.group_id == b)).all() == []
    exported = client_b.get("/my/export").text
    assert "あおぞら会" not in exported and "a@example.jp" not in exported


MY_GETS = ["/my", "/my/profile", "/my/settings", "/my/saved", "/my/export", "/my/export.csv",
           "/my/delete"]  # fmt: skip
MY_POSTS = ["/my/profile", "/my/settings", "/my/delete"]


@pytest.mark.parametrize("role", ["staff", "company"])
def test_other_roles_may_not_open_the_group_pages(site, role):
    ids = call_ids(site)
    make_group(site, EMAIL, "ひまわり会")
    site.user(role, f"{role}@example.jp")
    client = site.sign_in(f"{role}@example.jp")
    for path in MY_GETS:
        assert client.get(path).status_code == 403, path
    for path in [*MY_POSTS, *(f"/calls/{ids['kodomo']}/{a}" for a in ("save", "dismiss"))]:
        assert send(site, client, path, {"password": PASSWORD}).status_code == 403, path
    with Session(site.engine) as session:
        assert session.scalar(select(func.count()).select_from(GroupRow)) == 1


def test_anonymous_visitors_are_sent_to_sign_in(site):
    ids = call_ids(site)
    client = site.client()
    for path in MY_GETS:
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
    for path in [*MY_POSTS, f"/calls/{ids['kodomo']}/save"]:
        response = send(site, client, path, {})
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path


def test_forms_without_the_token_are_refused(site):
    ids = call_ids(site)
    group_id = make_group(site, EMAIL, "ひまわり会")
    client = site.sign_in(EMAIL)
    assert client.post(f"/calls/{ids['kodomo']}/save", data={}).status_code == 403
    assert client.post("/my/delete", data={"password": PASSWORD}).status_code == 403
    assert client.post("/signup", data=dict(SIGNUP)).status_code == 403
    with Session(site.engine) as session:
        assert session.get(GroupRow, group_id) is not None
        assert session.scalars(select(SavedCallRow)).all() == []


def test_a_group_account_without_a_group_gets_404_not_an_error(site):
    site.user("group", "lonely@example.jp")
    client = site.sign_in("lonely@example.jp")
    response = client.get("/my")
    assert response.status_code == 404 and "センターにご連絡ください" in response.text


# -- export and deletion ---------------------------------------------------------------------------


def _interest(site, group_id: int, *, company_email: str, title: str) -> None:
    now = datetime.now(UTC)
    with Session(site.engine) as session:
        user = create_user(session, company_email, PASSWORD, Role.COMPANY, confirmed=True)
        company = CompanyRow(
            user_id=user.id, name=f"{title}商事", contact_name="営業 太郎", status="approved",
            created_at=now,
        )  # fmt: skip
        session.add(company)
        session.flush()
        offer = OfferRow(
            company_id=company.id, kind="goods", title=title, status="published",
            created_at=now, updated_at=now, published_at=now,
        )  # fmt: skip
        session.add(offer)
        session.flush()
        interest = OfferInterestRow(
            offer_id=offer.id, group_id=group_id, message="ぜひお願いします", created_at=now
        )
        session.add(interest)
        session.flush()
        session.add(
            CoordinationLogRow(
                interest_id=interest.id, kind="note", body="電話した", created_at=now
            )
        )
        session.commit()


def _mail(site, key: str, to: str, group_id: int | None, *, kind="reminder", sent=True) -> None:
    with Session(site.engine) as session:
        row = enqueue(
            session, site.settings, key=key, kind=kind, to=to, subject=f"件名 {key}",
            text="本文", group_id=group_id,
        )  # fmt: skip
        if sent:
            row.status = "sent"
            row.sent_at = datetime.now(UTC)
        session.commit()


def test_export_holds_the_groups_data_and_nothing_of_another(any_site):
    site = any_site
    ids = call_ids(site)
    a = make_group(site, EMAIL, "ひまわり会", extra=("kaikei@example.jp",), phone="047-000-1111")
    b = make_group(site, "other@example.jp", "ばら会", extra=("bara2@example.jp",))
    _interest(site, a, company_email="csr-a@example.co.jp", title="パソコン寄贈")
    _interest(site, b, company_email="csr-b@example.co.jp", title="会議室の提供")
    _mail(site, "r-a", EMAIL, a)
    _mail(site, "staff-a", "center@kyodo.example.jp", a, kind="interest")
    _mail(site, "r-b", "other@example.jp", b)
    client_a = site.sign_in(EMAIL)
    client_b = site.sign_in("other@example.jp")
    send(site, client_a, f"/calls/{ids['kodomo']}/save")
    send(site, client_a, f"/calls/{ids['owari']}/dismiss")
    send(site, client_b, f"/calls/{ids['fukushi']}/save")

    response = client_a.get("/my/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == f'attachment; filename="kyodo-group-{a}.json"'
    data = json.loads(response.content)
    assert data["group"]["name"] == "ひまわり会" and data["group"]["phone"] == "047-000-1111"
    assert data["account"]["email"] == EMAIL
    assert [r["email"] for r in data["recipients"]] == [EMAIL, "kaikei@example.jp"]
    assert [c["title"] for c in data["saved_calls"]] == ["地域の子ども応援助成"]
    assert [c["title"] for c in data["dismissed_calls"]] == ["終わった環境活動助成"]
    assert data["offer_interests"][0]["offer_title"] == "パソコン寄贈"
    assert data["offer_interests"][0]["message"] == "ぜひお願いします"
    history = {m["subject"]: m for m in data["mail_history"]}
    assert history["件名 r-a"]["to"] == EMAIL and history["件名 r-a"]["status"] == "sent"
    assert history["件名 staff-a"]["to"] is None  # the centre's address is not the group's
    assert data["digest_settings"]["reminder_days"] == [7, 1]
    text = response.content.decode()
    for other in ("ばら会", "other@example.jp", "bara2@example.jp", "会議室の提供",
                  "高齢者の見守り活動助成", "件名 r-b", "csr-a@example.co.jp", "本文",
                  "unsubscribe"):  # fmt: skip
        assert other not in text, other

    saved_csv = client_a.get("/my/export.csv")
    assert saved_csv.content.startswith("\ufeff公募名".encode())
    assert "地域の子ども応援助成" in saved_csv.content.decode("utf-8-sig")


def test_delete_removes_everything_and_signs_out(any_site):
    site = any_site
    ids = call_ids(site)
    a = make_group(site, EMAIL, "ひまわり会", extra=("kaikei@example.jp",))
    b = make_group(site, "other@example.jp", "ばら会")
    _interest(site, a, company_email="csr@example.co.jp", title="パソコン寄贈")
    _mail(site, "r-a", "kaikei@example.jp", a)
    _mail(site, "pending-a", EMAIL, a, sent=False)
    _mail(site, "r-b", "other@example.jp", b)
    client = site.sign_in(EMAIL)
    also_signed_in = site.sign_in(EMAIL)
    send(site, client, f"/calls/{ids['kodomo']}/save")
    send(site, client, f"/calls/{ids['fukushi']}/dismiss")

    page = client.get("/my/delete")
    assert page.status_code == 200 and "元には戻せません" in page.text
    wrong = send(site, client, "/my/delete", {"password": "not-my-password"})
    assert wrong.status_code == 400 and "パスワードが違います" in alert_text(wrong)
    with Session(site.engine) as session:
        assert session.get(GroupRow, a) is not None

    response = send(site, client, "/my/delete", {"password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["location"] == "/?notice=deleted"
    assert 'kyodo_session=""' in response.headers["set-cookie"] or (
        "kyodo_session=;" in response.headers["set-cookie"]
    )
    assert "Max-Age=0" in response.headers["set-cookie"]
    with Session(site.engine) as session:
        assert session.get(GroupRow, a) is None
        assert session.scalars(select(UserRow).where(UserRow.email == EMAIL)).first() is None
        assert session.scalar(select(func.count()).select_from(SessionRow)) == 0
        assert (
            session.scalars(select(GroupRecipientRow).where(GroupRecipientRow.group_id == a)).all()
            == []
        )
        assert session.scalars(select(SavedCallRow)).all() == []
        assert session.scalars(select(DismissedCallRow)).all() == []
        assert session.scalars(select(OfferInterestRow)).all() == []
        assert session.scalars(select(CoordinationLogRow)).all() == []
        mails = {m.key: m for m in session.scalars(select(OutboxRow))}
        assert "pending-a" not in mails  # never sent: gone
        assert mails["r-a"].recipient == "(削除済み)" and mails["r-a"].message == ""
        assert mails["r-a"].group_id is None and mails["r-a"].status == "sent"
        everything = " ".join(f"{m.recipient} {m.subject} {m.message}" for m in mails.values())
        assert EMAIL not in everything and "kaikei@example.jp" not in everything
        # The other group is untouched.
        assert session.get(GroupRow, b) is not None
        assert mails["r-b"].recipient == "other@example.jp" and mails["r-b"].group_id == b
        assert session.get(CallRow, ids["kodomo"]) is not None
    assert also_signed_in.get("/my").status_code == 303  # every session ended
    assert (
        send(site, site.client(), "/login", {"email": EMAIL, "password": PASSWORD}).status_code
        == 401
    )
