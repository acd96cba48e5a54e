"""Browser tests of the signed-in site (issue 6): a group signs up and confirms its address from
the mail; a company signs up, is approved, posts an offer that staff publish, and a group
presses 「関心がある」; and the members' pages at 360 px on a phone.

The site is `kyodo serve` over a fresh SQLite database, with a real SMTP server (aiosmtpd on
127.0.0.1) that keeps every message, and a staff account made by `kyodo staff create`. Each
person (group, company, staff, visitor) uses their own browser context (own cookies). Every
step is a click or typed text on the pages; the only direct reads are the mails.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from tests.browser.conftest import _free_port, _kyodo, ingest_listings, serving
from tests.browser.test_accessibility import assert_no_blocking
from tests.web.conftest import body_text

PASSWORD = "yamabiko-2026-kamagaya"
STAFF_EMAIL = "staff@kyodo.example.jp"
CENTER_EMAIL = "center@kyodo.example.jp"
MAIL_FROM = "info@kyodo.example.jp"
MAIL_WAIT_SECONDS = 10
PHONE_WIDTH = 360
# The one call in the database: the search page has a result besides the offers.
CALL_LISTING = {
    "id": "members-1",
    "source": "canpan",
    "url": "https://grants.example.jp/members-1",
    "title": "子どもの居場所づくり活動助成",
    "text": "締切: 2026年12月25日\n助成金額: 上限20万円\n対象: 子ども食堂など子どもの居場所",
    "organizer": "公益財団法人 かしわ財団",
    "published": "2026-11-20",
    "status": "募集中",
}


# -- the site: database, SMTP server, staff account, `kyodo serve` -------------------------------


class _Inbox:
    """aiosmtpd handler keeping every accepted message (raw bytes), safe to read from tests."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.raw.append(envelope.content)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            raw = list(self.raw)
        return [email.message_from_bytes(r, policy=email.policy.default) for r in raw]


@dataclass
class Members:
    url: str
    inbox: _Inbox

    def mails(self, to: str, subject: str = "") -> list[EmailMessage]:
        return [m for m in self.inbox.messages() if m["To"] == to and subject in m["Subject"]]

    def wait_for_mail(self, to: str, subject: str) -> EmailMessage:
        """The first mail to `to` whose subject contains `subject`; the server sends after the
        response, so poll for it."""
        deadline = time.monotonic() + MAIL_WAIT_SECONDS
        while time.monotonic() < deadline:
            found = self.mails(to, subject)
            if found:
                return found[0]
            time.sleep(0.1)
        seen = [(m["To"], m["Subject"]) for m in self.inbox.messages()]
        pytest.fail(f"no mail to {to} with 「{subject}」 within {MAIL_WAIT_SECONDS} s: {seen}")


def link_in(message: EmailMessage, site_url: str, path_prefix: str) -> str:
    """The first link in the mail to `site_url` + `path_prefix…` (the mail's absolute link)."""
    match = re.search(re.escape(site_url + path_prefix) + r"\S*", body_text(message))
    assert match, f"no link to {site_url}{path_prefix} in:\n{body_text(message)}"
    return match.group(0)


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Members]:
    folder = tmp_path_factory.mktemp("members-site")
    database_url = f"sqlite:///{folder / 'kyodo.db'}"
    inbox = _Inbox()
    smtp_port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KYODO_")},
        "KYODO_DATABASE_URL": database_url,
        "KYODO_SMTP_HOST": "127.0.0.1",
        "KYODO_SMTP_PORT": str(smtp_port),
        "KYODO_MAIL_FROM": MAIL_FROM,
        "KYODO_STAFF_EMAIL": CENTER_EMAIL,
        "KYODO_SITE_URL": url,
    }
    try:
        _kyodo("db", "upgrade", env=env, cwd=folder)
        created = subprocess.run(
            [sys.executable, "-m", "kyodo.cli", "staff", "create", STAFF_EMAIL, "--password-stdin"],
            input=PASSWORD + "\n",
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, f"kyodo staff create failed:\n{created.stderr}"
        ingest_listings(database_url, [CALL_LISTING])
        with serving(env, folder, port) as proc:
            yield Members(url=url, inbox=inbox)
            log = (folder / "serve.log").read_text()
            assert proc.poll() is None, f"kyodo serve stopped:\n{log[-3000:]}"
            errors = [line for line in log.splitlines() if "Traceback" in line]
            assert not errors, f"the server logged errors:\n{log[-3000:]}"
    finally:
        controller.stop()


# -- people: one browser context each ------------------------------------------------------------


@pytest.fixture()
def person(browser, members: Members) -> Iterator:
    """`person()` opens a new page in its own context (cookies) at desktop width."""
    contexts = []
    errors: list[str] = []

    def open_page(**options):
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(base_url=members.url, locale="ja-JP", **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: (errors.append(dialog.message), dialog.dismiss()))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"script errors or dialogs on the pages: {errors}"


def label(text: str, required: bool = False) -> re.Pattern:
    """A form control's accessible name exactly: 「メールアドレス（必須）」 when required."""
    return re.compile("^" + re.escape(text + ("（必須）" if required else "")) + "$")


def notice(page) -> str:
    return page.locator("main .notice[role=status]").inner_text()


def sign_in(page, address: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label(label("メールアドレス", True)).fill(address)
    page.get_by_label(label("パスワード", True)).fill(password)
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_load_state()


def confirm_from_mail(page, members: Members, address: str, who: str) -> None:
    """Opens the confirmation link mailed to `address` and presses the button."""
    mail = members.wait_for_mail(address, f"メールアドレスの確認（{who}の登録）")
    assert mail["From"].endswith(f"<{MAIL_FROM}>") or mail["From"] == MAIL_FROM, mail["From"]
    page.goto(link_in(mail, members.url, "/signup/confirm/"))
    assert address in page.locator("main").inner_text()
    page.get_by_role("button", name="登録を完了する").click()
    page.wait_for_url(re.compile(r"/login\?notice=confirmed$"))
    assert notice(page) == "メールアドレスを確認しました。ログインしてください。"


def sign_up_group(page, members: Members, address: str, name: str) -> None:
    """The group sign-up form filled like a person would, then the confirmation mail."""
    page.goto("/signup")
    page.get_by_label(label("メールアドレス", True)).fill(address)
    page.get_by_label(label("パスワード", True)).fill(PASSWORD)
    page.get_by_label(label("パスワード（確認のため、もう一度）", True)).fill(PASSWORD)
    page.get_by_label(label("団体名", True)).fill(name)
    page.get_by_label(label("子どもの健全育成")).check()
    page.get_by_label(label("まちづくり")).check()
    page.get_by_label(label("活動している都道府県", True)).select_option("千葉県")
    page.get_by_label(label("活動している市区町村")).fill("鎌ケ谷市")
    page.get_by_label(label("法人格", True)).select_option(label="任意団体")
    page.get_by_label(label("会員数（人）")).fill("25")
    page.get_by_label(label("設立した年")).fill("平成27")
    page.get_by_label(label("物品")).check()
    page.get_by_label(label("団体の紹介")).fill("週に1回、子ども食堂を開いています。")
    page.get_by_label(label("代表者のお名前")).fill("鎌ケ谷 花子")
    page.get_by_label(label("電話番号")).fill("047-000-0000")
    page.get_by_role("button", name="登録を申し込む").click()
    page.wait_for_url(re.compile(r"/login\?notice=confirm_sent$"))
    assert "確認メールをお送りしました" in notice(page)
    # Not confirmed yet: signing in says what to do.
    sign_in(page, address)
    assert "メールアドレスの確認がまだです" in page.get_by_role("alert").inner_text()
    confirm_from_mail(page, members, address, "団体")


def sign_up_company(page, members: Members, address: str, name: str) -> None:
    page.goto("/company/signup")
    page.get_by_label(label("メールアドレス", True)).fill(address)
    page.get_by_label(label("パスワード", True)).fill(PASSWORD)
    page.get_by_label(label("パスワード（確認のため、もう一度）", True)).fill(PASSWORD)
    page.get_by_label(label("企業名", True)).fill(name)
    page.get_by_label(label("部署名")).fill("総務部 CSR推進室")
    page.get_by_label(label("ご担当者のお名前")).fill("社会 貢太")
    page.get_by_label(label("電話番号")).fill("047-111-2222")
    page.get_by_label(label("ホームページ")).fill("https://www.midori.example.co.jp/")
    page.get_by_label(label("所在地（都道府県）")).select_option("千葉県")
    page.get_by_label(label("所在地（市区町村）")).fill("鎌ケ谷市")
    page.get_by_role("button", name="登録を申し込む").click()
    page.wait_for_url(re.compile(r"/login\?notice=confirm_sent$"))
    confirm_from_mail(page, members, address, "企業")


# -- 1. a group signs up, confirms from the mail, signs in ---------------------------------------


def test_group_signs_up_confirms_from_the_mail_and_signs_in(person, members: Members) -> None:
    address = "kaikei@kodomo-shokudo.example.jp"
    page = person()
    sign_up_group(page, members, address, "鎌ケ谷子ども食堂の会")

    # A wrong password: the Japanese error, the address kept, no session.
    sign_in(page, address, "wrong-password-123")
    assert page.get_by_role("alert").inner_text() == "メールアドレスかパスワードが違います。"
    assert page.get_by_label(label("メールアドレス", True)).input_value() == address
    assert "/login" in page.url

    sign_in(page, address)
    page.wait_for_url(re.compile(r"/my\?notice=signed_in$"))
    assert notice(page) == "ログインしました。"
    assert page.locator(".group-name").inner_text() == "鎌ケ谷子ども食堂の会"
    facts = page.locator(".group-facts").inner_text()
    for fact in ("子どもの健全育成", "まちづくり", "千葉県鎌ケ谷市", "任意団体", "25人", "物品"):
        assert fact in facts, f"{fact!r} missing from the group's page:\n{facts}"
    assert address in facts  # the owner sees its own recipient address

    # The confirmation link is single-use: opening it again says so.
    mail = members.wait_for_mail(address, "メールアドレスの確認")
    other = person()
    other.goto(link_in(mail, members.url, "/signup/confirm/"))
    assert other.get_by_role("button", name="登録を完了する").count() == 0
    assert other.get_by_role("alert").count() == 1


# -- 2. a company's offer: approval, publication, a group's interest -----------------------------


def test_company_offer_approved_published_and_a_group_expresses_interest(
    person, members: Members
) -> None:
    company_email = "csr@midori.example.co.jp"
    group_email = "daihyo@yamabiko.example.jp"
    company_name = "みどり商事株式会社"
    group_name = "やまびこ子育てサークル"
    title = "子ども食堂へのノートパソコン寄贈"

    company = person()
    sign_up_company(company, members, company_email, company_name)
    staff_told = members.wait_for_mail(CENTER_EMAIL, company_name)
    assert "/staff/companies" in body_text(staff_told)
    sign_in(company, company_email)
    company.wait_for_url(re.compile(r"/company\?notice=signed_in$"))
    assert "登録の状態：承認待ち" in company.locator(".company-state").inner_text()

    # Staff approve the company.
    staff = person()
    sign_in(staff, STAFF_EMAIL)
    staff.wait_for_url(re.compile(r"/staff\?notice=signed_in$"))
    staff.get_by_role("link", name="企業の承認").first.click()
    row = staff.locator("tr.company-row", has_text=company_name)
    assert company_email in row.inner_text()  # staff see the contact
    row.get_by_role("button", name="承認する").click()
    staff.wait_for_load_state()
    assert notice(staff) == "承認しました。"
    row = staff.locator("tr.company-row", has_text=company_name)
    assert "承認済み" in row.inner_text()
    assert row.get_by_role("button", name="承認する").count() == 0
    members.wait_for_mail(company_email, "企業の登録を承認しました")

    # The company writes the offer and asks for approval.
    company.goto("/company")
    assert "承認待ち" not in company.locator(".company-state").inner_text()
    company.get_by_role("link", name="新しい支援を登録する").click()
    company.wait_for_url("**/company/offers/new")
    company.get_by_label(label("支援の種類", True)).select_option(label="物品寄贈")
    company.get_by_label(label("タイトル", True)).fill(title)
    company.get_by_label(label("支援の内容", True)).fill(
        "使わなくなったノートパソコン10台を、子ども食堂や学習支援の団体に差し上げます。"
    )
    company.get_by_role("group", name="対象の活動分野（いくつでも）").get_by_label(
        label("子どもの健全育成")
    ).check()
    company.get_by_label(label("対象の地域", True)).select_option(label="鎌ケ谷市")
    company.get_by_label(label("数量など")).fill("ノートパソコン10台")
    company.get_by_label(label("申し込み方法", True)).fill(
        "「関心がある」を押してください。センターからご連絡します。"
    )
    company.get_by_label(label("問い合わせ先", True)).fill("みどり商事 総務部 CSR推進室")
    company.get_by_role("button", name="下書きとして保存する").click()
    company.wait_for_url(re.compile(r"/company/offers/\d+\?notice=offer_saved$"))
    offer_id = int(re.search(r"/company/offers/(\d+)", company.url).group(1))
    assert company.locator(".offer-state").inner_text() == "状態：下書き"
    company.get_by_role("button", name="承認を申請する").click()
    company.wait_for_url(re.compile(rf"/company/offers/{offer_id}\?notice=submitted$"))
    assert company.locator(".offer-state").inner_text() == "状態：承認待ち"
    members.wait_for_mail(CENTER_EMAIL, f"支援の承認申請：{title}")

    # Not public yet.
    visitor = person()
    visitor.goto("/offers")
    assert visitor.get_by_role("link", name=title).count() == 0

    # Staff publish it.
    staff.goto("/staff")
    staff.get_by_role("link", name="企業の支援の承認").click()
    staff.get_by_role("link", name=title).click()
    staff.wait_for_url(f"**/staff/offers/{offer_id}")
    staff.get_by_role("button", name="公開する").click()
    staff.wait_for_url(re.compile(rf"/staff/offers/{offer_id}\?notice=published$"))
    assert "公開中" in staff.locator(".offer-state").inner_text()
    members.wait_for_mail(company_email, f"支援を公開しました：{title}")

    # An anonymous visitor finds it in the list and on the search page's block.
    visitor.goto("/offers")
    visitor.get_by_role("link", name=title).wait_for()
    visitor.goto("/")
    block = visitor.locator("section.offers-block")
    block.get_by_role("link", name=title).wait_for()
    assert visitor.get_by_role("link", name=CALL_LISTING["title"]).count() == 1  # the call too
    visitor.get_by_label("キーワード").fill("ノートパソコン")
    visitor.get_by_role("button", name="検索", exact=True).click()
    visitor.wait_for_url(re.compile(r"[?&]q="))
    assert block.get_by_role("heading").inner_text() == "企業からの支援 1件"
    assert "物品寄贈" in block.inner_text() and company_name in block.inner_text()
    block.get_by_role("link", name=title).click()
    visitor.wait_for_url(f"**/offers/{offer_id}")
    assert visitor.get_by_role("heading", level=1).inner_text() == title
    assert visitor.get_by_role("button", name="関心がある").count() == 0  # must sign in first
    for private in (company_email, "社会 貢太", "047-111-2222"):
        assert private not in visitor.content(), f"{private} is public on the offer's page"

    # A group signs up, opens the offer and presses 関心がある with a message.
    group = person()
    sign_up_group(group, members, group_email, group_name)
    group.goto(f"/offers/{offer_id}")
    group.get_by_role("link", name="ログインして関心を伝える").click()
    group.get_by_label(label("メールアドレス", True)).fill(group_email)
    group.get_by_label(label("パスワード", True)).fill(PASSWORD)
    group.get_by_role("button", name="ログイン", exact=True).click()
    group.wait_for_url(re.compile(rf"/offers/{offer_id}\?notice=signed_in$"))
    message = "学習支援で使うパソコンを3台探しています。"
    group.get_by_label(label("企業へのメッセージ（なくてもかまいません）")).fill(message)
    group.get_by_role("button", name="関心がある").click()
    group.wait_for_url(re.compile(rf"/offers/{offer_id}\?notice=interest_sent$"))
    assert notice(group) == "関心があることを企業とセンターに伝えました。"
    assert "すでに関心を伝えています" in group.locator(".interest-box").inner_text()

    # The company and the centre are told by mail.
    to_company = members.wait_for_mail(company_email, "関心を寄せた団体があります")
    text = body_text(to_company)
    assert group_name in text and message in text
    assert group_email not in text and "鎌ケ谷 花子" not in text and "047-000-0000" not in text
    to_center = members.wait_for_mail(CENTER_EMAIL, group_name)
    # The centre coordinates: it gets the group's contact (so its absence below means something).
    for private in (group_email, "鎌ケ谷 花子", "047-000-0000"):
        assert private in body_text(to_center), f"{private} missing from the centre's mail"

    # Staff see the interest on their list.
    staff.goto("/staff")
    staff.get_by_role("link", name="「関心がある」の連絡調整").click()
    staff.wait_for_url("**/staff/interests")
    row = staff.locator("tbody tr", has_text=group_name)
    assert title in row.inner_text() and company_name in row.inner_text()
    assert row.locator(".interest-badge").inner_text() == "未対応"

    # The company's pages list the interest: the group's name and message, no address.
    company.goto("/company")
    interests = company.locator("section[aria-labelledby=interests-heading]")
    assert "団体からの関心（1件）" in interests.get_by_role("heading").inner_text()
    assert group_name in interests.inner_text() and message in interests.inner_text()
    company.get_by_role("link", name=title).first.click()
    company.wait_for_url(f"**/company/offers/{offer_id}")
    assert group_name in company.locator("main").inner_text()
    assert message in company.locator("main").inner_text()
    html = company.content()
    for private in (group_email, "鎌ケ谷 花子", "047-000-0000"):
        assert private not in html, f"the company's offer page shows the group's {private}"
    company.goto("/company")
    html = company.content()
    for private in (group_email, "鎌ケ谷 花子", "047-000-0000"):
        assert private not in html, f"the company's page shows the group's {private}"


# -- 3. the members' pages on a 360 px phone -----------------------------------------------------


def test_members_pages_fit_a_phone_and_pass_axe(person, members: Members, axe_js) -> None:
    phone = {
        "viewport": {"width": PHONE_WIDTH, "height": 780},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    }
    group_email = "phone@hinata.example.jp"
    company_email = "phone@aozora.example.co.jp"
    setup = person()
    sign_up_group(setup, members, group_email, "ひなた見守り隊")
    sign_up_company(setup, members, company_email, "あおぞら電機株式会社")

    checked: list[str] = []

    def check(page, path: str) -> None:
        page.goto(path)
        assert page.url.endswith(path), f"{path} went to {page.url}"
        # Not window.innerWidth: on a mobile viewport Chromium widens the layout viewport to
        # the content, so innerWidth grows with an overflow. The screen is 360 px.
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(
            """() => Array.from(document.querySelectorAll('body *'))
                .filter(el => el.getBoundingClientRect().right > 361)
                .slice(0, 5).map(el => el.tagName + '.' + el.className)"""
        )
        assert width <= PHONE_WIDTH, f"{path} scrolls sideways at 360 px ({width}): {wide}"
        assert_no_blocking(page, axe_js, f"{path} at 360 px")
        checked.append(path)

    anonymous = person(**phone)
    check(anonymous, "/login")
    check(anonymous, "/signup")

    group = person(**phone)
    sign_in(group, group_email)
    check(group, "/my")

    company = person(**phone)
    sign_in(company, company_email)
    check(company, "/company/offers/new")

    staff = person(**phone)
    sign_in(staff, STAFF_EMAIL)
    check(staff, "/staff")
    assert checked == ["/login", "/signup", "/my", "/company/offers/new", "/staff"]
