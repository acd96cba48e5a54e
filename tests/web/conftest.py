"""Fixtures for the signed-in site: a fresh database per test, a real SMTP server (aiosmtpd)
on 127.0.0.1 that keeps what it receives, and clients signed in as staff, groups, companies.

`site` is the app over a fresh SQLite file; `pg_site` the same over PostgreSQL. Mail sent by a
route (TestClient runs background tasks before it returns) is in `site.smtp.messages`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import shutil
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from aggregator.accounts import Role, create_user
from aggregator.settings import Settings
from aggregator.storage.db import make_engine, upgrade_database
from api.app import create_app

TODAY = date(2026, 11, 28)
PASSWORD = "correct-horse-42"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class _Inbox:
    """aiosmtpd handler: keeps every accepted message; can refuse chosen addresses."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: dict[str, str] = {}  # address -> SMTP reply, e.g. "550 no such user"
        self.busy: dict[str, int] = {}  # address -> how many times to answer 421 before 250
        # Called before a message is accepted; a reply it returns refuses the message (not kept).
        self.before_accept: Callable[[_Inbox], Awaitable[str | None]] | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        if self.busy.get(address, 0) > 0:
            self.busy[address] -= 1
            return "421 4.3.2 Service busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.before_accept is not None:
            reply = await self.before_accept(self)
            if reply is not None:
                return reply
        self.raw.append(envelope.content)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmtpServer:
    port: int
    inbox: _Inbox
    loop: asyncio.AbstractEventLoop | None = None  # the server's (for thread-safe calls)

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default) for raw in self.inbox.raw
        ]

    def clear(self) -> None:
        self.inbox.raw.clear()
        self.inbox.envelopes.clear()
        self.inbox.refuse.clear()
        self.inbox.busy.clear()
        self.inbox.before_accept = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, inbox, controller.loop)
    finally:
        controller.stop()


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    smtp_server.clear()
    return smtp_server


def soup(response) -> BeautifulSoup:
    """A page's HTML, parsed."""
    return BeautifulSoup(response.text, "html.parser")


def body_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    return part.get_content() if part is not None else ""


def link_in(message: EmailMessage, path_prefix: str) -> str:
    """The path of the first link in the mail starting with `path_prefix` (site-relative)."""
    match = re.search(
        r"https?://[^/\s]+(" + re.escape(path_prefix) + r"[^\s]*)", body_text(message)
    )
    assert match, f"no link to {path_prefix} in:\n{body_text(message)}"
    return match.group(1)


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("webdb") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@dataclass
class Site:
    """The app over one database, with helpers to make accounts and signed-in clients."""

    url: str
    settings: Settings
    smtp: SmtpServer
    clients: list[TestClient] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = create_app(self.settings, today=TODAY)
        self.engine = self.app.state.engine

    def client(self) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        client.__enter__()
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.__exit__(None, None, None)
        self.engine.dispose()

    def user(
        self, role: Role | str, email: str, *, password: str = PASSWORD, confirmed: bool = True
    ) -> int:
        with Session(self.engine) as session:
            user = create_user(session, email, password, Role(role), confirmed=confirmed)
            session.commit()
            return user.id

    def sign_in(self, email: str, password: str = PASSWORD) -> TestClient:
        client = self.client()
        response = self.post(client, "/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        return client

    @staticmethod
    def token(client: TestClient, path: str = "/login") -> str:
        """This browser's CSRF token, read from a page's form (any page has one)."""
        page = client.get(path)
        match = _CSRF.search(page.text)
        assert match, f"no csrf_token on {path} ({page.status_code})"
        return match.group(1)

    def post(self, client: TestClient, path: str, data: dict | list | None = None, **kw):
        """POST a form as a browser would: with the token from a page of this session."""
        token = self.token(client, "/" if _signed_in(client) else "/login")
        if isinstance(data, list):  # pairs, for repeated fields: httpx wants a dict of lists
            payload: dict = {}
            for key, value in [*data, ("csrf_token", token)]:
                payload.setdefault(key, []).append(value)
        else:
            payload = {**(data or {}), "csrf_token": token}
        return client.post(path, data=payload, **kw)


def _signed_in(client: TestClient) -> bool:
    return "kyodo_session" in client.cookies


def make_settings(url: str, smtp: SmtpServer, **overrides) -> Settings:
    values = {
        "database_url": url,
        "site_url": "http://testserver",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "mail_from": "info@kyodo.example.jp",
        "staff_email": "center@kyodo.example.jp",
        "mail_retry_seconds": 0,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def site(tmp_path: Path, _template_db: Path, smtp: SmtpServer) -> Iterator[Site]:
    path = tmp_path / "kyodo.db"
    shutil.copyfile(_template_db, path)
    site = Site(f"sqlite:///{path}", make_settings(f"sqlite:///{path}", smtp), smtp)
    try:
        yield site
    finally:
        site.close()


@pytest.fixture
def pg_site(pg_url: str, smtp: SmtpServer) -> Iterator[Site]:
    upgrade_database(pg_url)
    site = Site(pg_url, make_settings(pg_url, smtp), smtp)
    try:
        yield site
    finally:
        site.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_site(request: pytest.FixtureRequest) -> Site:
    """Each test using this runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue("site" if request.param == "sqlite" else "pg_site")


def ingest_calls(engine, listings: list[dict]) -> None:
    from aggregator.ingest import Ingestor

    Ingestor(engine, today=TODAY).ingest(listings)


def make_engine_for(url: str):
    return make_engine(url)
