"""The SMTP settings for a real mail provider: STARTTLS on the submission port with a user and
password, implicit TLS (port 465), and what happens when the certificate or the password is
wrong. A real aiosmtpd server with a self-signed certificate made for the test; the client
trusts it through SSL_CERT_FILE, as an operator would point it at a private CA."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.mail import deliver, enqueue
from aggregator.storage.models import OutboxRow
from tests.certs import self_signed
from tests.web.conftest import _free_port

USER, PASSWORD = "kyodo-sender", "s3cret-app-password"


def _certificate(folder: Path) -> tuple[Path, Path]:
    return self_signed(folder / "smtp.pem", folder / "smtp.key")


@dataclass
class _Handler:
    received: list[tuple[str, bool]] = field(default_factory=list)  # (recipient, over TLS)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        self.received.append((envelope.rcpt_tos[0], over_tls))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == USER
            and auth_data.password.decode() == PASSWORD
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)


@dataclass
class _Server:
    port: int
    handler: _Handler


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cert, _key = _certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this certificate
    return tmp_path


def _server_context(folder: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "smtp.pem", folder / "smtp.key")
    return context


def _serve(**options) -> Iterator[_Server]:
    handler = _Handler()
    port = _free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=handler.authenticate,
        auth_required=True,
        **options,
    )
    controller.start()
    try:
        yield _Server(port, handler)
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(certificate: Path) -> Iterator[_Server]:
    context = _server_context(certificate)
    yield from _serve(tls_context=context, require_starttls=True)


@pytest.fixture
def tls_server(certificate: Path) -> Iterator[_Server]:
    # The whole connection is TLS: aiosmtpd's auth_require_tls only knows STARTTLS.
    context = _server_context(certificate)
    yield from _serve(ssl_context=context, auth_require_tls=False)


def _queue(site, to: str = "group@example.jp") -> None:
    with Session(site.engine) as session, session.begin():
        enqueue(
            session,
            site.settings,
            key=f"test:{to}",
            kind="test",
            to=to,
            subject="【かまがや助成情報】テスト",
            text="本文です。",
        )


def _status(site) -> tuple[str, str | None]:
    with Session(site.engine) as session:
        row = session.scalar(select(OutboxRow))
        return row.status, row.last_error


def _settings(site, port: int, security: str, password: str = PASSWORD):
    return site.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": security,
            "smtp_user": USER,
            "smtp_password": password,
            "smtp_timeout": 3,
        }
    )


def test_starttls_with_user_and_password(site, starttls_server: _Server):
    _queue(site)
    report = deliver(site.engine, _settings(site, starttls_server.port, "starttls"))
    assert (report.sent, report.failed, report.retry) == (1, 0, 0), report.errors
    assert starttls_server.handler.logins == [USER]
    assert starttls_server.handler.received == [("group@example.jp", True)]
    assert _status(site) == ("sent", None)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls_with_user_and_password(site, tls_server: _Server):
    _queue(site)
    report = deliver(site.engine, _settings(site, tls_server.port, "tls"))
    assert report.sent == 1, report.errors
    assert tls_server.handler.received == [("group@example.jp", True)]


def test_without_starttls_the_server_refuses_and_the_mail_waits(site, starttls_server: _Server):
    _queue(site)
    report = deliver(site.engine, _settings(site, starttls_server.port, "none"))
    assert report.sent == 0 and report.retry == 1
    assert starttls_server.handler.received == []
    status, error = _status(site)
    assert status == "pending" and error  # kept for the next run once the setting is fixed


def test_a_wrong_password_keeps_the_mail_for_later(site, starttls_server: _Server):
    _queue(site)
    report = deliver(site.engine, _settings(site, starttls_server.port, "starttls", "wrong"))
    assert report.sent == 0 and report.retry == 1
    status, error = _status(site)
    assert status == "pending" and error  # the server refused the login (535), then hung up
    fixed = deliver(
        site.engine,
        _settings(site, starttls_server.port, "starttls"),
        now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    assert fixed.sent == 1 and _status(site) == ("sent", None)


def test_an_untrusted_certificate_is_not_accepted(
    site, starttls_server: _Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    (tmp_path / "other").mkdir()
    other, _ = _certificate(tmp_path / "other")
    monkeypatch.setenv("SSL_CERT_FILE", str(other))  # trusts another certificate only
    _queue(site)
    report = deliver(site.engine, _settings(site, starttls_server.port, "starttls"))
    assert report.sent == 0 and report.retry == 1
    assert "CERTIFICATE_VERIFY_FAILED" in _status(site)[1]
    assert starttls_server.handler.logins == []  # the password never left over a bad channel
