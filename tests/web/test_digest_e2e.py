"""Weekly digests end to end: the bundled sample mirror crawled by `kyodo crawl`, groups with
different profiles registered (one through the sign-up pages and its confirmation mail), the
week's digests sent by `kyodo digest send` in a subprocess to a real SMTP server (aiosmtpd on
127.0.0.1), and the raw messages read back.

Each group must get exactly the calls that fit it. What fits is worked out here, by an oracle
that reads the database (calls, call_fields, dismissed_calls, courses) and states the issue's
rules again in a few lines, not by calling `digest.build`. Then: the headers RFC 8058 asks for,
literal in the raw bytes; one-click unsubscribe (a POST without cookies) that stops one group
only; a re-run that sends nothing twice. The whole flow runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import digest.build as digest_build
from aggregator.fields import FIELD_SHORT_LABELS
from aggregator.groups import DIGEST_SECTIONS, GroupProfile, create_group
from aggregator.storage.models import (
    CallField,
    CallHistoryRow,
    CallRow,
    CourseRow,
    DigestCallRow,
    DismissedCallRow,
    GroupRow,
    OutboxRow,
    SavedCallRow,
)
from digest.build import IsoWeek
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer
from tests.cli import kyodo
from tests.web.conftest import PASSWORD, TODAY, Site, link_in, make_settings

SITE_URL = "https://kyodo.example.jp"
FROM_NAME = "鎌ケ谷市市民活動推進センター"
MAIL_FROM = "info@kyodo.example.jp"
WEEK = IsoWeek.parse("2026-W49")
SEND_DAY = date(2026, 11, 30)
NEXT_WEEK = IsoWeek.parse("2026-W50")
NEXT_DAY = date(2026, 12, 7)
TZ = ZoneInfo("Asia/Tokyo")

# What the issue says a digest lists, stated here again (not imported from digest.build).
CLOSING_DAYS = 14  # 締切間近: a fixed deadline within 14 days
PREDICTED_DAYS = 60  # 例年この時期: an expected round due within 60 days
INFORMAL = {"任意団体", "ボランティア団体", "自治会"}
CHANGE_KINDS = ("deadline_extended", "amount_changed", "closed", "withdrawn")
# Caps on the calls a section lists (the rest counted as 「ほか N件」): read, not restated, as
# they are tuning, not rules; None (no cap) where the module has none.
NEW_LIMIT: int | None = getattr(digest_build, "NEW_LIMIT", None)
CLOSING_LIMIT: int | None = getattr(digest_build, "CLOSING_LIMIT", None)
PREDICTED_LIMIT: int | None = getattr(digest_build, "PREDICTED_LIMIT", None)
COURSE_LIMIT: int | None = getattr(digest_build, "COURSE_LIMIT", None)
CALL_SECTIONS = ("new", "changes", "closing", "predicted")

CALL_LINK = re.compile(re.escape(SITE_URL) + r"/calls/(\d+)(?![\d/?])")
HTML_CALL_LINK = re.compile(r'href="' + re.escape(SITE_URL) + r'/calls/(\d+)"')
HEADING = re.compile(r"^━━ (?P<title>[^（]+)（(?P<note>[^）]*?)(?P<n>\d+)件） ━━$")
MORE = re.compile(r"ほか\s*(\d+)\s*件")
SHORT_WORDS = "新しい助成金の情報はありませんでした"
SECTION_OF_TITLE = {title: key for key, title in DIGEST_SECTIONS.items()}


# -- the groups ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    key: str
    name: str
    fields: tuple[str, ...]
    prefecture: str
    municipality: str | None
    legal_form: str
    recipients: tuple[str, ...]
    members: int | None = None
    founded_year: int | None = None
    when_empty: str = "short"
    enabled: bool = True


SIGNUP_EMAIL = "kodomo@example.jp"
# Signs up through the pages; two recipients; founded this year, so the calls asking for a
# year of activity are out; marks one fitting call 対象外.
KIDS = Spec(
    "kids", "鎌ケ谷こども食堂の会", ("children_youth",), "千葉県", "鎌ケ谷市", "任意団体",
    (SIGNUP_EMAIL, "kaikei@example.jp"), members=12, founded_year=2026,
)  # fmt: skip
OTHERS = [
    # An NPO in another Chiba city, for the environment: national and Chiba calls only.
    Spec("green", "ふなばし水とみどりのネット", ("environment",), "千葉県", "船橋市",
         "NPO法人", ("green@example.jp",), members=30, founded_year=2012),
    # A general incorporated association in Kyoto, for welfare: national and Kyoto calls only,
    # and not those naming other legal forms.
    Spec("kyoto", "京都ささえあい協会", ("health_welfare",), "京都府", "京都市",
         "一般社団法人", ("kyoto@example.jp",), members=40, founded_year=2015),
    # A social welfare corporation: many welfare calls (more than the listed limit) and the
    # predicted rounds (例年この時期) meant for NPO法人 and 社会福祉法人.
    Spec("welfare", "まつど福祉会", ("health_welfare",), "千葉県", "松戸市",
         "社会福祉法人", ("welfare@example.jp",), members=80, founded_year=1990),
    # Fields no call in the mirror has: a short mail (courses only), or none.
    Spec("quiet", "かまがや国際交流の会", ("international", "gender_equality"), "千葉県",
         "鎌ケ谷市", "任意団体", ("quiet@example.jp",), members=8, founded_year=2020),
    Spec("silent", "かまがや消費者の会", ("consumer_protection",), "千葉県", "鎌ケ谷市",
         "任意団体", ("silent@example.jp",), when_empty="skip", members=6, founded_year=2019),
    # Digests off: fitting calls, yet no mail.
    Spec("off", "鎌ケ谷見守り隊", ("children_youth", "community_safety"), "千葉県",
         "鎌ケ谷市", "任意団体", ("off@example.jp",), enabled=False, members=15,
         founded_year=2010),
]  # fmt: skip
SPECS = [KIDS, *OTHERS]
UNSUBSCRIBER = "kyoto"  # unsubscribes in one click after the first week


# -- a real SMTP server that keeps the raw bytes ------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(bytes(envelope.original_content or envelope.content))
        return "250 Message accepted"


@dataclass
class SmtpInbox:
    port: int
    handler: _Inbox

    @property
    def raw(self) -> list[bytes]:
        return self.handler.raw


@pytest.fixture(scope="module")
def inbox() -> Iterator[SmtpInbox]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = _Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpInbox(port, handler)
    finally:
        controller.stop()


# -- reading the received mails -----------------------------------------------------------------


@dataclass
class Mail:
    raw: bytes
    message: EmailMessage
    to: str
    text: str
    html: str
    sections: dict[str, list[int]]  # section listing calls -> call ids linked, in order
    headings: dict[str, int]  # section key -> the count its heading gives
    more: dict[str, int]  # section -> N of its 「ほか N件」
    reasons: dict[int, str]  # call id -> its 「対象になる理由」 line

    @property
    def call_ids(self) -> set[int]:
        return {int(i) for i in CALL_LINK.findall(self.text)}


def parse_mail(raw: bytes) -> Mail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    text = text_part.get_content() if text_part is not None else ""
    html = html_part.get_content() if html_part is not None else ""
    sections: dict[str, list[int]] = {}
    headings: dict[str, int] = {}
    more: dict[str, int] = {}
    reasons: dict[int, str] = {}
    reason = None
    current = None
    for line in text.splitlines():
        heading = HEADING.match(line.strip())
        if heading:
            current = SECTION_OF_TITLE.get(heading["title"].strip(), heading["title"].strip())
            headings[current] = int(heading["n"])
            if current in CALL_SECTIONS:
                sections[current] = []
            continue
        if line.startswith("――"):  # the footer
            current = None
        if current not in sections:
            continue
        if line.strip().startswith("対象になる理由："):
            reason = line.strip().removeprefix("対象になる理由：")
        for call_id in map(int, CALL_LINK.findall(line)):
            sections[current].append(call_id)
            if reason is not None:
                reasons[call_id], reason = reason, None
        found = MORE.search(line)
        if found:
            more[current] = int(found.group(1))
    return Mail(
        raw=raw,
        message=message,
        to=message["To"].addresses[0].addr_spec,
        text=text,
        html=html,
        sections=sections,
        headings=headings,
        more=more,
        reasons=reasons,
    )


def is_digest(raw: bytes) -> bool:
    return b"\nList-Unsubscribe:" in raw


# -- the oracle -----------------------------------------------------------------------------------


@dataclass
class Expected:
    """What a group's digest should hold: call ids per section (all, before any cap)."""

    short: bool
    new: list[int] = field(default_factory=list)
    changes: list[int] = field(default_factory=list)
    closing: list[int] = field(default_factory=list)
    predicted: list[int] = field(default_factory=list)
    courses: list[str] = field(default_factory=list)  # titles

    def listed(self) -> dict[str, list[int]]:
        """Section -> ids the mail links, in order (each up to its cap)."""
        found = {
            "new": self.new[:NEW_LIMIT],
            "changes": self.changes,
            "closing": self.closing[:CLOSING_LIMIT],
            "predicted": self.predicted[:PREDICTED_LIMIT],
        }
        return {key: ids for key, ids in found.items() if ids}

    def hidden(self) -> dict[str, int]:
        """Section -> how many calls its 「ほか N件」 counts."""
        listed = self.listed()
        counts = {k: len(getattr(self, k)) - len(listed.get(k, [])) for k in ("new", "closing")}
        return {key: n for key, n in counts.items() if n}


def status_on(call: CallRow, day: date) -> str:
    """open / upcoming / closed on `day`: closed once a fixed deadline passed; upcoming until
    the application start."""
    if call.status == "closed" or (
        call.deadline_kind == "fixed" and call.deadline is not None and call.deadline < day
    ):
        return "closed"
    if call.status == "upcoming" and (
        call.application_start is None or call.application_start > day
    ):
        return "upcoming"
    return "open"


def form_ok(call: CallRow, group: GroupRow) -> bool:
    """An informal group may apply unless the call says 任意団体不可; if the call names forms
    and does not say 任意団体可, the group's form must be among them. A legal person may apply
    when the call names no forms, names its form, or names informal forms only."""
    forms = set(call.legal_forms or [])
    if group.legal_form in INFORMAL:
        if call.informal_groups_ok is False:
            return False
        return call.informal_groups_ok is True or not forms or group.legal_form in forms
    return not forms or group.legal_form in forms or forms <= INFORMAL


def size_ok(call: CallRow, group: GroupRow, day: date) -> bool:
    years = None if group.founded_year is None else day.year - group.founded_year
    if call.min_members and group.members is not None and group.members < call.min_members:
        return False
    return not (call.min_years_active and years is not None and years < call.min_years_active)


def fits(call: CallRow, fields: set[str], group: GroupRow, dismissed: set[int], day: date):
    areas = {"national", f"prefecture:{group.prefecture}", f"municipality:{group.municipality}"}
    return (
        bool(fields & set(group.fields or []))
        and call.area in areas
        and form_ok(call, group)
        and size_ok(call, group, day)
        and call.id not in dismissed
    )


def by_deadline(calls: list[CallRow]) -> list[int]:
    calls = sorted(calls, key=lambda c: (c.deadline is None, c.deadline or date.max, c.id))
    return [c.id for c in calls]


def fitting_calls(session: Session, group: GroupRow, day: date) -> list[CallRow]:
    """Every stored call that fits the group's profile (any status)."""
    fields: dict[int, set[str]] = {}
    for call_id, slug in session.execute(select(CallField.call_id, CallField.field)):
        fields.setdefault(call_id, set()).add(slug)
    dismissed = set(
        session.scalars(
            select(DismissedCallRow.call_id).where(DismissedCallRow.group_id == group.id)
        )
    )
    return [
        c
        for c in session.scalars(select(CallRow))
        if fits(c, fields.get(c.id, set()), group, dismissed, day)
    ]


def since_for(session: Session, group: GroupRow, week: IsoWeek) -> datetime:
    """Since the group's previous digest was made; for its first, the Monday a week before."""
    earlier = session.scalar(
        select(func.max(OutboxRow.created_at)).where(
            OutboxRow.group_id == group.id,
            OutboxRow.kind == "digest",
            OutboxRow.key.not_like(f"digest:{group.id}:{week}:%"),
        )
    )
    return earlier or datetime.combine(week.monday - timedelta(days=7), time(0), TZ)


def expected_digest(
    session: Session, group: GroupRow, week: IsoWeek, day: date, *, ignore_enabled=False
) -> Expected | None:
    """The group's digest for `week` sent on `day`, or None when it should get no mail."""
    if not (group.digest_enabled or ignore_enabled) or not group.recipients:
        return None
    since = since_for(session, group, week)
    fitting = fitting_calls(session, group, day)
    actual = [c for c in fitting if not c.predicted]
    new = by_deadline(
        [c for c in actual if c.first_seen >= since and status_on(c, day) != "closed"]
    )
    dismissed = set(
        session.scalars(
            select(DismissedCallRow.call_id).where(DismissedCallRow.group_id == group.id)
        )
    )
    followed = set(
        session.scalars(select(SavedCallRow.call_id).where(SavedCallRow.group_id == group.id))
    ) | set(
        session.scalars(select(DigestCallRow.call_id).where(DigestCallRow.group_id == group.id))
    )
    changes = [
        h.call_id
        for h in session.scalars(
            select(CallHistoryRow)
            .where(CallHistoryRow.kind.in_(CHANGE_KINDS), CallHistoryRow.at >= since)
            .order_by(CallHistoryRow.at, CallHistoryRow.id)
        )
        if h.call_id in followed and h.call_id not in dismissed
    ]
    short = not new and not changes
    if short and group.digest_when_empty == "skip":
        return None
    closing = by_deadline(
        [
            c
            for c in actual
            if c.deadline_kind == "fixed"
            and c.deadline is not None
            and day <= c.deadline <= day + timedelta(days=CLOSING_DAYS)
            and status_on(c, day) == "open"
            and c.id not in new[:NEW_LIMIT]  # a call listed as new is not listed again
        ]
    )
    predicted = by_deadline(
        [
            c
            for c in fitting
            if c.predicted
            and c.deadline is not None
            and day <= c.deadline <= day + timedelta(days=PREDICTED_DAYS)
            and status_on(c, day) != "closed"
        ]
    )
    start = datetime.combine(day, time(0), TZ)
    wanted = set(group.fields or [])
    courses = [
        c.title
        for c in session.scalars(
            select(CourseRow)
            .where(CourseRow.published.is_(True), CourseRow.starts_at >= start)
            .order_by(CourseRow.starts_at, CourseRow.id)
        )
        if not c.fields or wanted & set(c.fields)
    ][:COURSE_LIMIT]
    if short:
        if not closing and not courses:
            return None
        return Expected(short=True, closing=closing, courses=courses)
    return Expected(False, new, changes, closing, predicted, courses)


# -- the flow ---------------------------------------------------------------------------------


@dataclass
class Flow:
    """Everything the tests read: the groups, what the oracle expected, what arrived."""

    backend: str
    engine: Engine
    site: Site
    groups: dict[str, int]  # spec key -> group id
    dismissed: int  # the call the sign-up group marked 対象外
    expected: dict[str, Expected | None]  # week 49, spec key -> expected digest
    would_get: dict[str, Expected | None]  # week 49, ignoring "digests off"
    week49: list[Mail]
    resend_output: str
    received_after_resend: int
    received_before_resend: int
    expected_next: dict[str, Expected | None]  # week 50, after the unsubscribe
    next_if_subscribed: Expected | None  # week 50 for the unsubscriber, had it stayed
    week50: list[Mail]

    def mails_to(self, mails: list[Mail], key: str) -> dict[str, list[Mail]]:
        return {address: [m for m in mails if m.to == address] for address in _spec(key).recipients}


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KYODO_")}


def _sign_up_kids(site: Site, inbox: SmtpInbox) -> int:
    """Signs up KIDS through the pages and confirms the address from the mail's link."""
    client = site.client()
    assert client.get("/signup").status_code == 200
    pairs = [
        ("email", SIGNUP_EMAIL.upper()),
        ("password", PASSWORD),
        ("password2", PASSWORD),
        ("name", KIDS.name),
        *(("fields", f) for f in KIDS.fields),
        ("prefecture", KIDS.prefecture),
        ("municipality", KIDS.municipality or ""),
        ("legal_form", KIDS.legal_form),
        ("members", f"{KIDS.members}人"),
        ("founded_year", "令和8"),
        ("needs", "funds"),
        ("recipients", "\n".join(r.capitalize() for r in KIDS.recipients[1:])),
    ]
    before = len(inbox.raw)
    response = site.post(client, "/signup", pairs)
    assert response.status_code == 303, response.text[:2000]
    mails = [parse_mail(raw) for raw in inbox.raw[before:]]
    confirm = [m for m in mails if m.to == SIGNUP_EMAIL]
    assert len(confirm) == 1, [m.to for m in mails]
    link = link_in(confirm[0].message, "/signup/confirm/")
    visitor = site.client()
    assert visitor.get(link).status_code == 200
    confirmed = site.post(visitor, link)
    assert confirmed.headers["location"] == "/login?notice=confirmed"
    with Session(site.engine) as session:
        group = session.scalars(select(GroupRow).where(GroupRow.name == KIDS.name)).one()
        assert [r.email for r in group.recipients] == list(KIDS.recipients)
        assert (group.prefecture, group.municipality, group.legal_form) == (
            KIDS.prefecture,
            KIDS.municipality,
            KIDS.legal_form,
        )
        assert (group.members, group.founded_year) == (KIDS.members, KIDS.founded_year)
        assert group.digest_enabled and group.digest_when_empty == "short"
        return group.id


def _create(session: Session, spec: Spec) -> int:
    group = create_group(
        session,
        GroupProfile(
            name=spec.name,
            fields=list(spec.fields),
            prefecture=spec.prefecture,
            municipality=spec.municipality,
            legal_form=spec.legal_form,
            members=spec.members,
            founded_year=spec.founded_year,
            needs=["funds"],
            recipients=list(spec.recipients),
        ),
        registered_by_staff=True,
    )
    group.digest_when_empty = spec.when_empty
    group.digest_enabled = spec.enabled
    session.flush()
    return group.id


def _expected_all(engine, groups: dict[str, int], week: IsoWeek, day: date, **kw):
    with Session(engine) as session:
        return {
            key: expected_digest(session, session.get(GroupRow, gid), week, day, **kw)
            for key, gid in groups.items()
        }


def _run_flow(url: str, inbox: SmtpInbox, tmp: Path, backend: str, opened: list[Site]) -> Flow:
    env = {
        **_clean_env(),
        "KYODO_DATABASE_URL": url,
        "KYODO_CRAWL_DELAY": "0",
        "KYODO_RETRY_BACKOFF": "0",
        "KYODO_CRAWL_TIMEOUT": "5",
        "KYODO_SMTP_HOST": "127.0.0.1",
        "KYODO_SMTP_PORT": str(inbox.port),
        "KYODO_SITE_URL": SITE_URL,
        "KYODO_MAIL_FROM": MAIL_FROM,
        "KYODO_MAIL_FROM_NAME": FROM_NAME,
        "KYODO_MAIL_RETRY_SECONDS": "0",
    }
    upgraded = kyodo("db", "upgrade", env=env, cwd=tmp)
    assert upgraded.returncode == 0, upgraded.stderr
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        crawl = kyodo(
            "crawl", "--all", "--base-url", server.url, "--today", TODAY.isoformat(),
            env=env, cwd=tmp,
        )  # fmt: skip
    assert crawl.returncode == 0, crawl.stderr

    # The site as the TestClient reaches it (http://testserver: an https site_url would make
    # its cookies Secure); the digests' links come from the subprocess's KYODO_SITE_URL.
    settings = make_settings(url, inbox, mail_from=MAIL_FROM, mail_from_name=FROM_NAME)
    site = Site(url, settings, inbox)  # type: ignore[arg-type]
    opened.append(site)
    engine = site.engine
    groups = {KIDS.key: _sign_up_kids(site, inbox)}
    with Session(engine) as session, session.begin():
        for spec in OTHERS:
            groups[spec.key] = _create(session, spec)
        now = datetime.now(UTC)
        session.add(
            CourseRow(
                kind="fundraising", title="はじめてのファンドレイジング講座",
                place="鎌ケ谷市市民活動推進センター 会議室",
                starts_at=datetime(2026, 12, 12, 13, 30, tzinfo=TZ),
                ends_at=datetime(2026, 12, 12, 15, 30, tzinfo=TZ), fields=[],
                how_to_apply="電話でお申し込みください。", created_at=now, updated_at=now,
            )
        )  # fmt: skip
    # The sign-up group marks a call that fits it 対象外, on the call's page: the first its
    # digest would list.
    with Session(engine) as session:
        before = expected_digest(session, session.get(GroupRow, groups["kids"]), WEEK, SEND_DAY)
    assert before is not None and before.new, "the sign-up group should fit new calls"
    dismissed = before.new[0]
    member = site.sign_in(SIGNUP_EMAIL)
    response = site.post(member, f"/calls/{dismissed}/dismiss")
    assert response.status_code == 303, response.text[:500]

    expected = _expected_all(engine, groups, WEEK, SEND_DAY)
    would_get = _expected_all(engine, groups, WEEK, SEND_DAY, ignore_enabled=True)
    send = ["digest", "send", "--week", str(WEEK), "--today", SEND_DAY.isoformat()]
    before_send = len(inbox.raw)
    sent = kyodo(*send, env=env, cwd=tmp)
    assert sent.returncode == 0, sent.stderr
    week49 = [parse_mail(raw) for raw in inbox.raw[before_send:]]

    resend = kyodo(*send, env=env, cwd=tmp)
    assert resend.returncode == 0, resend.stderr
    received_after_resend = len(inbox.raw)

    # One click in a mail client: a POST to the List-Unsubscribe URL, no cookie, no token.
    [mail] = [m for m in week49 if m.to == _spec(UNSUBSCRIBER).recipients[0]]
    url = re.search(rb"^List-Unsubscribe: <([^>]+)>", mail.raw, re.M).group(1).decode()
    assert url.startswith(SITE_URL + "/u/")
    stranger = site.client()
    answer = stranger.post(
        url.removeprefix(SITE_URL),
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200, answer.text[:500]
    assert not stranger.cookies.get("kyodo_session")

    next_if_subscribed = _expected_all(
        engine, {UNSUBSCRIBER: groups[UNSUBSCRIBER]}, NEXT_WEEK, NEXT_DAY, ignore_enabled=True
    )[UNSUBSCRIBER]
    expected_next = _expected_all(engine, groups, NEXT_WEEK, NEXT_DAY)
    before_next = len(inbox.raw)
    next_run = kyodo(
        "digest", "send", "--week", str(NEXT_WEEK), "--today", NEXT_DAY.isoformat(),
        env=env, cwd=tmp,
    )  # fmt: skip
    assert next_run.returncode == 0, next_run.stderr
    week50 = [parse_mail(raw) for raw in inbox.raw[before_next:]]
    return Flow(
        backend=backend,
        engine=engine,
        site=site,
        groups=groups,
        dismissed=dismissed,
        expected=expected,
        would_get=would_get,
        week49=week49,
        resend_output=resend.stdout + resend.stderr,
        received_after_resend=received_after_resend,
        received_before_resend=before_send + len(week49),
        expected_next=expected_next,
        next_if_subscribed=next_if_subscribed,
        week50=week50,
    )


def _spec(key: str) -> Spec:
    return next(s for s in SPECS if s.key == key)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def flow(request, inbox: SmtpInbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    """The whole story, once per database: crawl, register, send twice, unsubscribe, send the
    next week. The tests below read what happened."""
    tmp = tmp_path_factory.mktemp(f"digest-e2e-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'kyodo.db'}"
    else:
        url = request.getfixturevalue("pg_cluster").create_database()
    opened: list[Site] = []
    try:
        yield _run_flow(url, inbox, tmp, request.param, opened)
    finally:
        for site in opened:
            site.close()


# -- the tests ----------------------------------------------------------------------------------


def _describe(mail: Mail, expected: Expected) -> str:
    lines = [f"subject: {mail.message['Subject']}"]
    for key in ("new", "changes", "closing", "predicted"):
        want = expected.listed().get(key, [])
        got = mail.sections.get(key, [])
        if want != got:
            lines.append(
                f"{key}: expected {want}, got {got}; missing {sorted(set(want) - set(got))}, "
                f"extra {sorted(set(got) - set(want))}"
            )
    return "\n".join(lines)


def test_the_profiles_are_not_vacuous(flow: Flow):
    """Most groups fit a small, non-empty set of calls; the quiet ones fit none at all."""
    e = flow.expected
    for key in ("kids", "green", "kyoto", "welfare"):
        assert e[key] is not None and e[key].new, f"{key}: the oracle finds no new call"
    assert len(e["green"].new) <= 5 and len(e["kyoto"].new) <= 12
    assert e["welfare"].predicted, "welfare: the oracle finds no predicted round"
    if NEW_LIMIT is not None:
        assert len(e["welfare"].new) > NEW_LIMIT, "welfare should have more than the cap"
    assert flow.would_get["off"] is not None and flow.would_get["off"].new
    with Session(flow.engine) as session:
        for key in ("quiet", "silent"):
            group = session.get(GroupRow, flow.groups[key])
            assert fitting_calls(session, group, SEND_DAY) == [], key
    # The other prefecture's group fits no call of another prefecture or city, and its legal
    # form is checked: some national welfare calls name other forms only.
    with Session(flow.engine) as session:
        kyoto = session.get(GroupRow, flow.groups["kyoto"])
        areas = {session.get(CallRow, i).area for i in e["kyoto"].new}
        assert areas <= {"national", "prefecture:京都府", "municipality:京都市"}
        other_forms = [
            c.id
            for c in session.scalars(
                select(CallRow)
                .join(CallField, CallField.call_id == CallRow.id)
                .where(CallField.field == "health_welfare", CallRow.area == "national")
            )
            if status_on(c, SEND_DAY) != "closed" and not form_ok(c, kyoto)
        ]
        assert other_forms and not set(other_forms) & set(e["kyoto"].new)


def test_each_group_gets_exactly_the_calls_that_fit_it(flow: Flow):
    assert flow.week49, "no digest arrived"
    for spec in SPECS:
        expected = flow.expected[spec.key]
        for address, mails in flow.mails_to(flow.week49, spec.key).items():
            where = f"[{flow.backend}] group {spec.key} ({spec.name}) at {address}"
            if expected is None:
                assert mails == [], f"{where}: expected no mail, got {len(mails)}"
                continue
            assert len(mails) == 1, f"{where}: expected one mail, got {len(mails)}"
            mail = mails[0]
            listed = expected.listed()
            assert mail.sections == listed, f"{where}:\n{_describe(mail, expected)}"
            everything = set().union(*listed.values()) if listed else set()
            assert mail.call_ids == everything, (
                f"{where}: linked {sorted(mail.call_ids)}, expected {sorted(everything)}"
            )
            html_ids = {int(i) for i in HTML_CALL_LINK.findall(mail.html)}
            assert html_ids == everything, f"{where}: HTML links {sorted(html_ids)}"
            assert (SHORT_WORDS in mail.text) == expected.short, where
            for title in expected.courses:
                assert title in mail.text and title in mail.html, f"{where}: course {title}"
            _check_reasons(flow, spec, mail, where)
            # Calls beyond a section's cap are counted (「ほか N件」); headings count them all.
            assert mail.more == expected.hidden(), f"{where}: 「ほか N件」 {mail.more}"
            for key in ("new", "closing"):
                if getattr(expected, key):
                    assert mail.headings[key] == len(getattr(expected, key)), (where, key)
    # Everyone who should get mail did, and no one else: one mail per recipient.
    wanted = sum(len(s.recipients) for s in SPECS if flow.expected[s.key] is not None)
    assert len(flow.week49) == wanted


def _check_reasons(flow: Flow, spec: Spec, mail: Mail, where: str) -> None:
    """Each call listed says why it fits: one of the group's fields and where it applies."""
    labels = [FIELD_SHORT_LABELS[f] for f in spec.fields]
    with Session(flow.engine) as session:
        for key in ("new", "closing", "predicted"):
            for call_id in mail.sections.get(key, []):
                reason = mail.reasons.get(call_id)
                assert reason, f"{where}: call {call_id} has no reason line"
                area = session.get(CallRow, call_id).area
                place = "全国" if area == "national" else area.split(":", 1)[1] + "内"
                assert any(label in reason for label in labels) and place in reason, (
                    f"{where}: call {call_id} ({area}): {reason!r}"
                )


def test_the_dismissed_call_is_left_out(flow: Flow):
    expected = flow.expected["kids"]
    assert flow.dismissed not in expected.new
    for mails in flow.mails_to(flow.week49, "kids").values():
        assert flow.dismissed not in mails[0].call_ids
    # Only that group's mark: another group fitting the same call still gets it.
    assert flow.dismissed in flow.would_get["off"].new


def test_short_mail_or_none_in_a_week_with_nothing_new(flow: Flow):
    [quiet] = flow.mails_to(flow.week49, "quiet")["quiet@example.jp"]
    assert flow.expected["quiet"].short and quiet.call_ids == set()
    assert SHORT_WORDS in quiet.text and "はじめてのファンドレイジング講座" in quiet.text
    assert flow.mails_to(flow.week49, "silent")["silent@example.jp"] == []
    assert flow.mails_to(flow.week49, "off")["off@example.jp"] == []


def test_both_recipients_get_the_mail_each_with_its_own_message_id(flow: Flow):
    mails = flow.mails_to(flow.week49, "kids")
    [first], [second] = mails.values()
    assert first.message["Message-ID"] != second.message["Message-ID"]
    assert first.text == second.text and first.message["Subject"] == second.message["Subject"]


def test_headers_are_what_mail_clients_need(flow: Flow):
    with Session(flow.engine) as session:
        tokens = dict(session.execute(select(GroupRow.id, GroupRow.unsubscribe_token)).all())
    address_group = {a: flow.groups[s.key] for s in SPECS for a in s.recipients}
    message_ids = set()
    for mail in [*flow.week49, *flow.week50]:
        where = f"[{flow.backend}] mail to {mail.to}"
        raw, message = mail.raw, mail.message
        assert is_digest(raw), where
        url = f"{SITE_URL}/u/{tokens[address_group[mail.to]]}"
        # Literal, on one line: not RFC 2047-encoded, not folded (RFC 8058).
        line = re.search(rb"^List-Unsubscribe: (.*?)\r?$", raw, re.M)
        assert line and line.group(1).decode() == f"<{url}>", f"{where}: {line}"
        assert re.search(rb"^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$", raw, re.M)
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", message["Message-ID"]), where
        message_ids.add(message["Message-ID"])
        sent_at = parsedate_to_datetime(message["Date"])
        assert abs(datetime.now(UTC) - sent_at) < timedelta(hours=1), where
        [sender] = message["From"].addresses
        assert (sender.display_name, sender.addr_spec) == (FROM_NAME, MAIL_FROM), where
        assert message.get_content_type() == "multipart/alternative", where
        parts = [(p.get_content_type(), p.get_content_charset()) for p in message.iter_parts()]
        assert parts == [("text/plain", "utf-8"), ("text/html", "utf-8")], where
        # No tracking pixel, nothing fetched from elsewhere when the mail is opened.
        html = mail.html.lower()
        for word in ("<img", "src=", "<link", "url(", "@import", "<script"):
            assert word not in html, f"{where}: {word}"
        week = WEEK if any(mail is m for m in flow.week49) else NEXT_WEEK
        _check_subject(mail, flow, week)
    assert len(message_ids) == len(flow.week49) + len(flow.week50)


def _check_subject(mail: Mail, flow: Flow, week: IsoWeek) -> None:
    subject = mail.message["Subject"]
    site_name = flow.site.settings.site_name
    prefix = f"【{site_name}】{week.label} "
    assert subject.startswith(prefix), f"{subject!r} does not start with {prefix!r}"
    counts = dict(re.findall(r"(新着|変更|締切間近)(\d+)件", subject.removeprefix(prefix)))
    said = {word: int(n) for word, n in counts.items()}
    shown = {
        word: mail.headings[key]
        for word, key in (("新着", "new"), ("変更", "changes"), ("締切間近", "closing"))
        if mail.headings.get(key)
    }
    assert said == shown, f"{subject!r}: the body's headings say {shown}"
    for key, ids in mail.sections.items():
        hidden = mail.more.get(key, 0)
        assert mail.headings[key] == len(ids) + hidden, f"{subject!r}: {key} lists {len(ids)}"


def test_week_label_is_the_mondays_date():
    assert WEEK.monday == SEND_DAY and NEXT_WEEK.monday == NEXT_DAY
    assert WEEK.label == f"{SEND_DAY.month}/{SEND_DAY.day}週"


def test_sending_the_week_again_sends_nothing(flow: Flow):
    assert flow.received_after_resend == flow.received_before_resend, flow.resend_output
    with Session(flow.engine) as session:
        rows = session.scalars(
            select(OutboxRow).where(OutboxRow.kind == "digest", OutboxRow.key.like("%:2026-W49:%"))
        ).all()
    assert sorted(r.message_id for r in rows) == sorted(
        m.message["Message-ID"] for m in flow.week49
    )
    assert {r.status for r in rows} == {"sent"}


def test_one_click_unsubscribe_stops_only_that_group(flow: Flow):
    with Session(flow.engine) as session:
        enabled = dict(session.execute(select(GroupRow.id, GroupRow.digest_enabled)).all())
    for spec in SPECS:
        assert enabled[flow.groups[spec.key]] == (spec.enabled and spec.key != UNSUBSCRIBER)
    # It would have had a mail (closing-soon calls and the course) had it stayed.
    assert flow.next_if_subscribed is not None and flow.next_if_subscribed.closing
    assert flow.expected_next[UNSUBSCRIBER] is None
    receiving = [s.key for s in SPECS if flow.expected_next[s.key] is not None]
    assert len(receiving) >= 3, receiving
    for spec in SPECS:
        expected = flow.expected_next[spec.key]
        for address, mails in flow.mails_to(flow.week50, spec.key).items():
            where = f"[{flow.backend}] week 50, group {spec.key} at {address}"
            if expected is None:
                assert mails == [], f"{where}: expected no mail"
                continue
            assert len(mails) == 1, f"{where}: got {len(mails)}"
            assert mails[0].sections == expected.listed(), f"{where}:\n" + _describe(
                mails[0], expected
            )
            assert (SHORT_WORDS in mails[0].text) == expected.short, where
    wanted = sum(len(s.recipients) for s in SPECS if flow.expected_next[s.key] is not None)
    assert len(flow.week50) == wanted
