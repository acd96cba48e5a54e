"""Sign-in, sign-out, sessions and their expiry, throttling, password reset by e-mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aggregator.storage.models import AccountTokenRow, OutboxRow, SessionRow
from tests.web.conftest import PASSWORD, link_in

STAFF = "staff@kyodo.example.jp"


def test_sign_in_and_out(any_site):
    any_site.user("staff", STAFF)
    client = any_site.client()
    page = client.get("/login")
    assert page.status_code == 200 and "ログイン" in page.text
    response = any_site.post(
        client, "/login", {"email": " STAFF@kyodo.example.jp ", "password": PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff")
    cookie = response.headers["set-cookie"]
    assert "kyodo_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    with Session(any_site.engine) as session:
        stored = session.scalars(select(SessionRow.token_hash)).all()
    token = client.cookies["kyodo_session"]
    assert token not in stored and len(stored) == 1  # only a hash is stored

    response = any_site.post(client, "/logout")
    assert response.status_code == 303
    with Session(any_site.engine) as session:
        assert session.scalars(select(SessionRow)).all() == []
    assert client.get("/account").status_code == 303  # signed out: back to the sign-in page


def test_wrong_password_and_unknown_address_read_the_same(site):
    site.user("staff", STAFF)
    client = site.client()
    wrong = site.post(client, "/login", {"email": STAFF, "password": "not-the-password"})
    unknown = site.post(client, "/login", {"email": "nobody@example.jp", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert "メールアドレスかパスワードが違います" in wrong.text
    assert "メールアドレスかパスワードが違います" in unknown.text
    assert "kyodo_session" not in client.cookies


def test_next_only_goes_to_local_pages(site):
    site.user("staff", STAFF)
    client = site.client()
    ok = site.post(
        client, "/login", {"email": STAFF, "password": PASSWORD, "next": "/staff/groups"}
    )
    assert ok.headers["location"].startswith("/staff/groups")
    other = site.client()
    evil = site.post(
        other, "/login", {"email": STAFF, "password": PASSWORD, "next": "//evil.example/"}
    )
    assert evil.headers["location"].startswith("/staff")


def test_repeated_failures_are_throttled_even_with_the_right_password(site):
    site.user("staff", STAFF)
    client = site.client()
    for _ in range(site.settings.signin_max_failures):
        assert (
            site.post(client, "/login", {"email": STAFF, "password": "wrong-wrong"}).status_code
            == 401
        )
    blocked = site.post(client, "/login", {"email": STAFF, "password": PASSWORD})
    assert blocked.status_code == 429
    assert "一時的に受け付けを止めています" in blocked.text
    assert "kyodo_session" not in client.cookies
    # After the window the right password works again.
    from aggregator.storage.models import SignInFailureRow

    with Session(site.engine) as session:
        session.execute(update(SignInFailureRow).values(at=datetime.now(UTC) - timedelta(hours=1)))
        session.commit()
    assert site.post(client, "/login", {"email": STAFF, "password": PASSWORD}).status_code == 303


def test_session_expires_when_idle_and_at_its_absolute_end(site):
    site.user("staff", STAFF)
    client = site.sign_in(STAFF)
    assert client.get("/account").status_code == 303
    assert client.get("/account").headers["location"] == "/staff"
    with Session(site.engine) as session:
        session.execute(
            update(SessionRow).values(last_seen_at=datetime.now(UTC) - timedelta(hours=73))
        )
        session.commit()
    response = client.get("/account")
    assert response.headers["location"].startswith("/login")
    with Session(site.engine) as session:
        assert session.scalars(select(SessionRow)).all() == []  # the idle session is gone

    client = site.sign_in(STAFF)
    with Session(site.engine) as session:
        session.execute(
            update(SessionRow).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    assert client.get("/account").headers["location"].startswith("/login")


def test_forged_session_cookie_is_not_a_sign_in(site):
    site.user("staff", STAFF)
    client = site.client()
    client.cookies.set("kyodo_session", "made-up-token")
    assert client.get("/account").headers["location"].startswith("/login")


def test_password_reset_by_mail_is_single_use_and_expires(any_site):
    site = any_site
    site.user("group", "kaikei@example.jp")
    old_client = site.sign_in("kaikei@example.jp")
    client = site.client()
    response = site.post(client, "/password/forgot", {"email": "kaikei@example.jp"})
    assert response.status_code == 303
    unknown = site.post(client, "/password/forgot", {"email": "nobody@example.jp"})
    assert unknown.headers["location"] == response.headers["location"]  # no hint
    [mail] = site.smtp.to("kaikei@example.jp")
    assert "パスワード再設定" in mail["Subject"]
    path = link_in(mail, "/password/reset/")
    assert client.get(path).status_code == 200

    mismatch = site.post(
        client, path, {"password": "new-password-99", "password2": "other-password-99"}
    )
    assert mismatch.status_code == 400
    short = site.post(client, path, {"password": "short", "password2": "short"})
    assert short.status_code == 400 and "10文字以上" in short.text
    done = site.post(client, path, {"password": "new-password-99", "password2": "new-password-99"})
    assert done.status_code == 303
    again = site.post(
        client, path, {"password": "third-password-9", "password2": "third-password-9"}
    )
    assert again.status_code == 400 and "無効" in again.text  # single use
    # The old password no longer works, the new one does, old sessions are signed out.
    assert (
        site.post(
            site.client(), "/login", {"email": "kaikei@example.jp", "password": PASSWORD}
        ).status_code
        == 401
    )
    site.sign_in("kaikei@example.jp", "new-password-99")
    assert old_client.get("/account").headers["location"].startswith("/login")

    # An expired link does not work.
    site.post(client, "/password/forgot", {"email": "kaikei@example.jp"})
    path = link_in(site.smtp.to("kaikei@example.jp")[-1], "/password/reset/")
    with Session(site.engine) as session:
        session.execute(
            update(AccountTokenRow).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        session.commit()
    assert client.get(path).status_code == 400
    expired = site.post(
        client, path, {"password": "fourth-password", "password2": "fourth-password"}
    )
    assert expired.status_code == 400
    with Session(site.engine) as session:
        assert {r.status for r in session.scalars(select(OutboxRow))} == {"sent"}


def test_unconfirmed_address_cannot_sign_in(site):
    site.user("group", "new@example.jp", confirmed=False)
    response = site.post(site.client(), "/login", {"email": "new@example.jp", "password": PASSWORD})
    assert response.status_code == 403 and "確認" in response.text


def test_form_without_or_with_another_browsers_token_is_refused(site):
    site.user("staff", STAFF)
    client = site.client()
    missing = client.post("/login", data={"email": STAFF, "password": PASSWORD})
    assert missing.status_code == 403 and "有効期限" in missing.text
    other_token = site.token(site.client())
    forged = client.post(
        "/login", data={"email": STAFF, "password": PASSWORD, "csrf_token": other_token}
    )
    assert forged.status_code == 403
    signed_in = site.sign_in(STAFF)
    anonymous_token = site.token(client)
    assert signed_in.post("/logout", data={"csrf_token": anonymous_token}).status_code == 403
